"""Store stage: where runs are kept and read back.

:func:`open_store` gives the store at a location; the local folder (``runs/``) is the
first implementation. Every store offers the same operations: ``begin`` a run,
``commit`` it (the record written last), ``abandon`` a pending run that will not be
committed, ``records`` (newest first), ``by_slug``, ``notebook`` of a run, and
``problems``: the runs a read skipped, one line each.
"""

from __future__ import annotations

from pathlib import Path

from runbook.store.local import RunStore


def open_store(location: Path) -> RunStore:
    """The run store at ``location`` (a folder)."""
    return RunStore(location)


__all__ = ["RunStore", "open_store"]
