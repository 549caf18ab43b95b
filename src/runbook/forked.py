"""Forked helper processes: work a build shares with a copy of itself.

A build of many pages forks helpers that do part of a loop from its far end (render
notebooks, convert pages, build pages) and leave the results where the build finds them.
A helper inherits everything the build has loaded, so it starts at once; it ends with
``os._exit`` (no ``atexit`` handler and no buffered output of the build runs twice), and
Ctrl-C ends it at once. Fork only from a process with no other thread: a lock another
thread holds at the fork stays held in the child.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable


def can_fork() -> bool:
    """Whether a helper may be forked here and has a core of its own to run on."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1


def fork(work: Callable[[], object]) -> int | None:
    """Run ``work`` in a forked process; its pid (None when the fork failed). The child
    exits 0 after ``work``, 1 if it raised."""
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        work()
    except BaseException:  # what the helper did not finish, the build does
        code = 1
    finally:
        os._exit(code)


def reap(pid: int, *, kill: bool = True) -> None:
    """Wait for the helper ``pid`` to end, after killing it unless ``kill`` is false."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
