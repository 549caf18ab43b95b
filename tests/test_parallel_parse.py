"""A big project is parsed on every core, with the same result as one parse after another.

Past :data:`~runbook.source.project.PARALLEL_MIN` runbooks that no cache holds, ``runbook``
parses them in worker processes. What a user sees must not change: the same runbooks in
the same order, every broken one skipped with its own message, and the parse cache filled
so that the next command reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import code, params_cell, runbook_md

from runbook.source.project import PARALLEL_MIN

COUNT = PARALLEL_MIN + 40
BROKEN = {17: 'effect="maybe"', 150: 'timeout="soon"'}
WINDOWS_LINE_ENDS = {5, 123}


def _runbook(i: int) -> str:
    body = (
        f"## Parameters\n\n{params_cell(f'target = {i}  # which one')}\n"
        f"## Check it\n\n{code('print(target)', BROKEN.get(i, ''))}"
    )
    text = runbook_md(body, title=f"Runbook {i:03d}", summary=f"Checks target {i}.")
    return text.replace("\n", "\r\n") if i in WINDOWS_LINE_ENDS else text


def test_a_big_project_lists_the_same_runbooks_and_problems_twice(make_project, run_cli) -> None:
    project: Path = make_project({f"area-{i % 7}/rb-{i:03d}": _runbook(i) for i in range(COUNT)})

    first = run_cli(project, "list", "--json")
    second = run_cli(project, "list", "--json")

    exit_code, out, err = first
    assert exit_code == 0, err
    listed = [row["slug"] for row in json.loads(out)]
    assert listed == [f"rb-{i:03d}" for i in range(COUNT) if i not in BROKEN]
    assert err.splitlines() == [
        "Warning: skipped runbooks/area-3/rb-017.md: step 1 (check-it): effect='maybe'; expected read or write",
        "Warning: skipped runbooks/area-3/rb-150.md: step 1 (check-it): timeout='soon'; "
        "expected seconds or a duration like 30s, 5m",
    ]
    assert second == first
    assert len(list((project / ".runbook" / "cache" / "parse").glob("*.json"))) == COUNT - len(BROKEN)


def test_parameters_and_steps_of_a_runbook_parsed_in_a_worker(make_project, run_cli) -> None:
    project: Path = make_project({f"rb-{i:03d}": _runbook(i) for i in range(COUNT) if i not in BROKEN})
    run_cli(project, "list")  # parses every runbook in workers and caches them

    exit_code, out, err = run_cli(project, "show", "rb-123", "--json")

    assert exit_code == 0, err
    shown = json.loads(out)
    assert [(p["name"], p["default"], p["help"]) for p in shown["parameters"]] == [
        ("target", 123, "which one")
    ]
    assert [s["name"] for s in shown["steps"]] == ["check-it"]
