"""Where each runbook stands: last run, last verified run, staleness, next due date.

One rule for the CLI (``list``, ``due``), the dashboard, the calendar and the runbook
page: "last verified" is the newest run that succeeded and ran at least one step; a
runbook whose newest run did not verify it (failed, timed out, interrupted, abandoned,
or every step skipped), whose code changed since, or whose last verification is older
than its schedule allows, is due now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from runbook.record.model import RunRecord
from runbook.source.model import Runbook

#: The state of a run that succeeded without running a step: it verified nothing.
SKIPPED = "skipped"


@dataclass(frozen=True)
class Standing:
    """A runbook's state for lists, ``due``, the dashboard and its page.

    Attributes:
        runbook: the runbook.
        latest: its newest run, or None.
        state: ``never run``, ``succeeded``, ``skipped`` (the newest run succeeded with every
            step skipped), ``failed``, ``timed_out``, ``interrupted``, ``abandoned`` or
            ``stale`` (the last verification is older than the schedule allows).
        next_due: when a run is (or was) due: the schedule's date after the last verified
            run, or, when the newest run did not verify it or the code changed since, that
            run's start, whichever is earlier; None for a runbook never run, or unscheduled
            and verified by its newest run.
        changed: the code changed since the newest run.
        last_verified: the newest run that verified the runbook, or None.
    """

    runbook: Runbook
    latest: RunRecord | None
    state: str
    next_due: datetime | None
    changed: bool
    last_verified: RunRecord | None = None

    @property
    def due(self) -> bool:
        """Never run, not verified by its newest run, stale, or its code changed since."""
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


def run_state(record: RunRecord) -> str:
    """A run's state as pages and lists show it: its stored status, except ``skipped`` for
    a run that succeeded with every step skipped (it verified nothing)."""
    if record.status == "succeeded" and record.steps and all(s.status == "skipped" for s in record.steps):
        return SKIPPED
    return record.status


def verified(record: RunRecord) -> bool:
    """Whether a run verified its runbook: it succeeded and ran at least one step."""
    return run_state(record) == "succeeded"


def standing(runbook: Runbook, runs: Sequence[RunRecord], now: datetime | None = None) -> Standing:
    """Compute one runbook's standing from its runs, newest first."""
    now = now or datetime.now(timezone.utc)
    if not runs:
        return Standing(runbook, None, "never run", None, False)
    latest = runs[0]
    last_verified = next((r for r in runs if verified(r)), None)
    changed = latest.runbook.code_hash != runbook.code_hash
    interval = runbook.meta.schedule_s
    scheduled = None
    if last_verified is not None and interval:
        scheduled = parse_time(last_verified.started_at) + timedelta(seconds=interval)
    candidates = [scheduled] if scheduled else []
    if latest is not last_verified or changed:
        candidates.append(parse_time(latest.started_at))
    next_due = min(candidates) if candidates else None
    state = run_state(latest)
    if state == "succeeded" and scheduled is not None and scheduled <= now:
        state = "stale"
    return Standing(runbook, latest, state, next_due, changed, last_verified)
