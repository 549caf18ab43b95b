"""Batch figures: what is due run several at a time, against one after another.

Loaded by ``run.py`` (``--only batch`` runs this group alone). What is measured (issue 11,
"Batch runs in parallel"):

1. ``runbook exec --due -j 2`` against ``runbook exec --due`` (one after another) on 20
   due runbooks that each sleep 0.5 s and print: up to two kernels run at once, and the
   next one's kernel boots while they run. Goal: at most 0.6x (on 2 cores).
2. ``runbook build --execute -j 2`` against mkdocs-jupyter's ``execute: true`` build of the
   same 20 notebooks (converted from the runbooks with jupytext): run what is due, then
   build the site. Cold: before each build ``site/`` is removed, for runbook ``runs/`` and
   ``.runbook/`` too, so every runbook is due and nothing is cached, and for mkdocs-jupyter
   its cache of executed notebooks (``.cache/``), so it executes every one. Goal: at most 0.5x.
   For the record, the same comparison with ``build --execute`` one after another.

Before each ``exec --due`` run, ``runs/`` is removed, so all 20 are due every time; the
parse cache stays warm. The figures are medians of ``--batch-runs`` interleaved rounds
(default 3) after one warm-up round. Without mkdocs-jupyter (``pip install -e '.[bench]'``)
the second comparison is skipped and one line says so.

The projects are generated in ``bench/.work/batch/`` (runbook) and
``bench/.work/batch-jupyter/`` (mkdocs-jupyter), fresh for each benchmark run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from harness import BIN, Group, Measurement, Variant, run, sample

WORK = Path(__file__).resolve().parent / ".work"
PROJECT = WORK / "batch"
JUPYTER_PROJECT = WORK / "batch-jupyter"
RUNBOOK = str(BIN / "runbook")
RUNBOOKS = 20
JOBS = "2"
BATCH_RUNS = 3
NO_MKDOCS_JUPYTER = "mkdocs-jupyter is not installed (pip install -e '.[bench]'): build comparison skipped"

SLEEPER = """\
---
title: Sleeper {n:02d}
summary: Sleeps half a second and prints; used to time batches of due runbooks.
owner: bench
jupyter:
  kernelspec:
    name: python3
    display_name: Python 3
    language: python
---

## Sleep

```python
import time
time.sleep(0.5)
print("slept", {n})
```
"""


def build_projects(with_jupyter: bool) -> None:
    """The runbook project (20 runbooks, docs/index.md) and, with mkdocs-jupyter, the same
    notebooks as ``.ipynb`` pages of a plain MkDocs project."""
    for folder in (PROJECT, JUPYTER_PROJECT):
        shutil.rmtree(folder, ignore_errors=True)
    (PROJECT / "runbooks").mkdir(parents=True)
    (PROJECT / "docs").mkdir()
    (PROJECT / "mkdocs.yml").write_text("site_name: Batch bench\ndocs_dir: docs\n", "utf-8")
    (PROJECT / "docs" / "index.md").write_text("# Batch bench\n", "utf-8")
    names = [f"sleeper-{n:02d}" for n in range(RUNBOOKS)]
    for n, name in enumerate(names):
        (PROJECT / "runbooks" / f"{name}.md").write_text(SLEEPER.format(n=n), "utf-8")
    if not with_jupyter:
        return
    docs = JUPYTER_PROJECT / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text("# Batch bench\n", "utf-8")
    (JUPYTER_PROJECT / "mkdocs.yml").write_text(
        "site_name: Batch bench\nplugins:\n  - mkdocs-jupyter:\n      execute: true\n", "utf-8"
    )
    sources = [str(PROJECT / "runbooks" / f"{name}.md") for name in names]
    run([str(BIN / "jupytext"), "--to", "ipynb", *sources], PROJECT)
    for name in names:
        shutil.move(PROJECT / "runbooks" / f"{name}.ipynb", docs / f"{name}.ipynb")


def clear_runs() -> None:
    shutil.rmtree(PROJECT / "runs", ignore_errors=True)


def clear_all() -> None:
    for folder in ("runs", ".runbook", "site"):
        shutil.rmtree(PROJECT / folder, ignore_errors=True)


def clear_jupyter_site() -> None:
    for folder in ("site", ".cache"):  # .cache/mkdocs-jupyter: its executed notebooks
        shutil.rmtree(JUPYTER_PROJECT / folder, ignore_errors=True)


def load_average() -> str:
    """The 1-minute load average and the CPUs, so figures taken on a busy machine say so."""
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def measure_batch(runs: int) -> Group:
    with_jupyter = importlib.util.find_spec("mkdocs_jupyter") is not None
    load_at_start = load_average()
    print("building bench/.work/batch ...", file=sys.stderr)
    build_projects(with_jupyter)
    due = [RUNBOOK, "exec", "--due"]
    parallel = Variant(f"exec --due -j {JOBS}", [*due, "-j", JOBS], PROJECT, prepare=clear_runs)
    serial = Variant("exec --due", due, PROJECT, prepare=clear_runs)
    print(f"batch: {RUNBOOKS} due runbooks, -j {JOBS} / one after another", file=sys.stderr)
    sample([parallel, serial], runs)
    measurements = [Measurement(f"{RUNBOOKS} due, -j {JOBS}", parallel, serial, 0.6)]
    notes = [
        f"medians of {runs} interleaved runs each after one warm-up; each runbook sleeps 0.5 s",
        f"load average {load_at_start} at the start, {{end}} at the end",
    ]
    if not with_jupyter:
        notes.append(NO_MKDOCS_JUPYTER)
        print(f"batch: {NO_MKDOCS_JUPYTER}", file=sys.stderr)
        return Group("batch", measurements, _with_load_at_end(notes))
    build = [RUNBOOK, "build", "--execute"]
    build_parallel = Variant(f"build --execute -j {JOBS}", [*build, "-j", JOBS], PROJECT, prepare=clear_all)
    build_serial = Variant("build --execute", build, PROJECT, prepare=clear_all)
    jupyter = Variant(
        "mkdocs-jupyter execute",
        [str(BIN / "python"), "-m", "mkdocs", "build", "-q"],
        JUPYTER_PROJECT,
        prepare=clear_jupyter_site,
    )
    print(f"batch: build --execute -j {JOBS} / mkdocs-jupyter / build --execute, cold", file=sys.stderr)
    sample([build_parallel, jupyter, build_serial], runs)
    measurements += [
        Measurement(f"build --execute -j {JOBS}, cold", build_parallel, jupyter, 0.5),
        Measurement("build --execute, cold", build_serial, jupyter, None),
    ]
    return Group("batch", measurements, _with_load_at_end(notes))


def _with_load_at_end(notes: list[str]) -> list[str]:
    return [note.replace("{end}", load_average()) for note in notes]
