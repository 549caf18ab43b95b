"""Terminal output: one console for progress and streamed output (stderr), one for results.

Progress and run output go to stderr, so ``--json`` keeps stdout clean. Colour and styling
appear only when stderr is a terminal; rich turns them off otherwise.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "interrupted": "yellow",
    "abandoned": "yellow",
    "stale": "yellow",
    "skipped": "yellow",
    "never run": "dim",
}

#: Width for output that is not a terminal (pipes, files, CI logs): wide enough that
#: table rows stay on one line for grep and diff.
PIPE_WIDTH = 240


def in_ci() -> bool:
    """``CI`` is set (GitHub Actions, GitLab CI and most others set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _plain() -> bool:
    """Plain text, no colour or styles: in CI and with ``NO_COLOR`` (https://no-color.org)."""
    return in_ci() or bool(os.environ.get("NO_COLOR"))


def animated(console: Console) -> bool:
    """Whether ``console`` may show a live line: a terminal, not in CI."""
    return console.is_terminal and not in_ci()


_STYLE: dict[str, Any] = {"color_system": None} if _plain() else {}
err = Console(stderr=True, highlight=False, soft_wrap=True, **_STYLE)
out = Console(highlight=False, soft_wrap=True, **_STYLE)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=PIPE_WIDTH, **_STYLE)


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def styled_status(status: str | None) -> str:
    status = status or "never run"
    return f"[{STATUS_STYLE.get(status, 'default')}]{escape(status)}[/]"


def when(iso_time: str | None, now: datetime | None = None) -> str:
    """``2026-11-29 17:14Z (3h ago)`` from an ISO 8601 time; ``-`` for none."""
    if not iso_time:
        return "-"
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    seconds = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            ago = f"{int(seconds // size)}{unit} ago"
            break
    else:
        ago = "just now"
    return f"{moment:%Y-%m-%d %H:%M}Z ({ago})"


def table(columns: list[str], rows: list[list[str]]) -> Table:
    """A plain table; cells are markup (escape user text before passing it).

    The first column (the name people copy) never wraps; the others fold as needed.
    """
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for position, column in enumerate(columns):
        grid.add_column(column, overflow="fold", no_wrap=position == 0)
    for row in rows:
        grid.add_row(*row)
    return grid


