"""Record stage: the ``RunRecord`` of a run, and where each runbook stands given its latest run."""
