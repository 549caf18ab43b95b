"""Record stage: the one place a :class:`RunRecord` is made, from the facts of a run.

The orchestrator gathers a run's facts (:class:`RunStart` when it begins, then the
outcome in :class:`RunFacts`) and calls :func:`build_record`; the store does the same for
a run whose process died (status ``abandoned``). The helpers below read those facts out
of an executed notebook: papermill times every cell and marks its status in
``metadata.papermill``, and the record reuses those figures rather than timing again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from runbook.errors import EXIT_TERMINATED
from runbook.record.model import (
    EXIT_CODES,
    CheckResult,
    Failure,
    RecordError,
    RunbookFacts,
    RunRecord,
    Status,
    StepResult,
    StepStatus,
    iso,
    parse_iso,
)


@dataclass(frozen=True)
class RunStart:
    """What is known when a run begins; a pending run keeps it (``started.json``).

    Attributes:
        runbook: which runbook, at which code and commit.
        environment: the profile's name, or None.
        parameters: the values, secrets masked.
        started_at: when the run began.
        operator: who ran it and where (``user``, ``host``).
    """

    runbook: RunbookFacts
    environment: str | None
    parameters: dict[str, Any]
    started_at: datetime
    operator: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, the fields a record has under the same names."""
        return {
            "runbook": {
                "slug": self.runbook.slug,
                "path": self.runbook.path,
                "title": self.runbook.title,
                "code_hash": self.runbook.code_hash,
                "commit": self.runbook.commit,
            },
            "environment": self.environment,
            "parameters": self.parameters,
            "started_at": iso(self.started_at),
            "operator": self.operator,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunStart:
        """Read :meth:`to_dict`'s form back.

        Raises:
            RecordError: a field is missing or of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise RecordError(f"expected an object, got {type(data).__name__}")
        started_at, operator = data.get("started_at"), data.get("operator") or {}
        parameters = data.get("parameters") or {}
        environment = data.get("environment")
        try:
            moment = parse_iso(started_at) if isinstance(started_at, str) else None
        except ValueError:
            moment = None
        if moment is None:
            raise RecordError(f"'started_at': expected an ISO 8601 time, got {started_at!r}")
        if not isinstance(operator, Mapping) or not all(isinstance(v, str) for v in operator.values()):
            raise RecordError(f"'operator': expected an object of texts, got {operator!r}")
        if not isinstance(parameters, Mapping):
            raise RecordError(f"'parameters': expected an object, got {parameters!r}")
        if environment is not None and not isinstance(environment, str):
            raise RecordError(f"'environment': expected text, got {environment!r}")
        return cls(
            RunbookFacts.from_dict(data.get("runbook")), environment, dict(parameters), moment, dict(operator)
        )


@dataclass(frozen=True)
class RunFacts:
    """How a run ended, with what it started from.

    Attributes:
        run_id: the store's id of the run.
        start: the facts known at the start.
        status: how the run ended; a ``succeeded`` run with a failed check is recorded as failed.
        finished_at: when it ended; None for an abandoned run.
        failure: where and how it failed, if it did.
        steps: each step's outcome.
        checks: every check the steps displayed.
        approved_by: who confirmed a gated run, and how.
        tool: versions of the tools that ran it.
        redactions: how many secret values were masked.
    """

    run_id: str
    start: RunStart
    status: Status
    finished_at: datetime | None = None
    failure: Failure | None = None
    steps: tuple[StepResult, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    approved_by: dict[str, str] | None = None
    tool: dict[str, str] = field(default_factory=dict)
    redactions: int = 0


def build_record(facts: RunFacts) -> RunRecord:
    """The record of a run: its outcome, exit code and times from ``facts``.

    A failed check fails a run that raised nothing: the run's status, its failure and
    the step that displayed the check say so.
    """
    status, failure, steps = _with_failed_check(facts)
    finished = facts.finished_at
    return RunRecord(
        run_id=facts.run_id,
        runbook=facts.start.runbook,
        environment=facts.start.environment,
        parameters=facts.start.parameters,
        status=status,
        exit_code=_exit_code(status, failure),
        started_at=iso(facts.start.started_at),
        finished_at=iso(finished) if finished else None,
        duration_s=round((finished - facts.start.started_at).total_seconds(), 3) if finished else None,
        operator=facts.start.operator,
        steps=steps,
        failure=failure,
        approved_by=facts.approved_by,
        checks=facts.checks,
        tool=facts.tool,
        redactions=facts.redactions,
    )


def abandoned_record(run_id: str, start: RunStart) -> RunRecord:
    """The record of a pending run whose process is gone."""
    return build_record(RunFacts(run_id, start, "abandoned"))


def _with_failed_check(facts: RunFacts) -> tuple[Status, Failure | None, tuple[StepResult, ...]]:
    failed = next((c for c in facts.checks if c.status == "fail"), None)
    if facts.status != "succeeded" or failed is None:
        return facts.status, facts.failure, facts.steps
    index = next((i for i, s in enumerate(facts.steps) if s.name == failed.step), None)
    failure = Failure(index, failed.step, "CheckFailed", f"{failed.name}: {failed.detail}")
    steps = tuple(replace(s, status="failed") if s.name == failed.step else s for s in facts.steps)
    return "failed", failure, steps


def _exit_code(status: Status, failure: Failure | None) -> int:
    if status == "interrupted" and failure is not None and failure.exception == "Terminated":
        return EXIT_TERMINATED
    return EXIT_CODES[status]


# -- facts from an executed notebook -------------------------------------------------------


def _step_of(cell: Mapping[str, Any]) -> str | None:
    """The step name of a code cell, or None for other cells (and the parameters cell)."""
    if cell.get("cell_type") != "code":
        return None
    step = (cell.get("metadata", {}).get("runbook") or {}).get("step")
    return str(step) if step else None


def step_results(
    nb: Mapping[str, Any], run_status: Status, current_cell: int | None
) -> tuple[StepResult, ...]:
    """Each step's outcome from papermill's per-cell metadata.

    The cell that was executing when a run timed out or was interrupted takes the run's
    status; a cell that ran but left an error output (``continue_on_error``) failed; a
    cell that completed after ``checks.skip`` without displaying a check is ``skipped``,
    with its reason. Pass the masked notebook: the reason is text from the run.
    """
    results = []
    for index, cell in enumerate(nb["cells"]):
        step = _step_of(cell)
        if step is None:
            continue
        pm = cell.get("metadata", {}).get("papermill", {})
        status = _step_status(cell, pm, index, run_status, current_cell)
        reason = _skip_reason(cell) if status == "succeeded" else None
        ran = status != "skipped"
        duration = pm.get("duration") if ran else None
        results.append(
            StepResult(
                name=step,
                status="skipped" if reason is not None else status,
                started_at=_iso_text(pm.get("start_time")) if ran else None,
                duration_s=round(duration, 3) if isinstance(duration, (int, float)) else None,
                effect=cell["metadata"].get("effect", "read"),
                reason=reason,
            )
        )
    return tuple(results)


def _skip_reason(cell: Mapping[str, Any]) -> str | None:
    """Why a completed step checked nothing (``checks.skip``); None when it checked
    something, or never said it skipped."""
    from runbook.checks.result import checks_from_outputs
    from runbook.checks.skipping import skip_reason

    outputs = cell.get("outputs", [])
    if checks_from_outputs(outputs):
        return None  # it skipped one target but checked another: it verified something
    return skip_reason(outputs)


#: papermill's cell status, as a step status (a cell it never reached has none).
_PAPERMILL_STATUS: dict[Any, StepStatus] = {"completed": "succeeded", "failed": "failed", "running": "failed"}
#: A run that stopped inside a step gives that step its own status.
_STOPPED_IN: dict[Status, StepStatus] = {
    "timed_out": "timed_out",
    "interrupted": "interrupted",
    "failed": "failed",
}


def _step_status(
    cell: Mapping[str, Any], pm: Mapping[str, Any], index: int, run_status: Status, current_cell: int | None
) -> StepStatus:
    # papermill marks cells it never reached "completed" when a run stops early:
    # a cell without a start time did not run.
    if not pm.get("start_time") or (
        current_cell is not None and index > current_cell and run_status != "succeeded"
    ):
        return "skipped"
    stopped = _STOPPED_IN.get(run_status)
    if index == current_cell and stopped is not None:
        return stopped  # a dying kernel leaves no error output in the step it stopped
    status = _PAPERMILL_STATUS.get(pm.get("status"), "skipped")
    if status == "succeeded" and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
        return "failed"
    return status


def _iso_text(value: Any) -> str | None:
    if not value:
        return None
    try:
        return iso(parse_iso(str(value)))
    except ValueError:
        return str(value)


def failed_step_error(nb: Mapping[str, Any]) -> Failure | None:
    """The first step whose cell raised, from its error output."""
    step_index = 0
    for cell in nb["cells"]:
        step = _step_of(cell)
        if step is None:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and not cell["metadata"].get("continue_on_error"):
                return Failure(step_index, step, output.get("ename", "Error"), output.get("evalue", ""))
        step_index += 1
    return None


def checks_in(nb: Mapping[str, Any] | None) -> tuple[CheckResult, ...]:
    """Every check result the steps displayed (``runbook.checks``), with its step's name."""
    from runbook.checks.result import checks_from_outputs

    found: list[CheckResult] = []
    for cell in (nb or {}).get("cells", []):
        step = _step_of(cell)
        if step is not None:
            found += [
                CheckResult(c["name"], c["status"], c["detail"], c["data"], step)
                for c in checks_from_outputs(cell.get("outputs", []))
            ]
    return tuple(found)


def step_position(nb: Mapping[str, Any], cell_index: int | None) -> tuple[int | None, str | None]:
    """(step index, step name) of the cell at ``cell_index``."""
    if cell_index is None:
        return None, None
    step_index = 0
    for index, cell in enumerate(nb["cells"]):
        step = _step_of(cell)
        if step is None:
            continue
        if index == cell_index:
            return step_index, step
        step_index += 1
    return None, None
