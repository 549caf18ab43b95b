"""Record stage: what one run was, as typed values, and its JSON form (``record.json``).

A :class:`RunRecord` is built by :func:`runbook.record.build.build_record` and nowhere
else; the store only writes it with :meth:`RunRecord.to_dict` and reads it back with
:meth:`RunRecord.from_dict`. Reading is lenient about versions and strict about types:
fields another version added are kept, fields an older version left out take their
defaults, and a value of the wrong type makes the record unreadable (:class:`RecordError`).
"""

from __future__ import annotations

import getpass
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar, get_args

from runbook.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMED_OUT
from runbook.source.model import Runbook

SCHEMA = 1
SECRET_MASK = "••••••"

Status = Literal["succeeded", "failed", "timed_out", "interrupted", "abandoned"]
"""How a run ended (DESIGN.md, "Run store")."""
StepStatus = Literal["succeeded", "failed", "timed_out", "interrupted", "skipped"]
"""How one step ended; ``skipped`` when it never ran, or ran and said it had nothing to check."""
CheckStatus = Literal["pass", "warn", "fail"]
"""What one check found."""

_T = TypeVar("_T")


class RecordError(ValueError):
    """A ``record.json`` that does not hold a run record: says which field and why."""


@dataclass(frozen=True)
class RunbookFacts:
    """Which runbook ran: its slug, path and title, the hash of its code, the git commit."""

    slug: str
    path: str
    title: str
    code_hash: str | None = None
    commit: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> RunbookFacts:
        """Read the ``runbook`` object of a record; unknown keys are ignored.

        Raises:
            RecordError: not an object, or a field of the wrong type.
        """
        data = _mapping(data, "runbook")
        return cls(
            slug=_text(data, "slug", where="runbook"),
            path=_optional(data, "path", str, "", where="runbook"),
            title=_optional(data, "title", str, "", where="runbook"),
            code_hash=_optional(data, "code_hash", str, None, where="runbook"),
            commit=_optional(data, "commit", str, None, where="runbook"),
        )


@dataclass(frozen=True)
class Failure:
    """Where and how a run failed: the step (index and name, when in one) and the exception."""

    step_index: int | None
    step_name: str | None
    exception: str
    message: str

    @classmethod
    def from_dict(cls, data: Any) -> Failure:
        """Read the ``failure`` object of a record.

        Raises:
            RecordError: not an object, or a field of the wrong type.
        """
        data = _mapping(data, "failure")
        return cls(
            step_index=_optional(data, "step_index", int, None, where="failure"),
            step_name=_optional(data, "step_name", str, None, where="failure"),
            exception=_text(data, "exception", where="failure"),
            message=_optional(data, "message", str, "", where="failure"),
        )


@dataclass(frozen=True)
class StepResult:
    """One step's outcome, from papermill's per-cell metadata.

    ``reason`` is set for a step that ran and said it had nothing to check
    (``checks.skip``): its status is then ``skipped``. Written only when set.
    """

    name: str
    status: StepStatus
    started_at: str | None = None
    duration_s: float | None = None
    effect: str = "read"
    reason: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> StepResult:
        """Read one entry of a record's ``steps``; unknown keys are ignored.

        Raises:
            RecordError: not an object, or a field of the wrong type.
        """
        data = _mapping(data, "steps[]")
        return cls(
            name=_text(data, "name", where="steps[]"),
            status=_choice(data, "status", StepStatus, where="steps[]"),
            started_at=_optional(data, "started_at", str, None, where="steps[]"),
            duration_s=_number(data, "duration_s", where="steps[]"),
            effect=_optional(data, "effect", str, "read", where="steps[]"),
            reason=_optional(data, "reason", str, None, where="steps[]"),
        )


@dataclass(frozen=True)
class CheckResult:
    """One check a step displayed (``runbook.checks``), as the record keeps it.

    Attributes:
        name: what was checked, stable from run to run.
        status: ``pass``, ``warn`` or ``fail``.
        detail: one line a person reads.
        data: the figures behind the detail (``used_pct``, ``days_left`` ...).
        step: the step that displayed it.
    """

    name: str
    status: CheckStatus
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)
    step: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> CheckResult:
        """Read one entry of a record's ``checks``; unknown keys are ignored.

        Raises:
            RecordError: not an object, or a field of the wrong type.
        """
        data = _mapping(data, "checks[]")
        return cls(
            name=_text(data, "name", where="checks[]"),
            status=_choice(data, "status", CheckStatus, where="checks[]"),
            detail=_optional(data, "detail", str, "", where="checks[]"),
            data=dict(_optional(data, "data", dict, {}, where="checks[]")),
            step=_optional(data, "step", str, "", where="checks[]"),
        )


@dataclass(frozen=True)
class Notification:
    """A message the run sent about its change of state (:mod:`runbook.notify`).

    Attributes:
        event: ``failed``, ``recovered`` or ``stale``.
        scheme: the Apprise URL's scheme (``slack``, ``json`` ...); never the URL, which
            holds tokens.
        ok: whether the service took it.
        error: why not, when it did not.
    """

    event: str
    scheme: str
    ok: bool
    error: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Notification:
        """Read one entry of a record's ``notifications``.

        Raises:
            RecordError: not an object, or a field of the wrong type.
        """
        data = _mapping(data, "notifications[]")
        return cls(
            event=_text(data, "event", where="notifications[]"),
            scheme=_optional(data, "scheme", str, "", where="notifications[]"),
            ok=_optional(data, "ok", bool, False, where="notifications[]"),
            error=_optional(data, "error", str, None, where="notifications[]"),
        )


