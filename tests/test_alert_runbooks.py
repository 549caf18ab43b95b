"""The handbook's alert rules and the runbooks they lead to.

The shipped rule files load in promtool and pass their unit tests; ``runbook check
--alerts deploy/prometheus/*.yml`` passes on the repository (as CI runs it); and the
runbooks written for the paging alerts fail on evidence of the condition and pass
without it: real access logs, real dump files, a real PostgreSQL on 127.0.0.1:5432 and
a real Prometheus on loopback, each run through the real CLI in a copy of the project.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import copy_handbook, handbook_cli

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


run = handbook_cli


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_handbook(tmp_path_factory.mktemp("alerts") / "project")


def test_every_alert_in_the_shipped_rule_files_has_a_runbook(handbook: Path) -> None:
    files = sorted(os.path.relpath(p, handbook) for p in glob.glob(str(handbook / "deploy/prometheus/*.yml")))
    assert "deploy/prometheus/handbook-rules.yml" in files
    assert "deploy/prometheus/handbook-rules.test.yml" in files  # unit-test files are not rule problems

    done = run(handbook, "check", "--alerts", *files)

    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().endswith("and the alerts of 4 rule files: no problems"), done.stdout


def test_the_site_reads_every_shipped_rule_file() -> None:
    import yaml

    config = yaml.load((REPO / "mkdocs.yml").read_text("utf-8"), Loader=yaml.SafeLoader)
    plugin = next(p["runbook"] for p in config["plugins"] if isinstance(p, dict) and "runbook" in p)
    shipped = {f"deploy/prometheus/{p.name}" for p in RULES.glob("*-rules.yml")}
    assert shipped == set(plugin["alert_rules"])


def test_the_handbook_rules_load_and_pass_their_promtool_tests() -> None:
    if PROMTOOL is None:
        _unavailable("promtool is not installed (Debian package prometheus)")
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", "handbook-rules.yml"], cwd=RULES, capture_output=True, text=True
    )
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "handbook-rules.test.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_paging_alert_of_the_monitoring_page_is_a_rule() -> None:
    import re

    import yaml

    page = (REPO / "docs/operations/monitoring.md").read_text("utf-8")
    rows = re.findall(r"^\| `(\w+)` \|.*\| (page[^|]*)\|\s*$", page, flags=re.M)
    paging = {name for name, _ in rows}
    rules = yaml.safe_load((RULES / "handbook-rules.yml").read_text("utf-8"))
    rules.update(
        {
            "groups": rules["groups"]
            + yaml.safe_load((RULES / "runbook-rules.yml").read_text("utf-8"))["groups"]
        }
    )
    defined = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert len(paging) >= 12
    assert paging <= defined, paging - defined


def access_log(path: Path, statuses: list[int], *, minutes_ago: float = 1) -> str:
    """A combined-format access log: one request per status, all ``minutes_ago`` ago."""
    moment = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
    lines = [
        f'127.0.0.1 - - [{stamp}] "GET /api/orders/{i} HTTP/1.1" {s} 12 "-" "probe" 0.004\n'
        for i, s in enumerate(statuses)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), "utf-8")
    return str(path)


@pytest.mark.kernel
def test_error_rate_fails_on_a_log_with_many_5xx_and_names_the_path(handbook: Path, tmp_path: Path) -> None:
    log = access_log(tmp_path / "bad.log", [200] * 90 + [502] * 10)

    done = run(handbook, "exec", "error-rate", "-p", f"access_log={log}", "-p", "probe_url=")

    assert done.returncode == 1, done.stdout
    assert "10.000% of requests answered 5xx" in done.stdout
    assert "502 /api/orders/" in done.stdout


@pytest.mark.kernel
def test_error_rate_passes_on_a_clean_log_and_skips_without_one(handbook: Path, tmp_path: Path) -> None:
    clean = run(
        handbook, "exec", "error-rate", "-p", "probe_url=", "-p", f"access_log={access_log(tmp_path / 'ok.log', [200] * 50)}"
    )
    none = run(handbook, "exec", "error-rate", "-p", "probe_url=", "-p", f"access_log={tmp_path / 'missing.log'}")

    assert clean.returncode == 0, clean.stdout
    assert "0.000% of requests answered 5xx" in clean.stdout
    assert none.returncode == 0 and "SKIPPED: no source: nothing was checked" in none.stdout


@pytest.mark.kernel
def test_availability_burn_rate_fails_on_a_fast_burn(handbook: Path, tmp_path: Path) -> None:
    log = access_log(tmp_path / "burn.log", [200] * 95 + [503] * 5)  # 5% failing: burn rate 50

    done = run(handbook, "exec", "availability-burn-rate", "-p", f"access_log={log}", "-p", "probe_url=")

    assert done.returncode == 1, done.stdout
    assert "burn rate 50.0 over 1h, 50.0 over 5m (limit 14.4)" in done.stdout


@pytest.mark.kernel
def test_postgres_backup_age_fails_past_50h_and_when_a_backup_is_required_but_missing(
    handbook: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "dumps" / "app-20261127.dump"
    dump.parent.mkdir()
    dump.write_bytes(b"PGDMP")
    old = time.time() - 51 * 3600
    os.utime(dump, (old, old))

    stale = run(handbook, "exec", "postgres-backup-age", "-p", f"dump_glob={dump.parent}/*.dump")
    missing = run(
        handbook,
        "exec",
        "postgres-backup-age",
        "-p",
        f"dump_glob={tmp_path}/none/*.dump",
        "-p",
        "require_backup=true",
    )

    assert stale.returncode == 1, stale.stdout
    assert "2.1 d old (warn over 26h, fail over 50h)" in stale.stdout
    assert missing.returncode == 1 and "no backup found" in missing.stdout


@pytest.fixture
def pg_jobs() -> str:
    """A scratch schema in the local PostgreSQL with a job waiting 45 minutes; dropped after."""
    psycopg = pytest.importorskip("psycopg")
    try:
        con = psycopg.connect(PG_DSN, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL on 127.0.0.1:5432 does not answer: {exc}")
    schema = f"jobs_test_{os.getpid()}"
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(
        f"CREATE TABLE {schema}.jobs (id int, queued_at timestamptz, run_at timestamptz, started_at timestamptz)"
    )
    con.execute(f"CREATE TABLE {schema}.jobs_dead (id int, moved_at timestamptz)")
    con.execute(
        f"INSERT INTO {schema}.jobs VALUES (1, now() - interval '45 minutes', null, null), (2, now(), null, now())"
    )
    try:
        yield schema
    finally:
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        con.close()


@pytest.mark.kernel
def test_job_queue_fails_on_a_job_waiting_past_30_minutes(handbook: Path, pg_jobs: str) -> None:
    done = run(
        handbook,
        "exec",
        "job-queue",
        "--env",
        "ci",
        "-p",
        "jobs_url=",
        "-p",
        f"jobs_table={pg_jobs}.jobs",
        "-p",
        f"dead_table={pg_jobs}.jobs_dead",
    )

    assert done.returncode == 1, done.stdout
    assert "oldest ready job" in done.stdout and "fail over 1800 s" in done.stdout
    assert "ready jobs: 1" in done.stdout


@pytest.mark.kernel
def test_job_queue_says_there_is_no_queue_in_a_database_without_one(handbook: Path, pg_jobs: str) -> None:
    done = run(handbook, "exec", "job-queue", "--env", "ci", "-p", "jobs_url=", "-p", "jobs_table=no_such_jobs")

    assert done.returncode == 0, done.stdout
    assert "has no table 'no_such_jobs': there is no job queue here to check" in done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> str:
    """Debian's Prometheus on 127.0.0.1 loading the handbook rules, scraping itself and a
    target nobody listens on; its URL once the dead target has been scraped once."""
    if PROMETHEUS is None:
        _unavailable("prometheus is not installed (Debian package prometheus)")
    port, dead = _free_port(), _free_port()
    shutil.copy(RULES / "handbook-rules.yml", tmp_path / "handbook-rules.yml")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [handbook-rules.yml]\n"
        "scrape_configs:\n"
        f"  - {{job_name: self, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n"
        f"  - {{job_name: exporter, static_configs: [{{targets: ['127.0.0.1:{dead}']}}]}}\n",
        "utf-8",
    )
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                query = urllib.request.urlopen(
                    f"{url}/api/v1/query?query=up%7Bjob%3D%22exporter%22%7D%3D%3D0", timeout=2
                )
                if b'"exporter"' in query.read():
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("Prometheus did not scrape within 60 s: " + (tmp_path / "prometheus.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.kernel
def test_watchdog_reads_a_live_prometheus_and_warns_of_a_target_down(handbook: Path, prometheus: str) -> None:
    done = run(handbook, "exec", "watchdog", "-p", f"prometheus_url={prometheus}")

    assert done.returncode == 0, done.stdout
    assert "Prometheus ready" in done.stdout
    assert "groups evaluate without error" in done.stdout
    assert "WARN" in done.stdout and "down: exporter/127.0.0.1:" in done.stdout


@pytest.mark.kernel
def test_watchdog_fails_when_the_configured_prometheus_does_not_answer(handbook: Path) -> None:
    done = run(handbook, "exec", "watchdog", "-p", f"prometheus_url=http://127.0.0.1:{_free_port()}")

    assert done.returncode == 1, done.stdout
    assert "Prometheus ready" in done.stdout and "FAIL" in done.stdout


@pytest.mark.kernel
def test_watchdog_fails_on_a_rule_file_that_does_not_load(handbook: Path, tmp_path: Path) -> None:
    if PROMTOOL is None:
        _unavailable("promtool is not installed (Debian package prometheus)")
    broken = tmp_path / "broken-rules.yml"
    broken.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: rate(up[5m]\n", "utf-8"
    )

    done = run(handbook, "exec", "watchdog", "-p", f'rule_files=["{broken}"]', "-p", "rule_tests=[]")

    assert done.returncode == 1, done.stdout
    assert "rule files load" in done.stdout


@pytest.fixture
def failing_service():
    """A real HTTP server on loopback whose every answer is a 503; its /healthz URL."""
    import http.server
    import threading

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/healthz"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.kernel
def test_probes_are_the_evidence_when_there_is_no_log_and_a_down_service_fails(
    handbook: Path, tmp_path: Path, failing_service: str
) -> None:
    no_log = f"access_log={tmp_path / 'none.log'}"
    answering = run(handbook, "exec", "error-rate", "-p", no_log, "-p", f"probe_url={failing_service}")
    down = run(
        handbook,
        "exec",
        "availability-burn-rate",
        "-p",
        no_log,
        "-p",
        f"probe_url=http://127.0.0.1:{_free_port()}/",
    )

    assert answering.returncode == 1, answering.stdout
    assert "probed http://127.0.0.1:" in answering.stdout and "10 x 503" in answering.stdout
    assert "100.000% of requests answered 5xx" in answering.stdout
    assert down.returncode == 1, down.stdout
    assert "10 x no answer" in down.stdout and "burn rate 1000.0 over 1h" in down.stdout


@pytest.mark.kernel
def test_unanswered_probes_count_beside_the_log(handbook: Path, tmp_path: Path) -> None:
    log = access_log(tmp_path / "ok.log", [200] * 990)
    done = run(
        handbook,
        "exec",
        "error-rate",
        "-p",
        f"access_log={log}",
        "-p",
        f"probe_url=http://127.0.0.1:{_free_port()}/",
    )

    assert done.returncode == 0, done.stdout  # 10 of 1,000: 1%, not above the 1% warning
    assert "and 10 unanswered probes of http://127.0.0.1:" in done.stdout
    assert "1.000% of requests answered 5xx" in done.stdout
