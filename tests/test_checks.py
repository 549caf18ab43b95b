"""runbook.checks against real things: HTTP(S) servers on loopback, real certificates, sockets,
the file system, this machine's disk, memory and processes, PostgreSQL and SQLite files.

PostgreSQL is expected on 127.0.0.1:5432 (trust auth, user postgres, database test); when it
does not answer, its tests skip on a developer machine and fail under CI.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nbformat
import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runbook.checks import (
    MIME_TYPE,
    CheckFailed,
    CheckResult,
    Report,
    checks_from_outputs,
    disk_usage,
    file_freshness,
    http_endpoint,
    memory_usage,
    postgres_connect,
    postgres_query,
    process_running,
    require,
    security_headers,
    sqlite_integrity,
    tcp_port,
    tls_certificate_endpoint,
    tls_certificate_file,
)

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "hunter2-Secret"

SECURE_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGES: dict[str, dict[str, str]] = {
    "/plain": {},
    "/secure": SECURE_HEADERS,
    "/frame-ancestors": {
        **{k: v for k, v in SECURE_HEADERS.items() if k != "X-Frame-Options"},
        "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    },
    "/no-referrer-policy": {k: v for k, v in SECURE_HEADERS.items() if k != "Referrer-Policy"},
    "/short-hsts": {**SECURE_HEADERS, "Strict-Transport-Security": "max-age=3600"},
    "/sniffing": {**SECURE_HEADERS, "X-Content-Type-Options": "sniff-away"},
}


# --- servers and certificates ---------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """``/plain`` and friends (see PAGES), ``/slow?ms=N``, ``/status/N``, ``/auth`` (basic auth)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path == "/slow":
            time.sleep(int(parse_qs(url.query)["ms"][0]) / 1000)
            return self.reply(200, {})
        if url.path.startswith("/status/"):
            return self.reply(int(url.path.rsplit("/", 1)[1]), {})
        if url.path == "/auth":
            expected = "Basic " + base64.b64encode(f"ops:{SECRET}".encode()).decode()
            return self.reply(200 if self.headers.get("Authorization") == expected else 401, {})
        if url.path in PAGES:
            return self.reply(200, PAGES[url.path])
        return self.reply(404, {})

    def reply(self, status: int, headers: dict[str, str]) -> None:
        body = b"service healthy\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that reject the certificate hang up mid-handshake: expected here


