"""The repository's own handbook: every runbook and notebook page checks clean and runs.

A copy of the project in ``tmp_path`` is built the way ``make site`` builds it (the demo
service started, every notebook executed in the ``local`` profile, then a strict build),
and the PostgreSQL runbook runs for real against the server on 127.0.0.1:5432. Each copy
runs its own demo service on a free pair of ports, so the tests never meet a ``make site``
running on this machine. The demo service is also broken on purpose (stopped, a release
without a security header, an unhealthy release) to prove the checks fail against it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_handbook

from runbook.source.project import Project
from runbook.store import open_store

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.kernel


def run(
    project: Path, *args: str, timeout: float = 900, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_SECRET_", "PG_"))}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


copy_project = copy_handbook


def free_port_pair() -> tuple[int, int]:
    """Two consecutive free loopback ports (the demo's HTTP and HTTPS)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port, port + 1
    raise RuntimeError("no free pair of loopback ports")


def move_demo_ports(project: Path) -> tuple[int, int]:
    """Point the copy's local profile (and so its demo service) at a free pair of ports."""
    http_port, tls_port = free_port_pair()
    profile = project / "environments" / "local.yml"
    text = profile.read_text("utf-8").replace("8765", str(http_port)).replace("8766", str(tls_port))
    text = text.replace('"8760-8769"', f'"{http_port}-{tls_port}"')
    profile.write_text(text, "utf-8")
    return http_port, tls_port


def demo(project: Path, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "demo/serve", action],
        cwd=project, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def started(project: Path) -> int:
    done = demo(project, "start")
    assert done.returncode == 0, done.stdout + done.stderr
    return int(re.search(r"127\.0\.0\.1:(\d+)", done.stdout).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project, copied, with its demo service running the way `make site` runs it."""
    project = copy_project(tmp_path_factory.mktemp("handbook") / "project")
    move_demo_ports(project)
    started(project)
    yield project
    demo(project, "stop")


@pytest.fixture
def broken_demo(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A second copy with its own demo service, for tests that break it."""
    project = copy_project(tmp_path / "project")
    move_demo_ports(project)
    port = started(project)
    yield project, port
    demo(project, "stop")


def release(project: Path, version: str, **settings: Any) -> None:
    """Add a release to the demo service's releases folder and make it the live one."""
    root = project / ".runbook" / "work" / "demo"
    folder = root / "releases" / version
    shutil.copytree(root / "releases" / "1.5.0", folder)
    (folder / "release.json").write_text(json.dumps({"version": version, **settings}))
    link = root / "current"
    link.unlink()
    link.symlink_to(Path("releases") / version)


def checks_of(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(done.stdout)["checks"]}


def test_the_handbook_passes_runbook_check(handbook: Path) -> None:
    done = run(handbook, "check")

    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_every_shipped_alert_has_a_runbook(handbook: Path) -> None:
    rules = ("deploy/prometheus/runbook-rules.yml", "deploy/prometheus/handbook-rules.yml")
    done = run(handbook, "check", "--alerts", *rules)

    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_make_site_runs_every_notebook_in_local_and_builds_strictly(handbook: Path) -> None:
    done = run(handbook, "build", "--strict", "--execute", "--yes", "--env", "local")

    assert done.returncode == 0, done.stderr[-3000:]
    notebooks = sorted(Project(handbook).sources)
    latest = {}
    for record in open_store(handbook / "runs").records():
        latest.setdefault(record.slug, record)
    assert len(notebooks) >= 12 + 8
    assert {slug: latest[slug].status for slug in notebooks if slug in latest} == {
        s: "succeeded" for s in notebooks
    }
    assert (handbook / "site" / "runbooks" / "index.html").is_file()
    assert (handbook / "site" / "training" / "index.html").is_file()
    alerts = (handbook / "site" / "runbooks" / "alerts" / "index.html").read_text("utf-8")
    assert "RunbookStale" in alerts and "Service health" in alerts
    health = (handbook / "site" / "runbooks" / "health" / "service-health" / "index.html").read_text("utf-8")
    port = int(re.search(r"target checked:  http://127\.0\.0\.1:(\d+)/healthz", health).group(1))  # type: ignore[union-attr]
    assert port != 8765  # the copy's own demo service, not one a make site may be running
    assert os.readlink(handbook / ".runbook/work/demo/current") == "releases/1.5.0"  # the rollback drill rolled forward


# -- PostgreSQL, for real ------------------------------------------------------------------


def scratch_databases() -> list[str]:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(PG_DSN, connect_timeout=5) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 'runbook_restore_%'")
        return [row[0] for row in rows]


@pytest.fixture
def postgres() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(PG_DSN, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not answering on 127.0.0.1:5432: {exc}")


def test_postgres_backup_restore_verifies_every_table_and_drops_the_scratch_database(
    handbook: Path, postgres: None
) -> None:
    done = run(handbook, "exec", "postgres-backup-restore", "--env", "ci", "--yes", "--json")

    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded"
    compared = [c for c in record["checks"] if c["step"] == "restore-verify"]
    assert compared and all(c["status"] == "pass" for c in compared), compared
    assert "created the scratch database runbook_restore_" in done.stderr
    assert scratch_databases() == []


def test_postgres_backup_restore_in_local_uses_a_scratch_source_times_the_restore_and_reports_wal_archiving(
    handbook: Path, postgres: None
) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(PG_DSN, connect_timeout=5) as connection:
        archive_mode = connection.execute("SHOW archive_mode").fetchone()[0]

    done = run(handbook, "exec", "postgres-backup-restore", "--env", "local", "--yes", "--json")

    assert done.returncode == 0, done.stderr[-3000:]
    found = checks_of(done)
    assert found["restore matches source"]["status"] == "pass"
    assert found["restore time"]["status"] == "pass"
    assert 0 < found["restore time"]["data"]["restore_s"] < found["restore time"]["data"]["max_restore_s"] == 14400
    if archive_mode == "off":
        assert found["wal archiving"]["status"] == "warn"
        assert "archive_mode is off" in found["wal archiving"]["detail"]
    assert "created the scratch source database runbook_restore_" in done.stderr
    assert scratch_databases() == []


def test_postgres_backup_restore_in_local_shows_a_skip_when_postgresql_does_not_answer(handbook: Path) -> None:
    done = run(
        handbook, "exec", "postgres-backup-restore", "--env", "local", "--yes", "--json",
        extra_env={"PG_DSN": "postgresql://postgres@127.0.0.1:1/test"},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    skipped = checks_of(done)["postgres backup and restore"]
    assert skipped["status"] == "warn" and skipped["detail"].startswith("skipped: PostgreSQL does not answer")
    assert "restore matches source" not in checks_of(done)


def test_a_failing_restore_comparison_fails_the_run_and_still_drops_the_scratch_database(
    handbook: Path, postgres: None
) -> None:
    done = run(
        handbook, "exec", "postgres-backup-restore", "--env", "ci", "--yes", "--json",
        "-p", "tamper_table=public.runbook_sample_orders",
    )  # fmt: skip

    assert done.returncode == 1, done.stderr[-3000:]
    record = json.loads(done.stdout)
    assert record["failure"]["step_name"] == "restore-verify"
    assert "DRILL: deleted one row" in done.stderr
    assert scratch_databases() == []


# -- The demo service: the checks against it can fail ---------------------------------------


def get(port: int, path: str = "/healthz") -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, dict(answer.headers), json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def test_the_demo_service_answers_with_its_live_release_headers_and_an_access_log_line(
    broken_demo: tuple[Path, int],
) -> None:
    project, port = broken_demo

    status, headers, body = get(port)

    assert (status, body) == (200, {"status": "ok", "version": "1.5.0"})
    assert headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in headers
    log = (project / ".runbook/work/demo/logs/access.log").read_text("utf-8").splitlines()
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /healthz HTTP/1\.1" 200 \d+ "-" "Python-urllib/[\d.]+" \d+\.\d{3}', log[-1])
    assert os.readlink(project / ".runbook/work/demo/current") == "releases/1.5.0"
    assert demo(project, "stop").returncode == 0
    assert demo(project, "status").returncode == 1


def test_the_checks_of_the_demo_service_fail_when_it_is_down(broken_demo: tuple[Path, int]) -> None:
    project, port = broken_demo
    demo(project, "stop")

    health = run(project, "exec", "service-health", "--env", "local", "--json")
    latency = run(project, "exec", "latency-baseline", "--env", "local", "--json", "-p", "requests=3", "-p", "warmup=0")
    ports = run(project, "exec", "listening-ports", "--env", "local", "--json")

    assert health.returncode == 1, health.stderr[-2000:]
    assert checks_of(health)["health endpoint"]["status"] == "fail"
    assert "connection refused" in checks_of(health)["health endpoint"]["detail"]
    assert f"target checked:  http://127.0.0.1:{port}/healthz" in health.stderr
    assert latency.returncode == 1, latency.stderr[-2000:]
    assert checks_of(latency)[f"latency http://127.0.0.1:{port}/healthz"]["data"]["errors"] == 3
    assert ports.returncode == 1, ports.stderr[-2000:]
    assert checks_of(ports)[f"port {port} listening"]["status"] == "fail"


def test_a_release_without_a_security_header_fails_security_headers_tls(broken_demo: tuple[Path, int]) -> None:
    project, port = broken_demo
    release(project, "1.5.1", healthy=True, omit_headers=["X-Content-Type-Options"])

    done = run(project, "exec", "security-headers-tls", "--env", "local", "--json")

    assert done.returncode == 1, done.stderr[-2000:]
    headers = checks_of(done)["security headers"]
    assert headers["status"] == "fail" and "missing x-content-type-options" in headers["detail"]
    assert checks_of(done)[f"certificate 127.0.0.1:{port + 1}"]["status"] == "pass"


def test_an_unhealthy_release_fails_the_gate_and_the_slo_report_and_the_rollback_restores_health(
    broken_demo: tuple[Path, int],
) -> None:
    project, port = broken_demo
    release(project, "1.5.1", healthy=False)
    assert [get(port)[0] for _ in range(20)] == [503] * 20

    gate = run(project, "exec", "pre-deploy-gate", "--env", "local", "--json", "-p", "min_requests=10")
    slo = run(project, "exec", "slo-report", "--env", "local", "--json", "-p", "min_requests=10")
    rollback = run(project, "exec", "rollback", "--env", "local", "--yes", "--json", "-p", "roll_forward_after=false")

    assert gate.returncode == 1, gate.stderr[-2000:]
    assert checks_of(gate)["health now"]["status"] == "fail"
    assert checks_of(gate)["error budget"]["status"] == "fail"
    assert slo.returncode == 1, slo.stderr[-2000:]
    assert checks_of(slo)["availability"]["status"] == "fail"
    assert checks_of(slo)["availability"]["data"]["min_availability_pct"] == 99.9
    assert rollback.returncode == 0, rollback.stderr[-2000:]
    assert "current: releases/1.5.1 -> releases/1.5.0" in rollback.stderr
    assert get(port)[:3:2] == (200, {"status": "ok", "version": "1.5.0"})


def test_rollback_needs_a_confirmation_and_changes_nothing_without_one(broken_demo: tuple[Path, int]) -> None:
    project, _ = broken_demo

    done = run(project, "exec", "rollback", "--env", "local")

    assert done.returncode == 3, done.stderr[-2000:]
    assert os.readlink(project / ".runbook/work/demo/current") == "releases/1.5.0"
