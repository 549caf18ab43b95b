"""Declared schema of runbook front matter, with a validator that reports every problem.

Also the small value parsers shared by the CLI and the profiles: durations (``90s``,
``10m``) and schedules (``daily`` ... ``annually``, ``<N>h``, ``<N>d``).
"""

from __future__ import annotations

import re
from typing import Any

from runbook.errors import Problem
from runbook.source.model import KINDS, LEVELS, RISKS, FrontMatter

SCHEDULES = {
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "quarterly": 91 * 86400.0,
    "annually": 365 * 86400.0,
}
SCHEDULE_HELP = "daily, weekly, monthly, quarterly, annually or <N>h/<N>d"
DURATION_HELP = "seconds or a duration like 90s, 10m, 2h"
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_EVERY = re.compile(r"^(\d+)([hd])$")

#: ``(key, message)``: what the validator found, before it knows the file.
Found = list[tuple[str | None, str]]

#: Keys that jupytext (Markdown and MyST) keeps in the same front matter as ours.
JUPYTEXT_KEYS = ("jupyter", "jupytext", "kernelspec")
REQUIRED = ("title", "summary", "owner")
OPTIONAL = (
    "tags",
    "kind",
    "level",
    "risk",
    "schedule",
    "timeout",
    "environments",
    "objectives",
    "prerequisites",
    "alerts",
)


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"10m"``, ``"2h"`` or ``"1d"``.

    Raises:
        ValueError: the value is not a positive duration.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(value)
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(value)
    return seconds


def parse_schedule(value: Any) -> float:
    """Seconds between due runs for a schedule name or ``<N>h``/``<N>d``.

    Raises:
        ValueError: the value is not a known schedule.
    """
    text = str(value).strip().lower()
    if text in SCHEDULES:
        return SCHEDULES[text]
    match = _EVERY.match(text)
    if match and int(match.group(1)) > 0:
        return int(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(value)


def _string(data: dict[str, Any], key: str, problems: Found) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append((key, f"'{key}': expected a non-empty string, got {value!r}"))
        return None
    return value.strip()


def _choice(
    data: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None, problems: Found
) -> str | None:
    value = data.get(key, default)
    if value is None or value in allowed:
        return value
    problems.append((key, f"'{key}': expected {', '.join(allowed)}, got {value!r}"))
    return default


def _words(data: dict[str, Any], key: str, problems: Found) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append((key, f"'{key}': expected a list of text items, got {value!r}"))
        return None
    return tuple(v.strip() for v in value)


def validate_front_matter(data: Any, rel: str) -> tuple[FrontMatter | None, list[Problem]]:
    """Validate raw front matter, collecting every problem.

    Args:
        data: the YAML-loaded front matter.
        rel: the runbook's path, for the problems.

    Returns:
        The front matter (None when there are problems) and the list of problems, each
        naming its key and what is allowed. Their lines are left for the caller, which
        has the YAML.
    """
    if not isinstance(data, dict):
        return None, [Problem(rel, f"front matter: expected a mapping of keys, got {type(data).__name__}")]
    problems: Found = []
    known = set(REQUIRED) | set(OPTIONAL) | set(JUPYTEXT_KEYS)
    for key in data:
        if key not in known:
            listed = ", ".join(REQUIRED + OPTIONAL)
            problems.append((str(key), f"unknown front matter key '{key}' (known: {listed})"))
    for key in REQUIRED:
        if data.get(key) is None:
            problems.append((key, f"missing required key '{key}'"))
    title, summary, owner = (_string(data, k, problems) for k in REQUIRED)
    tags = _words(data, "tags", problems) or ()
    environments = _words(data, "environments", problems)
    objectives = _words(data, "objectives", problems) or ()
    prerequisites = _words(data, "prerequisites", problems) or ()
    alerts = _words(data, "alerts", problems) or ()
    kind = _choice(data, "kind", KINDS, "runbook", problems)
    risk = _choice(data, "risk", RISKS, "read-only", problems)
    level = _choice(data, "level", LEVELS, None, problems)
    if kind == "training" and level is None and "level" not in data:
        problems.append(("level", f"'level': training pages need a level ({', '.join(LEVELS)})"))
    schedule, schedule_s = _timed(data, "schedule", parse_schedule, SCHEDULE_HELP, problems)
    timeout, timeout_s = _timed(data, "timeout", parse_duration, DURATION_HELP, problems)
    if problems:
        return None, [Problem(rel, message, key=key) for key, message in problems]
    assert title and summary and owner and kind and risk
    return (
        FrontMatter(
            title=title,
            summary=summary,
            owner=owner,
            tags=tags,
            kind=kind,
            level=level,
            risk=risk,
            schedule=schedule,
            schedule_s=schedule_s,
            timeout=timeout,
            timeout_s=timeout_s,
            environments=environments,
            objectives=objectives,
            prerequisites=prerequisites,
            alerts=alerts,
        ),
        [],
    )


def _timed(
    data: dict[str, Any], key: str, parser: Any, allowed: str, problems: Found
) -> tuple[str | None, float | None]:
    value = data.get(key)
    if value is None:
        return None, None
    try:
        return str(value), parser(value)
    except ValueError:
        problems.append((key, f"'{key}': expected {allowed}, got {value!r}"))
        return None, None
