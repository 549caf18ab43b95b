"""The production-readiness runbooks of the maintenance folder, run for real in a copy of
the project: data retention against the PostgreSQL on 127.0.0.1:5432 (skipped, and shown
as skipped, when it does not answer), certificate expiry of the certificates the
repository ships, and the quarterly review's measurements.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from conftest import copy_handbook, handbook_cli

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.kernel


run = handbook_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_handbook(tmp_path / "project")


@pytest.fixture
def expired_rows():
    """A schema in the local PostgreSQL whose `sessions` has 4 rows past a 30-day policy (32 to 47 days old)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        con = psycopg.connect(PG_DSN, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 does not answer: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 does not answer: {exc}")
    schema = f"retention_test_{os.getpid()}"
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"CREATE TABLE {schema}.sessions (id int, last_seen_at timestamptz)")
    con.execute(
        f"INSERT INTO {schema}.sessions SELECT i, now() - make_interval(days => i * 5 + 2) FROM generate_series(1, 9) i"
    )
    try:
        yield con, f"{schema}.sessions"
    finally:
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        con.close()


def policy(table: str) -> str:
    return f'policies=[{{"table": "{table}", "column": "last_seen_at", "max_age": "30d"}}]'


def test_data_retention_fails_naming_the_table_with_rows_past_policy(project: Path, expired_rows) -> None:
    con, table = expired_rows

    done = run(project, "exec", "data-retention", "--yes", "-p", policy(table), "-p", "seed_scratch=false")

    assert done.returncode == 1, done.stdout
    assert f"4 row(s) of {table} older than 30d on 127.0.0.1:5432/test, the oldest 47 days" in done.stdout
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 9  # purge off: nothing deleted


def test_data_retention_purges_when_told_and_then_passes(project: Path, expired_rows) -> None:
    con, table = expired_rows

    done = run(
        project,
        "exec",
        "data-retention",
        "--yes",
        "-p",
        policy(table),
        "-p",
        "seed_scratch=false",
        "-p",
        "purge=true",
    )

    assert done.returncode == 0, done.stdout
    assert f"{table}: deleted 4 row(s) older than 30d" in done.stdout
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 5


def test_data_retention_without_postgresql_says_it_checked_nothing(project: Path) -> None:
    done = run(
        project,
        "exec",
        "data-retention",
        "--yes",
        "-p",
        "retention_dsn=postgresql://postgres@127.0.0.1:9/test",
    )

    assert done.returncode == 0, done.stdout
    assert "SKIPPED: PostgreSQL does not answer" in done.stdout
    assert "SKIPPED: PostgreSQL did not answer: retention was not checked" in done.stdout


def certificate(path: Path, days: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "demo.local")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_certificate_expiry_checks_the_certificates_the_repository_ships(project: Path) -> None:
    certificate(project / "demo" / "tls" / "demo.pem", days=5)

    done = run(project, "exec", "certificate-expiry")

    assert done.returncode == 1, done.stdout
    assert "demo/tls/demo.pem  (in the repository)" in done.stdout
    assert "GENERATED" not in done.stdout


def test_certificate_expiry_generates_a_stand_in_only_when_nothing_exists_and_says_so(project: Path) -> None:
    done = run(project, "exec", "certificate-expiry")

    assert done.returncode == 0, done.stdout
    assert "the repository ships no certificate and no local target has one: generated" in done.stdout
    assert (project / ".runbook/work/certificate-expiry/stand-in.pem").exists()


def test_quarterly_review_fails_on_a_host_the_architecture_does_not_describe(project: Path) -> None:
    profile = project / "environments" / "production.yml"
    profile.write_text(
        profile.read_text("utf-8") + "  cache-9:\n    parameters: {allowlist: [22]}\n", "utf-8"
    )

    done = run(project, "exec", "quarterly-review")

    assert done.returncode == 1, done.stdout
    assert "not in the architecture pages: cache-9" in done.stdout
    assert "- [ ] hosts documented: fail" in done.stdout
