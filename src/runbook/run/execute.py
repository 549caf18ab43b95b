"""Execute stage and the run orchestrator.

:func:`plan` resolves everything a run needs without touching the disk (the profile,
the parameters, the gates); :func:`run` reads as the list of stages: start the kernel,
open a pending run, parameterize, execute with papermill, record, store.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import GateRefused, KeptLocally, ParameterError
from runbook.record.build import (
    RunFacts,
    RunStart,
    build_record,
    checks_in,
    failed_step_error,
    step_position,
    step_results,
)
from runbook.record.model import (
    Failure,
    RunbookFacts,
    RunRecord,
    Status,
    masked_parameters,
    operator,
    tool_versions,
    utc_now,
)
from runbook.run import environments, params
from runbook.run.environments import Environment
from runbook.run.kernel import ENV_FD_VARIABLE
from runbook.run.redact import Redactor
from runbook.source.frontmatter import DURATION_HELP, parse_duration
from runbook.source.model import Runbook
from runbook.source.project import Project
from runbook.store import PendingRun, project_store
from runbook.store.local import new_run_id

if TYPE_CHECKING:
    from runbook.notify import RunNotifier
    from runbook.store import RunStore

log = logging.getLogger("runbook")

SECRET_ENV = "RUNBOOK_SECRET_{name}"
KERNEL_START_TIMEOUT_S = 60.0


class Terminated(BaseException):
    """SIGTERM arrived during a run."""


class StopRequest:
    """Stops runs going on in other threads: a batch's Ctrl-C or SIGTERM reaches the
    main thread only.

    Each run registers its kernel while it executes; :meth:`stop` interrupts every one
    of them, and a run that notices the request (its kernel interrupted, or its next
    step about to start) ends as ``interrupted`` and is stored like any other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kernels: set[Any] = set()
        self.signal: str | None = None
        """``SIGINT`` or ``SIGTERM`` once a stop was asked for, or why the batch stopped."""

    def stop(self, signal_name: str) -> None:
        """Ask every run to stop, and interrupt the kernels of the ones executing."""
        with self._lock:
            self.signal = self.signal or signal_name
            kernels = list(self._kernels)
        for kernel in kernels:
            kernel.interrupt_kernel()

    def attach(self, kernel: Any) -> None:
        with self._lock:
            self._kernels.add(kernel)

    def detach(self, kernel: Any) -> None:
        with self._lock:
            self._kernels.discard(kernel)

    def raise_if_stopped(self) -> None:
        """Raise what the signal raises in a run of its own (KeyboardInterrupt, Terminated)."""
        if self.signal == "SIGTERM":
            raise Terminated()
        if self.signal is not None:
            raise KeyboardInterrupt()


@dataclass
class ExecOptions:
    """What the caller asked for (``runbook exec`` options)."""

    environment: str | None = None
    assignments: dict[str, str] = field(default_factory=dict)
    params_file: Path | None = None
    timeout: str | None = None
    assume_yes: bool = False
    confirm: Callable[[str, str], bool] | None = None
    ask_secret: Callable[[str, str], str] | None = None
    """Asks for a secret parameter without echo (name, help) when there is a terminal."""
    host: str | None = None
    """``--host``: the profile's ``hosts.<host>`` values apply (``-p host=`` does the same)."""


@dataclass
class Plan:
    """A run resolved and approved, ready to execute (``--dry-run`` prints it)."""

    runbook: Runbook
    environment: Environment | None
    values: dict[str, Any]
    sources: dict[str, str]
    timeout_s: float | None
    approved_by: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def secrets(self) -> dict[str, str]:
        """Secret values as the kernel's environment holds them: text as is, others as JSON."""
        import json

        return {
            p.name: value if isinstance(value, str) else json.dumps(value)
            for p in self.runbook.parameters
            if p.secret and (value := self.values.get(p.name)) not in (None, "")
        }

    @property
    def public_values(self) -> dict[str, Any]:
        secret = {p.name for p in self.runbook.parameters if p.secret}
        return {k: v for k, v in self.values.items() if k not in secret}


