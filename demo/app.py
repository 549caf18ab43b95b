"""The demo service: a tiny real web application the example handbook checks in `local`.

Standard library only. It serves, on 127.0.0.1:

- ``GET /healthz``: ``200 {"status": "ok", "version": ...}`` while the release the
  ``current`` link points at is healthy, ``503`` when that release says it is not (or the
  link is missing);
- ``GET /api/ping`` and ``GET /``: small answers with a little work behind them;
- every response with the release's security headers (a release may leave some out:
  ``omit_headers`` in its ``release.json``, which is how a bad release is simulated);
- an access log in the combined log format plus the response time in seconds as the last
  field (nginx's ``$request_time``), one line per request, in ``<root>/logs/access.log``;
- optionally the same over HTTPS (``--tls-port``) with a self-signed certificate kept in
  ``<root>/tls/`` (needs the ``cryptography`` package; without it only HTTP is served);
- a small real job queue: a SQLite ``jobs`` table in ``<root>/state/jobs.sqlite3``. Every
  ``JOB_EVERY``-th request to ``/`` or ``/api/ping`` enqueues a job, and so does
  ``POST /jobs`` (``{"kind": "export"}``; kind ``fail`` always fails and ends dead after
  ``MAX_ATTEMPTS``); a worker thread takes the oldest pending job and runs it.
  ``GET /jobs/stats`` answers ``{"pending", "oldest_pending_age_s", "dead_1h", "dead_total",
  "done_1h", "worker"}``. ``POST /admin/worker`` with ``{"running": false}`` stops the worker
  (``true`` starts it again), from loopback only: that is how a stuck worker is simulated,
  as is starting the service with ``DEMO_WORKER=off`` in its environment.

The releases layout under ``<root>`` is the one a deploy tool leaves on an app host::

    releases/1.4.0/release.json      {"version": "1.4.0", "healthy": true, "omit_headers": []}
    releases/1.4.0/migrations/0001_create_orders.sql
    releases/1.5.0/...
    releases/1.6.0/...               the next release, not live yet
    current -> releases/1.5.0        read on every request: switching it is a deploy or a rollback
    state/migrations-applied         the migrations the (pretend) database has applied, one a line

Run it through ``demo/serve`` (start, stop, status); this module is its server.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.server
import json
import os
import random
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

#: The releases a fresh root starts with: (version, migrations it ships). 1.5.0 is live,
#: 1.4.0 the one to roll back to, 1.6.0 the next deploy, with one migration not yet applied.
SEED_RELEASES = (
    ("1.4.0", ("0001_create_orders.sql", "0002_add_orders_placed_at_index.sql")),
    (
        "1.5.0",
        ("0001_create_orders.sql", "0002_add_orders_placed_at_index.sql", "0003_add_customers_email.sql"),
    ),
    (
        "1.6.0",
        (
            "0001_create_orders.sql",
            "0002_add_orders_placed_at_index.sql",
            "0003_add_customers_email.sql",
            "0004_add_orders_status.sql",
        ),
    ),
)
SEED_CURRENT = "1.5.0"


def seed(root: Path) -> None:
    """Create the releases layout under ``root`` where it is missing; never change what exists."""
    for version, migrations in SEED_RELEASES:
        folder = root / "releases" / version
        (folder / "migrations").mkdir(parents=True, exist_ok=True)
        release = folder / "release.json"
        if not release.exists():
            release.write_text(
                json.dumps({"version": version, "healthy": True, "omit_headers": []}, indent=2) + "\n"
            )
        for name in migrations:
            path = folder / "migrations" / name
            if not path.exists():
                path.write_text(f"-- {name}: additive, backwards-compatible\nSELECT 1;\n")
    current = root / "current"
    if not current.is_symlink() and not current.exists():
        current.symlink_to(Path("releases") / SEED_CURRENT)
    applied = root / "state" / "migrations-applied"
    if not applied.exists():
        applied.parent.mkdir(parents=True, exist_ok=True)
        live = dict(SEED_RELEASES)[SEED_CURRENT]
        applied.write_text("".join(f"{name}\n" for name in live))
    (root / "logs").mkdir(parents=True, exist_ok=True)


def current_release(root: Path) -> dict[str, Any] | None:
    """The ``release.json`` of the release ``current`` points at; None when there is none."""
    try:
        data = json.loads((root / "current" / "release.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: One job enqueued per this many requests to ``/`` and ``/api/ping``.
JOB_EVERY = 10
#: A job that failed this many times moves to ``dead``.
MAX_ATTEMPTS = 3


class JobQueue:
    """A ``jobs`` table in SQLite and one worker thread that takes the oldest pending job."""

    def __init__(self, path: Path, *, worker_running: bool = True) -> None:
        self.path = path
        self.running = threading.Event()
        if worker_running:
            self.running.set()
        self._requests = 0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                "status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, "
                "queued_at REAL NOT NULL, started_at REAL, finished_at REAL, error TEXT)"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    def enqueue(self, kind: str = "export") -> int:
        with self._connect() as con:
            cursor = con.execute("INSERT INTO jobs (kind, queued_at) VALUES (?, ?)", (kind, time.time()))
            return int(cursor.lastrowid or 0)

    def request_seen(self) -> None:
        """Count a request; every ``JOB_EVERY``-th enqueues a job, as an app's traffic does."""
        with self._lock:
            self._requests += 1
            due = self._requests % JOB_EVERY == 0
        if due:
            self.enqueue("thumbnail")

    def stats(self) -> dict[str, Any]:
        now = time.time()
        with self._connect() as con:
            pending, oldest = con.execute(
                "SELECT count(*), min(queued_at) FROM jobs WHERE status = 'pending'"
            ).fetchone()
            dead_1h, dead_total, done_1h = con.execute(
                "SELECT coalesce(sum(status = 'dead' AND finished_at > ?), 0), "
                "coalesce(sum(status = 'dead'), 0), "
                "coalesce(sum(status = 'done' AND finished_at > ?), 0) FROM jobs",
                (now - 3600, now - 3600),
            ).fetchone()
        return {
            "pending": pending,
            "oldest_pending_age_s": round(now - oldest, 3) if oldest is not None else None,
            "dead_1h": dead_1h,
            "dead_total": dead_total,
            "done_1h": done_1h,
            "worker": "running" if self.running.is_set() else "stopped",
        }

    def work(self) -> None:
        """The worker: take the oldest pending job, run it, mark it done (or dead)."""
        while True:
            self.running.wait()
            if not self._run_one():
                time.sleep(0.1)

    def _run_one(self) -> bool:
        with self._connect() as con:
            row = con.execute(
                "SELECT id, kind, attempts FROM jobs WHERE status = 'pending' ORDER BY queued_at LIMIT 1"
            ).fetchone()
            if row is None:
                return False
            job, kind, attempts = row
            con.execute("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?", (time.time(), job))
            time.sleep(0.005)  # the work
            if kind == "fail":
                attempts += 1
                status = "dead" if attempts >= MAX_ATTEMPTS else "pending"
                con.execute(
                    "UPDATE jobs SET status = ?, attempts = ?, finished_at = ?, error = ? WHERE id = ?",
                    (status, attempts, time.time(), "the job failed on purpose", job),
                )
            else:
                con.execute(
                    "UPDATE jobs SET status = 'done', attempts = attempts + 1, finished_at = ? WHERE id = ?",
                    (time.time(), job),
                )
        return True


