"""Network checks: HTTP endpoints, their security headers, and TCP ports."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from runbook.checks._support import (
    FAIL,
    PASS,
    WARN,
    describe_error,
    elapsed_ms,
    format_ms,
    grade_high,
    host_port,
    mask,
    redact_url,
    url_secrets,
    validate_limits,
    worst,
)
from runbook.checks.result import CheckResult

if TYPE_CHECKING:
    import ssl

#: How much of a response body is read (for ``expect_text``); the rest is left unread.
MAX_BODY_BYTES = 1024 * 1024

#: Headers :func:`security_headers` fails without (``x-frame-options`` is also satisfied by
#: a ``frame-ancestors`` directive in ``content-security-policy``).
REQUIRED_SECURITY_HEADERS = (
    "strict-transport-security",
    "x-content-type-options",
    "content-security-policy",
    "x-frame-options",
)
#: Headers :func:`security_headers` warns without.
RECOMMENDED_SECURITY_HEADERS = ("referrer-policy",)

#: An HSTS ``max-age`` below this (180 days) is reported as weak: a warning.
HSTS_MIN_MAX_AGE = 180 * 86400


@dataclass
class _Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    latency_ms: float

    def text(self) -> str:
        content_type = self.headers.get("content-type", "")
        charset = content_type.partition("charset=")[2].split(";")[0].strip().strip('"') or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def http_endpoint(
    url: str,
    *,
    expect_status: int | Collection[int] = 200,
    expect_text: str | None = None,
    warn_latency_ms: float | None = None,
    fail_latency_ms: float | None = None,
    require_headers: Iterable[str] = (),
    timeout: float = 5.0,
    name: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
) -> CheckResult:
    """GET ``url`` and judge the status, body, headers and response time.

    Redirects are not followed: expect ``301`` to check one. The latency is the time from
    connecting to the end of the body (at most the first MiB is read). A password in the
    URL (``user:password@``) is sent as basic authentication and never shown.

    Args:
        url: an ``http://`` or ``https://`` URL.
        expect_status: the status code, or codes, that pass.
        expect_text: text the body must contain.
        warn_latency_ms: warn at or above this response time.
        fail_latency_ms: fail at or above this response time.
        require_headers: response headers that must be present (any case).
        timeout: seconds to wait for the connection and for each read.
        name: the result's name; default ``http <url>``.
        ca_file: PEM file of certificates to trust instead of the system's.
        insecure: do not verify the server's certificate at all.

    Returns:
        ``fail`` on a wrong status, missing text or header, a latency at or above
        ``fail_latency_ms`` or no response; ``warn`` at or above ``warn_latency_ms``. Data:
        ``url``, ``status_code``, ``latency_ms``, ``bytes``.

    Raises:
        ValueError: ``warn_latency_ms`` is above ``fail_latency_ms``.
    """
    validate_limits(warn_latency_ms, fail_latency_ms, "http_endpoint latency")
    shown = redact_url(url)
    name = name or f"http {shown}"
    expected = {expect_status} if isinstance(expect_status, int) else set(expect_status)
    try:
        response = _get(url, timeout=timeout, ca_file=ca_file, insecure=insecure)
    except Exception as exc:
        problem = mask(describe_error(exc, timeout), url_secrets(url))
        return CheckResult(name, FAIL, f"GET {shown}: {problem}", {"url": shown})

    problems: list[tuple[str, str]] = []
    if response.status not in expected:
        want = " or ".join(str(s) for s in sorted(expected))
        problems.append((FAIL, f"expected status {want}"))
    if expect_text is not None and expect_text not in response.text():
        problems.append((FAIL, f"body does not contain {expect_text!r}"))
    missing = [h for h in require_headers if h.lower() not in response.headers]
    if missing:
        problems.append((FAIL, f"missing header {', '.join(missing)}"))
    latency_status = grade_high(response.latency_ms, warn_latency_ms, fail_latency_ms)
    if latency_status != PASS:
        limit = fail_latency_ms if latency_status == FAIL else warn_latency_ms
        problems.append(
            (latency_status, f"slower than the {latency_status} limit of {format_ms(limit or 0)}")
        )

    measured = (
        f"GET {shown} -> {response.status} {response.reason} in {format_ms(response.latency_ms)}".rstrip()
    )
    detail = "; ".join([measured, *(text for _, text in problems)])
    data = {
        "url": shown,
        "status_code": response.status,
        "latency_ms": response.latency_ms,
        "bytes": len(response.body),
        **{
            k: v for k, v in (("warn_latency_ms", warn_latency_ms), ("fail_latency_ms", fail_latency_ms)) if v
        },
    }
    return CheckResult(name, worst(status for status, _ in problems), detail, data)


def security_headers(
    url: str,
    *,
    required: Iterable[str] = REQUIRED_SECURITY_HEADERS,
    recommended: Iterable[str] = RECOMMENDED_SECURITY_HEADERS,
    timeout: float = 5.0,
    name: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
) -> CheckResult:
    """GET ``url`` and check the response carries the browser security headers.

    Policy: a missing ``required`` header fails; a missing ``recommended`` header warns.
    A header present with a value that does not protect counts as missing:
    ``x-content-type-options`` other than ``nosniff``, ``strict-transport-security``
    without a positive ``max-age``. An HSTS ``max-age`` under 180 days warns.
    ``x-frame-options`` is satisfied by a ``frame-ancestors`` directive in the
    ``content-security-policy``. ``strict-transport-security`` is not asked of a plain
    ``http://`` URL (browsers ignore it there). The status code is reported, not judged:
    use :func:`http_endpoint` for that.

    Args:
        url: the page to fetch (``http://`` or ``https://``).
        required: header names whose absence fails.
        recommended: header names whose absence warns.
        timeout: seconds to wait for the connection and for each read.
        name: the result's name; default ``security headers <url>``.
        ca_file: PEM file of certificates to trust instead of the system's.
        insecure: do not verify the server's certificate at all.

    Returns:
        The result; data: ``url``, ``status_code``, ``present`` (header: value),
        ``missing_required``, ``missing_recommended``, ``weak``.
    """
    shown = redact_url(url)
    name = name or f"security headers {shown}"
    try:
        response = _get(url, timeout=timeout, ca_file=ca_file, insecure=insecure)
    except Exception as exc:
        problem = mask(describe_error(exc, timeout), url_secrets(url))
        return CheckResult(name, FAIL, f"GET {shown}: {problem}", {"url": shown})

    plain_http = urlsplit(url).scheme.lower() == "http"
    required = [h.lower() for h in required if not (plain_http and h.lower() == "strict-transport-security")]
    recommended = [h.lower() for h in recommended]
    headers = response.headers
    missing_required = [h for h in required if not _protects(h, headers)]
    missing_recommended = [h for h in recommended if not _protects(h, headers)]
    weak = _weak_headers(headers)

    problems = []
    if missing_required:
        problems.append(f"missing {', '.join(missing_required)}")
    if missing_recommended:
        problems.append(f"missing recommended {', '.join(missing_recommended)}")
    problems.extend(weak)
    status = FAIL if missing_required else WARN if missing_recommended or weak else PASS
    summary = "; ".join(problems) if problems else f"all {len(required) + len(recommended)} headers present"
    data = {
        "url": shown,
        "status_code": response.status,
        "present": {h: headers[h] for h in sorted({*required, *recommended}) if h in headers},
        "missing_required": missing_required,
        "missing_recommended": missing_recommended,
        "weak": weak,
    }
    return CheckResult(name, status, f"GET {shown} -> {response.status}: {summary}", data)


def tcp_port(
    host: str, port: int, *, timeout: float = 3.0, expect_open: bool = True, name: str | None = None
) -> CheckResult:
    """Connect to ``host:port`` and check it is open (or, with ``expect_open=False``, closed).

    A port that refuses the connection or does not answer within ``timeout`` (filtered)
    counts as closed. A host name that does not resolve fails either way.

    Args:
        host: host name or IP address.
        port: TCP port.
        timeout: seconds to wait for the connection.
        expect_open: whether the port should accept connections.
        name: the result's name; default ``tcp <host>:<port>``.

    Returns:
        The result; data: ``host``, ``port``, ``open``, and ``latency_ms`` when it connected.
    """
    target = host_port(host, port)
    name = name or f"tcp {target}"
    data: dict[str, Any] = {"host": host, "port": port}
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            data.update(open=True, latency_ms=elapsed_ms(started))
    except socket.gaierror as exc:
        return CheckResult(name, FAIL, f"{target}: {describe_error(exc)}", {**data, "open": None})
    except OSError as exc:
        data["open"] = False
        closed = f"{target} is closed ({describe_error(exc, timeout)})"
        if expect_open:
            return CheckResult(name, FAIL, closed, data)
        return CheckResult(name, PASS, f"{closed}, as expected", data)
    if expect_open:
        return CheckResult(
            name, PASS, f"{target} is open (connected in {format_ms(data['latency_ms'])})", data
        )
    return CheckResult(name, FAIL, f"{target} is open, expected it closed", data)


def _get(url: str, *, timeout: float, ca_file: str | None, insecure: bool) -> _Response:
    """One GET request with http.client, timed from connecting to the end of the body."""
    import http.client

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {scheme!r}, expected http or https")
    if not parts.hostname:
        raise ValueError("no host in the URL")
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = _tls_context(ca_file, insecure)
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"User-Agent": "runbook-checks", "Accept": "*/*"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
    started = time.perf_counter()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read(MAX_BODY_BYTES)
        latency = elapsed_ms(started)
        received: dict[str, str] = {}
        for key, value in response.getheaders():
            key = key.lower()
            received[key] = f"{received[key]}, {value}" if key in received else value
        return _Response(response.status, response.reason, received, body, latency)
    finally:
        connection.close()


def _tls_context(ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    import ssl

    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)


def _protects(header: str, headers: dict[str, str]) -> bool:
    """Whether ``header`` is present with a value that does its job."""
    value = headers.get(header)
    if header == "x-frame-options" and value is None:
        return "frame-ancestors" in headers.get("content-security-policy", "").lower()
    if value is None or not value.strip():
        return False
    if header == "x-content-type-options":
        return value.strip().lower() == "nosniff"
    if header == "strict-transport-security":
        max_age = _hsts_max_age(value)
        return max_age is not None and max_age > 0
    return True


def _weak_headers(headers: dict[str, str]) -> list[str]:
    """Present but weaker than it should be: a warning each."""
    hsts = headers.get("strict-transport-security")
    max_age = _hsts_max_age(hsts) if hsts else None
    if max_age is not None and 0 < max_age < HSTS_MIN_MAX_AGE:
        return [f"strict-transport-security max-age {max_age} is under {HSTS_MIN_MAX_AGE} (180 days)"]
    return []


def _hsts_max_age(value: str) -> int | None:
    for directive in value.split(";"):
        key, _, number = directive.strip().partition("=")
        if key.strip().lower() == "max-age":
            try:
                return int(number.strip().strip('"'))
            except ValueError:
                return None
    return None
