"""Checks of the machine the runbook runs on: disk, memory, processes, file ages."""

from __future__ import annotations

import glob
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from runbook.checks._support import (
    FAIL,
    PASS,
    WARN,
    describe_error,
    format_age,
    format_bytes,
    grade_high,
    parse_age,
    validate_limits,
)
from runbook.checks.result import CheckResult

#: At most this many process ids are listed in :func:`process_running`'s data.
MAX_PIDS = 20

#: An mtime this far in the future (clock skew, a bad copy) is reported as a warning.
FUTURE_TOLERANCE_S = 60


def disk_usage(
    path: str, *, warn_pct: float = 80, fail_pct: float = 90, name: str | None = None
) -> CheckResult:
    """Check how full the file system holding ``path`` is, counting space and inodes.

    Space is counted the way ``df`` does (room reserved for root is not free). The status
    follows the larger of the space and inode percentages: a file system out of inodes
    refuses writes just like a full one.

    Args:
        path: any path on the file system.
        warn_pct: warn when usage reaches this percentage.
        fail_pct: fail when usage reaches this percentage.
        name: the result's name; default ``disk <path>``.

    Returns:
        The result; data: ``path``, ``used_pct``, ``inodes_used_pct`` (None where the
        system has no inode counts), ``total_bytes``, ``used_bytes``, ``free_bytes``.

    Raises:
        ValueError: ``warn_pct`` is above ``fail_pct``.
    """
    import psutil

    validate_limits(warn_pct, fail_pct, "disk_usage")
    name = name or f"disk {path}"
    try:
        usage = psutil.disk_usage(path)
        inodes_pct = _inodes_used_pct(path)
    except Exception as exc:
        return CheckResult(name, FAIL, f"{path}: {describe_error(exc)}", {"path": path})
    used_pct = round(float(usage.percent), 1)
    status = grade_high(max(used_pct, inodes_pct or 0.0), warn_pct, fail_pct)
    space = f"{used_pct:.1f}% of {format_bytes(usage.total)} used, {format_bytes(usage.free)} free"
    inodes = "" if inodes_pct is None else f", inodes {inodes_pct:.1f}% used"
    detail = f"{path}: {space}{inodes} (warn at {warn_pct:g}%, fail at {fail_pct:g}%)"
    data = {
        "path": path,
        "used_pct": used_pct,
        "warn_pct": warn_pct,
        "fail_pct": fail_pct,
        "inodes_used_pct": inodes_pct,
        "total_bytes": usage.total,
        "used_bytes": usage.used,
        "free_bytes": usage.free,
    }
    return CheckResult(name, status, detail, data)


def memory_usage(*, warn_pct: float = 85, fail_pct: float = 95, name: str | None = None) -> CheckResult:
    """Check how much of the machine's memory is in use (not counting reclaimable cache).

    Args:
        warn_pct: warn when usage reaches this percentage.
        fail_pct: fail when usage reaches this percentage.
        name: the result's name; default ``memory``.

    Returns:
        The result; data: ``used_pct``, ``total_bytes``, ``available_bytes``.

    Raises:
        ValueError: ``warn_pct`` is above ``fail_pct``.
    """
    import psutil

    validate_limits(warn_pct, fail_pct, "memory_usage")
    name = name or "memory"
    try:
        memory = psutil.virtual_memory()
    except Exception as exc:
        return CheckResult(name, FAIL, f"memory: {describe_error(exc)}")
    used_pct = round(float(memory.percent), 1)
    detail = (
        f"{used_pct:.1f}% of {format_bytes(memory.total)} used, {format_bytes(memory.available)} available"
        f" (warn at {warn_pct:g}%, fail at {fail_pct:g}%)"
    )
    data = {
        "used_pct": used_pct,
        "warn_pct": warn_pct,
        "fail_pct": fail_pct,
        "total_bytes": memory.total,
        "available_bytes": memory.available,
    }
    return CheckResult(name, grade_high(used_pct, warn_pct, fail_pct), detail, data)


