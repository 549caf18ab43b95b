"""Terminal output: one console for progress and streamed output (stderr), one for results.

Progress and run output go to stderr, so ``--json`` keeps stdout clean. Colour and styling
appear only when stderr is a terminal; rich turns them off otherwise.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.markup import escape
from rich.table import Table

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "interrupted": "yellow",
    "abandoned": "yellow",
    "stale": "yellow",
    "never run": "dim",
}

#: Width for output that is not a terminal (pipes, files, CI logs): wide enough that
#: table rows stay on one line for grep and diff.
PIPE_WIDTH = 240

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=PIPE_WIDTH)


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


class ExecObserver:
    """Prints a progress line per step and each output as it arrives, on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or err
        self.total = 0
        self.done = 0
        self._at_line_start = True

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
        self._newline()
        self.console.print(f"[cyan]▶ [{self.done}/{self.total}] {escape(step)}[/]")

    def output(self, output: Any, cell_index: int) -> None:
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
        elif kind in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain", "")
            text = text + "\n" if text else ""
        elif kind == "error":
            text = "\n".join(output.get("traceback", [])) + "\n"
        else:
            return
        self._write(text)

    def run_finished(self, record: Any, folder: Path | str) -> None:
        self._newline()
        status = record.status
        where = (
            f" at step '{escape(record.failure.step_name)}'"
            if record.failure and record.failure.step_name
            else ""
        )
        reason = (
            f": {escape(record.failure.exception)}: {escape(record.failure.message)}"
            if record.failure and status != "succeeded"
            else ""
        )
        mark = "✔" if status == "succeeded" else "✘"
        self.console.print(
            f"[{STATUS_STYLE.get(status, 'default')}]{mark} {status}{where}{reason}[/] "
            f"in {record.duration_s:.2f}s · {escape(str(folder))}"
        )

    def _write(self, text: str) -> None:
        if not text:
            return
        if not self.console.is_terminal:
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


def prefixed_observer(slug: str, lock: Any) -> ExecObserver:
    """An :class:`ExecObserver` whose every line starts with ``[slug]`` (``exec --due -j N``)."""
    stream = LinePrefixer(slug, lock, terminal=err.is_terminal)
    console = Console(
        file=cast(IO[str], stream), highlight=False, soft_wrap=True, force_terminal=err.is_terminal
    )
    return PrefixedObserver(console, stream)


class PrefixedObserver(ExecObserver):
    """An observer writing through a :class:`LinePrefixer`; its partial line ends with the run."""

    def __init__(self, console: Console, stream: LinePrefixer) -> None:
        super().__init__(console)
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