def plan(project: Project, runbook: Runbook, options: ExecOptions, *, confirm: bool = True) -> Plan:
    """Resolve the profile, parameters, time limit and gates of a run; write nothing.

    ``confirm=False`` (``--dry-run``) checks where the runbook may run but asks for no
    confirmation, since nothing will execute; :func:`needs_confirmation` says what a
    real run would ask.

    Raises:
        EnvironmentProfileError, ParameterError: bad input (exit 2).
        GateRefused: not allowed here or not confirmed (exit 3).
    """
    env_name = options.environment or project.settings.default_environment
    environment = environments.load(project.environments_dir, env_name) if env_name else None
    layers: list[tuple[str, dict[str, Any]]] = []
    declared = {p.name for p in runbook.parameters}
    assignments = dict(options.assignments)
    if environment is not None:
        layers.append((environment.path, environment.values_for(runbook.slug, declared)))
        requested = options.host
        if "host" not in declared and "host" in assignments:
            requested = requested or assignments.pop("host")  # -p host=NAME selects the host only
        elif assignments.get("host") in environment.hosts:
            requested = requested or assignments["host"]  # a runbook's own `host` names one too
        if (host := environment.select_host(requested)) is not None:
            host_values = environment.host_values_for(host, runbook.slug, declared)
            layers.append((f"{environment.path} hosts.{host}", host_values))
    layers.extend(_secret_env_layer(runbook))
    if options.params_file is not None:
        layers.append((f"-f {options.params_file}", params.read_params_file(options.params_file)))
    layers.append(("-p", assignments))
    values, sources = params.resolve(runbook, layers)
    timeout_s = _timeout(options.timeout, runbook)
    result = Plan(runbook, environment, values, sources, timeout_s)
    _secrets(result, options)
    _check_environment(runbook, environment)
    if confirm:
        result.approved_by = _confirm(runbook, options)
    return result


SECRET_ON_COMMAND_LINE = (
    "-p {name}: a secret on the command line lands in your shell history; "
    "prefer {variable}=... in the environment, or leave it out to be asked for it"
)


def _secrets(planned: Plan, options: ExecOptions) -> None:
    """Warn about secrets given with ``-p``; ask for missing ones on a terminal."""
    for param in planned.runbook.parameters:
        if not param.secret:
            continue
        variable = SECRET_ENV.format(name=param.name.upper())
        if planned.sources[param.name] == "-p":
            planned.warnings.append(SECRET_ON_COMMAND_LINE.format(name=param.name, variable=variable))
        # A profile that sets a secret, even to nothing ("no PostgreSQL here"), has answered.
        unset = planned.sources[param.name] == "default"
        if unset and planned.values[param.name] in (None, "") and options.ask_secret is not None:
            answer = options.ask_secret(param.name, param.help)
            if answer:
                planned.values[param.name] = params.coerce(param, answer, "prompt")
                planned.sources[param.name] = "prompt"


def _secret_env_layer(runbook: Runbook) -> list[tuple[str, dict[str, Any]]]:
    found = {
        p.name: os.environ[SECRET_ENV.format(name=p.name.upper())]
        for p in runbook.parameters
        if p.secret and SECRET_ENV.format(name=p.name.upper()) in os.environ
    }
    return [("environment variable", found)] if found else []


def _timeout(option: str | None, runbook: Runbook) -> float | None:
    if option is None:
        return runbook.meta.timeout_s
    try:
        return parse_duration(option)
    except ValueError:
        raise ParameterError(f"--timeout {option!r}: expected {DURATION_HELP}") from None


GATE_ENVIRONMENT = "{slug} may not run in '{env}' (its front matter allows: {allowed})"
GATE_UNCONFIRMED = "{slug} is {what}; confirm on a terminal or pass --yes"
GATE_DECLINED = "{slug} is {what}; not confirmed, nothing ran (pass --yes to run it without the prompt)"


def _check_environment(runbook: Runbook, environment: Environment | None) -> None:
    allowed = runbook.meta.environments
    env_name = environment.name if environment else None
    if allowed is not None and env_name not in allowed:
        raise GateRefused(
            GATE_ENVIRONMENT.format(
                slug=runbook.slug, env=env_name or "no environment", allowed=", ".join(allowed)
            )
        )


def needs_confirmation(runbook: Runbook) -> str | None:
    """Why a run of ``runbook`` must be confirmed (its risk, its write steps), or None."""
    writes = [s.name for s in runbook.steps if s.effect == "write"]
    if runbook.meta.risk != "read-only":
        return runbook.meta.risk
    if writes:
        return f"read-only but has write steps ({', '.join(writes)})"
    return None


