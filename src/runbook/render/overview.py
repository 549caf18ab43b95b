"""The dashboard of every runbook's state and the maintenance calendar by cadence."""

from __future__ import annotations

from collections import Counter

from runbook.record.standing import Standing
from runbook.render.pages import STATE_LABELS, link, state_class, when_html
from runbook.render.templates import Templates
from runbook.source.frontmatter import SCHEDULES

#: Dashboard order: what needs attention first.
ATTENTION = ("failed", "timed_out", "interrupted", "abandoned", "stale", "never run", "succeeded")
CADENCES = (*SCHEDULES, "other", "unscheduled")


def _row(item: Standing, pages: dict[str, str], page: str, templates: Templates) -> dict[str, str]:
    latest = item.latest
    meta = item.runbook.meta
    return {
        "state": STATE_LABELS.get(item.state, item.state),
        "state_class": state_class(item.state),
        "title": meta.title,
        "link": link(page, pages[item.runbook.slug]),
        "last_run": when_html(templates, latest.started_at) if latest else "never",
        "environment": (latest.environment or "-") if latest else "-",
        "owner": meta.owner,
        "schedule": meta.schedule or "-",
        "risk": meta.risk,
        "next_due": when_html(templates, item.next_due) if item.next_due else "-",
    }


def facts(item: Standing, pages: dict[str, str]) -> list[object]:
    """Everything a runbook's row on the overview pages shows, as JSON-able values."""
    latest, meta = item.latest, item.runbook.meta
    return [
        item.runbook.slug,
        pages[item.runbook.slug],
        item.state,
        meta.title,
        meta.owner,
        meta.schedule,
        meta.risk,
        [latest.run_id, latest.started_at, latest.environment] if latest else None,
        item.next_due.isoformat() if item.next_due else None,
    ]


def dashboard(standings: list[Standing], pages: dict[str, str], built_iso: str, templates: Templates) -> str:
    """``runbooks/index.md``: every runbook, failed and stale first, built at ``built_iso``."""
    page = "runbooks/index.md"
    ordered = sorted(
        standings,
        key=lambda s: (ATTENTION.index(s.state) if s.state in ATTENTION else 0, s.runbook.meta.title.lower()),
    )
    counts = Counter(STATE_LABELS.get(s.state, s.state) for s in standings)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no runbooks yet"
    return templates.markdown(
        "dashboard.md.j2",
        counts=f"{len(standings)} runbooks: {summary}" if standings else summary,
        built_iso=built_iso,
        rows=[_row(s, pages, page, templates) for s in ordered],
    )


def cadence(schedule: str | None) -> str:
    if not schedule:
        return "unscheduled"
    return schedule if schedule in SCHEDULES else "other"


def calendar(standings: list[Standing], pages: dict[str, str], templates: Templates) -> str:
    """``runbooks/calendar.md``: runbooks grouped by how often they are due."""
    page = "runbooks/calendar.md"
    titles = {"other": "Other intervals", "unscheduled": "Unscheduled (run on demand)"}
    groups = []
    for name in CADENCES:
        members = sorted(
            (s for s in standings if cadence(s.runbook.meta.schedule) == name),
            key=lambda s: s.runbook.meta.title,
        )
        if members:
            groups.append(
                {
                    "title": titles.get(name, name.capitalize()),
                    "rows": [_row(s, pages, page, templates) for s in members],
                }
            )
    return templates.markdown("calendar.md.j2", groups=groups)
