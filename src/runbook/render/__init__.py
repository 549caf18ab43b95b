"""Render stage: pure functions from runbook sources, run records and executed notebooks to
Markdown pages and asset files, which the MkDocs plugin and ``runbook render`` publish."""