def process_running(pattern: str, *, min_count: int = 1, name: str | None = None) -> CheckResult:
    """Check that at least ``min_count`` processes match ``pattern``.

    A process matches when ``pattern`` is part of its name or of its command line (case
    matters, as with ``pgrep -f``). Command lines are searched but never reported: they
    can hold passwords.

    Args:
        pattern: text to look for in process names and command lines.
        min_count: how many matching processes are needed to pass.
        name: the result's name; default ``process <pattern>``.

    Returns:
        The result; data: ``pattern``, ``count``, ``min_count``, ``pids`` (at most 20), ``names``.
    """
    import psutil

    name = name or f"process {pattern}"
    matches: list[tuple[int, str]] = []
    try:
        for process in psutil.process_iter(["pid", "name", "cmdline"], ad_value=None):
            info = process.info
            command = " ".join(info["cmdline"] or ())
            if pattern in (info["name"] or "") or pattern in command:
                matches.append((info["pid"], info["name"] or "?"))
    except Exception as exc:
        return CheckResult(name, FAIL, f"cannot list processes: {describe_error(exc)}", {"pattern": pattern})
    matches.sort()
    data: dict[str, Any] = {
        "pattern": pattern,
        "count": len(matches),
        "min_count": min_count,
        "pids": [pid for pid, _ in matches[:MAX_PIDS]],
        "names": sorted({proc_name for _, proc_name in matches}),
    }
    if not matches:
        return CheckResult(name, FAIL, f"no process matches {pattern!r}", data)
    listed = ", ".join(str(pid) for pid in data["pids"]) + (", ..." if len(matches) > MAX_PIDS else "")
    found = f"{len(matches)} {'process matches' if len(matches) == 1 else 'processes match'} {pattern!r}"
    if len(matches) < min_count:
        return CheckResult(name, FAIL, f"{found} (pids {listed}), expected at least {min_count}", data)
    return CheckResult(name, PASS, f"{found} (pids {listed})", data)


def file_freshness(
    path_or_glob: str,
    *,
    max_age: float | str | timedelta,
    warn_age: float | str | timedelta | None = None,
    name: str | None = None,
) -> CheckResult:
    """Check that the newest file matching ``path_or_glob`` was modified recently enough.

    Typical use: the latest backup, export or log rotation happened on time.

    Args:
        path_or_glob: a path, or a glob pattern (``**`` matches subfolders; ``~`` is expanded).
        max_age: fail when the newest match is older: seconds, a ``timedelta``, or a text
            like ``"90s"``, ``"30m"``, ``"26h"``, ``"7d"``, ``"2w"``.
        warn_age: warn when the newest match is older than this (same forms).
        name: the result's name; default ``freshness <path_or_glob>``.

    Returns:
        ``fail`` when nothing matches or the newest match is too old; ``warn`` when it is
        older than ``warn_age`` or dated in the future. Data: ``pattern``, ``matches``,
        ``newest``, ``modified`` (ISO 8601 UTC), ``age_s``, ``max_age_s``, ``warn_age_s``.

    Raises:
        ValueError: an age is not a positive duration, or ``warn_age`` is above ``max_age``.
    """
    max_age_s = parse_age(max_age, "max_age")
    warn_age_s = None if warn_age is None else parse_age(warn_age, "warn_age")
    validate_limits(warn_age_s, max_age_s, "file_freshness age")
    name = name or f"freshness {path_or_glob}"
    data: dict[str, Any] = {"pattern": path_or_glob, "max_age_s": max_age_s, "warn_age_s": warn_age_s}
    try:
        newest, mtime, count = _newest(path_or_glob)
    except Exception as exc:
        return CheckResult(name, FAIL, f"{path_or_glob}: {describe_error(exc)}", data)
    if newest is None:
        return CheckResult(name, FAIL, f"no file matches {path_or_glob}", {**data, "matches": 0})
    age = time.time() - mtime
    modified = (
        datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    data.update(matches=count, newest=newest, modified=modified, age_s=round(age, 1))
    which = newest if count == 1 else f"{newest} (newest of {count})"
    if age < -FUTURE_TOLERANCE_S:
        return CheckResult(name, WARN, f"{which} is dated {format_age(age)} in the future ({modified})", data)
    limits = f"max {format_age(max_age_s)}" + (f", warn {format_age(warn_age_s)}" if warn_age_s else "")
    detail = f"{which} is {format_age(max(age, 0))} old ({limits})"
    status = FAIL if age > max_age_s else WARN if warn_age_s is not None and age > warn_age_s else PASS
    return CheckResult(name, status, detail, data)


def _newest(path_or_glob: str) -> tuple[str | None, float, int]:
    """(newest match, its mtime, number of matches); a plain path that is missing raises."""
    pattern = os.path.expanduser(path_or_glob)
    if not glob.has_magic(pattern):
        return path_or_glob, os.stat(pattern).st_mtime, 1
    newest: str | None = None
    newest_mtime = 0.0
    count = 0
    for match in glob.iglob(pattern, recursive=True):
        try:
            mtime = os.stat(match).st_mtime
        except OSError:  # removed or unreadable since the listing: not a candidate
            continue
        count += 1
        if newest is None or mtime > newest_mtime:
            newest, newest_mtime = match, mtime
    return newest, newest_mtime, count


def _inodes_used_pct(path: str) -> float | None:
    if not hasattr(os, "statvfs"):
        return None
    st = os.statvfs(path)
    if not st.f_files:
        return None
    return round(100.0 * (st.f_files - st.f_ffree) / st.f_files, 1)
