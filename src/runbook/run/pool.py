"""Run planned runs several at a time, each in its own kernel: ``exec --due -j N``.

Each worker thread runs one plan with :func:`runbook.run.execute.run`; kernels are
separate processes and each run has its own Jupyter client, event loop and store writes
(the ledger is appended under a file lock). Ctrl-C and SIGTERM reach the main thread,
which waits here: it stops the runs going on (:class:`~runbook.run.execute.StopRequest`),
starts no more, and waits until each has stored its record as ``interrupted``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from runbook.errors import RunbookError
from runbook.record.model import RunRecord
from runbook.run.execute import Plan, StopRequest, Terminated, _sigterm_raises, run
from runbook.source.project import Project

log = logging.getLogger("runbook")

#: What a run gives: its record, or the error that kept it from running or from being
#: stored (``KeptLocally`` carries its record); None when the batch stopped before it began.
Outcome = RunRecord | RunbookError | None


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
    others never start.
    """
    stop = StopRequest()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="runbook-run") as pool:
        futures = {pool.submit(_run_one, project, p, observer_for(p.runbook.slug), stop): p for p in plans}
        pending: set[Future[Outcome]] = set(futures)
        with _sigterm_raises():
            while pending:
                try:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        if not future.cancelled():
                            on_done(futures[future], future.result())
                except (KeyboardInterrupt, Terminated) as exc:
                    stop.stop("SIGTERM" if isinstance(exc, Terminated) else "SIGINT")
                    for future in pending:
                        future.cancel()  # not started: never will be


def _run_one(
    project: Project, planned: Plan, observer_factory: Callable[[], Any], stop: StopRequest
) -> Outcome:
    from runbook.errors import KeptLocally

    if stop.signal is not None:  # the batch stopped while this one waited for a worker
        return None
    try:
        return run(project, planned, observer_factory, stop=stop)
    except KeptLocally as kept:
        return kept
    except RunbookError as exc:
        return exc