def _confirm(runbook: Runbook, options: ExecOptions) -> dict[str, str] | None:
    what = needs_confirmation(runbook)
    if what is None:
        return None
    user = operator()["user"]
    if options.assume_yes:
        return {"user": user, "how": "--yes"}
    if options.confirm is None:
        raise GateRefused(GATE_UNCONFIRMED.format(slug=runbook.slug, what=what))
    if options.confirm(runbook.slug, runbook.meta.risk):
        return {"user": user, "how": "prompt"}
    raise GateRefused(GATE_DECLINED.format(slug=runbook.slug, what=what))


@dataclass
class _Session:
    """Mutable state of one execution, shared with the engine's hooks."""

    observer: Any
    redactor: Redactor
    deadline: float | None
    current_cell: int | None = None
    client: Any = None
    notebook: Any = None
    stop: StopRequest | None = None

    def cell_started(self, cell: Any, cell_index: int) -> None:
        if self.stop is not None:
            self.stop.raise_if_stopped()  # no step starts once the batch was stopped
        self.current_cell = cell_index
        self.observer.cell_started(cell, cell_index)

    def output(self, output: Any, cell_index: int) -> None:
        self.observer.output(self.redactor.output(output), cell_index)

    def timeout_for(self, cell: Any) -> float | None:
        limits = []
        step_limit = cell.get("metadata", {}).get("timeout")
        if step_limit is not None:
            limits.append(parse_duration(step_limit))
        if self.deadline is not None:
            limits.append(max(self.deadline - time.monotonic(), 0.01))
        return min(limits) if limits else None


def exec_runbook(
    project: Project,
    name: str,
    options: ExecOptions,
    observer_factory: Callable[[], Any],
    kernel: Any = None,
) -> RunRecord:
    """Resolve, parse, plan and run the runbook ``name``: ``runbook exec NAME``.

    The kernel is the slowest part to start, so it is spawned as soon as the runbook's
    file is known (or earlier, by the caller: ``kernel``, kept when it is the one the
    runbook names) and boots while the runbook is parsed and the Jupyter stack imported.
    Bad input or a refused gate stops it again, before anything is written.
    """
    try:
        slug, path = project.resolve(name)
        kernel = start_kernel(project, path, kernel)
        runbook = project.load_path(slug, path)
        planned = plan(project, runbook, options)
    except BaseException:
        if kernel is not None:
            kernel.stop(grace_s=0)
        raise
    return run(project, planned, observer_factory, kernel)


def start_kernel(project: Project, path: Path, started: Any = None) -> Any:
    """The kernel the runbook at ``path`` names: ``started`` when it is that one, else a new one.

    None when the runbook's header is unreadable (parsing reports the problem).
    """
    from runbook.errors import RunbookError
    from runbook.run.kernel import KernelProcess
    from runbook.source.parse import front_kernel_name, read_text, split_front_matter

    rel = project.relative(path)
    try:
        name = front_kernel_name(split_front_matter(read_text(path, rel), rel))
    except RunbookError:
        name = None
    if started is not None and (name is None or started.kernel_name == name):
        return started
    if started is not None:
        started.stop(grace_s=0)
    return KernelProcess.start(name, project.root) if name else None


