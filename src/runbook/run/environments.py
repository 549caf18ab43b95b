"""Environment profiles: ``environments/<name>.yml``.

A profile holds a label, whether it is production, and parameter values for the runbooks
that run there: ``parameters`` apply to every runbook that declares a parameter of that
name, ``runbooks.<slug>`` to one runbook. String values may reference the process
environment as ``${VAR}`` or ``${VAR:-default}``; that is how secrets reach a profile
without being written in git.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import EnvironmentProfileError, Problem
from runbook.source import bounded_yaml

PROFILE_KEYS = ("label", "production", "parameters", "runbooks", "notify", "metrics")
METRICS_KEYS = ("pushgateway",)
NOTIFY_SHAPE = "'notify': expected a list of Apprise URLs (slack://..., json://host/path, ${VAR} ...)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Environment:
    """A loaded profile. ``values_for`` gives the values that apply to one runbook."""

    name: str
    path: str
    label: str
    production: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    runbooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notify: tuple[str, ...] = ()
    """Apprise URLs told of a change of state (:mod:`runbook.notify`), ``${VAR}`` unexpanded."""

    def notify_urls(self) -> list[str]:
        """The ``notify`` URLs, ``${VAR}`` expanded.

        Raises:
            EnvironmentProfileError: a URL references a variable that is not set.
        """
        return [self._expand(url, f"notify[{i}]") for i, url in enumerate(self.notify)]

    metrics: dict[str, Any] = field(default_factory=dict)
    """``metrics.pushgateway``: a Pushgateway URL that ``exec`` pushes each run's metrics to."""

    def pushgateway(self) -> str | None:
        """The Pushgateway URL this profile pushes to after each run, ``${VAR}`` expanded;
        None when it names none (or its value expands to nothing).

        Raises:
            EnvironmentProfileError: the URL references a variable that is not set.
        """
        value = self.metrics.get("pushgateway")
        return str(self._expand(value, "metrics.pushgateway") or "") or None

    def values_for(self, slug: str, declared: set[str]) -> dict[str, Any]:
        """Profile values for the parameters a runbook declares, ``${VAR}`` expanded.

        Values for parameters the runbook does not declare are left alone, so one
        profile serves many runbooks; per-runbook values win over shared ones.
        """
        merged = {k: v for k, v in self.parameters.items() if k in declared}
        merged.update(self.runbooks.get(slug, {}))
        return {
            key: self._expand(
                value, f"runbooks.{slug}.{key}" if key in self.runbooks.get(slug, {}) else f"parameters.{key}"
            )
            for key, value in merged.items()
        }

    def _expand(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match[str]) -> str:
            var, default = match.group(1), match.group(2)
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            raise EnvironmentProfileError(
                f"{self.path}: {where} references ${{{var}}}, which is not set; "
                f"export {var} or give a default as ${{{var}:-value}}"
            )

        return _REFERENCE.sub(substitute, value)


def available(environments_dir: Path) -> list[str]:
    """Names of the profiles in ``environments/``."""
    if not environments_dir.is_dir():
        return []
    return sorted(p.stem for p in environments_dir.glob("*.yml"))


def load(environments_dir: Path, name: str, rel_dir: str = "environments") -> Environment:
    """Load and validate ``environments/<name>.yml``.

    Raises:
        EnvironmentProfileError: unknown profile, malformed YAML or unknown keys, each
            problem located at its line.
        InputTooLarge: the file is over 1 MB, or its aliases expand past 100,000 nodes.
    """
    known = available(environments_dir)
    if not _NAME.match(name) or name not in known:
        listed = ", ".join(known) if known else f"none; add {rel_dir}/{name}.yml"
        raise EnvironmentProfileError(f"unknown environment '{name}' (known: {listed})")
    rel = f"{rel_dir}/{name}.yml"
    document = _read(environments_dir / f"{name}.yml", rel)
    data = document.data or {}
    problems = [
        Problem(rel, message, (document.line(key) if key else None) or 1, key)
        for key, message in _validate(data)
    ]
    if problems:
        raise EnvironmentProfileError.located(problems)
    return Environment(
        name=name,
        path=rel,
        label=str(data.get("label") or name),
        production=bool(data.get("production", False)),
        parameters=dict(data.get("parameters") or {}),
        runbooks={k: dict(v or {}) for k, v in (data.get("runbooks") or {}).items()},
        notify=tuple(data.get("notify") or ()),
        metrics=dict(data.get("metrics") or {}),
    )


def _read(path: Path, rel: str) -> bounded_yaml.YamlDocument:
    """The profile's YAML, bounded (see :mod:`runbook.source.bounded_yaml`)."""
    try:
        text = bounded_yaml.read_limited(path, rel).decode("utf-8")
        return bounded_yaml.compose(text, rel)
    except OSError as exc:
        raise EnvironmentProfileError.located([Problem(rel, f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        problem = Problem(rel, f"not UTF-8 text (byte {exc.start}); save it as UTF-8")
        raise EnvironmentProfileError.located([problem]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        message = f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        line = mark.line + 1 if mark is not None else 1
        raise EnvironmentProfileError.located([Problem(rel, message, line)]) from None


def _validate(data: Any) -> list[tuple[str | None, str]]:
    """``(key, message)`` for every problem with a profile's value."""
    if not isinstance(data, dict):
        return [(None, f"expected a mapping with {', '.join(PROFILE_KEYS)}")]
    problems: list[tuple[str | None, str]] = [
        (str(k), f"unknown key '{k}' (known: {', '.join(PROFILE_KEYS)})")
        for k in data
        if k not in PROFILE_KEYS
    ]
    if "production" in data and not isinstance(data["production"], bool):
        problems.append(("production", f"'production': expected true or false, got {data['production']!r}"))
    if not isinstance(data.get("parameters") or {}, dict):
        problems.append(("parameters", "'parameters': expected a mapping of parameter names to values"))
    runbooks = data.get("runbooks") or {}
    if not isinstance(runbooks, dict) or not all(
        isinstance(v, (dict, type(None))) for v in runbooks.values()
    ):
        problems.append(("runbooks", "'runbooks': expected a mapping of runbook slugs to parameter mappings"))
    notify = data.get("notify") or []
    if not isinstance(notify, list) or not all(
        isinstance(url, str) and ("://" in url or "${" in url) for url in notify
    ):
        problems.append(("notify", NOTIFY_SHAPE))
    problems += _validate_metrics(data.get("metrics") or {})
    return problems


def _validate_metrics(metrics: Any) -> list[tuple[str | None, str]]:
    """Problems with a profile's ``metrics`` mapping."""
    if not isinstance(metrics, dict):
        return [("metrics", "'metrics': expected a mapping such as {pushgateway: ${PUSHGATEWAY_URL}}")]
    problems: list[tuple[str | None, str]] = [
        ("metrics", f"'metrics': unknown key '{k}' (known: {', '.join(METRICS_KEYS)})")
        for k in metrics
        if k not in METRICS_KEYS
    ]
    if not isinstance(metrics.get("pushgateway", ""), str):
        problems.append(("metrics", "'metrics.pushgateway': expected a URL such as ${PUSHGATEWAY_URL}"))
    return problems