@dataclass(frozen=True)
class RunRecord:
    """Everything known about one run; ``record.json`` in the run store (schema 1).

    ``unknown`` holds the fields of a record written by a newer version, so that
    :meth:`to_dict` gives them back unchanged.
    """

    run_id: str
    runbook: RunbookFacts
    environment: str | None
    parameters: dict[str, Any]
    status: Status
    exit_code: int
    started_at: str
    finished_at: str | None
    duration_s: float | None
    operator: dict[str, str]
    steps: tuple[StepResult, ...] = ()
    failure: Failure | None = None
    approved_by: dict[str, str] | None = None
    checks: tuple[CheckResult, ...] = ()
    tool: dict[str, str] = field(default_factory=dict)
    redactions: int = 0
    notifications: tuple[Notification, ...] = ()
    """Written only when there are some, so records that sent none keep their shape."""
    schema: int = SCHEMA
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def slug(self) -> str:
        """The slug of the runbook that ran."""
        return self.runbook.slug

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``schema`` first, the fields in their documented order, then unknown ones."""
        data: dict[str, Any] = {"schema": self.schema}
        for item in fields(self):
            if item.name not in ("schema", "unknown"):
                data[item.name] = _plain(getattr(self, item.name))
        if not self.notifications:
            del data["notifications"]
        return {**data, **{k: v for k, v in self.unknown.items() if k not in data}}

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """Read a record written by any version of schema 1 or later.

        Raises:
            RecordError: not an object, no integer ``schema``, or a field of the wrong type.
        """
        data = _mapping(data, "record")
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise RecordError(f"'schema': expected a version number, got {schema!r}")
        status = _choice(data, "status", Status)
        failure = data.get("failure")
        known = {f.name for f in fields(cls)}
        return cls(
            run_id=_text(data, "run_id"),
            runbook=RunbookFacts.from_dict(data.get("runbook")),
            environment=_optional(data, "environment", str, None),
            parameters=dict(_optional(data, "parameters", dict, {})),
            status=status,
            exit_code=_optional(data, "exit_code", int, EXIT_CODES[status]),
            started_at=_text(data, "started_at"),
            finished_at=_optional(data, "finished_at", str, None),
            duration_s=_number(data, "duration_s"),
            operator=_strings(data, "operator") or {},
            steps=_items(data, "steps", StepResult.from_dict),
            failure=Failure.from_dict(failure) if failure is not None else None,
            approved_by=_strings(data, "approved_by"),
            checks=_items(data, "checks", CheckResult.from_dict),
            tool=_strings(data, "tool") or {},
            redactions=_optional(data, "redactions", int, 0),
            notifications=_items(data, "notifications", Notification.from_dict),
            schema=schema,
            unknown={k: v for k, v in data.items() if k not in known},
        )


#: The exit code of each run status (``interrupted`` by SIGTERM is 143, see the builder).
EXIT_CODES: dict[Status, int] = {
    "succeeded": EXIT_OK,
    "failed": EXIT_FAILED,
    "timed_out": EXIT_TIMED_OUT,
    "interrupted": EXIT_INTERRUPTED,
    "abandoned": EXIT_FAILED,
}


def _plain(value: Any) -> Any:
    """A field value as JSON-ready data: dataclasses as objects, tuples as lists."""
    if isinstance(value, StepResult) and value.reason is None:  # records without skips keep their shape
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.name != "reason"}
    if isinstance(value, (RunbookFacts, Failure, StepResult, CheckResult, Notification)):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _mapping(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RecordError(f"'{where}': expected an object, got {type(data).__name__}")
    return data


def _label(where: str, key: str) -> str:
    return f"'{where}.{key}'" if where else f"'{key}'"


def _text(data: Mapping[str, Any], key: str, *, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(f"{_label(where, key)}: expected text, got {value!r}")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type[_T], default: _T, *, where: str = "") -> _T:
    """``data[key]`` if it is a ``kind``, ``default`` if absent or null."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordError(f"{_label(where, key)}: expected {kind.__name__}, got {value!r}")
    return value


def _number(data: Mapping[str, Any], key: str, *, where: str = "") -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RecordError(f"{_label(where, key)}: expected a number, got {value!r}")
    return value


def _choice(data: Mapping[str, Any], key: str, allowed: Any, *, where: str = "") -> Any:
    value = data.get(key)
    choices = get_args(allowed)
    if value not in choices:
        raise RecordError(f"{_label(where, key)}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _strings(data: Mapping[str, Any], key: str) -> dict[str, str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise RecordError(f"'{key}': expected an object of texts, got {value!r}")
    return dict(value)


def _items(data: Mapping[str, Any], key: str, read: Callable[[Any], _T]) -> tuple[_T, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError(f"'{key}': expected a list, got {value!r}")
    return tuple(read(item) for item in value)


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and millisecond precision."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The moment an ISO 8601 text (``Z`` or an offset) names."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def operator() -> dict[str, str]:
    """Who ran it and where."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"user": user, "host": socket.gethostname()}


def tool_versions() -> dict[str, str]:
    """Versions of runbook, Python and the Jupyter packages that ran the notebook."""
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
