"""Store stage: where runs are kept and read back.

:func:`open_store` gives the store at a location: a folder is a
:class:`~runbook.store.local.LocalRunStore`; a URL (``s3://``, ``gs://``, ``az://``) is an
object store (:class:`~runbook.store.objects.ObjectRunStore`, through fsspec), wrapped in a
:class:`~runbook.store.shared.SharedRunStore` that keeps runs in the project's outbox
(:func:`outbox_dir`) while the shared store is out of reach. Every store offers the
operations of :class:`RunStore`; callers open stores with :func:`open_store` and type
against the protocol. A store only writes and reads records (:meth:`RunRecord.to_dict`,
:meth:`RunRecord.from_dict`); it never makes one up, except through the record builder
for a run whose process died.
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
        location: the store as messages name it: its folder, or its URL (no credentials).
    """

    location: str

    @property
    def problems(self) -> list[str]:
        """One line per run a read skipped (an unreadable record), naming it."""
        ...

    def begin(
        self, run_id: str, slug: str, started: RunStart, *, time_limit_s: float | None = None
    ) -> PendingRun:
        """Open a pending run (and note its start where the store keeps an audit trail).

        ``time_limit_s``, the run's time limit, tells readers on other machines when a
        pending run whose process they cannot see is over.

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

    def adopt(self, record: RunRecord, notebook: dict[str, Any] | None) -> bool:
        """Store a run made elsewhere exactly as it is, the record last (``runs push``/``pull``).

        Returns:
            False when this store has a run with that ``run_id`` already (it is left as it is).

        Raises:
            StoreError: the store cannot be written.
        """
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


def by_slug(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Runs grouped by runbook, in the order given (newest first, as stores read them)."""
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        grouped.setdefault(record.slug, []).append(record)
    return grouped


def open_store(
    location: str | Path, *, storage_options: Mapping[str, Any] | None = None, work_dir: Path | None = None
) -> RunStore:
    """The run store at ``location``: a folder, or an object-store URL.

    Args:
        location: an absolute folder, or a URL such as ``s3://bucket/prefix``.
        storage_options: extra options for the object store's filesystem.
        work_dir: the project's ``.runbook/`` folder, for a shared store's local cache and
            the runs kept while it cannot be reached; without it, a URL store has neither.

    Raises:
        StoreError: a URL whose package is not installed or whose scheme is unknown (exit 2).
    """
    from runbook.store.local import LocalRunStore

    text = str(location)
    if "://" not in text:
        return LocalRunStore(Path(location))
    from runbook.store.objects import ObjectRunStore

    if work_dir is None:
        return ObjectRunStore(text, storage_options)
    from runbook.store.shared import SharedRunStore

    shared = ObjectRunStore(text, storage_options, cache_dir=work_dir / "cache" / "store")
    return SharedRunStore(shared, LocalRunStore(outbox_dir(work_dir)))


def outbox_dir(work_dir: Path) -> Path:
    """Where a project keeps the runs its shared store could not take (``.runbook/outbox``)."""
    return work_dir / "outbox"


def project_store(project: Project) -> RunStore:
    """The run store a project's settings name (``plugins.runbook.runs``, ``RUNBOOK_RUNS``)."""
    settings = project.settings
    return open_store(settings.runs, storage_options=settings.storage_options, work_dir=project.work_dir)


__all__ = ["PendingRun", "RunStore", "open_store", "outbox_dir", "project_store"]
