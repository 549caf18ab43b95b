"""Keeping the caches under ``.runbook/cache`` bounded.

Both caches are keyed by content, so every edit of a runbook leaves an entry nothing will
ask for again. A full render knows every key in use; at most once a day it removes the
entries it did not use that are older than two weeks. A removed entry that was still
wanted (another branch's runbook, say) only costs one render or parse.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

STAMP = ".pruned"
EVERY_S = 24 * 3600
MAX_AGE_S = 14 * 24 * 3600


def due(folder: Path, now: float | None = None) -> bool:
    """Whether ``folder`` exists and was not pruned in the last day."""
    now = time.time() if now is None else now
    try:
        return now - (folder / STAMP).stat().st_mtime >= EVERY_S
    except FileNotFoundError:
        return folder.is_dir()


def prune(folder: Path, keep: Callable[[str], bool], now: float | None = None) -> int:
    """Remove the files under ``folder`` older than two weeks whose name ``keep`` refuses;
    the number removed. Failures only leave a file in place."""
    now = time.time() if now is None else now
    removed = 0
    for path, _, names in os.walk(folder):
        for name in names:
            if name == STAMP or keep(name):
                continue
            target = os.path.join(path, name)
            try:
                if now - os.stat(target).st_mtime > MAX_AGE_S:
                    os.unlink(target)
                    removed += 1
            except OSError:
                continue
    try:
        (folder / STAMP).touch()
    except OSError:
        pass
    return removed
