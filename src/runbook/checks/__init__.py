"""Checks of real systems for runbooks: ``from runbook.checks import *`` in a notebook step.

Each check measures one thing and returns a :class:`CheckResult` (``pass``, ``warn`` or
``fail``, a one-line detail, and the figures in ``data``). In a notebook a result displays
as a table row; :func:`require` shows several as one table and stops the run if any
failed; the run record collects every displayed result with :func:`checks_from_outputs`.

Rules every check follows:

- A failing target never raises. Connection refused, DNS failure, timeout, a bad
  certificate, a missing file, permission denied: all come back as a ``fail`` whose
  detail names the target and the problem. Only a mistake in the check's own settings
  (a warn limit beyond the fail limit, an age like ``"soon"``) raises ``ValueError``.
- Secrets stay out: a password in a URL (``user:password@``) or a DSN never appears in a
  name, a detail or the data.
- Importing this module is cheap: psycopg, cryptography, ssl, http.client and psutil are
  imported by the checks that use them.

Example::

    from runbook.checks import disk_usage, http_endpoint, require

    require(
        http_endpoint("https://api.internal/health", expect_text="ok", warn_latency_ms=500),
        disk_usage("/var/lib/postgresql", warn_pct=80, fail_pct=90),
    )

A step with nothing to check in a profile says so with :func:`skip`, and is recorded as
skipped, not as a success::

    if not pg_dsn:
        skip("no pg_dsn in this profile: no PostgreSQL to check")
"""

from __future__ import annotations

from runbook.checks._support import FAIL, PASS, WARN
from runbook.checks.databases import postgres_connect, postgres_query, sqlite_integrity
from runbook.checks.host import disk_usage, file_freshness, memory_usage, process_running
from runbook.checks.result import MIME_TYPE, CheckFailed, CheckResult, Report, checks_from_outputs, require
from runbook.checks.skipping import skip
from runbook.checks.tls import tls_certificate_endpoint, tls_certificate_file
from runbook.checks.web import http_endpoint, security_headers, tcp_port

__all__ = [
    "FAIL",
    "MIME_TYPE",
    "PASS",
    "WARN",
    "CheckFailed",
    "CheckResult",
    "Report",
    "checks_from_outputs",
    "disk_usage",
    "file_freshness",
    "http_endpoint",
    "memory_usage",
    "postgres_connect",
    "postgres_query",
    "process_running",
    "require",
    "security_headers",
    "skip",
    "sqlite_integrity",
    "tcp_port",
    "tls_certificate_endpoint",
    "tls_certificate_file",
]
