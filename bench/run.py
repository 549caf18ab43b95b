"""Speed figures for Runbook, as ratios against papermill measured in the same run.

What is measured (DESIGN.md, "Scale and performance"):

1. ``runbook exec trivial -p x=2`` against ``papermill trivial.ipynb out.ipynb -p x 2``
   on the same one-step notebook (the ``.ipynb`` is converted from the runbook's Markdown
   with jupytext). Runbook does more than papermill here: it resolves the project,
   parses the Markdown, checks gates and records the run. Goal: at most 0.8x.
   A second line gives runbook's figure with a cold parse cache (``.runbook/cache``
   deleted before each of those runs), as after an edit or on a fresh checkout; it is
   judged against the same goal.
2. ``runbook --help`` against ``papermill --help``: start-up cost of the command line.
   Goal: at most 0.5x.

Why ratios: absolute seconds depend on the machine, its load and its disk cache, so
they cannot be compared between a laptop and a CI runner, or asserted on. Both sides of
a ratio run on the same machine in the same run, interleaved (A, B, A, B, ...) after one
warm-up each, so drift in machine load falls on both; the median of each side resists
the odd slow run. Nothing here asserts a wall-clock limit: the script prints the figures
and exits 0, and exits 1 only when a measured command itself fails.

Each command runs as a separate process with stdin from /dev/null and its output
captured, in a scratch project built fresh in ``bench/.work/`` (gitignored). The
executables are the ones next to ``sys.executable``, so any checkout's venv works:

    .venv/bin/python bench/run.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent  # not resolved: a venv's python is often a symlink
WORK = Path(__file__).resolve().parent / ".work"
MIN_RUNS = 5

TRIVIAL_RUNBOOK = """\
---
title: Trivial
summary: Prints a parameter plus one; used to time runbook exec against papermill.
owner: bench
jupyter:
  kernelspec:
    name: python3
    display_name: Python 3
    language: python
---

## Parameters

```python tags=["parameters"]
x = 1
```

## Print

```python
print(x + 1)
```
"""


class CommandFailed(Exception):
    """A measured or set-up command exited non-zero or could not start."""

    def __init__(self, argv: list[str], detail: str) -> None:
        super().__init__(f"{' '.join(argv)}\n{detail}")


@dataclass
class Variant:
    """One command to time; ``prepare`` runs untimed before each run."""

    label: str
    argv: list[str]
    prepare: Callable[[], None] | None = None
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Measurement:
    name: str
    runbook: Variant
    reference: Variant
    goal: float  # the ratio runbook/reference should be at most this

    @property
    def ratio(self) -> float:
        return self.runbook.median / self.reference.median

    @property
    def ok(self) -> bool:
        return self.ratio <= self.goal


def run(argv: list[str], cwd: Path) -> float:
    """Run ``argv`` once in ``cwd``; return its wall-clock seconds."""
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as exc:
        raise CommandFailed(argv, str(exc)) from exc
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace").strip()
        raise CommandFailed(argv, f"exit code {done.returncode}\n{stderr}")
    return elapsed


def build_project() -> None:
    """A fresh scratch project: empty mkdocs.yml, runbooks/trivial.md, trivial.ipynb."""
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "runbooks").mkdir(parents=True)
    (WORK / "mkdocs.yml").write_text("", "utf-8")
    (WORK / "runbooks" / "trivial.md").write_text(TRIVIAL_RUNBOOK, "utf-8")
    run([str(BIN / "jupytext"), "--to", "ipynb", "runbooks/trivial.md", "-o", "trivial.ipynb"], WORK)


def clear_parse_cache() -> None:
    shutil.rmtree(WORK / ".runbook" / "cache", ignore_errors=True)


def sample(variants: list[Variant], runs: int) -> None:
    """One warm-up each, then ``runs`` rounds with the variants interleaved."""
    for round_no in range(runs + 1):
        for variant in variants:
            if variant.prepare:
                variant.prepare()
            elapsed = run(variant.argv, WORK)
            if round_no:  # round 0 is the warm-up
                variant.samples.append(elapsed)
        print(f"  {'warm-up' if not round_no else f'run {round_no}/{runs}'} done", file=sys.stderr)


def measure(runs: int) -> list[Measurement]:
    runbook, papermill = str(BIN / "runbook"), str(BIN / "papermill")

    print("building bench/.work ...", file=sys.stderr)
    build_project()

    exec_warm = Variant("runbook exec", [runbook, "exec", "trivial", "-p", "x=2"])
    exec_cold = Variant(
        "runbook exec (cold)", [runbook, "exec", "trivial", "-p", "x=2"], prepare=clear_parse_cache
    )
    pm_exec = Variant("papermill", [papermill, "trivial.ipynb", "out.ipynb", "-p", "x", "2"])
    print("exec: runbook / papermill / runbook with a cold parse cache", file=sys.stderr)
    sample([exec_warm, pm_exec, exec_cold], runs)

    help_rb = Variant("runbook --help", [runbook, "--help"])
    help_pm = Variant("papermill --help", [papermill, "--help"])
    print("--help: runbook / papermill", file=sys.stderr)
    sample([help_rb, help_pm], runs)

    return [
        Measurement("exec trivial runbook", exec_warm, pm_exec, 0.8),
        Measurement("exec, cold parse cache", exec_cold, pm_exec, 0.8),
        Measurement("--help", help_rb, help_pm, 0.5),
    ]


def print_table(results: list[Measurement], runs: int) -> None:
    header = ["measurement", "runbook (s)", "papermill (s)", "ratio", "goal", ""]
    rows = [
        [
            m.name,
            f"{m.runbook.median:.3f}",
            f"{m.reference.median:.3f}",
            f"{m.ratio:.2f}x",
            f"<= {m.goal:.1f}x",
            "ok" if m.ok else "over goal",
        ]
        for m in results
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {1, 2, 3}  # numbers right-aligned
    for row in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    print(
        f"\nmedians of {runs} interleaved runs each after one warm-up; "
        f"python {platform.python_version()}, {machine}"
    )


def as_json(results: list[Measurement], runs: int) -> str:
    return json.dumps(
        {
            "runs": runs,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "measurements": [
                {
                    "name": m.name,
                    "runbook_command": m.runbook.argv[1:],
                    "reference_command": m.reference.argv[1:],
                    "runbook_median_s": round(m.runbook.median, 4),
                    "reference_median_s": round(m.reference.median, 4),
                    "ratio": round(m.ratio, 3),
                    "goal": m.goal,
                    "ok": m.ok,
                    "runbook_samples_s": [round(s, 4) for s in m.runbook.samples],
                    "reference_samples_s": [round(s, 4) for s in m.reference.samples],
                }
                for m in results
            ],
        },
        indent=2,
    )


def run_count(text: str) -> int:
    n = int(text)
    if n < MIN_RUNS:
        raise argparse.ArgumentTypeError(f"at least {MIN_RUNS} runs, for a meaningful median")
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=run_count, default=7, help="timed runs of each command (default 7, at least 5)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args()
    try:
        results = measure(args.runs)
    except CommandFailed as exc:
        print(f"bench: command failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(as_json(results, args.runs))
    else:
        print_table(results, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
