"""Record stage: a :class:`RunRecord` built from papermill's own metadata.

Papermill times every cell and marks its status in ``metadata.papermill``; the record
reuses those figures rather than timing things again, and adds provenance (who, where,
which code), the failure and the outcome of the run.
"""

from __future__ import annotations

import getpass
import platform
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from runbook.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMED_OUT
from runbook.source.model import Runbook

SCHEMA = 1
STATUSES = ("succeeded", "failed", "timed_out", "interrupted", "abandoned")
EXIT_CODES = {
    "succeeded": EXIT_OK,
    "failed": EXIT_FAILED,
    "timed_out": EXIT_TIMED_OUT,
    "interrupted": EXIT_INTERRUPTED,
    "abandoned": EXIT_FAILED,
}
SECRET_MASK = "••••••"


@dataclass
class Failure:
    """Where and how a run failed."""

    step_index: int | None
    step_name: str | None
    exception: str
    message: str


@dataclass
class StepResult:
    """One step's outcome: ``succeeded``, ``failed``, ``timed_out``, ``interrupted`` or ``skipped``."""

    name: str
    status: str
    started_at: str | None = None
    duration_s: float | None = None
    effect: str = "read"


@dataclass
class RunRecord:
    """Everything known about one run; ``record.json`` in the run store (schema 1)."""

    run_id: str
    runbook: dict[str, Any]
    environment: str | None
    parameters: dict[str, Any]
    status: str
    exit_code: int
    started_at: str
    finished_at: str | None
    duration_s: float | None
    operator: dict[str, str]
    steps: list[StepResult] = field(default_factory=list)
    failure: Failure | None = None
    approved_by: dict[str, str] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    tool: dict[str, str] = field(default_factory=dict)
    redactions: int = 0
    schema: int = SCHEMA

    @property
    def slug(self) -> str:
        return str(self.runbook["slug"])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        data = dict(data)
        data["steps"] = [StepResult(**s) for s in data.get("steps", [])]
        data["failure"] = Failure(**data["failure"]) if data.get("failure") else None
        return cls(**data)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and millisecond precision."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def operator() -> dict[str, str]:
    """Who ran it and where."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"user": user, "host": socket.gethostname()}


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from runbook import __version__

    found = {"runbook": __version__, "python": platform.python_version()}
    for name in ("papermill", "nbclient", "jupytext", "ipykernel"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def masked_parameters(runbook: Runbook, values: dict[str, Any]) -> dict[str, Any]:
    """Parameter values with every secret one masked."""
    secret = {p.name for p in runbook.parameters if p.secret}
    return {k: (SECRET_MASK if k in secret and v not in (None, "") else v) for k, v in values.items()}


def step_results(nb: dict[str, Any], run_status: str, current_cell: int | None) -> list[StepResult]:
    """Each step's outcome from papermill's per-cell metadata.

    The cell that was executing when a run timed out or was interrupted takes the run's
    status; a cell that ran but left an error output (``continue_on_error``) failed.
    """
    results = []
    for index, cell in enumerate(nb["cells"]):
        step = (cell.get("metadata", {}).get("runbook") or {}).get("step")
        if cell["cell_type"] != "code" or not step:
            continue
        pm = cell.get("metadata", {}).get("papermill", {})
        # papermill marks cells it never reached "completed" when a run stops early:
        # a cell without a start time did not run.
        status = {"completed": "succeeded", "failed": "failed", "running": "failed"}.get(
            pm.get("status"), "skipped"
        )
        if not pm.get("start_time") or (
            current_cell is not None and index > current_cell and run_status != "succeeded"
        ):
            status = "skipped"
        elif index == current_cell and run_status in ("timed_out", "interrupted", "failed"):
            status = run_status  # the step the run stopped in (a dying kernel leaves no error output)
        elif status == "succeeded" and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            status = "failed"
        duration = pm.get("duration") if status != "skipped" else None
        results.append(
            StepResult(
                name=step,
                status=status,
                started_at=_iso_text(pm.get("start_time")) if status != "skipped" else None,
                duration_s=round(duration, 3) if isinstance(duration, (int, float)) else None,
                effect=cell["metadata"].get("effect", "read"),
            )
        )
    return results


def _iso_text(value: Any) -> str | None:
    if not value:
        return None
    try:
        return iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return str(value)


def failed_step_error(nb: dict[str, Any]) -> Failure | None:
    """The first step whose cell raised, from its error output."""
    step_index = 0
    for cell in nb["cells"]:
        step = (cell.get("metadata", {}).get("runbook") or {}).get("step")
        if cell["cell_type"] != "code" or not step:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and not cell["metadata"].get("continue_on_error"):
                return Failure(step_index, step, output.get("ename", "Error"), output.get("evalue", ""))
        step_index += 1
    return None


def checks_in(nb: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every check result the steps displayed (``runbook.checks``), with its step's name."""
    from runbook.checks.result import checks_from_outputs

    found: list[dict[str, Any]] = []
    for cell in (nb or {}).get("cells", []):
        step = (cell.get("metadata", {}).get("runbook") or {}).get("step")
        if cell.get("cell_type") == "code" and step:
            found += [{**check, "step": step} for check in checks_from_outputs(cell.get("outputs", []))]
    return found


def failed_check(nb: dict[str, Any] | None, checks: list[dict[str, Any]]) -> Failure | None:
    """A failure for the first failed check, which fails a run even when no step raised."""
    failed = next((c for c in checks if c.get("status") == "fail"), None)
    if failed is None:
        return None
    index, _ = step_position(nb or {"cells": []}, _cell_of_step(nb, failed["step"]))
    return Failure(index, failed["step"], "CheckFailed", f"{failed['name']}: {failed['detail']}")


def _cell_of_step(nb: dict[str, Any] | None, step: str) -> int | None:
    for index, cell in enumerate((nb or {}).get("cells", [])):
        if (cell.get("metadata", {}).get("runbook") or {}).get("step") == step:
            return index
    return None


def step_position(nb: dict[str, Any], cell_index: int | None) -> tuple[int | None, str | None]:
    """(step index, step name) of the cell at ``cell_index``."""
    if cell_index is None:
        return None, None
    step_index = 0
    for index, cell in enumerate(nb["cells"]):
        step = (cell.get("metadata", {}).get("runbook") or {}).get("step")
        if cell["cell_type"] != "code" or not step:
            continue
        if index == cell_index:
            return step_index, step
        step_index += 1
    return None, None