#: The MIME type a check or a report of checks is displayed under (runbook.checks.result).
CHECK_MIME = "application/vnd.runbook.check+json"
CHECK_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def check_lines(payload: Any) -> list[Text] | None:
    """A displayed check (or report of checks) as one line per check, ``FAIL`` in red and
    ``PASS`` in green, and a report's summary; None when ``payload`` is not one."""
    entries = payload if isinstance(payload, list) else [payload]
    checks = [e for e in entries if isinstance(e, dict) and e.get("status") in CHECK_STYLE and e.get("name")]
    if len(checks) != len(entries) or not checks and not isinstance(payload, list):
        return None
    width = max((len(str(c["name"])) for c in checks), default=0)
    lines = [
        Text.assemble(
            (f"{str(c['status']).upper():<4}", CHECK_STYLE[c["status"]]),
            f"  {str(c['name']):<{width}}  {c.get('detail') or ''}".rstrip(),
        )
        for c in checks
    ]
    if isinstance(payload, list):
        counts = {status: sum(c["status"] == status for c in checks) for status in CHECK_STYLE}
        noun = "check" if len(checks) == 1 else "checks"
        lines.append(
            Text(f"{len(checks)} {noun}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
        )
    return lines


SKIP_KEY = "runbook.skip"  # runbook.checks.skipping.SKIP_KEY, without importing the checks


def skip_line(output: Any) -> Text | None:
    """``SKIPPED: reason`` in yellow for an output of ``checks.skip``; None for other outputs."""
    metadata = output.get("metadata")
    marker = metadata.get(SKIP_KEY) if isinstance(metadata, dict) else None
    if not isinstance(marker, dict):
        return None
    reason = marker.get("reason")
    return Text.assemble(("SKIPPED", "yellow"), f": {strip_ansi(reason) if isinstance(reason, str) else ''}")


def _failures(payload: Any) -> list[str]:
    """``name — detail`` of each failed check in a displayed check or report, as
    :class:`CheckFailed` names them."""
    entries = payload if isinstance(payload, list) else [payload]
    failed = [e for e in entries if isinstance(e, dict) and e.get("status") == "fail"]
    return [f"{e.get('name')} — {e.get('detail')}" for e in failed]


def error_lines(output: Any, *, failures_shown: Collection[str] = ()) -> list[str]:
    """A step's error in two lines: the line of the runbook's code that raised, and the
    exception. When every check a :class:`CheckFailed` names is among ``failures_shown``
    (``name — detail`` of the FAIL lines printed so far), its message is cut to its count
    (``2 of 3 checks failed``) instead of naming them again."""
    name = str(output.get("ename") or "Error")
    message = str(output.get("evalue") or "")
    count, _, items = message.partition(": ")
    if name == "CheckFailed" and items and all(i in failures_shown for i in items.split("; ")):
        message = count
    where = _raising_line(output.get("traceback") or [])
    return [*([where] if where else []), f"{name}: {message}" if message else name]


_ARROW = re.compile(r"^\s*-+>\s*(\d+)\s?(.*)$")


def _raising_line(traceback: list[str]) -> str | None:
    """``at line 5: require(...)`` from IPython's traceback: the last frame that
    is the runbook's own code (not a library's), at its ``---->`` line."""
    found = None
    for frame in traceback:
        lines = strip_ansi(str(frame)).splitlines()
        if not lines or not lines[0].startswith("Cell In["):
            continue
        for line in lines:
            arrow = _ARROW.match(line)
            if arrow:
                found = f"at line {arrow.group(1)}: {arrow.group(2).strip()}"
    return found


def kind_label(meta: Any) -> str:
    """``runbook``, ``training L2`` or ``doc``."""
    return f"{meta.kind} {meta.level}" if meta.kind == "training" and meta.level else str(meta.kind)


def standings_table(standings: list[Any], *, wide: bool, width: int | None = None) -> Table:
    """``runbook list``: slug, kind, title, status and last run; ``wide`` adds owner, risk
    and schedule. Narrow, the title takes what the other columns leave of ``width`` (cut
    with an ellipsis) and the last run is relative, so a row stays on one line at 80
    columns."""
    extra = ["owner", "risk", "schedule"] if wide else []
    header = ["runbook", "kind", "title", *extra, "status", "last run"]
    rows = []
    for item in standings:
        meta = item.runbook.meta
        started = item.latest.started_at if item.latest else None
        cells = [item.runbook.slug, kind_label(meta), meta.title]
        if wide:
            cells += [meta.owner, meta.risk, meta.schedule or "-"]
        rows.append([*cells, item.state, when(started) if wide else ago(started)])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    if not wide and width is not None:
        widths[2] = max(10, width - sum(widths) + widths[2] - 2 * (len(header) - 1))
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for column, size in zip(header, widths, strict=True):
        grid.add_column(column, no_wrap=True, overflow="ellipsis", min_width=size, max_width=size)
    status_at = len(header) - 2
    for row in rows:
        grid.add_row(*(styled_status(v) if i == status_at else escape(v) for i, v in enumerate(row)))
    return grid


def ago(iso_time: str | None, now: datetime | None = None) -> str:
    """``3h ago`` from an ISO 8601 time; ``-`` for none."""
    shown = when(iso_time, now)
    return shown[shown.find("(") + 1 : -1] if "(" in shown else shown


def notebook_counts(standings: list[Any]) -> str:
    """``12 notebooks: 8 runbooks, 3 training pages, 1 doc; 2 failed, 9 never run, 1 succeeded``.

    Kinds as the site files them (runbooks, training tracks, docs) and states as its
    dashboard counts them.
    """
    from collections import Counter

    kinds = Counter(s.runbook.meta.kind for s in standings)
    names = {"runbook": ("runbook", "runbooks"), "training": ("training page", "training pages")}
    parts = []
    for kind in ("runbook", "training", "doc", *sorted(set(kinds) - {"runbook", "training", "doc"})):
        if kinds[kind]:
            one, many = names.get(kind, (kind, f"{kind}s"))
            parts.append(f"{kinds[kind]} {one if kinds[kind] == 1 else many}")
    states = Counter(s.state for s in standings)
    shown = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(states.items()))
    total = len(standings)
    return f"{total} notebook{'s' if total != 1 else ''}: {', '.join(parts)}; {shown}"


