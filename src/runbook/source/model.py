"""Plain values passed between the stages: a parsed runbook, its steps and parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def to_plain(node: Any) -> Any:
    """Nested mappings and lists (e.g. a NotebookNode) as plain dicts and lists."""
    if isinstance(node, dict):
        return {k: to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


KINDS = ("runbook", "training", "doc")
RISKS = ("read-only", "mutating", "destructive")
LEVELS = ("L1", "L2", "L3", "L4")
EFFECTS = ("read", "write")


@dataclass(frozen=True)
class FrontMatter:
    """The validated front matter of a runbook (DESIGN.md, "Runbook files")."""

    title: str
    summary: str
    owner: str
    tags: tuple[str, ...] = ()
    kind: str = "runbook"
    level: str | None = None
    risk: str = "read-only"
    schedule: str | None = None
    schedule_s: float | None = None
    timeout: str | None = None
    timeout_s: float | None = None
    environments: tuple[str, ...] | None = None
    objectives: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    """Names of the alerts (Prometheus rule names) that lead to this runbook."""


@dataclass(frozen=True)
class Parameter:
    """One parameter inferred from the cell tagged ``parameters``."""

    name: str
    type: str
    default: Any
    help: str = ""
    secret: bool = False
    line: int = 0


@dataclass(frozen=True)
class Step:
    """One code cell of a runbook, with its stable name."""

    name: str
    index: int
    cell_index: int
    effect: str = "read"
    timeout_s: float | None = None
    continue_on_error: bool = False
    tags: tuple[str, ...] = ()
    heading: str = ""


@dataclass(frozen=True)
class Runbook:
    """A parsed runbook: where it lives, its front matter, parameters and steps.

    ``notebook`` is the nbformat JSON (a dict) of the runbook's cells, with each step's
    name stored in the cell metadata under ``runbook.step``.
    """

    slug: str
    path: str
    format: str
    meta: FrontMatter
    kernel_name: str
    parameters: tuple[Parameter, ...]
    steps: tuple[Step, ...]
    code_hash: str
    source_hash: str = ""
    notebook: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called ``name``, or None."""
        return next((p for p in self.parameters if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the parse cache and ``--json`` output)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Runbook:
        """Inverse of :meth:`to_dict`."""
        meta = dict(data["meta"])
        for key in ("tags", "objectives", "prerequisites", "alerts"):
            meta[key] = tuple(meta.get(key, ()))
        if meta["environments"] is not None:
            meta["environments"] = tuple(meta["environments"])
        return cls(
            slug=data["slug"],
            path=data["path"],
            format=data["format"],
            meta=FrontMatter(**meta),
            kernel_name=data["kernel_name"],
            parameters=tuple(Parameter(**p) for p in data["parameters"]),
            steps=tuple(Step(**{**s, "tags": tuple(s["tags"])}) for s in data["steps"]),
            code_hash=data["code_hash"],
            source_hash=data.get("source_hash", ""),
            notebook=data["notebook"],
        )
