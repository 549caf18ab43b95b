"""Runbooks that check nothing in a profile: every step skips there.

A runbook commonly guards its steps with a parameter (``if not pg_dsn: print("skipped")``),
so that one runbook serves profiles with and without a target. In a profile that leaves
every guard on its skipping branch, the runbook runs, prints "skipped" throughout and
succeeds: a check that cannot fail, which ``runbook check`` reports.

The judgement reads the code, without running it, and is conservative: a step *skips* in
a profile when, with the profile's values (and the runbook's defaults) for the parameters,
at least one top-level ``if`` on parameters takes a branch, and every statement the step
would run is an import, a definition, an assignment, a ``print(...)`` or
``checks.skip(...)``, ``pass``, or such an ``if``/``for``/``try`` around them. An
``assert``, a ``raise``, a ``with`` or a call other than ``print`` (``display(...)``,
``report.raise_for_failures()``) checks something,
and an ``if`` that depends on anything but parameters (and names assigned from them, like
``enabled = bool(pg_dsn)``) or on a ``${VAR}`` reference is assumed to run its checks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from runbook.errors import RunbookError
from runbook.run import environments
from runbook.source.model import Runbook
from runbook.source.project import Project

ALWAYS_SKIPS = (
    "in profile '{profile}' every step skips ({values}): the runbook checks nothing there and cannot fail; "
    "give the profile a real target for it, or leave '{profile}' out of its 'environments'"
)


class _Unknown(Exception):
    """The value of an expression cannot be known without running the runbook."""


def always_skipping(project: Project, selected: Any) -> Iterator[tuple[str, int, str]]:
    """``(path, line, message)`` for each runbook and profile in which every step skips.

    Args:
        project: the project to check.
        selected: ``selected(rel_path)`` is true for the files being checked.
    """
    profiles = environments.readable(project.environments_dir).values()
    for slug, paths in sorted(project.sources.items()):
        rel = project.relative(paths[0])
        if len(paths) != 1 or not selected(rel):
            continue
        try:
            runbook = project.load_path(slug, paths[0], write_cache=False)
        except RunbookError:
            continue  # the notebook check reports it
        allowed = runbook.meta.environments
        for profile in profiles:
            if allowed is not None and profile.name not in allowed:
                continue
            values = _raw_values(runbook, profile)
            guards = skipping_guards(runbook, values)
            if guards:
                yield (
                    rel,
                    0,
                    ALWAYS_SKIPS.format(profile=profile.name, values=_describe(runbook, values, guards)),
                )


def skipping_guards(runbook: Runbook, values: dict[str, Any]) -> list[str]:
    """The guards (as source text) that make every step skip with ``values``.

    Empty when a step checks something.
    """
    names: dict[str, Any] = {p.name: p.default for p in runbook.parameters}
    names.update(values)
    guards: list[str] = []
    for step in runbook.steps:
        source = "".join(runbook.notebook["cells"][step.cell_index].get("source", ""))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return []
        taken: list[str] = []
        if not _inert(tree.body, names, taken) or not taken:
            return []
        guards.extend(g for g in taken if g not in guards)
    return guards if runbook.steps else []


def _describe(runbook: Runbook, values: dict[str, Any], guards: list[str]) -> str:
    """``pg_dsn = ''``: the parameters the guards read, directly or through a name assigned from them."""
    read = {
        n.id for guard in guards for n in ast.walk(ast.parse(guard, mode="eval")) if isinstance(n, ast.Name)
    }
    for step in runbook.steps:  # one level of aliases: enabled = bool(pg_dsn)
        source = "".join(runbook.notebook["cells"][step.cell_index].get("source", ""))
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in read for t in node.targets
            ):
                read |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    shown = [p for p in runbook.parameters if p.name in read]
    return ", ".join(
        f"{p.name} = {_shown(p.secret, values.get(p.name, p.default))}" for p in shown
    ) or ", ".join(guards)


def _shown(secret: bool, value: Any) -> str:
    return "(secret, set)" if secret and value else repr(value)


def _raw_values(runbook: Runbook, profile: environments.Environment) -> dict[str, Any]:
    declared = {p.name for p in runbook.parameters}
    merged = {k: v for k, v in profile.parameters.items() if k in declared}
    merged.update(profile.runbooks.get(runbook.slug, {}))
    return {k: _Reference if isinstance(v, str) and "${" in v else v for k, v in merged.items()}


class _Reference:
    """A ``${VAR}`` value: unknown until run time."""


def _inert(body: list[ast.stmt], names: dict[str, Any], taken: list[str]) -> bool:
    """True when running ``body`` with ``names`` would check nothing; records the guards taken."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Pass)):
            continue
        if isinstance(node, ast.Assign):
            _remember(node, names)
            continue
        if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            continue
        if isinstance(node, ast.Expr) and _is_print(node.value):
            continue
        if isinstance(node, ast.If):
            try:
                branch = node.body if _evaluate(node.test, names) else node.orelse
            except _Unknown:
                return False
            taken.append(ast.unparse(node.test))
            if not _inert(branch, names, taken):
                return False
            continue
        if (
            isinstance(node, ast.For)
            and _inert(node.body, dict(names), [])
            and _inert(node.orelse, names, taken)
        ):
            continue
        if (
            isinstance(node, ast.Try)
            and _inert(node.body, names, taken)
            and _inert(node.finalbody, names, taken)
        ):
            continue
        return False
    return True


def _remember(node: ast.Assign, names: dict[str, Any]) -> None:
    for target in node.targets:
        if isinstance(target, ast.Name):
            try:
                names[target.id] = _evaluate(node.value, names)
            except _Unknown:
                names.pop(target.id, None)


def _is_print(call: ast.expr) -> bool:
    """``print(...)``, or ``checks.skip(...)``/``skip(...)``: says something, checks nothing."""
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    return (isinstance(func, ast.Name) and func.id in ("print", "skip")) or (
        isinstance(func, ast.Attribute)
        and func.attr == "skip"
        and isinstance(func.value, ast.Name)
        and func.value.id == "checks"
    )


def _evaluate(node: ast.expr, names: dict[str, Any]) -> Any:
    """The value of a small expression over known names; raises _Unknown otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        value = names.get(node.id, _Reference)
        if value is _Reference:
            raise _Unknown(node.id)
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, names)
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, names) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if _builtin_call(node, ("bool", "len")):
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        value = _evaluate(node.args[0], names)
        try:
            return bool(value) if node.func.id == "bool" else len(value)
        except TypeError as exc:
            raise _Unknown(node.func.id) from exc
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return _compare(node.ops[0], _evaluate(node.left, names), _evaluate(node.comparators[0], names))
    raise _Unknown(type(node).__name__)


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    try:
        if isinstance(op, (ast.Eq, ast.NotEq)):
            return bool(left == right) == isinstance(op, ast.Eq)
        if isinstance(op, (ast.In, ast.NotIn)):
            return (left in right) == isinstance(op, ast.In)
    except TypeError as exc:
        raise _Unknown("comparison") from exc
    raise _Unknown(type(op).__name__)


def _builtin_call(node: ast.AST, names: tuple[str, ...]) -> bool:
    """``bool(x)`` or ``len(x)``: one of ``names`` called with one argument."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in names
        and len(node.args) == 1
        and not node.keywords
    )
