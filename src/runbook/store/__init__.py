"""Store stage: where runs are kept and read back.

:func:`open_store` gives the store at a location; the local folder (``runs/``,
:class:`~runbook.store.local.LocalRunStore`) is the first implementation. Every store
offers the operations of :class:`RunStore`; callers open stores with :func:`open_store`
and type against the protocol. A store only writes and reads records
(:meth:`RunRecord.to_dict`, :meth:`RunRecord.from_dict`); it never makes one up, except
through the record builder for a run whose process died.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runbook.record.build import RunStart
    from runbook.record.model import RunRecord
    from runbook.source.project import Project


@dataclass(frozen=True)
class PendingRun:
    """A run in progress: begun in a store, not yet committed.

    Attributes:
        run_id: the run's id (time-sortable).
        slug: the runbook's slug.
        start: the facts known at the start.
    """

    run_id: str
    slug: str
    start: RunStart


class RunStore(Protocol):
    """What every run store offers.

    Attributes:
        problems: one line per run a read skipped (an unreadable record), naming it.
    """

    problems: list[str]

    def begin(self, run_id: str, slug: str, started: RunStart) -> PendingRun:
        """Open a pending run and note its start in the ledger.

        Raises:
            StoreError: the store cannot be written; nothing is left behind.
        """
        ...

    def commit(self, pending: PendingRun, record: RunRecord, notebook: dict[str, Any] | None) -> str:
        """Store the run's notebook and record (the record last); where it was stored.

        Raises:
            StoreError: the run cannot be stored; nothing of it is left behind, and the
                message says how the run ended.
        """
        ...

    def abandon(self, pending: PendingRun) -> None:
        """Remove a pending run that will not be committed."""
        ...

    def records(self, slug: str | None = None) -> list[RunRecord]:
        """Stored and abandoned runs, newest first; ``slug`` narrows to one runbook."""
        ...

    def by_slug(self) -> dict[str, list[RunRecord]]:
        """Every runbook's runs, newest first, read once."""
        ...

    def latest(self) -> dict[str, RunRecord]:
        """The newest run of each runbook that has one."""
        ...

    def notebook(self, record: RunRecord) -> dict[str, Any] | None:
        """The executed notebook of a stored run, or None when it has none or it is unreadable."""
        ...


def open_store(
    location: str | Path, *, storage_options: Mapping[str, Any] | None = None, work_dir: Path | None = None
) -> RunStore:
    """The run store at ``location``: a folder, or an object-store URL.

    Args:
        location: an absolute folder, or a URL such as ``s3://bucket/prefix``.
        storage_options: extra options for the object store's filesystem.
        work_dir: the project's ``.runbook/`` folder, for a shared store's local cache and
            the runs kept while it cannot be reached.
    """
    from runbook.store.local import LocalRunStore

    return LocalRunStore(Path(location))


def project_store(project: Project) -> RunStore:
    """The run store a project's settings name (``plugins.runbook.runs``, ``RUNBOOK_RUNS``)."""
    settings = project.settings
    return open_store(settings.runs, storage_options=settings.storage_options, work_dir=project.work_dir)


__all__ = ["PendingRun", "RunStore", "open_store", "project_store"]
