"""Timing helpers shared by the benchmark groups (``run.py`` exec and --help, ``site.py``).

Every command runs as a separate process with stdin from /dev/null and its output
captured. Variants compared in one figure are run interleaved (A, B, A, B, ...), so drift
in machine load falls on both sides, and each side's median is taken.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent  # not resolved: a venv's python is often a symlink


class CommandFailed(Exception):
    """A measured or set-up command exited non-zero or could not start."""

    def __init__(self, argv: list[str], detail: str) -> None:
        super().__init__(f"{' '.join(argv)}\n{detail}")


@dataclass
class Variant:
    """One command to time; ``prepare`` runs untimed before each run.

    With ``inner`` set, the command prints the seconds of the part that matters as the
    last line of its stdout (e.g. one function call, without interpreter start-up); those
    go to ``inner_samples`` next to the wall-clock ``samples``.
    """

    label: str
    argv: list[str]
    cwd: Path
    prepare: Callable[[], None] | None = None
    inner: bool = False
    samples: list[float] = field(default_factory=list)
    inner_samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)  # user + system seconds, children included
    outputs: list[str] = field(default_factory=list)  # stdout of each timed run

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        """Median CPU seconds of a run: steadier than wall-clock time on a busy machine, but
        blind to waiting and to work spread over several cores."""
        return statistics.median(self.cpu_samples)

    def inner_variant(self, label: str) -> Variant:
        """The in-process figures as a variant of their own, for a :class:`Measurement`."""
        return Variant(label, self.argv, self.cwd, samples=list(self.inner_samples))


@dataclass
class Measurement:
    name: str
    runbook: Variant
    reference: Variant
    goal: float | None  # the ratio runbook/reference should be at most this; None: for the record

    @property
    def ratio(self) -> float:
        return self.runbook.median / self.reference.median

    @property
    def ok(self) -> bool | None:
        return None if self.goal is None else self.ratio <= self.goal


@dataclass
class Group:
    """The figures of one benchmark group and the notes printed under the table."""

    name: str
    measurements: list[Measurement]
    notes: list[str] = field(default_factory=list)


#: The measured commands' environment: this one, with bytecode caching on. Installed
#: packages (papermill, MkDocs) come compiled by pip; Runbook's own modules, in a checkout
#: or an editable install, are compiled on first import and cached as for any user. With
#: PYTHONDONTWRITEBYTECODE set (some CI images and containers set it), every runbook
#: command would compile them again, a cost only one side of each ratio pays.
COMMAND_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str], cwd: Path) -> tuple[float, str]:
    """Run ``argv`` once in ``cwd``; return its wall-clock seconds and its stdout."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=COMMAND_ENV, stdin=subprocess.DEVNULL, capture_output=True
        )
    except OSError as exc:
        raise CommandFailed(argv, str(exc)) from exc
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace").strip()
        raise CommandFailed(argv, f"exit code {done.returncode}\n{stderr[-4000:]}")
    return elapsed, done.stdout.decode("utf-8", "replace")


def sample(variants: list[Variant], runs: int, *, warm_up: bool = True) -> None:
    """``runs`` rounds with the variants interleaved, after one warm-up round if asked."""
    first = 0 if warm_up else 1
    for round_no in range(first, runs + 1):
        for variant in variants:
            if variant.prepare:
                variant.prepare()
            before = _children_cpu()
            elapsed, stdout = run(variant.argv, variant.cwd)
            if round_no:  # round 0 is the warm-up
                variant.samples.append(elapsed)
                variant.cpu_samples.append(_children_cpu() - before)
                variant.outputs.append(stdout)
                if variant.inner:
                    variant.inner_samples.append(_last_number(variant.argv, stdout))
        done = "warm-up" if not round_no else f"run {round_no}/{runs}"
        print(f"  {done} done", file=sys.stderr)


def _children_cpu() -> float:
    """User and system seconds of every finished child process (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _last_number(argv: list[str], stdout: str) -> float:
    try:
        return float(stdout.strip().splitlines()[-1].split()[0])
    except (IndexError, ValueError):
        raise CommandFailed(
            argv, f"expected seconds on the last line of stdout, got {stdout[-500:]!r}"
        ) from None


def machine() -> str:
    bytecode = (
        "; PYTHONDONTWRITEBYTECODE was set here, and is left out for the measured commands"
        if "PYTHONDONTWRITEBYTECODE" in os.environ
        else ""
    )
    return (
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs{bytecode}"
    )


def print_table(groups: list[Group]) -> None:
    """One table for every group's figures, then each group's notes."""
    header = ["measurement", "runbook (s)", "against", "(s)", "ratio", "goal", ""]
    rows = [
        [
            m.name,
            f"{m.runbook.median:.3f}",
            m.reference.label,
            f"{m.reference.median:.3f}",
            f"{m.ratio:.2f}x",
            "-" if m.goal is None else f"<= {m.goal:.1f}x",
            {True: "ok", False: "over goal", None: ""}[m.ok],
        ]
        for g in groups
        for m in g.measurements
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {1, 3, 4}  # numbers right-aligned
    for row in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    print()
    for g in groups:
        for note in g.notes:
            print(f"{g.name}: {note}")
    print(machine())


def as_json(groups: list[Group]) -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "groups": [
            {
                "name": g.name,
                "notes": g.notes,
                "measurements": [
                    {
                        "name": m.name,
                        "runbook": m.runbook.label,
                        "reference": m.reference.label,
                        "runbook_command": _shown(m.runbook.argv),
                        "reference_command": _shown(m.reference.argv),
                        "runbook_median_s": round(m.runbook.median, 4),
                        "reference_median_s": round(m.reference.median, 4),
                        "ratio": round(m.ratio, 3),
                        "goal": m.goal,
                        "ok": m.ok,
                        "runbook_samples_s": [round(s, 4) for s in m.runbook.samples],
                        "reference_samples_s": [round(s, 4) for s in m.reference.samples],
                    }
                    for m in g.measurements
                ],
            }
            for g in groups
        ],
    }


def _shown(argv: list[str]) -> list[str]:
    """A command with its executable by name, not by this machine's path."""
    return [Path(argv[0]).name, *argv[1:]]
