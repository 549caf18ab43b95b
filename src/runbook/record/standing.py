"""Where each runbook stands: last run, staleness by schedule, next due date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from runbook.record.model import RunRecord
from runbook.source.model import Runbook


@dataclass(frozen=True)
class Standing:
    """A runbook's state for lists, ``due`` and the dashboard.

    ``state`` is ``never run``, ``succeeded``, ``failed``, ``timed_out``, ``interrupted``,
    ``abandoned`` or ``stale`` (the last success is older than the schedule allows).
    """

    runbook: Runbook
    latest: RunRecord | None
    state: str
    next_due: datetime | None
    changed: bool

    @property
    def due(self) -> bool:
        """Never run, not succeeded, stale, or its code changed since the last run."""
        return self.state != "succeeded" or self.changed

    def to_dict(self) -> dict[str, Any]:
        meta = self.runbook.meta
        return {
            "slug": self.runbook.slug,
            "title": meta.title,
            "kind": meta.kind,
            "path": self.runbook.path,
            "owner": meta.owner,
            "risk": meta.risk,
            "schedule": meta.schedule,
            "tags": list(meta.tags),
            "alerts": list(meta.alerts),
            "last_status": self.latest.status if self.latest else None,
            "last_run_at": self.latest.started_at if self.latest else None,
            "last_run_id": self.latest.run_id if self.latest else None,
            "state": self.state,
            "stale": self.state == "stale",
            "changed_since_last_run": self.changed,
            "next_due": self.next_due.isoformat().replace("+00:00", "Z") if self.next_due else None,
        }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def standing(runbook: Runbook, latest: RunRecord | None, now: datetime | None = None) -> Standing:
    """Compute one runbook's standing from its newest run."""
    now = now or datetime.now(timezone.utc)
    if latest is None:
        return Standing(runbook, None, "never run", None, False)
    changed = latest.runbook.code_hash != runbook.code_hash
    interval = runbook.meta.schedule_s
    next_due = parse_time(latest.started_at) + timedelta(seconds=interval) if interval else None
    state: str = latest.status
    if state == "succeeded" and next_due is not None and next_due <= now:
        state = "stale"
    return Standing(runbook, latest, state, next_due, changed)
