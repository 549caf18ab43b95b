"""Store stage: a shared object store, with a local outbox so no run is lost to the network.

``runbook exec`` against a shared store behaves like this when the store is out of reach:

- at the start, one warning line; the pending run is kept in the outbox
  (``.runbook/outbox/``, a :class:`~runbook.store.local.LocalRunStore`) and the run goes on;
- at the end, the run goes to the shared store if it can be reached again, else it is
  committed to the outbox and :class:`~runbook.errors.KeptLocally` is raised once it is
  safe: one line naming the outbox folder, exit code 75 when the run succeeded, else the
  run's own exit code. ``runbook runs push`` sends the outbox's runs later (through
  :meth:`SharedRunStore.adopt`).

Reads show the shared runs and the outbox's; a run in both (pushed, not yet cleared from
the outbox) shows once, and a stored run beats a pending marker of the same run reported
as abandoned (the marker of a run that went to the outbox stays in the shared store until
it is pushed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from runbook.errors import KeptLocally, StoreError
from runbook.record.build import RunStart
from runbook.record.model import RunRecord
from runbook.store import PendingRun, by_slug
from runbook.store.local import LocalRunStore, _shown
from runbook.store.objects import ObjectRunStore, ObjectStoreError

log = logging.getLogger("runbook")

OUT_OF_REACH = (
    "{location}: the shared run store is out of reach ({reason}); the run goes on and is kept "
    "in {outbox} if the store is still out of reach when it ends"
)
KEPT = (
    "{location}: cannot store the run there ({reason}); it ended as {status} (exit code {exit_code}) "
    "and is kept in {where}; `runbook runs push` sends it"
)
NOT_KEPT = "{location}: cannot store the run there ({reason}); keeping it locally failed too: {local}"

#: Store locations this process has already warned about: one warning per outage and command.
_WARNED: set[str] = set()


class SharedRunStore:
    """A shared :class:`ObjectRunStore` with a local outbox (:class:`runbook.store.RunStore`).

    Attributes:
        location: the shared store's URL.
        shared: the object store.
        outbox: the local store of runs the shared store could not take.
    """

    def __init__(self, shared: ObjectRunStore, outbox: LocalRunStore) -> None:
        self.shared = shared
        self.outbox = outbox
        self.location = shared.location
        self._kept_pending: set[str] = set()

    @property
    def problems(self) -> list[str]:
        """Runs and objects the reads skipped, in either store."""
        return self.shared.problems + self.outbox.problems

    def begin(
        self, run_id: str, slug: str, started: RunStart, *, time_limit_s: float | None = None
    ) -> PendingRun:
        """Begin in the shared store, or (out of reach: one warning) in the outbox.

        Raises:
            StoreError: neither store can be written; nothing was run.
        """
        try:
            return self.shared.begin(run_id, slug, started, time_limit_s=time_limit_s)
        except ObjectStoreError as exc:
            if self.location not in _WARNED:
                _WARNED.add(self.location)
                log.warning(
                    OUT_OF_REACH.format(
                        location=self.location, reason=exc.reason, outbox=_shown(self.outbox.root)
                    )
                )
        pending = self.outbox.begin(run_id, slug, started, time_limit_s=time_limit_s)
        self._kept_pending.add(run_id)
        return pending

    def commit(self, pending: PendingRun, record: RunRecord, notebook: dict[str, Any] | None) -> str:
        """Store the run in the shared store; failing that, in the outbox, then say so.

        Raises:
            KeptLocally: the run is kept in the outbox (exit code 75, or the run's own).
            StoreError: neither store could keep the run.
        """
        try:
            location = self.shared.commit(pending, record, notebook)
        except ObjectStoreError as exc:
            where = self._keep(pending, record, notebook, exc.reason)
            raise KeptLocally(
                KEPT.format(
                    location=self.location,
                    reason=exc.reason,
                    status=record.status,
                    exit_code=record.exit_code,
                    where=_shown(Path(where)),
                ),
                location=where,
                record=record,
            ) from None
        if pending.run_id in self._kept_pending:
            self.outbox.abandon(pending)
        return location

    def abandon(self, pending: PendingRun) -> None:
        """Remove a pending run from wherever it was begun."""
        if pending.run_id in self._kept_pending:
            self.outbox.abandon(pending)
        else:
            self.shared.abandon(pending)

    def adopt(self, record: RunRecord, notebook: dict[str, Any] | None) -> bool:
        """Store a run made elsewhere in the shared store; False when it has that run already."""
        return self.shared.adopt(record, notebook)

    def records(self, slug: str | None = None) -> list[RunRecord]:
        """The shared store's runs and the outbox's, newest first, each run once."""
        return _merged(self.shared.records(slug) + self.outbox.records(slug))

    def by_slug(self) -> dict[str, list[RunRecord]]:
        """Every runbook's runs (both stores), newest first, read once."""
        return by_slug(self.records())

    def latest(self) -> dict[str, RunRecord]:
        """The newest run of each runbook, in either store."""
        found = self.shared.latest()
        for slug, record in self.outbox.latest().items():
            newest = found.get(slug)
            if newest is None or _rank(record) > _rank(newest):
                found[slug] = record
        return found

    def notebook(self, record: RunRecord) -> dict[str, Any] | None:
        """The executed notebook, from the outbox when the run is kept there."""
        if (self.outbox.root / record.slug / record.run_id).is_dir():
            return self.outbox.notebook(record)
        return self.shared.notebook(record)

    def _keep(
        self, pending: PendingRun, record: RunRecord, notebook: dict[str, Any] | None, reason: str
    ) -> str:
        """Commit the run to the outbox; where it is.

        Raises:
            StoreError: the outbox cannot be written either.
        """
        try:
            if pending.run_id not in self._kept_pending:
                pending = self.outbox.begin(pending.run_id, pending.slug, pending.start)
                self._kept_pending.add(pending.run_id)
            return self.outbox.commit(pending, record, notebook)
        except StoreError as exc:
            raise StoreError(NOT_KEPT.format(location=self.location, reason=reason, local=exc)) from None


def _rank(record: RunRecord) -> tuple[str, str, bool]:
    """Newer first; for the same run, a stored record over an abandoned marker."""
    return record.started_at, record.run_id, record.status != "abandoned"


def _merged(records: list[RunRecord]) -> list[RunRecord]:
    best: dict[str, RunRecord] = {}
    for record in records:
        seen = best.get(record.run_id)
        if seen is None or (seen.status == "abandoned" and record.status != "abandoned"):
            best[record.run_id] = record
    return sorted(best.values(), key=lambda r: (r.started_at, r.run_id), reverse=True)