def run(
    project: Project,
    planned: Plan,
    observer_factory: Callable[[], Any],
    kernel: Any = None,
    stop: StopRequest | None = None,
) -> RunRecord:
    """Execute a planned run and store its record, whatever happens.

    The record is stored on success, failure, timeout, interruption (SIGINT, SIGTERM)
    and a dying kernel; in every case the kernel and its children are stopped first.
    ``kernel`` is one :func:`start_kernel` already started, if any; ``observer_factory``
    builds the progress observer once the kernel is booting. ``stop`` lets another thread
    end the run as interrupted (a batch running several at once).

    Raises:
        KeptLocally: the shared store could not take the run; it is kept in the outbox
            (raised after the observer has shown how the run ended).
        StoreError: the run could not be begun or stored.
    """
    from runbook.run.kernel import KernelProcess

    runbook = planned.runbook
    if kernel is None or kernel.kernel_name != runbook.kernel_name:
        if kernel is not None:
            kernel.stop(grace_s=0)
        kernel = KernelProcess.start(runbook.kernel_name, project.root)
    started = utc_now()
    try:
        store = project_store(project)
        kernel.send_environment(_kernel_env(planned))
        observer = observer_factory()
        pending = store.begin(
            new_run_id(started),
            runbook.slug,
            _run_start(planned, project.root, started),
            time_limit_s=planned.timeout_s,
        )
        notifier = _notifier(project, planned, store)
    except BaseException:
        kernel.kill()
        kernel.stop(grace_s=0)
        raise
    session = _Session(observer, Redactor(planned.secrets.values()), _deadline(planned.timeout_s))
    session.stop = stop
    kept: KeptLocally | None = None
    asked = False
    try:
        status, failure = _execute_stoppably(planned, kernel, session, pending)
        asked = _request_shutdown(session, kernel)  # the kernel exits while the run is written
        notebook = session.redactor.notebook(session.notebook)
        record = _record(planned, pending, session, status, failure, notebook)
        if notifier is not None:  # before the commit, so the record tells what was sent
            record = notifier.after(record, session.redactor)
        try:
            location = store.commit(pending, record, notebook)
        except KeptLocally as exc:  # safe in the outbox: show the outcome, then say where it is
            location, kept = exc.location, exc
    finally:
        grace = 2.0
        try:
            if asked and _shutdown_answered(session):
                grace = STOP_GRACE_S
            elif asked:
                grace = 2.0 - SHUTDOWN_REPLY_S  # waited that long already
        finally:  # a second Ctrl-C while waiting still stops the kernel
            kernel.stop(grace_s=grace)
            _close_channels(session)
    observer.run_finished(record, location)
    if kept is not None:
        raise kept
    return record


def _notifier(project: Project, planned: Plan, store: RunStore) -> RunNotifier | None:
    """What tells the profile's ``notify:`` URLs of a change of state; None without any."""
    if planned.environment is None or not planned.environment.notify:
        return None  # a profile without notify: pays nothing
    from runbook.notify import RunNotifier

    site_url = project.settings.site_url
    return RunNotifier.prepare(planned.environment, store, planned.runbook.slug, site_url)


def _deadline(timeout_s: float | None) -> float | None:
    return time.monotonic() + timeout_s if timeout_s else None


def _execute_stoppably(
    planned: Plan, kernel: Any, session: _Session, pending: PendingRun
) -> tuple[Status, Failure | None]:
    """:func:`_execute_interruptibly`, registered with the batch's :class:`StopRequest`:
    a run that did not succeed once the batch was stopped ends as ``interrupted``."""
    stop = session.stop
    if stop is None:
        return _execute_interruptibly(planned, kernel, session, pending)
    stop.attach(kernel)
    try:
        status, failure = _execute_interruptibly(planned, kernel, session, pending)
    finally:
        stop.detach(kernel)
    if stop.signal is None or status == "succeeded":
        return status, failure
    if stop.signal == "SIGTERM":
        return "interrupted", _stop_failure(session, "Terminated", "terminated (SIGTERM)")
    return "interrupted", _stop_failure(session, "KeyboardInterrupt", f"interrupted ({stop.signal})")


def _execute_interruptibly(
    planned: Plan, kernel: Any, session: _Session, pending: PendingRun
) -> tuple[Status, Failure | None]:
    """:func:`_execute`, with SIGINT and SIGTERM ending the run as ``interrupted``."""
    try:
        with _sigterm_raises():
            session.observer.run_started(planned.runbook, pending.run_id, planned)
            return _execute(planned, kernel, session)
    except Exception as exc:  # a fault of ours or of the Jupyter stack: still a stored run
        log.debug("run failed outside the runbook's code", exc_info=True)
        kernel.kill()
        return "failed", _stop_failure(session, type(exc).__name__, f"internal error: {exc}")
    except KeyboardInterrupt:
        kernel.interrupt_kernel()  # the cell's `finally:` blocks run; stop() kills after a grace
        return "interrupted", _stop_failure(session, "KeyboardInterrupt", "interrupted (SIGINT)")
    except Terminated:
        kernel.interrupt_kernel()
        return "interrupted", _stop_failure(session, "Terminated", "terminated (SIGTERM)")


def _kernel_env(planned: Plan) -> dict[str, str]:
    return {SECRET_ENV.format(name=name.upper()): value for name, value in planned.secrets.items()}


