"""Forked helper processes: work a build shares with a copy of itself.

A build of many pages forks helpers that do part of a loop from its far end (render
notebooks, convert pages, build pages) and leave the results where the build finds them.
A helper inherits everything the build has loaded, so it starts at once; it ends with
``os._exit`` (no ``atexit`` handler and no buffered output of the build runs twice), and
Ctrl-C ends it at once. Fork only from a process with no other thread: a lock another
thread holds at the fork stays held in the child.
"""

from __future__ import annotations

import fcntl
import gc
import mmap
import os
import signal
import tempfile
import threading
from collections.abc import Callable


def can_fork() -> bool:
    """Whether a helper may be forked here and has a core of its own to run on."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1


def fork(work: Callable[[], object]) -> int | None:
    """Run ``work`` in a forked process; its pid (None when the fork failed). The child
    exits 0 after ``work``, 1 if it raised.

    Every object there is at the fork is first moved out of the collector's reach
    (``gc.freeze``): a collection would otherwise write to each of them, in the helper
    (copying every page of memory the two processes share) and in the build, where a
    full collection walks the whole heap of parsed runbooks again."""
    gc.freeze()
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


class Claims:
    """Who does each item of a loop the build shares with a helper: whoever claims it first.

    Made before the fork, so both processes share it: a flag per item in the memory map of
    an unnamed temporary file, and a lock on that file held only while one flag is read
    and set. The kernel drops the lock of a process that dies, so a killed helper never
    leaves the build waiting. (Claims were files created with ``O_EXCL``: on a disk busy
    with the build's writes, each took up to a millisecond.)
    """

    _TAKEN, _DONE = 1, 2

    def __init__(self, count: int) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (open until close())
        size = max(count, 1)
        self._file.truncate(size)
        self._flags = mmap.mmap(self._file.fileno(), size)

    def claim(self, number: int) -> bool:
        """Take item ``number``, unless the other process has."""
        fd = self._file.fileno()
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            if self._flags[number]:
                return False
            self._flags[number] = self._TAKEN
            return True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    def finish(self, number: int) -> None:
        """Mark a claimed item done (only its claimant does)."""
        self._flags[number] = self._DONE

    def done(self, number: int) -> bool:
        return self._flags[number] == self._DONE

    def close(self) -> None:
        self._flags.close()
        self._file.close()
