"""One due loop behind ``runbook exec --due`` and ``runbook build --execute``.

Both run what is due with real kernels, skip (and say so) what needs a confirmation they
cannot get or may not run in their environment, and exit with the worst outcome among the
runbooks they ran.
"""

from __future__ import annotations

import json

import pytest
from conftest import code, runbook_md

SUCCEEDS = runbook_md(code("print('fine')", 'name="probe"'), title="Succeeds")
FAILS = runbook_md(code("raise RuntimeError('disk full')", 'name="probe"'), title="Fails")
MUTATING = runbook_md(code("print('changed things')", 'name="change"'), title="Changes", risk="mutating")
PRODUCTION_ONLY = runbook_md(
    code("print('prod')", 'name="probe"'), title="Production only", environments=["production"]
)
PROFILES = {"local": {"label": "Local"}, "production": {"label": "Production", "production": True}}


def batch_project(make_project, *, failing: bool):
    runbooks = {"succeeds": SUCCEEDS, "changes": MUTATING, "prod-only": PRODUCTION_ONLY}
    if failing:
        runbooks["fails"] = FAILS
    root = make_project(runbooks, PROFILES)
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# Handbook\n", "utf-8")
    return root


def statuses(root):
    found = {}
    for record in root.glob("runs/*/*/record.json"):
        data = json.loads(record.read_text("utf-8"))
        found[data["runbook"]["slug"]] = data["status"]
    return found


COMMANDS = {"exec --due": ["exec", "--due"], "build --execute": ["build", "--execute"]}


@pytest.mark.kernel
@pytest.mark.parametrize("command", COMMANDS)
def test_both_loops_skip_what_needs_a_confirmation_and_run_the_rest(make_project, run_cli, command):
    root = batch_project(make_project, failing=False)

    exit_code, _, err = run_cli(root, *COMMANDS[command])

    assert exit_code == 0, err
    assert statuses(root) == {"succeeds": "succeeded"}
    assert "changes: skipped, mutating needs a confirmation; pass --yes to run it" in err
    assert "prod-only: skipped, not allowed in 'local' (its front matter allows: production)" in err
    assert "3 due: 1 succeeded, 2 skipped (changes, prod-only)" in err


@pytest.mark.kernel
@pytest.mark.parametrize("command", COMMANDS)
def test_both_loops_exit_with_the_worst_outcome_among_the_runs(make_project, run_cli, command):
    root = batch_project(make_project, failing=True)
    gate = ["--fail-on-failed-runs"] if command == "build --execute" else []  # a build exits 0 without it

    exit_code, _, err = run_cli(root, *COMMANDS[command], *gate)

    assert exit_code == 1, err
    assert statuses(root) == {"succeeds": "succeeded", "fails": "failed"}
    assert "4 due: 1 failed, 1 succeeded, 2 skipped (changes, prod-only)" in err


@pytest.mark.kernel
@pytest.mark.parametrize("command", COMMANDS)
def test_yes_runs_the_gated_runbook_in_both_loops(make_project, run_cli, command):
    root = batch_project(make_project, failing=False)

    exit_code, _, err = run_cli(root, *COMMANDS[command], "--yes")

    assert exit_code == 0, err
    assert statuses(root) == {"succeeds": "succeeded", "changes": "succeeded"}
    record = next(root.glob("runs/changes/*/record.json"))
    assert json.loads(record.read_text("utf-8"))["approved_by"]["how"] == "--yes"


@pytest.mark.kernel
def test_due_json_lists_the_records_and_nothing_else_on_stdout(make_project, run_cli):
    root = batch_project(make_project, failing=True)

    exit_code, out, _ = run_cli(root, "exec", "--due", "--json")

    assert exit_code == 1
    assert sorted((r["runbook"]["slug"], r["status"]) for r in json.loads(out)) == [
        ("fails", "failed"),
        ("succeeds", "succeeded"),
    ]


def test_due_dry_run_plans_and_runs_nothing(make_project, invoke):
    root = batch_project(make_project, failing=True)

    exit_code, out, err = invoke(root, "exec", "--due", "--dry-run")

    assert exit_code == 0, err
    assert out.count("Dry run of") == 2
    assert not (root / "runs").exists()
    assert not (root / ".runbook").exists()  # nothing written, not even a cache


@pytest.mark.kernel
def test_a_runbook_declined_at_the_prompt_is_skipped_and_the_batch_goes_on(make_project):
    from test_exec import on_terminal

    root = batch_project(make_project, failing=False)

    exit_code, _, screen = on_terminal(root, "n", "--due")

    assert exit_code == 0, screen
    assert statuses(root) == {"succeeds": "succeeded"}
    assert "changes: skipped, not confirmed" in screen
    assert "Error:" not in screen
    assert "3 due: 1 succeeded, 2 skipped (changes, prod-only)" in screen
