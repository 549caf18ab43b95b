"""Parse stage: a runbook file becomes a :class:`~runbook.source.model.Runbook`.

jupytext reads the Markdown (or MyST Markdown) into a notebook; this module validates the
front matter, infers the parameters from the cell tagged ``parameters``, names the steps
and hashes the code cells, so that prose edits do not make a runbook look changed.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import FrontMatterError, NotebookError, ParameterError, Problem
from runbook.source import bounded_yaml
from runbook.source.fences import CellLines
from runbook.source.frontmatter import parse_duration, validate_front_matter
from runbook.source.model import EFFECTS, Parameter, Runbook, Step, to_plain

#: Bump when the parse output changes, so cached parses are not reused.
PARSER_VERSION = "4"
DEFAULT_KERNEL = "python3"
#: Larger runbooks are refused before they are read: no one writes one, and parsing and
#: scanning megabytes of Markdown would make every command slow.
MAX_RUNBOOK_BYTES = 5_000_000
RUNBOOK_TOO_LARGE = "split the runbook, or move its data into files it reads"
_FENCE = "---"
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_STEP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SECRET = re.compile(r"^secret\b[\s:,-]*", re.IGNORECASE)
_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
_CELL_KEYS_CHECKED = ("name", "effect", "timeout", "continue_on_error", "tags")


def read_text(path: Path, rel: str) -> str:
    """The file's text, refusing empty, binary and oversized files with a clear error.

    Raises:
        NotebookError: the file cannot be read, is empty, binary or not UTF-8.
        InputTooLarge: the file is larger than :data:`MAX_RUNBOOK_BYTES`.
    """
    try:
        data = bounded_yaml.read_limited(path, rel, MAX_RUNBOOK_BYTES, RUNBOOK_TOO_LARGE)
    except OSError as exc:
        raise _notebook_error(rel, f"cannot read: {exc.strerror}") from None
    if not data.strip():
        raise _notebook_error(rel, "the file is empty; start it with front matter (title, summary, owner)")
    if b"\0" in data:
        raise _notebook_error(rel, "this is a binary file, not a Markdown runbook")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _notebook_error(rel, f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _notebook_error(rel: str, message: str, line: int = 0) -> NotebookError:
    return NotebookError.located([Problem(rel, message, line)])


def _front_matter_error(rel: str, message: str, line: int = 1) -> FrontMatterError:
    return FrontMatterError.located([Problem(rel, message, line)])


def read_front_matter(text: str, rel: str) -> bounded_yaml.YamlDocument:
    """The YAML front matter between the leading ``---`` lines, with the line of each key.

    Raises:
        FrontMatterError: no front matter, not closed, not valid YAML, or empty.
        InputTooLarge: its aliases expand past :data:`~runbook.source.bounded_yaml.SMALL_NODES`.
    """
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise _front_matter_error(
            rel, "no front matter: start the file with a '---' block holding title, summary and owner"
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise _front_matter_error(rel, "front matter is not closed: add a '---' line after it") from None
    try:
        document = bounded_yaml.compose(
            "\n".join(lines[1:end]),
            rel,
            max_nodes=bounded_yaml.SMALL_NODES,
            max_chars=bounded_yaml.SMALL_CHARS,
            first_line=2,
            what="front matter: ",
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        line = mark.line + 2 if mark is not None else 1
        raise _front_matter_error(rel, f"front matter is not valid YAML{where}: {problem}", line) from None
    if document.data is None:
        raise _front_matter_error(rel, "front matter is empty: add title, summary and owner")
    return document


def split_front_matter(text: str, rel: str) -> Any:
    """The YAML front matter between the leading ``---`` lines (see :func:`read_front_matter`)."""
    return read_front_matter(text, rel).data


def _key_line(document: bounded_yaml.YamlDocument, key: str | None) -> int:
    """The line of a front matter key; line 1 (the opening ``---``) for a missing one."""
    return (document.line(key) if key else None) or 1


def detect_format(front: dict[str, Any], text: str) -> str:
    """``md:myst`` for MyST Markdown notebooks, ``md`` for jupytext Markdown."""
    representation = (front.get("jupytext") or {}).get("text_representation") or {}
    if representation.get("format_name") == "myst" or "```{code-cell}" in text:
        return "md:myst"
    return "md"


def parse_text(text: str, rel: str, slug: str) -> Runbook:
    """Parse a runbook's text.

    Args:
        text: the whole file.
        rel: the file's path relative to the project, used in messages and records.
        slug: the runbook's name in the project.

    Returns:
        The parsed runbook.

    Raises:
        FrontMatterError: the front matter is missing or invalid (every problem listed).
        NotebookError: the cells cannot be read, step names clash, bad cell metadata.
        ParameterError: the parameters cell is not a list of literal assignments.
    """
    document = read_front_matter(text, rel)
    front = document.data
    meta, problems = validate_front_matter(front, rel)
    if meta is None:
        raise FrontMatterError.located(replace(p, line=_key_line(document, p.key)) for p in problems)
    fmt = detect_format(front, text)
    nb = _read_notebook(text, fmt, rel, front)
    lines = CellLines(text, nb["cells"])
    parameters = _parameters(nb, rel, lines)
    steps = _steps(nb, rel, lines)
    return Runbook(
        slug=slug,
        path=rel,
        format=fmt,
        meta=meta,
        kernel_name=nb["metadata"]["kernelspec"]["name"],
        parameters=parameters,
        steps=steps,
        code_hash=code_hash(nb),
        source_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        notebook=nb,
    )


def _read_notebook(text: str, fmt: str, rel: str, front: dict[str, Any]) -> dict[str, Any]:
    from runbook.source.cells import read_cells

    try:
        node = read_cells(text, fmt)
    except Exception as exc:  # jupytext raises many types for malformed cells
        raise _notebook_error(rel, f"cannot read the cells: {exc}") from None
    nb: dict[str, Any] = to_plain(node)
    cells = nb["cells"]
    if cells and cells[0]["cell_type"] == "raw" and cells[0]["source"].startswith(_FENCE):
        del cells[0]
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
    for key in front:
        if key not in ("jupyter", "jupytext", "kernelspec"):
            nb["metadata"].pop(key, None)
    kernelspec = nb["metadata"].get("kernelspec") or front.get("kernelspec") or {}
    if kernelspec.get("name") != front_kernel_name(front):
        kernelspec = {"name": front_kernel_name(front), "display_name": "Python 3", "language": "python"}
    nb["metadata"]["kernelspec"] = kernelspec
    return nb


def front_kernel_name(front: Any) -> str:
    """The kernel a runbook asks for in its front matter (jupytext or MyST), else python3."""
    if not isinstance(front, dict):
        return DEFAULT_KERNEL
    jupyter = front.get("jupyter")
    nested = jupyter.get("kernelspec") if isinstance(jupyter, dict) else None
    for spec in (nested, front.get("kernelspec")):
        if isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec["name"]:
            return str(spec["name"])
    return DEFAULT_KERNEL


def _tags(cell: dict[str, Any]) -> list[str]:
    tags = cell.get("metadata", {}).get("tags") or []
    return [t for t in tags if isinstance(t, str)]


def parameters_cell_index(nb: dict[str, Any]) -> int | None:
    """Index of the cell tagged ``parameters``, or None."""
    return next(
        (i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and "parameters" in _tags(c)),
        None,
    )


def _parameters(nb: dict[str, Any], rel: str, lines: CellLines) -> tuple[Parameter, ...]:
    tagged = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and "parameters" in _tags(c)]
    if len(tagged) > 1:
        raise _notebook_error(
            rel, f"{len(tagged)} cells are tagged 'parameters'; keep one", lines.fence(tagged[1])
        )
    if not tagged:
        return ()
    index = tagged[0]
    return parse_parameters(nb["cells"][index]["source"], rel, lambda line: lines.in_cell(index, line))


def parse_parameters(
    source: str, rel: str, file_line: Callable[[int], int] | None = None
) -> tuple[Parameter, ...]:
    """Parameters from a papermill-style cell: ``name = literal  # help``.

    A trailing comment starting with ``secret`` marks the parameter secret; the rest of the
    comment is its help text. Types come from an annotation or else from the default.

    Args:
        source: the cell's code.
        rel: the runbook's path, for messages.
        file_line: the file line of a line of the cell, for the errors' location.

    Raises:
        ParameterError: a syntax error, a statement that is not an assignment, or a value
            that is not a literal; located at its line.
    """
    locate = file_line or (lambda line: 0)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        line = exc.lineno or 1
        raise _parameter_error(rel, line, locate, f"{exc.msg}") from None
    comments = _line_comments(source)
    found: dict[str, Parameter] = {}
    for node in tree.body:
        name, value_node, annotation = _assignment(node, rel, locate)
        try:
            default = ast.literal_eval(value_node) if value_node is not None else None
        except ValueError:
            raise _parameter_error(
                rel,
                node.lineno,
                locate,
                f"'{name}' must be a literal value "
                "(a string, number, boolean, list or dict); compute derived values in a later cell",
                name,
            ) from None
        comment = comments.get(node.end_lineno or node.lineno, "")
        secret = bool(_SECRET.match(comment))
        found[name] = Parameter(
            name=name,
            type=annotation or _TYPES.get(type(default), "any"),
            default=default,
            help=_SECRET.sub("", comment).strip(),
            secret=secret,
            line=node.lineno,
        )
    return tuple(found.values())


def _parameter_error(
    rel: str, line: int, locate: Callable[[int], int], message: str, name: str | None = None
) -> ParameterError:
    """``rel: parameters cell line N: message``, located at that line of the file."""
    problem = Problem(rel, f"parameters cell line {line}: {message}", locate(line), name)
    return ParameterError.located([problem])


def _assignment(
    node: ast.stmt, rel: str, locate: Callable[[int], int]
) -> tuple[str, ast.expr | None, str | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value, None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        annotation = ast.unparse(node.annotation)
        kind = annotation if annotation in _TYPES.values() else None
        return node.target.id, node.value, kind
    raise _parameter_error(
        rel, node.lineno, locate, f"expected 'name = value' assignments only, got '{ast.unparse(node)[:60]}'"
    )


def _line_comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return comments


def slugify(text: str) -> str:
    """A step or page name from free text: lower case, words joined by dashes."""
    text = re.sub(r"[`*_\[\]()]", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60]


def _steps(nb: dict[str, Any], rel: str, lines: CellLines) -> tuple[Step, ...]:
    code_cells = [
        (i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and "parameters" not in _tags(c)
    ]
    used = _explicit_names(code_cells, rel, lines)
    steps: list[Step] = []
    heading = ""
    for cell_index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            headings = _HEADING.findall(cell["source"])
            heading = headings[-1] if headings else heading
            continue
        if cell["cell_type"] != "code" or "parameters" in _tags(cell):
            continue
        name = cell.get("metadata", {}).get("name") or _derived_name(heading, len(steps), used)
        step = _step(cell, cell_index, len(steps), name, heading, rel, lines)
        cell.setdefault("metadata", {})["runbook"] = {"step": step.name}
        steps.append(step)
    return tuple(steps)


def _explicit_names(cells: list[tuple[int, dict[str, Any]]], rel: str, lines: CellLines) -> set[str]:
    """The names given in fence metadata, checked: valid and unique.

    Args:
        cells: ``(cell index, cell)`` of the step cells.
        rel: the runbook's path, for messages.
        lines: where the cells are, for the errors' location.
    """
    names: set[str] = set()
    for index, (cell_index, cell) in enumerate(cells):
        explicit = cell.get("metadata", {}).get("name")
        if explicit is None:
            continue
        if not isinstance(explicit, str) or not _STEP_NAME.match(explicit):
            raise _notebook_error(
                rel,
                f"step {index + 1}: name={explicit!r} is not a step name; "
                "use lower-case letters, digits and dashes",
                lines.fence(cell_index),
            )
        if explicit in names:
            raise _notebook_error(
                rel, f"two steps are named '{explicit}'; step names must be unique", lines.fence(cell_index)
            )
        names.add(explicit)
    return names


def _derived_name(heading: str, index: int, used: set[str]) -> str:
    """A step name from the nearest heading, made unique; ``step-N`` without one."""
    base = slugify(heading) or "step"
    name = base if base not in used and base != "step" else f"{base}-{index + 1}"
    while name in used:
        name = f"{name}-{index + 1}"
    used.add(name)
    return name


def _step(
    cell: dict[str, Any], cell_index: int, index: int, name: str, heading: str, rel: str, lines: CellLines
) -> Step:
    """A code cell's step, its fence metadata checked (``lines`` locates a problem)."""
    meta = cell.get("metadata", {})
    where = f"step {index + 1} ({name})"
    effect = meta.get("effect", "read")
    if effect not in EFFECTS:
        raise _notebook_error(
            rel, f"{where}: effect={effect!r}; expected read or write", lines.fence(cell_index)
        )
    timeout_s = None
    if meta.get("timeout") is not None:
        try:
            timeout_s = parse_duration(meta["timeout"])
        except ValueError:
            raise _notebook_error(
                rel,
                f"{where}: timeout={meta['timeout']!r}; expected seconds or a duration like 30s, 5m",
                lines.fence(cell_index),
            ) from None
    continue_on_error = meta.get("continue_on_error", False)
    if not isinstance(continue_on_error, bool):
        raise _notebook_error(
            rel,
            f"{where}: continue_on_error={continue_on_error!r}; expected true or false",
            lines.fence(cell_index),
        )
    return Step(
        name=name,
        index=index,
        cell_index=cell_index,
        effect=effect,
        timeout_s=timeout_s,
        continue_on_error=continue_on_error,
        tags=tuple(_tags(cell)),
        heading=heading,
    )


def code_hash(nb: dict[str, Any]) -> str:
    """sha256 over the code cells' sources only: prose edits leave it unchanged."""
    digest = hashlib.sha256()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            digest.update(cell["source"].encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()
