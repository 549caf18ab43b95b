"""Environment profiles: ``environments/<name>.yml``.

A profile holds a label, whether it is production, and parameter values for the runbooks
that run there: ``parameters`` apply to every runbook that declares a parameter of that
name, ``runbooks.<slug>`` to one runbook. String values may reference the process
environment as ``${VAR}`` or ``${VAR:-default}``; that is how secrets reach a profile
without being written in git.

``hosts.<host>`` holds the values that differ on one machine, in the same two layers
(``parameters`` and ``runbooks.<slug>``); they apply on top of the profile's own when a
run names that host (``runbook exec --host web-1``, or ``-p host=web-1``), or when the
machine running it has that name. A run that names a host the profile does not list
stops before anything executes.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import EnvironmentProfileError, Problem, RunbookError
from runbook.source import bounded_yaml

PROFILE_KEYS = ("label", "production", "parameters", "runbooks", "notify", "metrics", "hosts")
HOST_KEYS = ("parameters", "runbooks")
UNKNOWN_HOST = "{path}: unknown host '{host}' (hosts: {known}); name one of them, or add it under 'hosts:'"
NO_HOSTS = "{path}: no 'hosts:' map, so host '{host}' selects nothing; add hosts.{host} or leave the host out"
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

    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``hosts.<host>``: ``parameters`` and ``runbooks.<slug>`` values for one machine."""

    def select_host(self, requested: str | None) -> str | None:
        """The host whose values a run uses: ``requested`` when given, else this machine's
        short name when the profile lists it, else None.

        Raises:
            EnvironmentProfileError: ``requested`` is not a host of this profile.
        """
        if requested:
            if requested in self.hosts:
                return requested
            if not self.hosts:
                raise EnvironmentProfileError(NO_HOSTS.format(path=self.path, host=requested))
            known = ", ".join(sorted(self.hosts))
            raise EnvironmentProfileError(UNKNOWN_HOST.format(path=self.path, host=requested, known=known))
        here = socket.gethostname().split(".")[0]
        return here if here in self.hosts else None

    def host_values_for(self, host: str, slug: str, declared: set[str]) -> dict[str, Any]:
        """One host's values for the parameters a runbook declares, ``${VAR}`` expanded:
        ``hosts.<host>.parameters``, then ``hosts.<host>.runbooks.<slug>``, which wins."""
        entry = self.hosts.get(host, {})
        shared = {k: v for k, v in (entry.get("parameters") or {}).items() if k in declared}
        own = (entry.get("runbooks") or {}).get(slug) or {}
        values = {k: (v, f"hosts.{host}.parameters.{k}") for k, v in shared.items()}
        values.update({k: (v, f"hosts.{host}.runbooks.{slug}.{k}") for k, v in own.items()})
        return {key: self._expand(value, where) for key, (value, where) in values.items()}

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


def readable(environments_dir: Path) -> dict[str, Environment]:
    """Every profile in ``environments/`` that loads, by name; ``runbook check`` reports
    the others."""
    profiles: dict[str, Environment] = {}
    for name in available(environments_dir):
        try:
            profiles[name] = load(environments_dir, name)
        except RunbookError:
            continue
    return profiles


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
        Problem(rel, message, (document.line(*keys) if keys else None) or 1, ".".join(keys) or None)
        for keys, message in _validate(data)
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
        hosts={str(k): dict(v or {}) for k, v in (data.get("hosts") or {}).items()},
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


KeyPath = tuple[str, ...]


def _validate(data: Any) -> list[tuple[KeyPath, str]]:
    """``(key path, message)`` for every problem with a profile's value."""
    if not isinstance(data, dict):
        return [((), f"expected a mapping with {', '.join(PROFILE_KEYS)}")]
    problems: list[tuple[KeyPath, str]] = [
        ((str(k),), f"unknown key '{k}' (known: {', '.join(PROFILE_KEYS)})")
        for k in data
        if k not in PROFILE_KEYS
    ]
    if "production" in data and not isinstance(data["production"], bool):
        problems.append(
            (("production",), f"'production': expected true or false, got {data['production']!r}")
        )
    if not isinstance(data.get("parameters") or {}, dict):
        problems.append((("parameters",), "'parameters': expected a mapping of parameter names to values"))
    runbooks = data.get("runbooks") or {}
    if not isinstance(runbooks, dict) or not all(
        isinstance(v, (dict, type(None))) for v in runbooks.values()
    ):
        problems.append(
            (("runbooks",), "'runbooks': expected a mapping of runbook slugs to parameter mappings")
        )
    notify = data.get("notify") or []
    if not isinstance(notify, list) or not all(
        isinstance(url, str) and ("://" in url or "${" in url) for url in notify
    ):
        problems.append((("notify",), NOTIFY_SHAPE))
    problems += _validate_metrics(data.get("metrics") or {})
    problems += _validate_hosts(data.get("hosts") or {})
    return problems


def _validate_hosts(hosts: Any) -> list[tuple[KeyPath, str]]:
    """Problems with a profile's ``hosts`` map, each naming its full key."""
    if not isinstance(hosts, dict):
        return [(("hosts",), "'hosts': expected a mapping of host names to {parameters, runbooks}")]
    problems: list[tuple[KeyPath, str]] = []
    for host, entry in hosts.items():
        where = ("hosts", str(host))
        if not isinstance(host, str) or not _NAME.match(host):
            problems.append((where, f"'hosts.{host}': expected a host name such as web-1"))
            continue
        if not isinstance(entry, (dict, type(None))):
            problems.append((where, f"'hosts.{host}': expected a mapping with {', '.join(HOST_KEYS)}"))
            continue
        entry = entry or {}
        problems += [
            ((*where, str(k)), f"'hosts.{host}': unknown key '{k}' (known: {', '.join(HOST_KEYS)})")
            for k in entry
            if k not in HOST_KEYS
        ]
        if not isinstance(entry.get("parameters") or {}, dict):
            message = f"'hosts.{host}.parameters': expected a mapping of parameter names to values"
            problems.append(((*where, "parameters"), message))
        runbooks = entry.get("runbooks") or {}
        if not isinstance(runbooks, dict) or not all(
            isinstance(v, (dict, type(None))) for v in runbooks.values()
        ):
            message = f"'hosts.{host}.runbooks': expected a mapping of runbook slugs to parameter mappings"
            problems.append(((*where, "runbooks"), message))
    return problems


def _validate_metrics(metrics: Any) -> list[tuple[KeyPath, str]]:
    """Problems with a profile's ``metrics`` mapping."""
    if not isinstance(metrics, dict):
        return [(("metrics",), "'metrics': expected a mapping such as {pushgateway: ${PUSHGATEWAY_URL}}")]
    problems: list[tuple[KeyPath, str]] = [
        (("metrics",), f"'metrics': unknown key '{k}' (known: {', '.join(METRICS_KEYS)})")
        for k in metrics
        if k not in METRICS_KEYS
    ]
    if not isinstance(metrics.get("pushgateway", ""), str):
        problems.append((("metrics",), "'metrics.pushgateway': expected a URL such as ${PUSHGATEWAY_URL}"))
    return problems
