"""Check results, how they show in a notebook, and how the run record finds them again.

A :class:`CheckResult` displays as one line of text, a one-row HTML table and a JSON copy
of itself under :data:`MIME_TYPE`; a :class:`Report` as a table of all its results and a
JSON list under the same MIME type. The JSON is what :func:`checks_from_outputs` reads back
out of an executed notebook, so the run record lists every check a run displayed.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from runbook.checks._support import FAIL, PASS, STATUSES, WARN, worst

#: The MIME type a check (a JSON object) or a report (a JSON list of them) is displayed under.
MIME_TYPE = "application/vnd.runbook.check+json"

_HTML_TABLE = (
    '<table class="runbook-checks">\n'
    "<thead><tr><th>status</th><th>check</th><th>detail</th></tr></thead>\n"
    "<tbody>\n{rows}</tbody>\n"
    "</table>"
)
_HTML_ROW = '<tr class="runbook-check-{status}"><td>{status}</td><td>{name}</td><td>{detail}</td></tr>\n'
_HTML_EMPTY_ROW = '<tr><td colspan="3">no checks</td></tr>\n'

#: Text of :class:`CheckFailed`: ``2 of 5 checks failed: api — ...; disk / — ...``.
_FAILED_MESSAGE = "{count} of {total} checks failed: {items}"
_FAILED_ONE_MESSAGE = "check failed: {items}"


class CheckFailed(AssertionError):
    """One or more checks failed; the message names each failed check and its detail.

    Attributes:
        results: the failed results, in the order they were checked.
    """

    def __init__(self, results: Iterable[CheckResult], total: int | None = None) -> None:
        self.results = list(results)
        items = "; ".join(f"{r.name} — {r.detail}" for r in self.results)
        total = len(self.results) if total is None else total
        if total == 1:
            message = _FAILED_ONE_MESSAGE.format(items=items)
        else:
            message = _FAILED_MESSAGE.format(count=len(self.results), total=total, items=items)
        super().__init__(message)


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    Attributes:
        name: what was checked, stable from run to run (``disk /``, ``http https://api/health``).
        status: ``pass``, ``warn`` or ``fail``.
        detail: one line a person reads: what was measured, against what.
        data: the figures behind the detail (``latency_ms``, ``days_left``, ``used_pct`` ...),
            JSON-compatible.
    """

    name: str
    status: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"check {self.name!r}: status must be one of {', '.join(STATUSES)}, got {self.status!r}"
            )

    @property
    def ok(self) -> bool:
        """True unless the check failed (a warning is ok)."""
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "status", "detail", "data"}``: what the run record stores."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.status.upper()} {self.name} — {self.detail}"

    def _repr_mimebundle_(
        self, include: Collection[str] | None = None, exclude: Collection[str] | None = None
    ) -> dict[str, Any]:
        bundle = {"text/plain": str(self), "text/html": _html_table([self]), MIME_TYPE: self.to_dict()}
        return _select(bundle, include, exclude)


class Report:
    """The results of a notebook step's checks, shown as one table.

    Example::

        report = Report()
        report.add(http_endpoint("https://api.internal/health"))
        report.add(disk_usage("/var/lib/postgresql"))
        report                       # the table, in the notebook
        report.raise_for_failures()  # stop the run if anything failed
    """

    def __init__(self, results: Iterable[CheckResult] = ()) -> None:
        self.results: list[CheckResult] = []
        self._shown = False
        self.extend(results)

    def add(self, result: CheckResult) -> CheckResult:
        """Append ``result`` and return it, so ``r = report.add(check(...))`` reads naturally.

        Raises:
            TypeError: ``result`` is not a :class:`CheckResult`.
        """
        if not isinstance(result, CheckResult):
            raise TypeError(f"Report.add() takes a CheckResult, got {type(result).__name__}")
        self.results.append(result)
        return result

    def extend(self, results: Iterable[CheckResult]) -> None:
        """Append each of ``results``.

        Raises:
            TypeError: one of them is not a :class:`CheckResult`.
        """
        for result in results:
            self.add(result)

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> list[CheckResult]:
        """The results with status ``fail``."""
        return [r for r in self.results if r.status == FAIL]

    @property
    def warned(self) -> list[CheckResult]:
        """The results with status ``warn``."""
        return [r for r in self.results if r.status == WARN]

    @property
    def passed(self) -> list[CheckResult]:
        """The results with status ``pass``."""
        return [r for r in self.results if r.status == PASS]

    @property
    def status(self) -> str:
        """The worst status among the results (``pass`` when there are none)."""
        return worst(r.status for r in self.results)

    def summary(self) -> str:
        """``5 checks: 3 pass, 1 warn, 1 fail``."""
        noun = "check" if len(self.results) == 1 else "checks"
        counts = f"{len(self.passed)} pass, {len(self.warned)} warn, {len(self.failed)} fail"
        return f"{len(self.results)} {noun}: {counts}"

    def raise_for_failures(self) -> None:
        """Raise :class:`CheckFailed` naming each failed check and its detail; do nothing otherwise.

        Raises:
            CheckFailed: at least one result has status ``fail``.
        """
        if self.failed:
            raise CheckFailed(self.failed, total=len(self.results))

    def __str__(self) -> str:
        return _text_table(self.results, self.summary())

    def __repr__(self) -> str:
        return f"<Report {self.summary()}>"

    def _repr_mimebundle_(
        self, include: Collection[str] | None = None, exclude: Collection[str] | None = None
    ) -> dict[str, Any]:
        if self._shown:
            # require() displayed the table already; a cell ending in require(...) shows it
            # again as its value, which would repeat the table and the checks in the record.
            return _select({"text/plain": f"{self.summary()} (shown above)"}, include, exclude)
        bundle = {
            "text/plain": str(self),
            "text/html": _html_table(self.results),
            MIME_TYPE: [r.to_dict() for r in self.results],
        }
        return _select(bundle, include, exclude)