def _run_start(planned: Plan, root: Path, started: datetime) -> RunStart:
    runbook = planned.runbook
    return RunStart(
        runbook=RunbookFacts(
            runbook.slug, runbook.path, runbook.meta.title, runbook.code_hash, _git_commit(root)
        ),
        environment=planned.environment.name if planned.environment else None,
        parameters=masked_parameters(runbook, planned.values),
        started_at=started,
        operator=operator(),
    )


def _git_commit(root: Path) -> str | None:
    """The checked-out commit of the project, when it is a git repository."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _execute(planned: Plan, kernel: Any, session: _Session) -> tuple[Status, Failure | None]:
    """Parameterize and execute with papermill; the run's status and failure."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from runbook.run.engine import ENGINE_NAME  # first: it imports papermill without cloud I/O

    from papermill.engines import papermill_engines  # isort: skip
    from papermill.exceptions import PapermillExecutionError  # isort: skip
    from papermill.execute import prepare_notebook_metadata  # isort: skip
    from papermill.parameterize import parameterize_notebook  # isort: skip

    nb = _papermill_ready(nbformat.from_dict(_with_secret_cell(planned)))
    if planned.runbook.parameters:
        nb = parameterize_notebook(
            nb, planned.public_values, kernel_name=planned.runbook.kernel_name, engine_name=ENGINE_NAME
        )
    nb = prepare_notebook_metadata(nb, planned.runbook.path, "", False)
    session.notebook = nb
    startup = math.ceil(min(KERNEL_START_TIMEOUT_S, session.timeout_for({}) or KERNEL_START_TIMEOUT_S))
    try:
        papermill_engines.execute_notebook_with_engine(
            ENGINE_NAME,
            nb,
            kernel_name=planned.runbook.kernel_name,
            output_path=None,
            progress_bar=False,
            km=kernel,
            observer=session,
            session=session,
            timeout_func=session.timeout_for,
            start_timeout=startup,
        )
    except CellTimeoutError:
        # Interrupt the cell, so its `finally:` blocks run before the kernel is stopped.
        kernel.interrupt_kernel()
        return "timed_out", _timeout_failure(planned, session)
    except DeadKernelError:
        return "failed", _stop_failure(session, "DeadKernelError", kernel.exit_reason())
    except PapermillExecutionError:
        pass
    except RuntimeError as exc:  # the kernel died, or never became ready
        if not kernel.is_alive():
            return "failed", _stop_failure(session, "DeadKernelError", f"{kernel.exit_reason()} ({exc})")
        log_tail = kernel.log_tail()
        detail = f"; the kernel printed: {log_tail}" if log_tail else ""
        return "failed", _stop_failure(session, "KernelError", f"{exc}{detail}")
    failure = failed_step_error(nb)
    return ("failed", failure) if failure else ("succeeded", None)


def _papermill_ready(nb: Any) -> Any:
    """The metadata papermill's own notebook loader adds (``load_notebook_node``)."""
    from papermill import __version__ as papermill_version

    nb.metadata.setdefault(
        "papermill",
        {
            "default_parameters": {},
            "parameters": {},
            "environment_variables": {},
            "version": papermill_version,
        },
    )
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
        if cell.metadata.get("continue_on_error") and "raises-exception" not in cell.metadata.tags:
            cell.metadata.tags.append("raises-exception")  # nbclient goes on past its error
    return nb


def _with_secret_cell(planned: Plan) -> dict[str, Any]:
    """The notebook with a cell reading each secret from the kernel's environment.

    Secret values never appear in a cell: papermill injects the public parameters, and
    this cell (right after the parameters cell) moves the secrets from the pipe the
    kernel inherited (:meth:`KernelProcess.send_environment`) into its environment, so
    tools the runbook starts (``psql``, ``curl``) inherit them too, and reads them.
    """
    nb = planned.runbook.notebook
    if not planned.secrets:
        return nb
    from runbook.source.parse import parameters_cell_index

    lines = [
        "import json as _runbook_json, os as _runbook_os",
        f"with _runbook_os.fdopen(int(_runbook_os.environ.pop({ENV_FD_VARIABLE!r}))) as _runbook_pipe:",
        "    _runbook_os.environ.update(_runbook_json.loads(_runbook_pipe.read() or '{}'))",
    ]
    for name in planned.secrets:
        read = f"_runbook_os.environ[{SECRET_ENV.format(name=name.upper())!r}]"
        text = isinstance(planned.values[name], str)
        lines.append(f"{name} = {read}" if text else f"{name} = _runbook_json.loads({read})")
    lines.append("del _runbook_json, _runbook_os, _runbook_pipe")
    cell: dict[str, Any] = {
        "id": "injected-secrets",
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["injected-secrets"]},
        "outputs": [],
        "source": "\n".join(lines),
    }
    cells = list(nb["cells"])
    index = parameters_cell_index(nb)
    cells.insert(index + 1 if index is not None else 0, cell)
    return {**nb, "cells": cells}


