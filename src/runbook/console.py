"""Terminal output: one console for progress and streamed output (stderr), one for results.

Progress and run output go to stderr, so ``--json`` keeps stdout clean. Colour and styling
appear only when stderr is a terminal; rich turns them off otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def styled_status(status: str | None) -> str:
    status = status or "never run"
    return f"[{STATUS_STYLE.get(status, 'default')}]{escape(status)}[/]"


def table(columns: list[str], rows: list[list[str]]) -> Table:
    """A plain table; cells are markup (escape user text before passing it)."""
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
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

    def run_finished(self, record: Any, folder: Path) -> None:
        self._newline()
        status = record.status
        where = f" at step '{escape(record.failure.step_name)}'" if record.failure and record.failure.step_name else ""
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
