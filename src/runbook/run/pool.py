"""Run planned runs several at a time, each in its own kernel: ``exec --due -j N``.

Each worker thread runs one plan with :func:`runbook.run.execute.run`; kernels are
separate processes and each run has its own Jupyter client, event loop and store writes
(the ledger is appended under a file lock). The kernel is the slowest part of a run to
start, so while runs go on, the kernel of the next plan in line is already booting
(:class:`KernelsAhead`): a worker that frees takes it ready. Only the kernel process is
started early, for that plan's kernel name and in the project's folder; the plan's
secrets reach it through its environment pipe when its run begins, as in any run.

Ctrl-C and SIGTERM reach the main thread, which waits here: it stops the runs going on
(:class:`~runbook.run.execute.StopRequest`), starts no more, and waits until each has
stored its record as ``interrupted``. Any other exception that reaches the batch (a fault
of ours) stops it the same way, then is raised again. Either way the kernel started
ahead is stopped: no kernel is left running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from runbook.errors import RunbookError
from runbook.record.model import RunRecord
from runbook.run.execute import Plan, StopRequest, Terminated, _sigterm_raises, run
from runbook.run.kernel import KernelProcess
from runbook.source.project import Project

log = logging.getLogger("runbook")

#: What a run gives: its record, or the error that kept it from running or from being
#: stored (``KeptLocally`` carries its record); None when the batch stopped before it began.
Outcome = RunRecord | RunbookError | None

#: The stop reason of a batch ended by an exception of ours rather than by a signal.
STOPPED_BY_ERROR = "the batch stopped on an error: {error}"


class KernelsAhead:
    """At most one kernel started ahead, for the next plan in line.

    Workers take plans in order (``take(index)``); each take starts the kernel of the
    plan after the last one taken, unless one is already booting. A kernel is only ever
    handed to the plan it was started for. :meth:`close` stops a kernel nobody took.
    """

    def __init__(self, project: Project, plans: list[Plan]) -> None:
        self._project = project
        self._plans = plans
        self._lock = threading.Lock()
        self._next = 0
        self._spare: tuple[int, KernelProcess] | None = None
        self._closed = False

    def take(self, index: int) -> KernelProcess | None:
        """The kernel started ahead for plan ``index``, if any; then start the next one's."""
        with self._lock:
            kernel = None
            if self._spare is not None and self._spare[0] == index:
                kernel, self._spare = self._spare[1], None
            self._next = max(self._next, index + 1)
            self._start_next()
        return kernel

    def close(self) -> None:
        """Start no more; stop the kernel started ahead that no run took."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare[1].stop(grace_s=0)

    def _start_next(self) -> None:
        if self._closed or self._spare is not None or self._next >= len(self._plans):
            return
        runbook = self._plans[self._next].runbook
        try:
            kernel = KernelProcess.start(runbook.kernel_name, self._project.root)
        except RunbookError:  # its run starts the kernel again and reports why it cannot
            log.debug("starting %s's kernel ahead failed", runbook.slug, exc_info=True)
            return
        self._spare = (self._next, kernel)


def run_plans(
    project: Project,
    plans: list[Plan],
    observer_for: Callable[[str], Callable[[], Any]],
    jobs: int,
    on_done: Callable[[Plan, Outcome], None],
) -> None:
    """Run ``plans`` up to ``jobs`` at a time; pass each plan and its outcome to ``on_done``
    (in this thread) as it ends.

    ``observer_for(slug)`` gives the observer factory of that runbook's run. A signal
    stops the batch: the runs going on end as ``interrupted`` (and are passed on), the
    others never start. Any other exception raised here (by a run or by ``on_done``)
    stops the batch too: the runs going on end as ``interrupted`` and are stored, then
    the exception is raised again.
    """
    stop = StopRequest()
    ahead = KernelsAhead(project, plans)
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="runbook-run") as pool:
            futures = {
                pool.submit(_run_one, project, p, i, observer_for(p.runbook.slug), stop, ahead): p
                for i, p in enumerate(plans)
            }
            _wait_for_runs(futures, stop, ahead, on_done)
    finally:
        ahead.close()


def _wait_for_runs(
    futures: dict[Future[Outcome], Plan],
    stop: StopRequest,
    ahead: KernelsAhead,
    on_done: Callable[[Plan, Outcome], None],
) -> None:
    pending: set[Future[Outcome]] = set(futures)
    with _sigterm_raises():
        while pending:
            try:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if not future.cancelled():
                        on_done(futures[future], future.result())
            except (KeyboardInterrupt, Terminated) as exc:
                _stop(stop, ahead, pending, "SIGTERM" if isinstance(exc, Terminated) else "SIGINT")
            except BaseException as exc:
                _stop(stop, ahead, pending, STOPPED_BY_ERROR.format(error=type(exc).__name__))
                _wait_quietly(pending)
                raise


def _stop(stop: StopRequest, ahead: KernelsAhead, pending: set[Future[Outcome]], reason: str) -> None:
    """Stop the runs going on, start no more, and stop the kernel started ahead."""
    stop.stop(reason)
    for future in pending:
        future.cancel()  # not started: never will be
    ahead.close()


def _wait_quietly(pending: set[Future[Outcome]]) -> None:
    """Wait for the runs going on to store their records; a second Ctrl-C stops waiting
    (each run still stops its kernel as it ends)."""
    try:
        wait(pending)
    except (KeyboardInterrupt, Terminated):
        pass


def _run_one(
    project: Project,
    planned: Plan,
    index: int,
    observer_factory: Callable[[], Any],
    stop: StopRequest,
    ahead: KernelsAhead,
) -> Outcome:
    from runbook.errors import KeptLocally

    if stop.signal is not None:  # the batch stopped while this one waited for a worker
        return None
    kernel = ahead.take(index)
    try:
        return run(project, planned, observer_factory, kernel, stop=stop)
    except KeptLocally as kept:
        return kept
    except RunbookError as exc:
        return exc