class DemoHandler(http.server.BaseHTTPRequestHandler):
    """Answers like a small application; logs each request the way nginx does."""

    server_version = "runbook-demo/1"
    root: Path = Path(".")
    jobs: JobQueue | None = None
    log_lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        started = time.monotonic()
        release = current_release(self.root)
        path = self.path.split("?", 1)[0]
        if path == "/jobs/stats" and self.jobs is not None:
            status, body = 200, self.jobs.stats()
        elif path == "/healthz":
            healthy = bool(release and release.get("healthy", True))
            status = 200 if healthy else 503
            body = {"status": "ok" if healthy else "unhealthy", "version": (release or {}).get("version")}
        elif path in ("/", "/api/ping"):
            time.sleep(min(random.lognormvariate(0.3, 0.5), 8) / 1000)  # a little work: 1 to 8 ms
            status, body = 200, {"pong": True, "version": (release or {}).get("version")}
            if self.jobs is not None:
                self.jobs.request_seen()
        else:
            status, body = 404, {"error": "not found"}
        self.answer(status, body, release, started)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        started = time.monotonic()
        release = current_release(self.root)
        path = self.path.split("?", 1)[0]
        try:
            length = min(int(self.headers.get("Content-Length") or 0), 4096)
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            data = None
        if self.jobs is None or not isinstance(data, dict) or path not in ("/jobs", "/admin/worker"):
            status, body = (
                (404, {"error": "not found"}) if isinstance(data, dict) else (400, {"error": "bad JSON"})
            )
        elif path == "/jobs":
            status, body = 201, {"id": self.jobs.enqueue(str(data.get("kind") or "export")[:40])}
        elif self.client_address[0] != "127.0.0.1":
            status, body = 403, {"error": "admin endpoints answer on loopback only"}
        else:
            (self.jobs.running.set if data.get("running", True) else self.jobs.running.clear)()
            status, body = 200, {"worker": self.jobs.stats()["worker"]}
        self.answer(status, body, release, started)

    def answer(
        self, status: int, body: dict[str, Any], release: dict[str, Any] | None, started: float
    ) -> None:
        """Send ``body`` as JSON with the release's security headers, and log the request."""
        payload = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        omitted = set((release or {}).get("omit_headers") or [])
        for header, value in SECURITY_HEADERS.items():
            if header not in omitted:
                self.send_header(header, value)
        self.end_headers()
        # logged before the body goes out, so a client that has read the answer finds its line
        self.access_log(status, len(payload), time.monotonic() - started)
        self.wfile.write(payload)

    def access_log(self, status: int, size: int, seconds: float) -> None:
        """One line in the combined log format, then the response time in seconds."""
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        referer = self.headers.get("Referer", "-")
        agent = self.headers.get("User-Agent", "-")
        line = (
            f'{self.client_address[0]} - - [{now}] "{self.requestline}" {status} {size} '
            f'"{referer}" "{agent}" {seconds:.3f}\n'
        )
        with self.log_lock, open(self.root / "logs" / "access.log", "a", encoding="utf-8") as log:
            log.write(line)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the access log above is the log


