"""Trends: the numbers a runbook's checks recorded over its recent runs, as small charts.

A check's ``data`` holds the figures behind its detail (``latency_ms``, ``used_pct``,
``days_left``, ``age_s`` ...). Where a figure is a measurement (its name ends in a unit)
and recent runs recorded it, the runbook page draws it as an inline SVG line chart with
its thresholds, rendered at build time from the ``trend`` partial and sanitized like any
SVG output, so the page needs no script and a run cannot put markup into it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from runbook.record.model import RunRecord
from runbook.render.outputs import sanitize_svg
from runbook.render.templates import Templates

#: How many runs a chart covers, newest last.
TREND_RUNS = 30
#: A figure is a measurement when its name ends in one of these units.
UNITS = {"ms": "ms", "s": "s", "pct": "%", "seconds": "s", "days": "days", "left": "days"}
#: Figures that end in a unit but are not measurements worth a chart.
NOT_TRENDS = frozenset({"inodes_used_pct"})
#: Threshold keys, tried with the full figure name, its first and its last word:
#: ``fail_used_pct``/``fail_pct``, ``max_age_s``, ``warn_days`` ...
THRESHOLDS = (("fail", "fail"), ("max", "fail"), ("min", "fail"), ("warn", "warn"))
WIDTH, HEIGHT, PAD = 480.0, 120.0, 12.0


@dataclass(frozen=True)
class Trend:
    """One figure of one check over recent runs, oldest first.

    Attributes:
        check: the check's name; figure: the figure's name; unit: how values read.
        values: (run_id, value) per run that recorded it.
        thresholds: (kind, value), kind ``fail`` or ``warn``, from the newest run.
    """

    check: str
    figure: str
    unit: str
    values: tuple[tuple[str, float], ...]
    thresholds: tuple[tuple[str, float], ...]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _unit(figure: str) -> str | None:
    if figure in NOT_TRENDS or figure.startswith(tuple(f"{p}_" for p, _ in THRESHOLDS)):
        return None
    return UNITS.get(figure.rsplit("_", 1)[-1]) if "_" in figure else None


def _thresholds(data: dict[str, object], figure: str) -> tuple[tuple[str, float], ...]:
    words = figure.split("_")
    found: dict[str, float] = {}
    for prefix, kind in THRESHOLDS:
        for stem in (figure, words[0], words[-1]):
            number = _number(data.get(f"{prefix}_{stem}"))
            if number is not None and kind not in found:
                found[kind] = number
    return tuple(sorted(found.items()))


def trends(runs: Sequence[RunRecord], limit: int = TREND_RUNS) -> list[Trend]:
    """The measured figures of the checks of ``runs`` (newest first), one per check and figure.

    A figure needs two runs that recorded it to make a trend.
    """
    recent = list(reversed(runs[:limit]))
    series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    limits: dict[tuple[str, str], tuple[tuple[str, float], ...]] = {}
    for record in recent:
        for check in record.checks:
            data = dict(check.data)
            for figure, raw in data.items():
                number = _number(raw)
                if number is None or _unit(figure) is None:
                    continue
                key = (check.name, figure)
                series.setdefault(key, []).append((record.run_id, number))
                limits[key] = _thresholds(data, figure)
    return [
        Trend(check, figure, _unit(figure) or "", tuple(values), limits[check, figure])
        for (check, figure), values in series.items()
        if len(values) >= 2
    ]


def _shown(value: float, unit: str) -> str:
    text = f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    text = text.removesuffix(".0")
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def chart(trend: Trend, templates: Templates) -> str:
    """The trend as inline SVG (the ``trend`` partial's ``chart``), sanitized."""
    numbers = [v for _, v in trend.values] + [v for _, v in trend.thresholds]
    low, high = min(numbers + [0.0]), max(numbers)
    span = (high - low) or 1.0

    def y(value: float) -> float:
        return round(HEIGHT - PAD - (value - low) / span * (HEIGHT - 2 * PAD), 1)

    step = (WIDTH - 2 * PAD) / max(len(trend.values) - 1, 1)
    points = [(round(PAD + i * step, 1), y(v)) for i, (_, v) in enumerate(trend.values)]
    latest = trend.values[-1][1]
    svg = str(
        templates.html(
            "trend",
            "chart",
            title=f"{trend.check}: {trend.figure}",
            width=WIDTH,
            height=HEIGHT,
            points=" ".join(f"{x},{yy}" for x, yy in points),
            last=points[-1],
            thresholds=[(kind, y(value), _shown(value, trend.unit)) for kind, value in trend.thresholds],
            summary=(
                f"last {len(trend.values)} runs: latest {_shown(latest, trend.unit)}, "
                f"lowest {_shown(min(v for _, v in trend.values), trend.unit)}, "
                f"highest {_shown(max(v for _, v in trend.values), trend.unit)}"
            ),
        )
    )
    digest = hashlib.sha256(f"{trend.check}\0{trend.figure}".encode()).hexdigest()[:10]
    return sanitize_svg(svg, id_prefix=f"rb-trend-{digest}-")


def trend_rows(runs: Sequence[RunRecord], templates: Templates) -> list[dict[str, str]]:
    """What the page's Trends section shows: per trend, its names, summary and chart."""
    rows = []
    for trend in trends(runs):
        values = [v for _, v in trend.values]
        rows.append(
            {
                "check": trend.check,
                "figure": trend.figure,
                "latest": _shown(values[-1], trend.unit),
                "thresholds": ", ".join(f"{k} {_shown(v, trend.unit)}" for k, v in trend.thresholds),
                "runs": str(len(values)),
                "svg": chart(trend, templates),
            }
        )
    return rows
