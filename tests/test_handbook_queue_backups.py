"""The job queue and the PostgreSQL backup age in `local` check real things and can fail.

`job-queue` reads the demo service's own job queue (a SQLite table its worker drains):
with the worker stopped, a job waits and the run fails. `postgres-backup-age` reads the
dumps `postgres-backup-restore` writes: none yet is a skip that says so, an old one fails.
Each test copies the project the way tests/test_handbook.py does, with its own demo
service on free ports.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_handbook import checks_of, copy_project, demo, move_demo_ports, run, started

pytestmark = pytest.mark.kernel


@pytest.fixture
def demo_copy(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    project = copy_project(tmp_path / "project")
    move_demo_ports(project)
    port = started(project)
    yield project, port
    demo(project, "stop")


def post(port: int, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)  # type: ignore[no-any-return]


def test_job_queue_reads_the_demo_queue_and_fails_when_its_worker_is_stuck(
    demo_copy: tuple[Path, int],
) -> None:
    project, port = demo_copy
    post(port, "/jobs", {"kind": "export"})

    moving = run(project, "exec", "job-queue", "--env", "local", "--json", timeout=300)
    assert moving.returncode == 0, moving.stdout + moving.stderr
    check = checks_of(moving)["oldest ready job"]
    assert check["status"] == "pass" and f"job stats at http://127.0.0.1:{port}/jobs/stats" in check["detail"]

    assert post(port, "/admin/worker", {"running": False}) == {"worker": "stopped"}
    post(port, "/jobs", {"kind": "export"})
    stuck = run(project, "exec", "job-queue", "--env", "local", "--json", "-p", "stuck_s=0", timeout=300)

    assert stuck.returncode == 1, stuck.stdout + stuck.stderr
    check = checks_of(stuck)["oldest ready job"]
    assert check["status"] == "fail" and "(worker stopped)" in check["detail"]
    assert "ready jobs: 1" in stuck.stderr


def test_job_queue_fails_when_the_demo_service_is_down(demo_copy: tuple[Path, int]) -> None:
    project, port = demo_copy
    demo(project, "stop")

    done = run(project, "exec", "job-queue", "--env", "local", timeout=300)

    assert done.returncode == 1
    assert f"the job stats at http://127.0.0.1:{port}/jobs/stats did not answer" in done.stderr


def test_postgres_backup_age_skips_without_dumps_passes_on_a_new_one_and_fails_on_an_old_one(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path / "project")

    none_yet = run(project, "exec", "postgres-backup-age", "--env", "local", timeout=300)
    assert none_yet.returncode == 0, none_yet.stderr
    assert "SKIPPED: no dump matches .runbook/work/pg-backups/*.dump yet" in none_yet.stderr
    assert "skipped — verified nothing" in none_yet.stderr.splitlines()[-1]
    listed = {i["slug"]: i for i in json.loads(run(project, "list", "--json").stdout)}
    assert listed["postgres-backup-age"]["state"] == "skipped"

    dump = project / ".runbook" / "work" / "pg-backups" / "test-20260101T000000Z.dump"
    dump.parent.mkdir(parents=True)
    dump.write_bytes(b"PGDMP")
    fresh = run(project, "exec", "postgres-backup-age", "--env", "local", "--json", timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    assert checks_of(fresh)["newest PostgreSQL backup"]["status"] == "pass"

    three_days_ago = time.time() - 3 * 86400
    os.utime(dump, (three_days_ago, three_days_ago))
    old = run(project, "exec", "postgres-backup-age", "--env", "local", "--json", timeout=300)
    assert old.returncode == 1
    check = checks_of(old)["newest PostgreSQL backup"]
    assert check["status"] == "fail" and "test-20260101T000000Z.dump" in check["detail"]