class TLSServer(http.server.ThreadingHTTPServer):
    """Does each TLS handshake in the connection's own thread; a client hanging up is no error."""

    daemon_threads = True
    context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        assert self.context is not None
        with self.context.wrap_socket(request, server_side=True) as tls_request:
            super().finish_request(tls_request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def certificate(folder: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for localhost and 127.0.0.1, reused while it has 45 days left.

    Returns None when the ``cryptography`` package is not installed.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        return None
    import ipaddress

    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "demo.pem", folder / "demo.key"
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if current.not_valid_after_utc - now > datetime.timedelta(days=45):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runbook demo service")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    tmp = key_path.with_name(key_path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    os.replace(tmp, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def serve(root: Path, host: str, port: int, tls_port: int, stop_with: int) -> None:
    """Serve until SIGTERM, or until process ``stop_with`` (when not 0) has ended."""
    seed(root)
    DemoHandler.root = root
    jobs = JobQueue(
        root / "state" / "jobs.sqlite3", worker_running=os.environ.get("DEMO_WORKER", "on") != "off"
    )
    DemoHandler.jobs = jobs
    threading.Thread(target=jobs.work, daemon=True).start()
    servers: list[http.server.ThreadingHTTPServer] = []
    plain = http.server.ThreadingHTTPServer((host, port), DemoHandler)
    plain.daemon_threads = True
    servers.append(plain)
    if tls_port:
        pair = certificate(root / "tls")
        if pair is None:
            print("demo: the cryptography package is missing; serving HTTP only", file=sys.stderr)
        else:
            secure = TLSServer((host, tls_port), DemoHandler)
            secure.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            secure.context.minimum_version = ssl.TLSVersion.TLSv1_2
            secure.context.load_cert_chain(*pair)
            servers.append(secure)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    (root / "ready").write_text(f"{os.getpid()}\n")
    try:
        while True:
            time.sleep(0.5)
            if stop_with and not alive(stop_with):
                break
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        forget_pid(root / "serve.pid")


def forget_pid(pidfile: Path) -> None:
    """Remove demo/serve's pidfile when it names this process, so `status` tells the truth."""
    try:
        if pidfile.read_text().strip() == str(os.getpid()):
            pidfile.unlink()
    except OSError:
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder of releases, current, logs, state")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tls-port", type=int, default=0, help="also serve HTTPS here; 0: do not")
    parser.add_argument("--stop-with", type=int, default=0, help="stop when this process ends; 0: do not")
    args = parser.parse_args(argv)
    serve(args.root.resolve(), args.host, args.port, args.tls_port, args.stop_with)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
