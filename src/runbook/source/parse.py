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
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import FrontMatterError, NotebookError
from runbook.source.model import EFFECTS, Parameter, Runbook, Step, to_plain
from runbook.source.frontmatter import parse_duration, validate_front_matter

#: Bump when the parse output changes, so cached parses are not reused.
PARSER_VERSION = "3"
DEFAULT_KERNEL = "python3"
INJECTED_TAGS = ("injected-parameters", "injected-secrets")
_FENCE = "---"
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_STEP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SECRET = re.compile(r"^secret\b[\s:,-]*", re.IGNORECASE)
_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
_CELL_KEYS_CHECKED = ("name", "effect", "timeout", "continue_on_error", "tags")


def read_text(path: Path, rel: str) -> str:
    """The file's text, refusing empty and binary files with a clear error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotebookError(f"{rel}: cannot read: {exc.strerror}") from None
    if not data.strip():
        raise NotebookError(f"{rel}: the file is empty; start it with front matter (title, summary, owner)")
    if b"\0" in data:
        raise NotebookError(f"{rel}: this is a binary file, not a Markdown runbook")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{rel}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def split_front_matter(text: str, rel: str) -> dict[str, Any]:
    """The YAML front matter between the leading ``---`` lines, as a mapping."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise FrontMatterError(
            rel, ["no front matter: start the file with a '---' block holding title, summary and owner"]
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise FrontMatterError(rel, ["front matter is not closed: add a '---' line after it"]) from None
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise FrontMatterError(rel, [f"front matter is not valid YAML{where}: {problem}"]) from None
    if data is None:
        raise FrontMatterError(rel, ["front matter is empty: add title, summary and owner"])
    return data


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
    front = split_front_matter(text, rel)
    meta, problems = validate_front_matter(front)
    if meta is None:
        raise FrontMatterError(rel, problems)
    fmt = detect_format(front, text)
    nb = _read_notebook(text, fmt, rel, front)
    parameters = _parameters(nb, rel)
    steps = _steps(nb, rel)
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
    import jupytext  # heavy: imported only when a runbook is really parsed

    try:
        node = jupytext.reads(text, fmt=fmt)
    except Exception as exc:  # jupytext raises many types for malformed cells
        raise NotebookError(f"{rel}: cannot read the cells: {exc}") from None
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


def front_kernel_name(front: dict[str, Any]) -> str:
    """The kernel a runbook asks for in its front matter (jupytext or MyST), else python3."""
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


def _parameters(nb: dict[str, Any], rel: str) -> tuple[Parameter, ...]:
    tagged = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and "parameters" in _tags(c)]
    if len(tagged) > 1:
        raise NotebookError(f"{rel}: {len(tagged)} cells are tagged 'parameters'; keep one")
    if not tagged:
        return ()
    return parse_parameters(nb["cells"][tagged[0]]["source"], rel)


def parse_parameters(source: str, rel: str) -> tuple[Parameter, ...]:
    """Parameters from a papermill-style cell: ``name = literal  # help``.

    A trailing comment starting with ``secret`` marks the parameter secret; the rest of the
    comment is its help text. Types come from an annotation or else from the default.
    """
    from runbook.errors import ParameterError

    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{rel}: parameters cell line {exc.lineno}: {exc.msg}") from None
    comments = _line_comments(source)
    found: dict[str, Parameter] = {}
    for node in tree.body:
        name, value_node, annotation = _assignment(node, rel)
        try:
            default = ast.literal_eval(value_node) if value_node is not None else None
        except ValueError:
            raise ParameterError(
                f"{rel}: parameters cell line {node.lineno}: '{name}' must be a literal value "
                "(a string, number, boolean, list or dict); compute derived values in a later cell"
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


def _assignment(node: ast.stmt, rel: str) -> tuple[str, ast.expr | None, str | None]:
    from runbook.errors import ParameterError

    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value, None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        annotation = ast.unparse(node.annotation)
        kind = annotation if annotation in _TYPES.values() else None
        return node.target.id, node.value, kind
    raise ParameterError(
        f"{rel}: parameters cell line {node.lineno}: expected 'name = value' assignments only, "
        f"got '{ast.unparse(node)[:60]}'"
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


def _steps(nb: dict[str, Any], rel: str) -> tuple[Step, ...]:
    code_cells = [
        (i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and "parameters" not in _tags(c)
    ]
    used = _explicit_names([c for _, c in code_cells], rel)
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
        step = _step(cell, cell_index, len(steps), name, heading, rel)
        cell.setdefault("metadata", {})["runbook"] = {"step": step.name}
        steps.append(step)
    return tuple(steps)


def _explicit_names(cells: list[dict[str, Any]], rel: str) -> set[str]:
    """The names given in fence metadata, checked: valid and unique."""
    names: set[str] = set()
    for index, cell in enumerate(cells):
        explicit = cell.get("metadata", {}).get("name")
        if explicit is None:
            continue
        if not isinstance(explicit, str) or not _STEP_NAME.match(explicit):
            raise NotebookError(
                f"{rel}: step {index + 1}: name={explicit!r} is not a step name; "
                "use lower-case letters, digits and dashes"
            )
        if explicit in names:
            raise NotebookError(f"{rel}: two steps are named '{explicit}'; step names must be unique")
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


def _step(cell: dict[str, Any], cell_index: int, index: int, name: str, heading: str, rel: str) -> Step:
    meta = cell.get("metadata", {})
    where = f"{rel}: step {index + 1}"
    effect = meta.get("effect", "read")
    if effect not in EFFECTS:
        raise NotebookError(f"{where} ({name}): effect={effect!r}; expected read or write")
    timeout_s = None
    if meta.get("timeout") is not None:
        try:
            timeout_s = parse_duration(meta["timeout"])
        except ValueError:
            raise NotebookError(
                f"{where} ({name}): timeout={meta['timeout']!r}; expected seconds or a duration like 30s, 5m"
            ) from None
    continue_on_error = meta.get("continue_on_error", False)
    if not isinstance(continue_on_error, bool):
        raise NotebookError(
            f"{where} ({name}): continue_on_error={continue_on_error!r}; expected true or false"
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
