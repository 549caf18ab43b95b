"""The dashboard of every runbook's state and the maintenance calendar.

The dashboard is one table, failed and stale first; the site's script adds filters (status,
risk, owner) and sortable columns, and without script it is the same table. The calendar
draws the next twelve months: each month lists what falls due in it and when, overdue
runbooks first and in red; runbooks due more often than monthly, and those run on demand,
are listed beside it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from runbook.record.standing import Standing
from runbook.render.pages import STATE_LABELS, link, state_class, when_html
from runbook.render.templates import Templates
from runbook.render.text import iso_utc
from runbook.source.frontmatter import SCHEDULES

#: Dashboard order: what needs attention first.
ATTENTION = ("failed", "timed_out", "interrupted", "abandoned", "stale", "skipped", "never run", "succeeded")
CADENCES = (*SCHEDULES, "other", "unscheduled")
#: Months the calendar draws, the current one first.
CALENDAR_MONTHS = 12
#: Runbooks due more often than this are listed as recurring, not drawn on every day.
MONTHLY_S = 28 * 86400.0


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
        "due_now": "yes" if item.due else "",
        "next_due": when_html(templates, item.next_due) if item.next_due else "-",
    }


def facts(item: Standing, pages: dict[str, str]) -> list[object]:
    """Everything a runbook's row on the overview pages shows, as JSON-able values."""
    latest, meta = item.latest, item.runbook.meta
    return [
        item.runbook.slug,
        pages[item.runbook.slug],
        item.state,
        item.due,
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


def _month_start(moment: datetime, months_ahead: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months_ahead
    return moment.replace(
        year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )


def _occurrences(item: Standing, now: datetime, end: datetime) -> list[tuple[datetime, bool]]:
    """When ``item`` falls due before ``end``: (date, overdue), the first one overdue when the
    runbook is due now; the following ones a schedule's interval apart, counted from now
    for an overdue runbook (a run today would make them so)."""
    interval = item.runbook.meta.schedule_s
    if not interval:
        return []
    first = item.next_due or now
    found = [(first, item.due)]
    following = max(first, now) + timedelta(seconds=interval)
    while following < end:
        found.append((following, False))
        following += timedelta(seconds=interval)
    return found


def calendar(standings: list[Standing], pages: dict[str, str], templates: Templates, now: datetime) -> str:
    """``runbooks/calendar.md``: the next :data:`CALENDAR_MONTHS` months, what is due when.

    A runbook due now (failed, stale, never run, changed) shows in the current month in red,
    with the date it became due; then every date its schedule gives. Runbooks due more often
    than monthly are listed once, as recurring, with any that are overdue also in red in
    the current month; runbooks without a schedule are listed as run on demand.
    """
    page = "runbooks/calendar.md"
    start, end = _month_start(now), _month_start(now, CALENDAR_MONTHS)
    months: list[dict[str, object]] = [
        {"title": f"{_month_start(now, i):%B %Y}", "current": i == 0, "entries": []}
        for i in range(CALENDAR_MONTHS)
    ]
    recurring: dict[str, list[dict[str, str]]] = {}
    on_demand = []
    for item in sorted(standings, key=lambda s: s.runbook.meta.title.lower()):
        meta = item.runbook.meta
        row = _row(item, pages, page, templates)
        if not meta.schedule_s:
            on_demand.append(row)
            continue
        frequent = meta.schedule_s < MONTHLY_S
        if frequent:
            recurring.setdefault(meta.schedule or "", []).append(row)
        for moment, overdue in _occurrences(item, now, end):
            if frequent and not overdue:
                break
            index = (
                0
                if overdue or moment < start
                else (moment.year - start.year) * 12 + moment.month - start.month
            )
            entries = months[index]["entries"]
            assert isinstance(entries, list)
            entries.append(
                {
                    **row,
                    "overdue": overdue,
                    "day": _when_due(moment, overdue, item.next_due is not None),
                    "iso": iso_utc(moment),
                    "sort": (not overdue, moment),
                }
            )
    for month in months:
        entries = month["entries"]
        assert isinstance(entries, list)
        entries.sort(key=lambda e: e["sort"])
    return templates.markdown(
        "calendar.md.j2",
        months=months,
        recurring=[
            {"schedule": k, "rows": v} for k, v in sorted(recurring.items(), key=lambda kv: _interval(kv[0]))
        ],
        on_demand=on_demand,
        overdue=sum(1 for s in standings if s.due and s.runbook.meta.schedule_s),
    )


def _when_due(moment: datetime, overdue: bool, dated: bool) -> str:
    """``14 Dec``; ``overdue since 12 Nov``; ``due now`` for a runbook never verified."""
    if not overdue:
        return f"{moment:%d %b}"
    return f"overdue since {moment:%d %b}" if dated else "due now"


def _interval(schedule: str) -> float:
    from runbook.source.frontmatter import parse_schedule

    try:
        return float(parse_schedule(schedule))
    except ValueError:
        return 0.0
