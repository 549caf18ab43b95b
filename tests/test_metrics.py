"""``runbook metrics`` and the shipped alert rules, with real Prometheus parts.

The series are read back with prometheus_client's own text parser; the alert rules are
unit-tested by Debian's ``promtool``; the push path goes to Debian's Pushgateway binary on
127.0.0.1, scraped over HTTP. Without promtool or the Pushgateway a test is skipped on a
developer machine and fails in CI (``CI`` set), so CI never goes green by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import code, error_line, params_cell, runbook_md, write_record

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", ""):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``{(name, labels): value}`` of an exposition, parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float | None:
    """The value of the one series ``name`` whose labels include ``labels``."""
    hits = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls)]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


def epoch(record: dict) -> float:
    return datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()


@pytest.fixture
def backed_up(make_project):
    """A project with a daily runbook at runbooks/db/backup.md: in production a success and
    then a failure; in staging one success. mkdocs.yml names a site_url."""
    root = make_project({"db/backup": runbook_md(code("print(1)"), schedule="daily", owner="dba-team")})
    (root / "mkdocs.yml").write_text(
        "site_name: Handbook\nsite_url: https://handbook.example.com/ops\ndocs_dir: docs\n", "utf-8"
    )
    now = datetime.now(timezone.utc)
    ok = write_record(
        root, "backup", code_hash="x", environment="production", started=now - timedelta(hours=3), suffix="a"
    )
    bad = write_record(
        root,
        "backup",
        code_hash="x",
        status="failed",
        environment="production",
        started=now - timedelta(hours=1),
    )
    staging = write_record(
        root, "backup", code_hash="x", environment="staging", started=now - timedelta(hours=2)
    )
    return root, ok, bad, staging


def test_metrics_prints_each_runbook_and_environment(backed_up, invoke):
    root, ok, bad, staging = backed_up
    exit_code, out, err = invoke(root, "metrics")
    assert exit_code == 0, err
    found = samples(out)
    prod = {"runbook": "backup", "environment": "production"}
    assert value(found, "runbook_last_run_success", **prod) == 0
    assert value(found, "runbook_last_run_timestamp_seconds", **prod) == pytest.approx(epoch(bad), abs=0.01)
    assert value(found, "runbook_last_success_timestamp_seconds", **prod) == pytest.approx(
        epoch(ok), abs=0.01
    )
    assert value(found, "runbook_last_run_duration_seconds", **prod) == 2.0
    assert value(found, "runbook_schedule_interval_seconds", **prod) == 86400
    assert value(found, "runbook_last_run_success", runbook="backup", environment="staging") == 1
    assert (
        value(
            found,
            "runbook_info",
            **prod,
            owner="dba-team",
            url="https://handbook.example.com/ops/runbooks/db/backup/",
        )
        == 1
    )


def test_metrics_textfile_is_written_whole_and_parses(backed_up, invoke, tmp_path):
    root = backed_up[0]
    folder = tmp_path / "textfile"
    folder.mkdir()
    exit_code, out, err = invoke(root, "metrics", "--textfile", str(folder / "runbook.prom"))
    assert exit_code == 0, err
    assert out == ""
    assert "wrote metrics of 2 runbook environments" in err
    assert sorted(p.name for p in folder.iterdir()) == ["runbook.prom"]  # no temporary file left
    found = samples((folder / "runbook.prom").read_text("utf-8"))
    assert value(found, "runbook_last_run_success", runbook="backup", environment="staging") == 1


def test_an_unreachable_pushgateway_is_one_error_line_and_exit_74(backed_up, invoke):
    port = _free_port()
    exit_code, _, err = invoke(backed_up[0], "metrics", "--pushgateway", f"http://127.0.0.1:{port}")
    assert exit_code == 74
    line = error_line(err)
    assert line.startswith(f"Error: http://127.0.0.1:{port}: metrics not pushed: ")
    assert "Pushgateway is up" in line


def test_check_figures_are_series(make_project, run_cli):
    body = code(
        """
        from runbook.checks import disk_usage
        disk_usage(".", warn_pct=100, fail_pct=100)
        """,
        'name="disk"',
    )
    root = make_project({"disk": runbook_md(body)})
    assert run_cli(root, "exec", "disk")[0] == 0
    exit_code, out, err = run_cli(root, "metrics", "disk")
    assert exit_code == 0, err
    used = value(samples(out), "runbook_check_value", runbook="disk", figure="used_pct")
    assert used is not None and 0 <= used <= 100


def test_alert_rules_pass_promtool():
    if PROMTOOL is None:
        _unavailable("promtool is not installed (Debian package prometheus)")
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "runbook-rules.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pushgateway(tmp_path):
    """Debian's Pushgateway on 127.0.0.1 (no persistence): its URL."""
    if PUSHGATEWAY is None:
        _unavailable("the Pushgateway is not installed (Debian package prometheus-pushgateway)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "pushgateway.log").open("w")
    process = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "pushgateway.log").read_text()
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def scrape(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return samples(response.read().decode("utf-8"))


PROBE = runbook_md(
    params_cell("fail = False")
    + code(
        """
        if fail:
            raise RuntimeError("probe failed")
        print("fine")
        """,
        'name="probe"',
    ),
    schedule="6h",
)


def test_exec_pushes_after_each_run_and_a_failure_keeps_the_last_success(make_project, run_cli, pushgateway):
    profile = {"label": "Production", "metrics": {"pushgateway": "${PUSHGATEWAY_URL}"}}
    root = make_project({"probe": PROBE}, {"production": profile})
    env = {"PUSHGATEWAY_URL": pushgateway}
    exit_code, _, err = run_cli(root, "exec", "probe", "--env", "production", env=env)
    assert exit_code == 0, err
    labels = {"runbook": "probe", "environment": "production", "job": "runbook"}
    first = scrape(pushgateway)
    assert value(first, "runbook_last_run_success", **labels) == 1
    assert value(first, "runbook_schedule_interval_seconds", **labels) == 6 * 3600
    success = value(first, "runbook_last_success_timestamp_seconds", **labels)
    assert success is not None and success > 0

    shutil.rmtree(root / "runs")  # a fresh store on the next machine: it knows of no success
    exit_code, _, err = run_cli(root, "exec", "probe", "--env", "production", "-p", "fail=True", env=env)
    assert exit_code == 1, err
    second = scrape(pushgateway)
    assert value(second, "runbook_last_run_success", **labels) == 0
    assert value(second, "runbook_last_success_timestamp_seconds", **labels) == success
    assert value(second, "runbook_last_run_timestamp_seconds", **labels) > success


def test_metrics_pushgateway_pushes_every_runbook(backed_up, invoke, pushgateway):
    exit_code, _, err = invoke(backed_up[0], "metrics", "--pushgateway", pushgateway)
    assert exit_code == 0, err
    assert f"pushed metrics of 2 runbook environments to {pushgateway}" in err
    found = scrape(pushgateway)
    assert value(found, "runbook_last_run_success", runbook="backup", environment="production") == 0
    assert value(found, "runbook_last_run_success", runbook="backup", environment="staging") == 1


def test_a_failed_push_after_a_run_is_one_warning_and_keeps_the_result(make_project, run_cli):
    profile = {"metrics": {"pushgateway": f"http://127.0.0.1:{_free_port()}"}}
    root = make_project({"probe": PROBE}, {"production": profile})
    exit_code, _, err = run_cli(root, "exec", "probe", "--env", "production")
    assert exit_code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and "probe: http://127.0.0.1:" in warnings[0], err
    assert "metrics not pushed" in warnings[0] and "the run's result stands" in warnings[0]
