"""Speed figures for Runbook, as ratios measured in the same run on the same machine.

What is measured (DESIGN.md, "Scale and performance"), in three groups:

exec and help: against papermill.

1. ``runbook exec trivial -p x=2`` against ``papermill trivial.ipynb out.ipynb -p x 2``
   on the same one-step notebook (the ``.ipynb`` is converted from the runbook's Markdown
   with jupytext). Runbook does more than papermill here: it resolves the project,
   parses the Markdown, checks gates and records the run. Goal: at most 0.8x.
   A second line gives runbook's figure with a cold parse cache (``.runbook/cache/parse``
   deleted before each of those runs), as after an edit of the runbook; a third with no
   ``.runbook`` folder at all, as the first command on a fresh checkout, which also reads
   ``mkdocs.yml`` with MkDocs' loader (later commands find it in the settings cache).
   Both are judged against the same goal.
2. ``runbook --help`` against ``papermill --help``: start-up cost of the command line.
   Goal: at most 0.5x.

site: ``runbook build`` of 1,000 runbooks against 500 and against a plain ``mkdocs
build`` of the same pages (from a fresh clone, with warm caches, and with ``--engine
zensical`` when Zensical is installed), and re-rendering after one runbook changes against a full
render, in generated projects; see ``site.py``.

store: ``runbook build`` of 1,000 runbooks with their runs on a shared store (moto's S3
server on 127.0.0.1) against the same build on a local store, with the objects listed and
the requests of one build; see ``store.py``. Skipped, in one line, without s3fs and moto.

batch: ``runbook exec --due -j 2`` of 20 due runbooks against one after another, and
``runbook build --execute -j 2`` against mkdocs-jupyter's ``execute: true`` build of the
same notebooks; see ``batch.py``. The mkdocs-jupyter comparison is skipped, in one line,
without mkdocs-jupyter.

Why ratios: absolute seconds depend on the machine, its load and its disk cache, so
they cannot be compared between a laptop and a CI runner, or asserted on. Both sides of
a ratio run on the same machine in the same run, interleaved (A, B, A, B, ...) after one
warm-up each, so drift in machine load falls on both; the median of each side resists
the odd slow run. Nothing here asserts a wall-clock limit: the script prints the figures
and exits 0, and exits 1 only when a measured command itself fails.

Each command runs as a separate process with stdin from /dev/null and its output
captured, in a scratch project built fresh in ``bench/.work/`` (gitignored). The
executables are the ones next to ``sys.executable``, so any checkout's venv works:

    .venv/bin/python bench/run.py [--only exec|help|site|store|batch ...] [--runs N]
                                  [--site-runs N] [--build-runs N] [--batch-runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from harness import BIN, CommandFailed, Group, Measurement, Variant, as_json, print_table, run, sample

WORK = Path(__file__).resolve().parent / ".work"
EXEC_WORK = WORK / "exec"
MIN_RUNS = 5
GROUPS = ("exec", "help", "site", "store", "batch")

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


def build_project() -> None:
    """A fresh scratch project: empty mkdocs.yml, runbooks/trivial.md, trivial.ipynb."""
    shutil.rmtree(EXEC_WORK, ignore_errors=True)
    (EXEC_WORK / "runbooks").mkdir(parents=True)
    (EXEC_WORK / "mkdocs.yml").write_text("", "utf-8")
    (EXEC_WORK / "runbooks" / "trivial.md").write_text(TRIVIAL_RUNBOOK, "utf-8")
    run([str(BIN / "jupytext"), "--to", "ipynb", "runbooks/trivial.md", "-o", "trivial.ipynb"], EXEC_WORK)


#: A bare kernel: start a kernel, run the runbook's one cell, shut it down, with
#: jupyter_client and nothing else (no notebook read, no parameters, nothing written). exec
#: does more and can still be quicker: its kernel and its own process skip the collector's
#: walk over everything they loaded as they exit (a quarter of a second each here).
BARE_KERNEL = """\
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
try:
    reply = kc.execute_interactive("x = 2\\nprint(x + 1)", timeout=60, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
"""


def clear_parse_cache() -> None:
    shutil.rmtree(EXEC_WORK / ".runbook" / "cache" / "parse", ignore_errors=True)


def clear_work_folder() -> None:
    shutil.rmtree(EXEC_WORK / ".runbook", ignore_errors=True)


def measure_exec(runs: int) -> Group:
    runbook, papermill = str(BIN / "runbook"), str(BIN / "papermill")

    print("building bench/.work/exec ...", file=sys.stderr)
    build_project()

    exec_warm = Variant("runbook exec", [runbook, "exec", "trivial", "-p", "x=2"], EXEC_WORK)
    exec_cold = Variant(
        "runbook exec (cold)", [runbook, "exec", "trivial", "-p", "x=2"], EXEC_WORK, prepare=clear_parse_cache
    )
    exec_fresh = Variant(
        "runbook exec (fresh)",
        [runbook, "exec", "trivial", "-p", "x=2"],
        EXEC_WORK,
        prepare=clear_work_folder,
    )
    pm_exec = Variant("papermill exec", [papermill, "trivial.ipynb", "out.ipynb", "-p", "x", "2"], EXEC_WORK)
    bare = Variant("bare kernel", [str(BIN / "python"), "-c", BARE_KERNEL], EXEC_WORK)
    print(
        "exec: runbook / papermill / runbook after an edit / runbook on a fresh checkout / bare kernel",
        file=sys.stderr,
    )
    sample([exec_warm, pm_exec, exec_cold, exec_fresh, bare], runs)
    return Group(
        "exec",
        [
            Measurement("exec trivial runbook", exec_warm, pm_exec, 0.8),
            Measurement("exec, cold parse cache", exec_cold, pm_exec, 0.8),
            Measurement("exec, fresh checkout", exec_fresh, pm_exec, 0.8),
            Measurement("  bare kernel start, run, stop", bare, pm_exec, None),
        ],
        [
            f"medians of {runs} interleaved runs each after one warm-up",
            "bare kernel: jupyter_client's start_new_kernel, the runbook's cell, shutdown; "
            "exec's kernel and process exit without the collector's walk over what they loaded",
        ],
    )


def measure_help(runs: int) -> Group:
    runbook, papermill = str(BIN / "runbook"), str(BIN / "papermill")
    help_rb = Variant("runbook --help", [runbook, "--help"], WORK)
    help_pm = Variant("papermill --help", [papermill, "--help"], WORK)
    print("--help: runbook / papermill", file=sys.stderr)
    WORK.mkdir(parents=True, exist_ok=True)
    sample([help_rb, help_pm], runs)
    return Group(
        "help",
        [Measurement("--help", help_rb, help_pm, 0.5)],
        [f"medians of {runs} interleaved runs each after one warm-up"],
    )


def run_count(minimum: int):  # type: ignore[no-untyped-def]
    def parse(text: str) -> int:
        n = int(text)
        if n < minimum:
            raise argparse.ArgumentTypeError(f"at least {minimum} runs, for a meaningful median")
        return n

    return parse


def load_site_module():  # type: ignore[no-untyped-def]
    """bench/site.py, loaded by path: ``import site`` would give the standard library's."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("site_bench", Path(__file__).with_name("site.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main() -> int:
    site_bench = load_site_module()
    import batch as batch_bench  # bench/batch.py, next to this script
    import store as store_bench  # bench/store.py, next to this script

    MIN_SITE_RUNS = site_bench.MIN_SITE_RUNS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        metavar="GROUP",
        help=f"run only this group ({', '.join(GROUPS)}); repeat for several (default: all)",
    )
    parser.add_argument(
        "--runs",
        type=run_count(MIN_RUNS),
        default=7,
        help=f"timed runs of each exec and --help command (default 7, at least {MIN_RUNS})",
    )
    parser.add_argument(
        "--site-runs",
        type=run_count(MIN_SITE_RUNS),
        default=MIN_SITE_RUNS,
        help=f"timed runs of each site render (default and minimum {MIN_SITE_RUNS})",
    )
    parser.add_argument(
        "--build-runs",
        type=run_count(1),
        default=site_bench.BUILD_RUNS,
        help=f"timed runs of each site build of 500 and 1,000 runbooks, and of each store build "
        f"(default {site_bench.BUILD_RUNS}; "
        "each round takes minutes)",
    )
    parser.add_argument(
        "--batch-runs",
        type=run_count(1),
        default=batch_bench.BATCH_RUNS,
        help=f"timed runs of each batch command (default {batch_bench.BATCH_RUNS}; a round takes minutes)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args()
    chosen = [g for g in GROUPS if g in (args.only or GROUPS)]
    start = time.perf_counter()
    groups: list[Group] = []
    try:
        measures = {
            "exec": lambda: measure_exec(args.runs),
            "help": lambda: measure_help(args.runs),
            "site": lambda: site_bench.measure_site(args.site_runs, args.build_runs),
            "store": lambda: store_bench.measure_store(args.build_runs),
            "batch": lambda: batch_bench.measure_batch(args.batch_runs),
        }
        for name in chosen:
            group_start = time.perf_counter()
            group = measures[name]()
            if not group.measurements:  # skipped: its one note says why
                groups.append(group)
                continue
            group.notes.append(f"took {time.perf_counter() - group_start:.0f}s")
            groups.append(group)
    except CommandFailed as exc:
        print(f"bench: command failed: {exc}", file=sys.stderr)
        return 1
    total = time.perf_counter() - start
    if args.json:
        print(json.dumps({**as_json(groups), "total_s": round(total, 1)}, indent=2))
    else:
        measured = [g for g in groups if g.measurements]
        if measured:
            print_table(measured)
        for group in groups:
            if not group.measurements:
                print(f"{group.name}: {group.notes[0]}")
        print(f"total {total:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
