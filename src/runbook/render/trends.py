"""Trends: the numbers a runbook's checks recorded over its recent runs, as small charts.

A check's ``data`` holds the figures behind its detail (``latency_ms``, ``used_pct``,
``days_left``, ``age_s`` ...). Where a figure is a measurement (its name ends in a unit,
or the data holds a threshold for it: ``fail_p95``, ``max_age_s``) and recent runs
recorded it, the runbook page draws it as an inline SVG line chart with its thresholds,
rendered at build time from the ``trend`` partial and sanitized like any SVG output, so
the page needs no script and a run cannot put markup into it. A check whose figures carry
no unit in their names may name it in ``data["unit"]`` (``"ms"``).
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
WIDTH, HEIGHT, PAD = 480.0, 110.0, 14.0
#: A threshold further than this many times the largest value is drawn at the chart's edge.
NEAR = 3.0
#: Threshold labels closer than this (px) are moved apart.
LABEL_GAP = 12.0


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


def _unit(figure: str, data: dict[str, object]) -> str | None:
    """How ``figure``'s values read, or None when it is not a measurement to chart."""
    if figure in NOT_TRENDS or figure.startswith(tuple(f"{p}_" for p, _ in THRESHOLDS)):
        return None
    if "_" in figure and figure.rsplit("_", 1)[-1] in UNITS:
        return UNITS[figure.rsplit("_", 1)[-1]]
    if _thresholds(data, figure):
        unit = data.get("unit")
        return unit if isinstance(unit, str) else ""
    return None


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
    units: dict[tuple[str, str], str] = {}
    for record in recent:
        for check in record.checks:
            data = dict(check.data)
            for figure, raw in data.items():
                number = _number(raw)
                unit = _unit(figure, data)
                if number is None or unit is None:
                    continue
                key = (check.name, figure)
                series.setdefault(key, []).append((record.run_id, number))
                limits[key] = _thresholds(data, figure)
                units[key] = unit
    return [
        Trend(check, figure, units[check, figure], tuple(values), limits[check, figure])
        for (check, figure), values in series.items()
        if len(values) >= 2
    ]


def _shown(value: float, unit: str) -> str:
    text = f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    text = text.removesuffix(".0")
    return f"{text}%" if unit == "%" else f"{text} {unit}".rstrip()


def _scale(values: list[float], thresholds: tuple[tuple[str, float], ...], unit: str) -> tuple[float, float]:
    """The value range a chart spans: its values, zero, and the thresholds near enough to
    them (within :data:`NEAR` times the largest value, or 100 for a percentage) to draw on
    the same scale."""
    low, high = min([*values, 0.0]), max(values)
    reach = max(max(abs(high), abs(low)) * NEAR, 100.0 if unit == "%" else 0.0) or 1.0
    for _, limit in thresholds:
        if abs(limit) <= reach:
            low, high = min(low, limit), max(high, limit)
    return low, (high + (high - low) * 0.1) if high > low else low + 1.0


def chart(trend: Trend, templates: Templates) -> str:
    """The trend as inline SVG (the ``trend`` partial's ``chart``), sanitized.

    A threshold far above the values (a 300 ms limit for 12 ms answers) is named at the top
    with an arrow instead of drawn, so the values keep a readable scale.
    """
    values = [v for _, v in trend.values]
    low, high = _scale(values, trend.thresholds, trend.unit)

    def y(value: float) -> float:
        clamped = min(max(value, low), high)
        return round(HEIGHT - PAD - (clamped - low) / (high - low) * (HEIGHT - 2 * PAD), 1)

    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    points = [(round(PAD + i * step, 1), y(v)) for i, v in enumerate(values)]
    limits = []
    label_y = -LABEL_GAP
    for kind, value in sorted(trend.thresholds, key=lambda t: -t[1]):
        off_scale = " ↑" if value > high else " ↓" if value < low else ""
        line_y = y(value)
        label_y = max(line_y - 3 if line_y > LABEL_GAP else line_y + 11, label_y + LABEL_GAP)
        limits.append(
            (kind, None if off_scale else line_y, label_y, f"{_shown(value, trend.unit)}{off_scale}")
        )
    svg = str(
        templates.html(
            "trend",
            "chart",
            title=f"{trend.check}: {trend.figure}",
            width=WIDTH,
            height=HEIGHT,
            points=" ".join(f"{x},{yy}" for x, yy in points),
            last=points[-1],
            thresholds=limits,
            axis=(_shown(high, trend.unit), _shown(low, trend.unit)),
            summary=(
                f"last {len(values)} runs: latest {_shown(values[-1], trend.unit)}, "
                f"lowest {_shown(min(values), trend.unit)}, highest {_shown(max(values), trend.unit)}"
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