def require(*results: CheckResult) -> Report:
    """Show ``results`` as one table and stop the run if any of them failed.

    The table is displayed with IPython when running in a kernel (so it is recorded with
    the run), else printed. Warnings are shown but do not stop the run. Displaying the
    returned report again shows only its summary line, so a cell that ends in
    ``require(...)`` does not repeat the table.

    Args:
        *results: the checks to show and judge.

    Returns:
        The report of ``results``, when none failed.

    Raises:
        CheckFailed: at least one result failed; the message names each failed check and its detail.
    """
    report = Report(results)
    _show(report)
    report._shown = True
    report.raise_for_failures()
    return report


def checks_from_outputs(outputs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks displayed in notebook ``outputs``, in order, as plain dicts.

    Reads ``display_data`` and ``execute_result`` outputs carrying :data:`MIME_TYPE` (one
    check object, or a list of them from a :class:`Report`). Entries that are not a check
    (no name, unknown status) are skipped: outputs come from a run and are not trusted. A
    check displayed twice is returned twice.

    Args:
        outputs: nbformat output dicts (``NotebookNode`` works), e.g. every cell's outputs in turn.

    Returns:
        ``{"name", "status", "detail", "data"}`` dicts, copied from the outputs.
    """
    checks: list[dict[str, Any]] = []
    for output in outputs:
        if output.get("output_type") not in ("display_data", "execute_result"):
            continue
        payload = (output.get("data") or {}).get(MIME_TYPE)
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                continue
        entries = payload if isinstance(payload, list) else [payload]
        checks.extend(check for check in map(_check_dict, entries) if check is not None)
    return checks


def _check_dict(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    name, status, detail, data = (entry.get(k) for k in ("name", "status", "detail", "data"))
    if not isinstance(name, str) or not name or status not in STATUSES:
        return None
    return {
        "name": name,
        "status": status,
        "detail": detail if isinstance(detail, str) else "",
        "data": copy.deepcopy(data) if isinstance(data, dict) else {},
    }


def _show(report: Report) -> None:
    if "IPython" in sys.modules:  # always the case in a kernel; importing it otherwise is slow
        from IPython.display import display

        display(report)
    else:
        print(report)


def _select(
    bundle: dict[str, Any], include: Collection[str] | None, exclude: Collection[str] | None
) -> dict[str, Any]:
    return {
        k: v for k, v in bundle.items() if (not include or k in include) and (not exclude or k not in exclude)
    }


def _html_table(results: Iterable[CheckResult]) -> str:
    rows = "".join(
        _HTML_ROW.format(status=escape(r.status), name=escape(r.name), detail=escape(r.detail))
        for r in results
    )
    return _HTML_TABLE.format(rows=rows or _HTML_EMPTY_ROW)


def _text_table(results: list[CheckResult], footer: str) -> str:
    if not results:
        return footer
    width = max(len(r.name) for r in results)
    lines = [f"{r.status.upper():<4}  {r.name:<{width}}  {r.detail}" for r in results]
    return "\n".join([*lines, footer])
