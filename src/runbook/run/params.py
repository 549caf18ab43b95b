"""Parameter resolution: runbook defaults, then the environment profile, then ``-f``, then ``-p``.

Values given as text (``-p key=value``) are coerced to the parameter's type; values from
YAML are checked against it. Unknown keys name the known ones.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import ParameterError, RunbookError
from runbook.run.environments import Environment
from runbook.source import bounded_yaml
from runbook.source.model import Parameter, Runbook

_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}
_EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list, e.g. [a, b]",
    "dict": "a mapping, e.g. {key: value}",
    "str": "text",
}


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; bad syntax names the argument."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"-p {pair!r}: expected KEY=VALUE, e.g. -p replica=db-2")
        values[key.strip()] = value
    return values


def read_params_file(path: Path) -> dict[str, Any]:
    """A ``-f params.yml`` file: a mapping of parameter names to values.

    Raises:
        ParameterError: the file cannot be read, is not YAML or not a mapping.
        InputTooLarge: the file is over 1 MB, or its aliases expand past 100,000 nodes.
    """
    where = f"-f {path}"
    try:
        text = bounded_yaml.read_limited(path, where).decode("utf-8")
        data = bounded_yaml.compose(text, where).data
    except OSError as exc:
        raise ParameterError(f"-f {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ParameterError(f"-f {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ParameterError(f"-f {path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"-f {path}: expected a mapping of parameter names to values")
    return data


def coerce(param: Parameter, value: Any, source: str) -> Any:
    """``value`` converted to ``param``'s type.

    Args:
        param: the declared parameter.
        value: text from the command line, or a value loaded from YAML.
        source: where the value came from, for the message (``-p``, ``-f params.yml``).

    Raises:
        ParameterError: the value does not fit the type.
        InputTooLarge: text parsed as YAML whose aliases expand past 10,000 nodes.
    """
    try:
        return _coerce(param.type, value, f"parameter '{param.name}' ({source})")
    except (ValueError, TypeError, yaml.YAMLError):
        shown = "••••••" if param.secret else repr(value)
        expected = _EXPECTED.get(param.type, param.type)
        raise ParameterError(
            f"parameter '{param.name}' ({source}): expected {expected}, got {shown}"
        ) from None


def _coerce(kind: str, value: Any, where: str) -> Any:
    if kind == "str":
        if isinstance(value, (dict, list)):
            raise TypeError(value)
        return value if isinstance(value, str) else str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(value)
    if kind == "int":
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise TypeError(value)
        return int(value if not isinstance(value, str) else value.strip())
    if kind == "float":
        if isinstance(value, bool):
            raise TypeError(value)
        return float(value)
    if kind in ("list", "dict"):
        loaded = bounded_yaml.load(value, where) if isinstance(value, str) else value
        if not isinstance(loaded, list if kind == "list" else dict):
            raise TypeError(value)
        return loaded
    return bounded_yaml.load(value, where) if isinstance(value, str) else value


def unknown_key_error(runbook: Runbook, key: str, source: str) -> ParameterError:
    """The error for a key the runbook does not declare, listing the known ones."""
    known = [p.name for p in runbook.parameters]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(known) if known else "none: it has no parameters cell"
    return ParameterError(f"unknown parameter '{key}' ({source}) for {runbook.slug}; known: {listed}{hint}")


def resolve(
    runbook: Runbook,
    layers: list[tuple[str, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge value layers over the runbook's defaults.

    Args:
        runbook: the parsed runbook.
        layers: ``(source, values)`` pairs, lowest precedence first.

    Returns:
        The resolved values, and for each the source it came from (``default`` if none).
    """
    values = {p.name: p.default for p in runbook.parameters}
    sources = {p.name: "default" for p in runbook.parameters}
    for source, layer in layers:
        for key, value in layer.items():
            param = runbook.parameter(key)
            if param is None:
                raise unknown_key_error(runbook, key, source)
            values[key] = coerce(param, value, source)
            sources[key] = source
    return values, sources


#: A profile value that references a variable not set here: whatever it expands to where
#: the command runs, the profile gives it, so a command leaves it out.
FROM_PROFILE = object()


def baseline(runbook: Runbook, environment: Environment | None) -> dict[str, Any]:
    """The values a run gets without ``-p`` or ``-f``: the runbook's defaults, then the profile's.

    Used to shorten a command to what differs from these. A profile value that cannot be
    expanded or coerced here is :data:`FROM_PROFILE`.
    """
    values = {p.name: p.default for p in runbook.parameters}
    if environment is None:
        return values
    declared = set(values)
    raw = {k: v for k, v in environment.parameters.items() if k in declared}
    raw.update(environment.runbooks.get(runbook.slug, {}))
    for key, value in raw.items():
        param = runbook.parameter(key)
        if param is None:
            continue
        try:
            expanded = environment.values_for(runbook.slug, {key}).get(key, value)
            values[key] = coerce(param, expanded, environment.path)
        except RunbookError:
            values[key] = FROM_PROFILE
    return values


def command_text(param: Parameter, value: Any) -> str:
    """``value`` as ``-p name=TEXT`` takes it: TEXT coerces back to ``value`` exactly.

    Text is given as is and other values as JSON, unless that would read back as
    something else (the text ``yes`` for a parameter of no declared type): then JSON.
    """
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    try:
        if coerce(param, text, "-p") == value:
            return text
    except RunbookError:
        pass
    return json.dumps(value, ensure_ascii=False)