@contextmanager
def serve(tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """An HTTP server (HTTPS with ``tls=(cert, key)``) on 127.0.0.1 in a thread; yields its base URL."""
    server = QuietServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_certificate(
    folder: Path, stem: str, *, valid_from_days: float, valid_for_days: float
) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid from ``now + valid_from_days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{stem}.test")])
    start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=valid_from_days)
    key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    usage = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "crl_sign"], False
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_for_days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, encipher_only=False, decipher_only=False, **usage
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(key_id, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """``valid`` (90 days left), ``expiring`` (3 days left), ``expired`` (ended a day ago)."""
    folder = tmp_path_factory.mktemp("certs")
    return {
        "valid": make_certificate(folder, "valid", valid_from_days=-1, valid_for_days=91),
        "expiring": make_certificate(folder, "expiring", valid_from_days=-87, valid_for_days=90),
        "expired": make_certificate(folder, "expired", valid_from_days=-31, valid_for_days=30),
    }


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def https(certs: dict[str, tuple[Path, Path]]) -> Iterator[dict[str, str]]:
    """Base URL of an HTTPS server per certificate in ``certs``."""
    with (
        serve(certs["valid"]) as valid,
        serve(certs["expiring"]) as expiring,
        serve(certs["expired"]) as expired,
    ):
        yield {"valid": valid, "expiring": expiring, "expired": expired}


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def closed_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def everything(result: CheckResult) -> str:
    """All text of a result as the record would store it: name, detail, data."""
    return json.dumps(asdict(result), ensure_ascii=False)


# --- http_endpoint ----------------------------------------------------------------------------


def test_http_endpoint_passes_with_expected_status_text_and_headers(web: str) -> None:
    result = http_endpoint(f"{web}/plain", expect_text="healthy", require_headers=["Content-Type"])
    assert result.status == "pass", result.detail
    assert result.name == f"http {web}/plain"
    assert result.detail.startswith(f"GET {web}/plain -> 200 OK in ")
    assert result.data["status_code"] == 200 and result.data["latency_ms"] > 0


def test_http_endpoint_fails_on_wrong_status_missing_text_and_missing_header(web: str) -> None:
    wrong = http_endpoint(f"{web}/status/503")
    assert wrong.status == "fail"
    assert "-> 503" in wrong.detail and "expected status 200" in wrong.detail
    assert http_endpoint(f"{web}/status/503", expect_status=(500, 503)).status == "pass"

    result = http_endpoint(f"{web}/plain", expect_text="all systems go", require_headers=["X-Request-Id"])
    assert result.status == "fail"
    assert "body does not contain 'all systems go'" in result.detail
    assert "missing header X-Request-Id" in result.detail


def test_http_endpoint_grades_latency_and_times_out(web: str) -> None:
    slow = f"{web}/slow?ms=250"
    warned = http_endpoint(slow, warn_latency_ms=100, fail_latency_ms=5000)
    assert warned.status == "warn", warned.detail
    assert "slower than the warn limit of 100 ms" in warned.detail
    assert warned.data["latency_ms"] >= 250

    failed = http_endpoint(slow, warn_latency_ms=50, fail_latency_ms=100)
    assert failed.status == "fail" and "slower than the fail limit of 100 ms" in failed.detail

    timed_out = http_endpoint(slow, timeout=0.1)
    assert (timed_out.status, timed_out.detail) == ("fail", f"GET {slow}: timed out after 0.1 s")


def test_http_endpoint_fails_without_raising_on_refused_connection_and_unknown_host() -> None:
    port = closed_port()
    refused = http_endpoint(f"http://127.0.0.1:{port}/health")
    assert (refused.status, refused.detail) == (
        "fail",
        f"GET http://127.0.0.1:{port}/health: connection refused",
    )

    not_http = http_endpoint("ftp://files.example/health")
    assert (not_http.status, not_http.detail) == (
        "fail",
        "GET ftp://files.example/health: unsupported scheme 'ftp', expected http or https",
    )

    unknown = http_endpoint("http://no-such-host.invalid/health")
    assert unknown.status == "fail"
    assert unknown.detail.startswith("GET http://no-such-host.invalid/health: cannot resolve host")


def test_http_endpoint_sends_url_credentials_but_never_shows_the_password(web: str) -> None:
    host = web.removeprefix("http://")
    result = http_endpoint(f"http://ops:{SECRET}@{host}/auth?access_token={SECRET}&page=2")
    assert result.status == "pass", result.detail  # the server checked the basic auth header
    assert SECRET not in everything(result)
    assert result.name == f"http http://ops:••••••@{host}/auth?access_token=••••••&page=2"

    refused = http_endpoint(f"http://ops:{SECRET}@127.0.0.1:{closed_port()}/")
    assert refused.status == "fail" and SECRET not in everything(refused)


def test_http_endpoint_over_https_trusts_only_the_given_ca_file(
    https: dict[str, str], certs: dict[str, tuple[Path, Path]]
) -> None:
    url = f"{https['valid']}/plain"
    trusted = http_endpoint(url, ca_file=str(certs["valid"][0]))
    assert trusted.status == "pass", trusted.detail

    untrusted = http_endpoint(url)
    assert untrusted.status == "fail"
    assert untrusted.detail.startswith(
        f"GET {url}: certificate not trusted: self"
    )  # self-signed / self signed

    assert http_endpoint(url, insecure=True).status == "pass"


# --- security_headers -------------------------------------------------------------------------


def test_security_headers_pass_when_all_present(
    https: dict[str, str], certs: dict[str, tuple[Path, Path]]
) -> None:
    ca = str(certs["valid"][0])
    result = security_headers(f"{https['valid']}/secure", ca_file=ca)
    assert result.status == "pass", result.detail
    assert result.detail.endswith("-> 200: all 5 headers present")
    assert result.data["present"]["x-content-type-options"] == "nosniff"
    # frame-ancestors in the CSP stands in for X-Frame-Options
    assert security_headers(f"{https['valid']}/frame-ancestors", ca_file=ca).status == "pass"


def test_security_headers_fail_on_missing_required_and_warn_on_recommended_or_weak(
    https: dict[str, str], certs: dict[str, tuple[Path, Path]]
) -> None:
    ca = str(certs["valid"][0])
    bare = security_headers(f"{https['valid']}/plain", ca_file=ca)
    assert bare.status == "fail"
    assert (
        "missing strict-transport-security, x-content-type-options, content-security-policy, x-frame-options;"
        " missing recommended referrer-policy"
    ) in bare.detail

    no_referrer = security_headers(f"{https['valid']}/no-referrer-policy", ca_file=ca)
    assert (no_referrer.status, no_referrer.data["missing_recommended"]) == ("warn", ["referrer-policy"])

    short_hsts = security_headers(f"{https['valid']}/short-hsts", ca_file=ca)
    assert short_hsts.status == "warn"
    assert "strict-transport-security max-age 3600 is under" in short_hsts.detail

    sniffing = security_headers(f"{https['valid']}/sniffing", ca_file=ca)
    assert (sniffing.status, sniffing.data["missing_required"]) == ("fail", ["x-content-type-options"])


def test_security_headers_over_plain_http_do_not_ask_for_hsts(web: str) -> None:
    secure = security_headers(f"{web}/secure")
    assert secure.status == "pass", secure.detail
    bare = security_headers(f"{web}/plain")
    assert bare.status == "fail"
    assert "strict-transport-security" not in bare.detail


def test_security_headers_fail_when_the_page_cannot_be_fetched() -> None:
    port = closed_port()
    result = security_headers(f"https://127.0.0.1:{port}/")
    assert (result.status, result.detail) == ("fail", f"GET https://127.0.0.1:{port}/: connection refused")


# --- tcp_port ---------------------------------------------------------------------------------


def test_tcp_port_open_and_closed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        opened = tcp_port("127.0.0.1", port)
        assert opened.status == "pass" and opened.data["open"] is True
        assert opened.detail.startswith(f"127.0.0.1:{port} is open (connected in ")
        unexpected = tcp_port("127.0.0.1", port, expect_open=False)
        assert (unexpected.status, unexpected.detail) == (
            "fail",
            f"127.0.0.1:{port} is open, expected it closed",
        )

    port = closed_port()
    closed = tcp_port("127.0.0.1", port)
    assert (closed.status, closed.detail) == ("fail", f"127.0.0.1:{port} is closed (connection refused)")
    assert tcp_port("127.0.0.1", port, expect_open=False).status == "pass"

    unknown = tcp_port("no-such-host.invalid", 22, expect_open=False)
    assert unknown.status == "fail" and "cannot resolve host" in unknown.detail


# --- TLS certificates -------------------------------------------------------------------------


def test_tls_certificate_file_grades_days_left(certs: dict[str, tuple[Path, Path]]) -> None:
    valid = tls_certificate_file(str(certs["valid"][0]))
    assert valid.status == "pass", valid.detail
    assert 89.5 < valid.data["days_left"] <= 90
    assert valid.data["subject"] == "CN=valid.test" and valid.data["dns_names"] == ["localhost"]
    assert valid.data["not_after"].endswith("Z")

    expiring = tls_certificate_file(str(certs["expiring"][0]))
    assert expiring.status == "fail"
    assert ", 3 days left (fail under 7)" in expiring.detail
    assert tls_certificate_file(str(certs["expiring"][0]), warn_days=30, fail_days=2).status == "warn"

    expired = tls_certificate_file(str(certs["expired"][0]))
    assert expired.status == "fail" and ", 1 day ago" in expired.detail
    assert expired.detail.startswith(f"{certs['expired'][0]}: expired ")


def test_tls_certificate_file_judges_a_chain_by_its_first_expiry(
    certs: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes(certs["valid"][0].read_bytes() + certs["expiring"][0].read_bytes())
    result = tls_certificate_file(str(chain))
    assert (result.status, result.data["certificates"], result.data["subject"]) == (
        "fail",
        2,
        "CN=expiring.test",
    )


def test_tls_certificate_file_fails_on_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tls_certificate_file(str(tmp_path / "nope.pem"))
    assert (missing.status, missing.detail) == ("fail", f"{tmp_path / 'nope.pem'}: no such file or directory")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert tls_certificate_file(str(garbage)).detail == f"{garbage}: no PEM certificate in the file"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert tls_certificate_file(str(text)).detail == f"{text}: not a PEM or DER certificate"


def test_tls_certificate_endpoint_reports_trust_separately(
    https: dict[str, str], certs: dict[str, tuple[Path, Path]]
) -> None:
    port = port_of(https["valid"])
    trusted = tls_certificate_endpoint("127.0.0.1", port, ca_file=str(certs["valid"][0]))
    assert trusted.status == "pass", trusted.detail
    assert trusted.data["trusted"] is True and trusted.data["trust_problem"] is None
    assert trusted.data["tls_version"].startswith("TLSv1")

    untrusted = tls_certificate_endpoint(
        "127.0.0.1", port
    )  # system CAs: a self-signed cert is still measured
    assert untrusted.status == "pass"
    assert untrusted.data["trusted"] is False and "self" in untrusted.data["trust_problem"]
    assert "; not trusted: self" in untrusted.detail

    wrong_name = tls_certificate_endpoint(
        "127.0.0.1", port, server_name="db.example", ca_file=str(certs["valid"][0])
    )
    assert wrong_name.data["trusted"] is False and "db.example" in wrong_name.data["trust_problem"]


def test_tls_certificate_endpoint_fails_on_expiring_expired_and_unreachable(
    https: dict[str, str], certs: dict[str, tuple[Path, Path]]
) -> None:
    expiring = tls_certificate_endpoint("127.0.0.1", port_of(https["expiring"]))
    assert expiring.status == "fail" and "3 days left" in expiring.detail

    expired = tls_certificate_endpoint(
        "127.0.0.1", port_of(https["expired"]), ca_file=str(certs["expired"][0])
    )
    assert expired.status == "fail" and expired.data["days_left"] < 0
    assert "certificate has expired" in expired.data["trust_problem"]

    port = closed_port()
    refused = tls_certificate_endpoint("127.0.0.1", port)
    assert (refused.status, refused.detail) == ("fail", f"127.0.0.1:{port}: connection refused")


# --- disk and memory --------------------------------------------------------------------------


def current_disk_pct(path: Path) -> float:
    st = os.statvfs(path)
    space = 100.0 * (st.f_blocks - st.f_bfree) / (st.f_blocks - st.f_bfree + st.f_bavail)
    inodes = 100.0 * (st.f_files - st.f_ffree) / st.f_files if st.f_files else 0.0
    return max(space, inodes)


def test_disk_usage_against_thresholds_around_real_usage(tmp_path: Path) -> None:
    used = current_disk_pct(tmp_path)
    passed = disk_usage(str(tmp_path), warn_pct=used + 5, fail_pct=used + 10)
    assert passed.status == "pass", passed.detail
    assert abs(passed.data["used_pct"] - used) < 2 or abs(passed.data["inodes_used_pct"] - used) < 2
    assert disk_usage(str(tmp_path), warn_pct=used / 2, fail_pct=used + 10).status == "warn"
    failed = disk_usage(str(tmp_path), warn_pct=used / 4, fail_pct=used / 2)
    assert failed.status == "fail"
    assert failed.detail.endswith(f"(warn at {used / 4:g}%, fail at {used / 2:g}%)")


def test_disk_usage_fails_on_missing_path_and_rejects_inverted_limits(tmp_path: Path) -> None:
    missing = disk_usage(str(tmp_path / "gone"))
    assert (missing.status, missing.detail) == ("fail", f"{tmp_path / 'gone'}: no such file or directory")
    with pytest.raises(ValueError, match="warn limit"):
        disk_usage(str(tmp_path), warn_pct=95, fail_pct=90)


def test_memory_usage_against_thresholds_around_real_usage() -> None:
    used = psutil.virtual_memory().percent
    passed = memory_usage(warn_pct=used + 10, fail_pct=used + 15)
    assert passed.status == "pass", passed.detail
    assert passed.data["total_bytes"] == psutil.virtual_memory().total
    assert memory_usage(warn_pct=used / 2, fail_pct=used + 15).status == "warn"
    failed = memory_usage(warn_pct=used / 4, fail_pct=used / 2)
    assert failed.status == "fail" and failed.name == "memory"


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> str:
    """The test database's DSN; skips (fails under CI) when PostgreSQL does not answer."""
    import psycopg

    try:
        psycopg.connect(PG_DSN, connect_timeout=2).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL not answering at {PG_DSN}: {exc}"
        if os.environ.get("CI", ""):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    return PG_DSN


def test_postgres_connect_reports_version_and_role(pg: str) -> None:
    result = postgres_connect(pg)
    assert result.status == "pass", result.detail
    assert result.name == "postgres 127.0.0.1:5432/test"
    assert result.data["in_recovery"] is False and result.data["server_version"][0].isdigit()
    assert "PostgreSQL " in result.detail and result.detail.endswith(", primary)")


def test_postgres_connect_fails_on_wrong_port_or_database_and_hides_the_password(pg: str) -> None:
    port = closed_port()
    refused = postgres_connect(f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/test")
    assert refused.status == "fail"
    assert refused.detail.startswith(f"127.0.0.1:{port}/test: connection to server at")
    assert "Connection refused" in refused.detail and SECRET not in everything(refused)

    no_db = postgres_connect("host=127.0.0.1 port=5432 user=postgres dbname=no_such_db_here")
    assert no_db.status == "fail" and 'database "no_such_db_here" does not exist' in no_db.detail

    # trust auth ignores the password, so this connects: it still must not show it
    connected = postgres_connect(f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test")
    assert connected.status == "pass" and SECRET not in everything(connected)

    garbled = postgres_connect(f"host=127.0.0.1 password={SECRET} trailing")
    assert garbled.status == "fail" and "cannot be parsed" in garbled.detail
    assert SECRET not in everything(garbled)


def test_postgres_query_compares_first_value_or_calls_the_expectation(pg: str) -> None:
    one = postgres_query(pg, "SELECT count(*) FROM pg_database WHERE datname = %s", params=["test"], expect=1)
    assert one.status == "pass", one.detail
    assert (one.data["row_count"], one.data["first_value"], one.data["expected"]) == (1, 1, 1)

    def all_positive(rows: list[tuple[Any, ...]]) -> bool:
        return all(row[0] > 0 for row in rows)

    series = postgres_query(pg, "SELECT generate_series(1, 3)", expect=all_positive)
    assert (series.status, series.data["row_count"]) == ("pass", 3)
    assert series.detail.endswith("; all_positive holds")

    plain = postgres_query(pg, "SELECT 'hello'")
    assert plain.status == "pass" and plain.detail.endswith(", first value 'hello'")


def test_postgres_query_fails_on_mismatch_bad_sql_writes_and_slow_queries(pg: str) -> None:
    mismatch = postgres_query(pg, "SELECT 2", expect=1)
    assert mismatch.status == "fail" and mismatch.detail.endswith("first value 2, expected 1")

    empty = postgres_query(pg, "SELECT 1 WHERE false", expect=1)
    assert empty.status == "fail" and "0 rows" in empty.detail

    negative = postgres_query(pg, "SELECT -1", expect=lambda rows: rows[0][0] > 0)
    assert negative.status == "fail" and negative.detail.endswith("<lambda> does not hold")

    broken = postgres_query(pg, "SELEC 1")
    assert broken.status == "fail"
    assert broken.detail == '127.0.0.1:5432/test: syntax error at or near "SELEC" (42601)'

    write = postgres_query(pg, "CREATE TABLE checks_must_not_write (id int)")
    assert write.status == "fail" and "read-only transaction" in write.detail

    slow = postgres_query(pg, "SELECT pg_sleep(5)", timeout=0.3)
    assert slow.status == "fail" and "statement timeout" in slow.detail

    refused = postgres_query(f"postgresql://postgres@127.0.0.1:{closed_port()}/test", "SELECT 1")
    assert refused.status == "fail" and "Connection refused" in refused.detail


# --- SQLite -----------------------------------------------------------------------------------


def make_sqlite(path: Path) -> Path:
    """A database of a few hundred pages: a table and an index."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("CREATE INDEX events_body ON events (body)")
        db.executemany("INSERT INTO events (body) VALUES (?)", ((f"event {i} " * 20,) for i in range(3000)))
        db.commit()
    return path


def test_sqlite_integrity_passes_on_a_good_file_and_leaves_it_untouched(tmp_path: Path) -> None:
    db = make_sqlite(tmp_path / "good.db")
    before = db.read_bytes()
    result = sqlite_integrity(str(db))
    assert result.status == "pass", result.detail
    assert result.data["page_count"] > 100
    assert result.detail == f"{db}: integrity_check ok ({result.data['page_count']} pages of 4096 bytes)"
    assert sqlite_integrity(str(db), quick=True).data["pragma"] == "quick_check"
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["good.db"]


def test_sqlite_integrity_fails_on_corruption_missing_file_and_non_database(tmp_path: Path) -> None:
    db = make_sqlite(tmp_path / "corrupt.db")
    size = db.stat().st_size
    with open(db, "r+b") as file:
        file.seek(size // 2)
        file.write(bytes(range(256)) * 32)  # 8 KiB of junk over pages in the middle
    corrupt = sqlite_integrity(str(db))
    assert corrupt.status == "fail"
    assert corrupt.detail.startswith(f"{db}: ")

    missing = sqlite_integrity(str(tmp_path / "missing.db"))
    assert (missing.status, missing.detail) == (
        "fail",
        f"{tmp_path / 'missing.db'}: no such file or directory",
    )
    assert not (tmp_path / "missing.db").exists()

    text = tmp_path / "notes.db"
    text.write_text("these are not the pages you are looking for\n" * 200)
    not_db = sqlite_integrity(str(text))
    assert (not_db.status, not_db.detail) == ("fail", f"{text}: file is not a database")


# --- file_freshness ---------------------------------------------------------------------------


def age_file(path: Path, seconds: float) -> Path:
    path.touch()
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_file_freshness_fresh_warn_and_stale(tmp_path: Path) -> None:
    fresh = age_file(tmp_path / "fresh.log", 60)
    result = file_freshness(str(fresh), max_age="1h")
    assert result.status == "pass", result.detail
    assert result.detail == f"{fresh} is 60 s old (max 60 min)"

    day_old = age_file(tmp_path / "daily.dump", 30 * 3600)
    assert file_freshness(str(day_old), max_age="7d", warn_age="26h").status == "warn"

    stale = file_freshness(str(day_old), max_age=dt.timedelta(hours=26))
    assert (stale.status, stale.detail) == ("fail", f"{day_old} is 30.0 h old (max 26.0 h)")
    assert stale.data["max_age_s"] == 26 * 3600


def test_file_freshness_takes_the_newest_glob_match(tmp_path: Path) -> None:
    for days in (9, 3, 5):
        age_file(tmp_path / f"backup-{days}.dump", days * 86400)
    age_file(tmp_path / "unrelated.txt", 0)
    result = file_freshness(str(tmp_path / "*.dump"), max_age="4d")
    assert result.status == "pass", result.detail
    assert result.data["newest"] == str(tmp_path / "backup-3.dump") and result.data["matches"] == 3
    assert file_freshness(str(tmp_path / "*.dump"), max_age=2 * 86400).status == "fail"


def test_file_freshness_fails_when_nothing_matches_and_warns_on_future_dates(tmp_path: Path) -> None:
    none = file_freshness(str(tmp_path / "*.dump"), max_age="1d")
    assert (none.status, none.detail) == ("fail", f"no file matches {tmp_path / '*.dump'}")
    missing = file_freshness(str(tmp_path / "backup.dump"), max_age="1d")
    assert (missing.status, missing.detail) == (
        "fail",
        f"{tmp_path / 'backup.dump'}: no such file or directory",
    )
    future = age_file(tmp_path / "future.dump", -3 * 3600)
    assert file_freshness(str(future), max_age="1d").status == "warn"
    with pytest.raises(ValueError, match="max_age: expected seconds or a duration"):
        file_freshness(str(future), max_age="soon")


# --- process_running --------------------------------------------------------------------------


def test_process_running_finds_this_process_and_not_a_missing_one() -> None:
    this = " ".join(psutil.Process().cmdline())
    found = process_running(this)
    assert found.status == "pass", found.detail
    assert os.getpid() in found.data["pids"]
    too_few = process_running(this, min_count=10_000)
    assert too_few.status == "fail" and too_few.detail.endswith("expected at least 10000")

    missing = process_running("no-such-daemon-4f1c9e")
    assert (missing.status, missing.detail) == ("fail", "no process matches 'no-such-daemon-4f1c9e'")


# --- results, reports, require ----------------------------------------------------------------


def test_a_result_displays_as_one_line_a_one_row_table_and_json() -> None:
    from IPython.core.formatters import DisplayFormatter

    result = CheckResult("api <prod>", "warn", "GET /health -> 200 in 812 ms & slow", {"latency_ms": 812.0})
    data, _ = DisplayFormatter().format(result)
    assert data["text/plain"] == "WARN api <prod> — GET /health -> 200 in 812 ms & slow"
    assert data["text/html"].count("<tr") == 2  # header and one row
    assert "<td>api &lt;prod&gt;</td>" in data["text/html"] and "&amp; slow" in data["text/html"]
    assert data[MIME_TYPE] == asdict(result)
    with pytest.raises(ValueError, match="status must be one of pass, warn, fail"):
        CheckResult("x", "ok", "")


def test_report_collects_results_and_raises_naming_each_failure() -> None:
    report = Report([CheckResult("disk /", "pass", "41% used")])
    added = report.add(CheckResult("api", "fail", "GET /health -> 503"))
    report.extend([CheckResult("memory", "warn", "88% used"), CheckResult("cert", "fail", "expired")])
    assert added.name == "api" and len(report) == 4 and report.status == "fail"
    assert [r.name for r in report.failed] == ["api", "cert"] and [r.name for r in report.warned] == [
        "memory"
    ]
    assert str(report).splitlines()[-1] == "4 checks: 1 pass, 1 warn, 2 fail"
    with pytest.raises(CheckFailed) as caught:
        report.raise_for_failures()
    assert isinstance(caught.value, AssertionError)
    assert str(caught.value) == "2 of 4 checks failed: api — GET /health -> 503; cert — expired"
    assert [r.name for r in caught.value.results] == ["api", "cert"]
    Report([CheckResult("memory", "warn", "88% used")]).raise_for_failures()  # warnings do not raise


def test_require_shows_the_table_and_raises_on_failure(capsys: pytest.CaptureFixture[str]) -> None:
    ok = require(CheckResult("disk /", "pass", "41% used"), CheckResult("memory", "warn", "88% used"))
    assert isinstance(ok, Report) and len(ok) == 2
    shown = capsys.readouterr().out
    assert "PASS  disk /  41% used" in shown and "WARN  memory  88% used" in shown

    with pytest.raises(CheckFailed, match=r"^1 of 2 checks failed: api — GET /health -> 503$"):
        require(CheckResult("disk /", "pass", "41% used"), CheckResult("api", "fail", "GET /health -> 503"))
    assert "FAIL  api     GET /health -> 503" in capsys.readouterr().out


def test_checks_from_outputs_reads_back_what_ipython_displayed() -> None:
    from IPython.core.formatters import DisplayFormatter

    formatter = DisplayFormatter()

    def displayed(output_type: str, obj: object, **fields: Any) -> Any:
        data, metadata = formatter.format(obj)
        return nbformat.v4.new_output(output_type, data, metadata=metadata, **fields)

    single = CheckResult("disk /", "pass", "41% used", {"used_pct": 41.0})
    report = Report(
        [CheckResult("api", "fail", "503", {"status_code": 503}), CheckResult("memory", "warn", "88%")]
    )
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="checking...\n"),
        displayed("execute_result", single, execution_count=1),
        displayed("display_data", report),
        displayed("display_data", {"not": "a check"}),
        nbformat.v4.new_output(
            "display_data", {MIME_TYPE: [{"name": "", "status": "pass"}, {"status": "bad"}]}
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("checks", outputs=outputs)])
    nbformat.validate(notebook)
    reread = nbformat.reads(nbformat.writes(notebook), as_version=4)  # through JSON, as the store keeps it

    expected = [single.to_dict(), *(r.to_dict() for r in report)]
    assert checks_from_outputs(reread.cells[0].outputs) == expected
    assert checks_from_outputs(outputs) == expected


@pytest.mark.kernel
def test_a_notebook_run_records_each_displayed_check_once(tmp_path: Path) -> None:
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    cells = [
        "from runbook.checks import CheckResult, require\nr = CheckResult('disk /', 'pass', '41% used')\nr",
        "require(r, CheckResult('memory', 'warn', '88% used'))",  # its value must not repeat the table
        "require(CheckResult('api', 'fail', 'GET /health -> 503'))",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    NotebookClient(notebook, km=manager, timeout=30, allow_errors=True).execute()

    outputs = [output for cell in notebook.cells for output in cell.outputs]
    checks = checks_from_outputs(outputs)
    assert [(c["name"], c["status"]) for c in checks] == [
        ("disk /", "pass"),
        ("disk /", "pass"),
        ("memory", "warn"),
        ("api", "fail"),
    ]
    repeated = notebook.cells[1].outputs[-1]
    assert repeated.output_type == "execute_result" and set(repeated.data) == {"text/plain"}
    assert repeated.data["text/plain"] == "2 checks: 1 pass, 1 warn, 0 fail (shown above)"
    error = notebook.cells[2].outputs[-1]
    assert (error.ename, error.evalue) == ("CheckFailed", "check failed: api — GET /health -> 503")


# --- import cost ------------------------------------------------------------------------------


def test_importing_checks_loads_no_heavy_modules() -> None:
    heavy = [
        "click",
        "mkdocs",
        "papermill",
        "psycopg",
        "cryptography",
        "ssl",
        "http.client",
        "psutil",
        "IPython",
    ]
    code = f"import runbook.checks, sys, json; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