class _StepClock:
    """The live line under a running step: a spinner, the step and its elapsed time; above
    it, the step's output line still being written (``partial()``), so it shows as it comes."""

    def __init__(self, label: str, partial: Callable[[], str]) -> None:
        self.label = label
        self.partial = partial
        self.started = time.monotonic()
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        partial = self.partial()
        if partial:
            yield Text.from_ansi(partial, no_wrap=True, overflow="ellipsis")
        elapsed = time.monotonic() - self.started
        self.spinner.text = Text.assemble((self.label, "cyan"), (f"  {elapsed:.1f}s", "bold"))
        yield self.spinner


class ExecObserver:
    """Prints a progress line per step and each output as it arrives, on stderr.

    On a terminal (and not in CI) a live line under the output shows the running step's
    elapsed time; output lines are printed above it as they end, so the two never mix.
    A step's error is the line that raised and the exception (the whole traceback with
    ``verbose``); the run record and its page keep the traceback either way.
    """

    def __init__(
        self, console: Console | None = None, *, verbose: bool = False, live: bool | None = None
    ) -> None:
        self.console = console or err
        self.verbose = verbose
        self.animated = animated(self.console) if live is None else live
        self.total = 0
        self.done = 0
        self._at_line_start = True
        self._partial = ""
        self._live: Live | None = None
        self._failures_shown: set[str] = set()
        self._error_shown = False

    def run_started(self, runbook: Any, run_id: str, planned: Any) -> None:
        self.total = len(runbook.steps)
        for warning in planned.warnings:
            self.console.print(f"[yellow]Warning: {escape(warning)}[/]")
        env = planned.environment.name if planned.environment else "no environment"
        self.console.print(
            f"[bold]{escape(runbook.meta.title)}[/] ({escape(runbook.slug)}) in {escape(env)} · run {run_id}"
        )

    def cell_started(self, cell: Any, cell_index: int) -> None:
        step = (cell.get("metadata", {}).get("runbook") or {}).get("step")
        if not step:
            return
        self.done += 1
        label = f"▶ [{self.done}/{self.total}] {step}"
        self._newline()
        self.console.print(f"[cyan]{escape(label)}[/]")
        if self.animated:
            clock = _StepClock(label, lambda: self._partial)
            if self._live is None:
                self._live = Live(clock, console=self.console, refresh_per_second=8, transient=True)
                self._live.start()
            else:
                self._live.update(clock)

    def output(self, output: Any, cell_index: int) -> None:
        kind = output.get("output_type")
        if kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            lines = check_lines(data[CHECK_MIME]) if CHECK_MIME in data else None
            if lines is not None:
                self._failures_shown.update(_failures(data[CHECK_MIME]))
                self._print_lines(lines)
                return
            skipped = skip_line(output)
            if skipped is not None:
                self._print_lines([skipped])
                return
            text = data.get("text/plain", "")
            if text.endswith("(shown above)"):
                return  # a report displayed again as a cell's value: its table is above
            self._write(text + "\n" if text else "")
        elif kind == "stream":
            self._write(output.get("text", ""))
        elif kind == "error":
            self._error_shown = True
            if self.verbose:
                self._write("\n".join(output.get("traceback", [])) + "\n")
            else:
                shown = error_lines(output, failures_shown=self._failures_shown)
                self._print_lines([Text(line, style="red") for line in shown])

    def run_finished(self, record: Any, folder: Path | str) -> None:
        self.stop()
        status = record.status
        where = (
            f" at step '{escape(record.failure.step_name)}'"
            if record.failure and record.failure.step_name
            else ""
        )
        reason = (
            f": {escape(record.failure.exception)}: {escape(record.failure.message)}"
            if record.failure and status != "succeeded" and not self._error_shown
            else ""
        )
        mark, style = ("✔" if status == "succeeded" else "✘"), STATUS_STYLE.get(status, "default")
        if status == "succeeded" and record.steps and all(s.status == "skipped" for s in record.steps):
            mark, style, status = "–", "yellow", "skipped — verified nothing"  # as its page says
        self.console.print(
            f"[{style}]{mark} {status}{where}{reason}[/] in {record.duration_s:.2f}s · {escape(str(folder))}"
        )

    def stop(self) -> None:
        """End the live line (if any) and the last partial line of output."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._partial:
            partial, self._partial = self._partial, ""
            self._write_now(partial + "\n")
        self._newline()

    def _print_lines(self, lines: list[Text]) -> None:
        self._flush_partial()
        self._newline()
        for line in lines:
            self.console.print(line, soft_wrap=True)

    def _write(self, text: str) -> None:
        if not text:
            return
        if self._live is None:
            self._write_now(text)
            return
        # Under the live line, whole lines only: rich lifts the live line, prints, redraws it.
        complete, _, self._partial = (self._partial + text).rpartition("\n")
        if complete:
            self.console.print(Text.from_ansi(complete), soft_wrap=True)

    def _flush_partial(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self.console.print(Text.from_ansi(partial), soft_wrap=True)

    def _write_now(self, text: str) -> None:
        if not self.console.is_terminal or self.console.color_system is None:
            text = strip_ansi(text)
        self.console.file.write(text)
        self.console.file.flush()
        self._at_line_start = text.endswith("\n")

    def _newline(self) -> None:
        if not self._at_line_start:
            self.console.file.write("\n")
            self._at_line_start = True


class LinePrefixer:
    """A text stream that writes whole lines, each prefixed with ``[slug] ``, to ``target``.

    Several runs print at once in a parallel batch: each has its own prefixer, all share
    one lock, so lines from different runs never interleave mid-line. A partial line waits
    for its end (or :meth:`end_line`).
    """

    def __init__(self, slug: str, lock: Any, target: Any = None, terminal: bool = False) -> None:
        self.prefix = f"[{slug}] "
        self.lock = lock
        self.target = target
        self.terminal = terminal
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self._emit(lines)
        return len(text)

    def flush(self) -> None:
        """Lines are written as they end; a partial one waits for :meth:`end_line`."""

    def end_line(self) -> None:
        """Write a partial last line, if any."""
        if self._partial:
            partial, self._partial = self._partial, ""
            self._emit([partial])

    def isatty(self) -> bool:
        return self.terminal

    def _emit(self, lines: list[str]) -> None:
        target = self.target or err.file
        with self.lock:
            target.write("".join(f"{self.prefix}{line}\n" for line in lines))
            target.flush()


def prefixed_observer(slug: str, lock: Any, verbose: bool = False) -> ExecObserver:
    """An :class:`ExecObserver` whose every line starts with ``[slug]`` (``exec --due -j N``)."""
    stream = LinePrefixer(slug, lock, terminal=err.is_terminal)
    console = Console(
        file=cast(IO[str], stream), highlight=False, soft_wrap=True, force_terminal=err.is_terminal, **_STYLE
    )
    return PrefixedObserver(console, stream, verbose=verbose)


class PrefixedObserver(ExecObserver):
    """An observer writing through a :class:`LinePrefixer`; its partial line ends with the run."""

    def __init__(self, console: Console, stream: LinePrefixer, *, verbose: bool = False) -> None:
        super().__init__(console, verbose=verbose, live=False)
        self.stream = stream

    def run_finished(self, record: Any, folder: Path | str) -> None:
        super().run_finished(record, folder)
        self.stream.end_line()


def batch_table(rows: list[tuple[str, str, float | None]]) -> Table:
    """The table that ends a parallel batch: runbook, status, took."""
    return table(
        ["runbook", "status", "took"],
        [
            [escape(slug), styled_status(status), "-" if took is None else f"{took:.1f}s"]
            for slug, status, took in rows
        ],
    )
