"""Runbook: operations documentation that proves itself.

Markdown runbooks are executed with papermill, every run is recorded in a run store, and
the records are rendered into a MkDocs Material site. The library never imports click; the
command line lives in :mod:`runbook.cli`.
"""

from __future__ import annotations

__version__ = "0.1.0"
