"""Database checks: PostgreSQL reachability and queries, SQLite file integrity.

A DSN's password never appears in a result: names are built from the parsed host, port
and database, and every error message is masked before it is shown.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from runbook.checks._support import (
    FAIL,
    PASS,
    describe_error,
    elapsed_ms,
    format_ms,
    jsonable,
    mask,
    one_line,
)
from runbook.checks.result import CheckResult

if TYPE_CHECKING:
    import psycopg

#: Expectation for :func:`postgres_query`: a value the first column of the first row must
#: equal, or a function given all rows that returns whether they are right.
Expectation = Any

#: At most this many problems from ``PRAGMA integrity_check`` are kept in the result.
MAX_SQLITE_ERRORS = 20

_PASSWORD_KEYWORD = re.compile(r"password\s*=\s*('(?:\\.|[^'])*'|[^\s&]+)", re.IGNORECASE)
_PASSWORD_IN_URI = re.compile(r"://[^:/@\s]*:([^@\s]*)@")
_UNPARSEABLE_TARGET = "(unparseable DSN)"
_UNPARSEABLE_DSN = "the DSN cannot be parsed; check its syntax (it is not shown: it may hold a password)"


def postgres_connect(dsn: str, *, timeout: float = 5.0, name: str | None = None) -> CheckResult:
    """Connect to PostgreSQL and report the server version and whether it is a standby.

    Args:
        dsn: a libpq connection string or ``postgresql://`` URI.
        timeout: seconds to wait for the connection (libpq counts whole seconds, at least 2).
        name: the result's name; default ``postgres <host>:<port>/<database>``.

    Returns:
        The result; data: ``host``, ``port``, ``dbname``, ``user``, ``latency_ms``,
        ``server_version``, ``in_recovery``.
    """
    target, fields = _target(dsn)
    name = name or f"postgres {target}"
    if target == _UNPARSEABLE_TARGET:
        return CheckResult(name, FAIL, _UNPARSEABLE_DSN)
    started = time.perf_counter()
    try:
        with _connect(dsn, timeout) as connection:
            latency = elapsed_ms(started)
            row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
            in_recovery = bool(row and row[0])
            version = connection.info.parameter_status("server_version") or str(
                connection.info.server_version
            )
    except Exception as exc:
        return CheckResult(name, FAIL, f"{target}: {_describe_pg_error(exc, dsn, timeout)}", fields)
    role = "standby" if in_recovery else "primary"
    detail = f"connected to {target} in {format_ms(latency)} (PostgreSQL {version}, {role})"
    data = {**fields, "latency_ms": latency, "server_version": version, "in_recovery": in_recovery}
    return CheckResult(name, PASS, detail, data)


def postgres_query(
    dsn: str,
    sql: str,
    *,
    params: Sequence[Any] | dict[str, Any] | None = None,
    expect: Expectation = None,
    name: str | None = None,
    timeout: float = 5.0,
) -> CheckResult:
    """Run ``sql`` and compare its result with ``expect``.

    The query runs in a read-only transaction that is rolled back, with a statement
    timeout of ``timeout``: a check measures, it never changes the database.

    Args:
        dsn: a libpq connection string or ``postgresql://`` URI.
        sql: the query; ``%s`` or ``%(name)s`` placeholders are filled from ``params``.
        params: values for the placeholders.
        expect: None to pass whenever the query runs; a value the first column of the
            first row must equal; or a callable given all rows (tuples) that returns true
            when they are right.
        name: the result's name; default ``postgres <host>:<port>/<database>: <sql>``.
        timeout: seconds for the connection and for the query.

    Returns:
        The result; data: ``host``, ``port``, ``dbname``, ``user``, ``latency_ms``,
        ``row_count``, ``first_value``, and ``expected`` when ``expect`` is a value.
    """
    target, fields = _target(dsn)
    name = name or f"postgres {target}: {one_line(sql, 60)}"
    if target == _UNPARSEABLE_TARGET:
        return CheckResult(name, FAIL, _UNPARSEABLE_DSN)
    started = time.perf_counter()
    try:
        rows = _fetch_rows(dsn, sql, params, timeout)
    except Exception as exc:
        return CheckResult(name, FAIL, f"{target}: {_describe_pg_error(exc, dsn, timeout)}", fields)
    latency = elapsed_ms(started)
    first = rows[0][0] if rows and rows[0] else None
    data = {**fields, "latency_ms": latency, "row_count": len(rows), "first_value": jsonable(first)}
    measured = f"{target}: {len(rows)} {'row' if len(rows) == 1 else 'rows'} in {format_ms(latency)}"
    if expect is None:
        return CheckResult(name, PASS, measured + (f", first value {first!r}" if rows else ""), data)
    if callable(expect):
        status, verdict = _judge_rows(expect, rows)
        return CheckResult(name, status, f"{measured}; {verdict}", data)
    data["expected"] = jsonable(expect)
    if not rows:
        return CheckResult(name, FAIL, f"{measured}; expected a first value of {expect!r}", data)
    if first == expect:
        return CheckResult(name, PASS, f"{measured}, first value {first!r} as expected", data)
    return CheckResult(name, FAIL, f"{measured}, first value {first!r}, expected {expect!r}", data)


def sqlite_integrity(path: str, *, quick: bool = False, name: str | None = None) -> CheckResult:
    """Run ``PRAGMA integrity_check`` (or the faster ``quick_check``) on a SQLite file, read-only.

    The file is opened with ``mode=ro``: the check never creates or changes it.

    Args:
        path: the database file.
        quick: run ``quick_check``, which skips the index-content checks and is much faster
            on large files.
        name: the result's name; default ``sqlite <path>``.

    Returns:
        The result; data: ``path``, ``pragma``, ``problems`` (at most 20), ``problem_count``,
        ``page_count``, ``page_size``.
    """
    import sqlite3

    pragma = "quick_check" if quick else "integrity_check"
    name = name or f"sqlite {path}"
    data: dict[str, Any] = {"path": path, "pragma": pragma}
    try:
        Path(path).stat()  # a clearer message than sqlite's "unable to open database file"
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as connection:
            problems = [str(row[0]) for row in connection.execute(f"PRAGMA {pragma}")]
            page_count = connection.execute("PRAGMA page_count").fetchone()[0]
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    except Exception as exc:
        return CheckResult(name, FAIL, f"{path}: {describe_error(exc)}", data)
    problems = [p for p in problems if p != "ok"]
    data.update(
        problems=problems[:MAX_SQLITE_ERRORS],
        problem_count=len(problems),
        page_count=page_count,
        page_size=page_size,
    )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return CheckResult(name, FAIL, f"{path}: {pragma} found {one_line(problems[0], 160)}{more}", data)
    return CheckResult(name, PASS, f"{path}: {pragma} ok ({page_count} pages of {page_size} bytes)", data)


def _connect(dsn: str, timeout: float) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(dsn, connect_timeout=max(2, math.ceil(timeout)))


def _fetch_rows(dsn: str, sql: str, params: Any, timeout: float) -> list[tuple[Any, ...]]:
    with _connect(dsn, timeout) as connection:
        connection.read_only = True
        try:
            connection.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{int(timeout * 1000)}ms"]
            )
            cursor = connection.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.rollback()


def _judge_rows(
    expect: Callable[[list[tuple[Any, ...]]], object], rows: list[tuple[Any, ...]]
) -> tuple[str, str]:
    label = getattr(expect, "__name__", "expectation")
    try:
        ok = bool(expect(rows))
    except Exception as exc:
        return FAIL, f"{label} raised {type(exc).__name__}: {one_line(str(exc), 160)}"
    return (PASS, f"{label} holds") if ok else (FAIL, f"{label} does not hold")


def _target(dsn: str) -> tuple[str, dict[str, Any]]:
    """(``host:port/dbname``, the DSN's non-secret fields) for names and data."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        fields = conninfo_to_dict(dsn)
    except Exception:
        return _UNPARSEABLE_TARGET, {}
    host = str(fields.get("host") or fields.get("hostaddr") or "local")
    port = str(fields.get("port") or "5432")
    dbname = str(fields.get("dbname") or fields.get("user") or "")
    shown = {"host": host, "port": port, "dbname": dbname, "user": fields.get("user")}
    return f"{host}:{port}/{dbname}", shown


def _describe_pg_error(exc: BaseException, dsn: str, timeout: float) -> str:
    import psycopg

    if isinstance(exc, psycopg.Error):
        primary = exc.diag.message_primary
        code = f" ({exc.sqlstate})" if exc.sqlstate else ""
        text = primary + code if primary else _libpq_message(str(exc))
    else:
        text = describe_error(exc, timeout)
    return mask(one_line(text), _dsn_secrets(dsn))


def _libpq_message(message: str) -> str:
    """The first line of a libpq message, without the ``connection failed:`` prefixes."""
    first = message.strip().splitlines()[0] if message.strip() else "connection failed"
    return first.replace("connection failed: ", "", 1)


def _dsn_secrets(dsn: str) -> list[str]:
    """Every spelling of the DSN's password that could end up in a message."""
    found = [m.group(1).strip("'") for m in _PASSWORD_KEYWORD.finditer(dsn)]
    found += [m.group(1) for m in _PASSWORD_IN_URI.finditer(dsn)]
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
        if password:
            found.append(str(password))
    except Exception:
        pass
    return [s for secret in found if secret for s in {secret, unquote(secret)}]
