"""`checks.skip(reason)`: a step that finds nothing to check says so, and the run is not a success.

Real kernel runs of small runbooks, then the record, `runbook list`, the rendered page
and the terminal, as a user sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, code, params_cell, runbook_md

pytestmark = pytest.mark.kernel

NOTHING_HERE = runbook_md(
    params_cell('pg_dsn = ""  # the database; empty: no PostgreSQL here')
    + code(
        """
        from runbook import checks
        if not pg_dsn:
            checks.skip("no pg_dsn in this profile:\\n nothing to \\x1b[31mread\\x1b[0m " + "x" * 400)
        """,
        'name="measure"',
    )
    + code(
        """
        from runbook import checks
        checks.skip("nothing was measured | so nothing to <b>judge</b>")
        """,
        'name="judge"',
    ),
    title="Job queue",
)
HALF_CHECKED = runbook_md(
    code(
        """
        from runbook import checks
        checks.skip("no Prometheus in this profile")
        """,
        'name="prometheus"',
    )
    + code(
        """
        from runbook import checks
        checks.skip("no queue table: looked at the disk instead")
        checks.require(checks.CheckResult("disk /", "pass", "12% used"))
        """,
        'name="disk"',
    ),
    title="Half checked",
)


def records(project: Path, slug: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in sorted((project / "runs" / slug).glob("*/record.json"))]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Result]]:
    from conftest import run_cli_in, write_project

    project = write_project(
        tmp_path_factory.mktemp("skips") / "project",
        runbooks={"jobs/job-queue": NOTHING_HERE, "half-checked": HALF_CHECKED},
    )
    results = {slug: run_cli_in(project, "exec", slug, timeout=300) for slug in ("job-queue", "half-checked")}
    return project, results


def test_a_runbook_whose_steps_call_skip_is_stored_with_skipped_steps_and_their_reasons(
    ran: tuple[Path, dict[str, Result]],
) -> None:
    project, results = ran
    exit_code, _, err = results["job-queue"]
    (record,) = records(project, "job-queue")

    assert exit_code == 0, err
    assert record["status"] == "succeeded"
    assert [(s["name"], s["status"]) for s in record["steps"]] == [
        ("measure", "skipped"),
        ("judge", "skipped"),
    ]
    reason = record["steps"][0]["reason"]
    assert reason.startswith("no pg_dsn in this profile: nothing to read xxx"), "one line, no ANSI codes"
    assert len(reason) == 300 and reason.endswith("…")
    assert record["steps"][1]["reason"] == "nothing was measured | so nothing to <b>judge</b>"
    assert record["steps"][0]["started_at"], "the step ran: it keeps its time"


def test_the_terminal_list_and_page_say_skipped_not_succeeded(
    ran: tuple[Path, dict[str, Result]], run_cli: Callable[..., Result]
) -> None:
    project, results = ran
    _, _, err = results["job-queue"]

    assert "SKIPPED: nothing was measured | so nothing to <b>judge</b>" in err
    assert "skipped — verified nothing" in err.splitlines()[-1]
    assert "✔" not in err

    listed = {i["slug"]: i for i in json.loads(run_cli(project, "list", "--json")[1])}
    assert listed["job-queue"]["state"] == "skipped"
    assert "job-queue" in [d["slug"] for d in json.loads(run_cli(project, "due", "--json")[1])]
    history = run_cli(project, "runs", "job-queue")[1]
    assert " skipped " in history and " succeeded " not in history, history
    shown = run_cli(project, "show", "job-queue")[1]
    assert " skipped " in shown.split("Recent runs")[1] and " succeeded " not in shown.split("Recent runs")[1]

    metrics = run_cli(project, "metrics")[1]
    success_lines = [
        line for line in metrics.splitlines() if line.startswith("runbook_last_success_timestamp")
    ]
    assert not [line for line in success_lines if 'runbook="job-queue"' in line], (
        "verified nothing: no success"
    )
    assert [line for line in success_lines if 'runbook="half-checked"' in line]

    exit_code, _, err = run_cli(project, "render", "--out", "out")
    assert exit_code == 0, err
    page = (project / "out" / "runbooks" / "jobs" / "job-queue.md").read_text()
    assert "skipped — verified nothing" in page
    assert (
        '<span class="rb-step__reason">nothing was measured | so nothing to &lt;b&gt;judge&lt;/b&gt;</span>'
        in page
    )


def test_a_runbook_with_one_skipped_and_one_checked_step_is_not_skipped(
    ran: tuple[Path, dict[str, Result]], run_cli: Callable[..., Result]
) -> None:
    project, results = ran
    exit_code, _, err = results["half-checked"]
    (record,) = records(project, "half-checked")

    assert exit_code == 0, err
    assert [(s["name"], s["status"]) for s in record["steps"]] == [
        ("prometheus", "skipped"),
        ("disk", "succeeded"),
    ]
    assert "reason" not in record["steps"][1], "a step that displayed a check verified something"
    assert "✔ succeeded" in err.splitlines()[-1]
    listed = {i["slug"]: i for i in json.loads(run_cli(project, "list", "--json")[1])}
    assert listed["half-checked"]["state"] == "succeeded"


def test_a_skip_reason_with_a_secret_is_masked_in_the_record(
    make_project: Callable[..., Path], run_cli: Callable[..., Result]
) -> None:
    body = params_cell('token = ""  # secret') + code(
        'from runbook import checks\nchecks.skip(f"token {token} refused")', 'name="probe"'
    )
    project = make_project(runbooks={"probe": runbook_md(body)})

    exit_code, _, err = run_cli(project, "exec", "probe", "-p", "token=hunter2-very-secret", timeout=300)
    (record,) = records(project, "probe")

    assert exit_code == 0, err
    assert "hunter2-very-secret" not in json.dumps(record) and "hunter2-very-secret" not in err
    assert record["steps"][0]["status"] == "skipped" and "refused" in record["steps"][0]["reason"]


def test_runbook_check_names_a_profile_in_which_every_step_calls_skip(
    make_project: Callable[..., Path], invoke: Callable[..., Result]
) -> None:
    guarded = NOTHING_HERE.replace(
        'checks.skip("nothing was measured', 'if not pg_dsn:\n    checks.skip("nothing was measured'
    )
    project = make_project(
        runbooks={"jobs/job-queue": guarded}, environments={"local": {"label": "Local", "parameters": {}}}
    )

    exit_code, out, _ = invoke(project, "check")

    assert exit_code == 1
    assert out.startswith("runbooks/jobs/job-queue.md:0: in profile 'local' every step skips (pg_dsn = '')")


def test_a_due_batch_counts_a_run_that_skipped_every_step_as_verifying_nothing(tmp_path: Path) -> None:
    from conftest import run_cli_in, write_project

    project = write_project(
        tmp_path / "project", runbooks={"jobs/job-queue": NOTHING_HERE, "half-checked": HALF_CHECKED}
    )

    exit_code, _, err = run_cli_in(project, "exec", "--due", timeout=300)

    assert exit_code == 0, err
    assert err.rstrip().endswith("2 due: 1 succeeded, 1 verified nothing (job-queue)"), err
