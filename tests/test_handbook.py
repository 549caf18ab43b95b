"""The repository's own handbook: every runbook and notebook page checks clean and runs.

A copy of the project in ``tmp_path`` is built the way ``make site`` builds it (every
notebook executed in the ``local`` profile, then a strict build), and the PostgreSQL
runbook runs for real in the ``ci`` profile against the server on 127.0.0.1:5432.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.source.project import Project
from runbook.store import open_store

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("mkdocs.yml", "docs", "runbooks", "environments", "overrides", "deploy")
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.kernel


def run(project: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_SECRET_", "PG_"))}
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


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("handbook") / "project"
    project.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            shutil.copy2(source, project / name)
    return project


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
