"""Escaping and formatting shared by the page templates.

Everything a page shows that does not come from a runbook's own prose (titles, owners,
tags, parameter values, step names, messages from a run) passes through :func:`md_text`,
so it reads as literal text in Markdown and HTML alike.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from markupsafe import escape

#: Markdown punctuation, escaped with a backslash; ``<``, ``>`` and ``&`` become entities.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
#: Escaped beyond html.escape so that no line of output text or sanitized HTML can open a
#: code fence (pymdownx.superfences reads fences before raw HTML blocks are set aside).
FENCE_ENTITIES = {ord("`"): "&#96;", ord("~"): "&#126;"}


def md_text(value: Any) -> str:
    """``value`` as literal text inside Markdown: Markdown punctuation escaped, then HTML."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", str(value)).replace("\n", " ")
    return str(escape(text))


def html_text(value: Any) -> str:
    """``value`` escaped for HTML text or a quoted attribute."""
    return str(escape(str(value)))


def inert_html(text: str) -> str:
    """``text`` as inert HTML text that no Markdown processor will read as syntax."""
    return html.escape(text, quote=True).translate(FENCE_ENTITIES)


def value_text(value: Any) -> str:
    """A parameter value as people type it: text as is, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def exec_command(
    runbook: Any,
    values: dict[str, Any] | None = None,
    environment: str | None = None,
    *,
    baseline: dict[str, Any] | None = None,
    default_environment: str | None = None,
) -> str:
    """The shortest ``runbook exec`` command that runs ``runbook`` with ``values``.

    Pasted back, it gives the same values: each ``-p`` value reads back as the value it
    stands for (:func:`runbook.run.params.command_text`). Secret parameters are never
    written out; the run asks for them or reads them from the environment.

    Args:
        runbook: the parsed runbook.
        values: parameter values (e.g. a run's); None runs it as it comes.
        environment: the profile; ``--env`` is given unless it is ``default_environment``.
        baseline: what the runbook's defaults and the profile give anyway
            (:func:`runbook.run.params.baseline`): only values that differ from it are
            written. None: every value is written, as nothing says what the profile gives.
        default_environment: the profile ``runbook exec`` uses without ``--env``.
    """
    from runbook.record.model import SECRET_MASK
    from runbook.run.params import FROM_PROFILE, command_text

    parts = ["runbook", "exec", runbook.slug]
    if environment and environment != default_environment:
        parts += ["--env", environment]
    for param in runbook.parameters:
        if values is None or param.name not in values:
            continue
        value = values[param.name]
        if param.secret or value == SECRET_MASK:
            continue
        if baseline is not None and (
            baseline.get(param.name) is FROM_PROFILE or _same(baseline.get(param.name), value)
        ):
            continue
        parts += ["-p", f"{param.name}={command_text(param, value)}"]
    return shlex.join(parts)


@dataclass(frozen=True)
class Commands:
    """Writes the shortest ``runbook exec`` command of a run, knowing the profiles.

    Attributes:
        profiles: the project's environment profiles by name (``Environment``).
        default_environment: the profile ``runbook exec`` uses without ``--env``.
        known: False when the profiles were not read: every value is written then.
    """

    profiles: Mapping[str, Any] = field(default_factory=dict)
    default_environment: str | None = None
    known: bool = False

    def command(self, runbook: Any, values: dict[str, Any] | None, environment: str | None) -> str:
        """The command that runs ``runbook`` with ``values`` in ``environment`` (None: the
        default profile): only the values the runbook and that profile would not give."""
        from runbook.run.params import baseline

        env_name = environment or self.default_environment
        if not self.known or (env_name and env_name not in self.profiles):
            return exec_command(runbook, values, env_name, default_environment=self.default_environment)
        profile = self.profiles.get(env_name) if env_name else None
        return exec_command(
            runbook,
            values,
            env_name,
            baseline=baseline(runbook, profile),
            default_environment=self.default_environment,
        )

    @cached_property
    def digest(self) -> str:
        """Changes when a profile's values or the default profile change (render cache key)."""
        facts = [
            self.known,
            self.default_environment,
            sorted((name, p.parameters, p.runbooks) for name, p in self.profiles.items()),
        ]
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _same(one: Any, other: Any) -> bool:
    """Equal values of the same type (``1`` is not ``True``)."""
    return type(one) is type(other) and bool(one == other)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_utc(moment: datetime | str) -> str:
    """ISO 8601 in UTC to the second: ``2026-11-29T17:14:42Z``."""
    when = parse_time(moment) if isinstance(moment, str) else moment
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 5 s``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"
