"""Source stage: the project, its runbook files, their front matter and the lint behind ``runbook check``."""
