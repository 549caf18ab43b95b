"""Helpers shared by the checks: statuses, thresholds, durations, secrets and error text."""

from __future__ import annotations

import math
import re
import socket
import sys
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

PASS = "pass"
WARN = "warn"
FAIL = "fail"
STATUSES = (PASS, WARN, FAIL)
_RANK = {PASS: 0, WARN: 1, FAIL: 2}

#: What a secret is replaced with in names, details and data (the same mask the run record uses).
MASK = "••••••"

#: Query parameters whose values are masked when a URL is shown.
_SECRET_QUERY_KEY = re.compile(r"pass|pwd|token|secret|api[_-]?key|signature|^sig$|^key$", re.IGNORECASE)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def worst(statuses: Iterable[str]) -> str:
    """The most severe of ``statuses`` (``pass`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default=PASS)


def grade_high(value: float, warn: float | None, fail: float | None) -> str:
    """Status where higher is worse: ``fail`` at or above ``fail``, else ``warn`` at or above ``warn``."""
    if fail is not None and value >= fail:
        return FAIL
    if warn is not None and value >= warn:
        return WARN
    return PASS


def validate_limits(
    warn: float | None, fail: float | None, what: str, *, higher_is_worse: bool = True
) -> None:
    """Raise ValueError when a warn limit is on the wrong side of the fail limit.

    Raises:
        ValueError: ``warn`` would never be reached before ``fail``.
    """
    if warn is None or fail is None:
        return
    if higher_is_worse and warn > fail:
        raise ValueError(f"{what}: the warn limit ({warn}) must not be above the fail limit ({fail})")
    if not higher_is_worse and warn < fail:
        raise ValueError(f"{what}: the warn limit ({warn}) must not be below the fail limit ({fail})")


def parse_age(value: float | int | str | timedelta, what: str = "age") -> float:
    """Seconds from ``3600``, ``timedelta(hours=1)``, ``"90s"``, ``"30m"``, ``"26h"``, ``"7d"`` or ``"2w"``.

    Raises:
        ValueError: the value is not a positive duration in one of those forms.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _AGE.match(value)):
        seconds = float(match.group(1)) * _AGE_UNITS[match.group(2)]
    else:
        raise ValueError(
            f"{what}: expected seconds or a duration like '90s', '30m', '26h', '7d', got {value!r}"
        )
    if seconds <= 0 or math.isnan(seconds):
        raise ValueError(f"{what}: expected a positive duration, got {value!r}")
    return seconds


def format_age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``5.2 h``, ``3.1 d``: a duration a person reads at a glance."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB`` ... ``2.0 TiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_ms(ms: float) -> str:
    """``0.4 ms``, ``12 ms``, ``1530 ms``."""
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value), to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000, 1)


def one_line(text: str, limit: int = 240) -> str:
    """``text`` on one line (whitespace collapsed), cut at ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def host_port(host: str, port: int) -> str:
    """``host:port``, with IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def redact_url(url: str) -> str:
    """``url`` with the password of ``user:password@`` and secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostinfo}" if sep else f"{user}@{hostinfo}"
    query = "&".join(_mask_query_item(item) for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_query_item(item: str) -> str:
    key, sep, _value = item.partition("=")
    return f"{key}={MASK}" if sep and _SECRET_QUERY_KEY.search(unquote(key)) else item


def url_secrets(url: str) -> list[str]:
    """The password and secret-looking query values in ``url``, as written and decoded."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return []
    for item in parts.query.split("&"):
        key, sep, value = item.partition("=")
        if sep and _SECRET_QUERY_KEY.search(unquote(key)):
            found.append(value)
    return [s for secret in found if secret for s in {secret, unquote(secret)}]


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty value of ``secrets`` replaced by the mask."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def jsonable(value: Any) -> Any:
    """``value`` if JSON has a type for it, else its ``str`` (decimals, dates, bytes ...)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def describe_error(exc: BaseException, timeout: float | None = None) -> str:
    """A short phrase for a network or file error: ``connection refused``, ``timed out after 5 s`` ..."""
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {exc.verify_message}"
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {one_line(exc.reason or str(exc))}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s" if timeout is not None else "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):  # http.client's RemoteDisconnected says what happened
        return (
            "connection reset by peer" if exc.strerror or not str(exc) else _lower_first(one_line(str(exc)))
        )
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, OSError) and exc.strerror:
        return _lower_first(exc.strerror)
    message = one_line(str(exc))
    if message and (isinstance(exc, ValueError) or type(exc).__module__.startswith("sqlite3")):
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
