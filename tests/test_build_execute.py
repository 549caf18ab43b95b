"""``runbook build --execute``: a failed notebook is shown on the site, not a failed build.

A docs build on a busy machine (``make site``) may see a check fail for reasons of the
moment. The site is still built, the failing runbook's page says it failed, the last line
names it, and the build exits 0; ``--fail-on-failed-runs`` is for teams whose CI gates on
the runs.
"""

from __future__ import annotations

import pytest
from conftest import code, runbook_md
from test_due import statuses

SUCCEEDS = runbook_md(code("print('fine')", 'name="probe"'), title="Succeeds")
FAILS = runbook_md(code("raise RuntimeError('CPU at 99.6%')", 'name="cpu"'), title="CPU check")


def project_with_a_failing_runbook(make_project, *, failing=True):
    runbooks = {"succeeds": SUCCEEDS, "cpu-check": FAILS} if failing else {"succeeds": SUCCEEDS}
    root = make_project(runbooks, {"local": {"label": "Local"}})
    (root / "mkdocs.yml").write_text("site_name: Handbook\ndocs_dir: docs\nplugins:\n  - runbook\n", "utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# Handbook\n", "utf-8")
    return root


@pytest.mark.kernel
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failed_run_is_shown_on_the_site_and_named_and_the_build_exits_0(make_project, run_cli, jobs):
    root = project_with_a_failing_runbook(make_project)

    exit_code, _, err = run_cli(root, "build", "--strict", "--execute", "-j", jobs)

    assert exit_code == 0, err
    assert statuses(root) == {"succeeds": "succeeded", "cpu-check": "failed"}
    page = (root / "site" / "runbooks" / "cpu-check" / "index.html").read_text("utf-8")
    assert "rb-badge--failed" in page
    assert "CPU at 99.6%" in page
    assert err.rstrip().splitlines()[-1] == (
        "Warning: built the site with 1 notebook that failed, shown as failed on its page: cpu-check "
        "(--fail-on-failed-runs makes that fail the build)"
    )
    assert "2 due: " in err


@pytest.mark.kernel
def test_fail_on_failed_runs_builds_the_site_then_exits_with_the_batch_code(make_project, run_cli):
    root = project_with_a_failing_runbook(make_project)

    exit_code, _, err = run_cli(root, "build", "--execute", "--fail-on-failed-runs")

    assert exit_code == 1, err
    assert (root / "site" / "runbooks" / "cpu-check" / "index.html").is_file()
    assert err.rstrip().splitlines()[-1] == (
        "Error: built the site, but 1 notebook failed: cpu-check; see its page"
    )


@pytest.mark.kernel
def test_fail_on_failed_runs_exits_0_when_every_run_succeeded(make_project, run_cli):
    root = project_with_a_failing_runbook(make_project, failing=False)

    exit_code, _, err = run_cli(root, "build", "--execute", "--fail-on-failed-runs")

    assert exit_code == 0, err
    assert err.rstrip().splitlines()[-1].startswith("built the site in ")


def test_fail_on_failed_runs_goes_with_execute(make_project, invoke):
    root = make_project({"succeeds": SUCCEEDS})

    exit_code, _, err = invoke(root, "build", "--fail-on-failed-runs")

    assert exit_code == 2
    assert "Error: --fail-on-failed-runs judges the notebooks it runs: it goes with --execute" in err
    assert not (root / "site").exists()


def test_an_unknown_profile_is_one_error_before_anything_runs(make_project, invoke):
    root = project_with_a_failing_runbook(make_project)

    exit_code, _, err = invoke(root, "build", "--execute", "--env", "prod")

    assert exit_code == 2
    assert err.strip() == "Error: unknown environment 'prod' (known: local)"
    assert not (root / "runs").exists()
    assert not (root / "site").exists()