def _timeout_failure(planned: Plan, session: _Session) -> Failure:
    step_index, step_name = step_position(session.notebook, session.current_cell)
    cell = session.notebook.cells[session.current_cell] if session.current_cell is not None else {}
    step_limit = cell.get("metadata", {}).get("timeout") if cell else None
    if step_limit is not None and (
        session.deadline is None or parse_duration(step_limit) <= (planned.timeout_s or float("inf"))
    ):
        message = f"step '{step_name}' exceeded its {step_limit}s timeout"
    else:
        message = f"the run exceeded its {planned.timeout_s:g}s timeout"
    return Failure(step_index, step_name, "TimeoutError", message)


def _stop_failure(session: _Session, exception: str, message: str) -> Failure:
    if session.notebook is None:
        return Failure(None, None, exception, message)
    step_index, step_name = step_position(session.notebook, session.current_cell)
    return Failure(step_index, step_name, exception, message)


#: How long a finished run waits for the kernel to acknowledge its shutdown request.
SHUTDOWN_REPLY_S = 1.0
#: How long a kernel that acknowledged the request has to exit before it is killed. It
#: exits in about 0.12 s; now and then ipykernel's own close deadlocks (its control thread
#: flushing output to the I/O thread it has just stopped), and the run is written already.
STOP_GRACE_S = 0.5


def _request_shutdown(session: _Session, kernel: Any) -> bool:
    """Ask the kernel to exit (it does while the record is written); whether it was asked."""
    kc = getattr(session.client, "kc", None)
    if kc is None or not kernel.is_alive():  # a killed kernel answers nothing
        return False
    try:
        kc.shutdown()
    except Exception:  # the kernel may be gone already; stop() kills what is left
        log.debug("kernel shutdown request failed", exc_info=True)
        return False
    return True


def _shutdown_answered(session: _Session) -> bool:
    """Whether the kernel answered the shutdown request (waiting briefly for the answer on
    the client's event loop): then it is exiting, and gets the short grace period."""
    from jupyter_core.utils import run_sync

    kc = session.client.kc

    async def answer() -> None:
        deadline = time.monotonic() + SHUTDOWN_REPLY_S
        while True:  # raises Empty when the time is up
            reply = await kc.control_channel.get_msg(timeout=max(0.0, deadline - time.monotonic()))
            if reply.get("msg_type") == "shutdown_reply":
                return

    try:
        run_sync(answer)()
    except Exception:  # no answer in time; stop() waits the full grace period
        log.debug("no answer to the kernel shutdown request", exc_info=True)
        return False
    return True


def _close_channels(session: _Session) -> None:
    """Close the client's channels, once the kernel is stopped."""
    kc = getattr(session.client, "kc", None)
    if kc is None:
        return
    try:
        kc.stop_channels()
    except Exception:
        log.debug("closing the kernel channels failed", exc_info=True)


def _record(
    planned: Plan,
    pending: PendingRun,
    session: _Session,
    status: Status,
    failure: Failure | None,
    masked_nb: dict[str, Any] | None,
) -> RunRecord:
    """The run's record: its outcome, steps from papermill's metadata, the checks it displayed."""
    finished = utc_now()
    redact = session.redactor
    if failure is not None:
        failure = replace(failure, message=redact.text(failure.message))
    return build_record(
        RunFacts(
            run_id=pending.run_id,
            start=pending.start,
            status=status,
            finished_at=finished,
            failure=failure,
            steps=step_results(masked_nb, status, session.current_cell) if masked_nb is not None else (),
            checks=checks_in(masked_nb),
            approved_by=planned.approved_by,
            tool=tool_versions(),
            redactions=redact.count,
        )
    )


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the duration of a run."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
