"""Lint stage behind ``runbook check``: every problem in the project's sources, with its line.

The checks reuse the parser, the profile loader and the FAQ loader, so a finding reads
exactly like the error the other commands would give, but all of them are collected at
once and each one names its line. On top of those: symlinks that leave the project,
``environments:`` lists naming profiles that do not exist, clashing runbook names and
hard-coded secrets.

Secrets are found with detect-secrets' detectors, run per line:

- every known-format detector (AWS keys, private keys, GitHub/Slack/Stripe/... tokens,
  JWTs, basic-auth URLs), except the free-standing high-entropy string detectors (they
  flag checksums and commit ids) and the public IP detector (an address is not a secret);
- the keyword detector (``password``, ``passwd``, ``pwd``, ``secret``, ``api_key`` ...
  assigned a literal), with detect-secrets' own false-positive filters;
- and for names holding ``token``, ``key``, ``secret``, ``auth`` or ``credential``, a
  literal value that looks random (long, mixed letters and digits, high entropy).

Never reported: empty values (a ``# secret`` parameter with an empty default is the right
way to declare one), ``${VAR}`` references and other templates (``$VAR``, ``<...>``,
``{{ ... }}``), obvious placeholders (``changeme``, ``placeholder``, ``example``,
``redacted``, ``xxx``, ``***``, ``your-...``), values of names that only refer to a secret
(``secret_name``, ``key_path``, ``token_file``, ``*_id`` ...), and lines carrying
detect-secrets' ``# pragma: allowlist secret`` (or a ``# pragma: allowlist nextline secret``
line above). Detected values are never verified over the network.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from runbook.run import environments
from runbook.errors import FrontMatterError, ProjectError, RunbookError
from runbook.source.project import CLASHING_SLUG, Project
from runbook.render.faq import load_faq, unknown_runbooks

SECRET_FOUND = (
    "hard-coded secret ({kind}): move it to an environment variable and reference it as ${{VAR}}, "
    "or mark the parameter '# secret'"
)
SECRET_DEFAULT = (
    "hard-coded secret ({kind}): a '# secret' parameter's default is stored in git; leave it empty "
    "and pass the value at run time (-p, or ${{VAR}} in a profile)"
)
SYMLINK_OUT = (
    "symbolic link to {target}, outside the project; move the file into the project or remove the link"
)
UNKNOWN_ENVIRONMENT = (
    "'environments': unknown environment '{name}' (known: {known}); add {folder}/{name}.yml or fix the name"
)
BAD_PROFILE_NAME = (
    "'{name}' cannot be used as an environment name; rename the file with letters, digits, '.', '_' and '-'"
)
NOT_UTF8 = "not UTF-8 text (byte {byte}); save it as UTF-8"
CANNOT_READ = "cannot read: {reason}"
OUTSIDE_PROJECT = "{name}: outside the project at {root}; check files inside it"
NO_SUCH_PATH = "{name}: no such file or folder"

Selected = Callable[[str], bool]
KeyPath = tuple[Any, ...]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in one file."""

    path: str
    """The file, relative to the project root, with forward slashes."""
    line: int
    """1-based line; 0 when the problem is about the whole file."""
    message: str
    """One line: what is wrong and what to do."""


def check_project(project: Project, paths: Iterable[Path] | None = None) -> list[Finding]:
    """Lint the project's notebooks, environment profiles and FAQ files.

    Args:
        project: the project to check.
        paths: check only these files (or the files under these folders), relative to
            the working directory or absolute; files that are not sources (a plain docs
            page, a README) are skipped. None checks everything.

    Returns:
        Every finding, sorted by path and line.

    Raises:
        ProjectError: a path that does not exist or lies outside the project.
    """
    selected = _selection(project, paths)
    findings = [
        *_symlinks_out(project, selected),
        *_clashes(project, selected),
        *_notebooks(project, selected),
        *_profiles(project, selected),
        *_faq(project, selected),
    ]
    return sorted({replace(f, message=_one_line(f.message)) for f in findings})


def _one_line(message: str) -> str:
    """Parser messages may quote code spanning lines; a finding is one line."""
    return re.sub(r"\s*\n\s*", " ", message).strip()


def _selection(project: Project, paths: Iterable[Path] | None) -> Selected:
    """A predicate on project-relative paths: is this file part of the check?"""
    if paths is None:
        return lambda rel: True
    roots = {Path(os.path.abspath(project.root)), project.root.resolve()}
    chosen: list[str] = []
    for given in paths:
        absolute = Path(os.path.abspath(given))  # symlinks kept: a link is checked as itself
        rel = next((absolute.relative_to(r).as_posix() for r in roots if absolute.is_relative_to(r)), None)
        if rel is None:
            raise ProjectError(OUTSIDE_PROJECT.format(name=given, root=project.root))
        if not absolute.exists() and not absolute.is_symlink():
            raise ProjectError(NO_SUCH_PATH.format(name=given))
        chosen.append(rel)
    return lambda rel: any(c == "." or rel == c or rel.startswith(f"{c}/") for c in chosen)


def _strip_path(message: str, rel: str) -> str:
    prefix = f"{rel}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


# -- project-wide: symlinks and names ------------------------------------------------


def _symlinks_out(project: Project, selected: Selected) -> Iterator[Finding]:
    """Links under runbooks/, docs/ and environments/ whose target is outside the project."""
    for top in (project.runbooks_dir, project.docs_dir, project.environments_dir):
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            for name in dirs + files:
                path = Path(folder) / name
                if name.startswith((".", "_")) or not path.is_symlink() or project.contains(path):
                    continue
                rel = project.relative(path)
                if selected(rel):
                    yield Finding(rel, 0, SYMLINK_OUT.format(target=os.readlink(path)))


def _clashes(project: Project, selected: Selected) -> Iterator[Finding]:
    for slug, paths in project.clashes().items():
        listed = ", ".join(project.relative(p) for p in paths)
        for path in paths:
            if selected(project.relative(path)):
                yield Finding(project.relative(path), 0, CLASHING_SLUG.format(slug=slug, paths=listed))


# -- notebooks ---------------------------------------------------------------------


def _notebooks(project: Project, selected: Selected) -> Iterator[Finding]:
    known = environments.available(project.environments_dir)
    folder = project.relative(project.environments_dir)
    for slug, paths in sorted(project.sources.items()):
        for path in paths:
            rel = project.relative(path)
            if selected(rel):
                yield from _notebook(project, slug, path, rel, known, folder)


def _notebook(
    project: Project, slug: str, path: Path, rel: str, known: list[str], env_folder: str
) -> Iterator[Finding]:
    from runbook.source.parse import read_text, split_front_matter

    try:
        text = read_text(path, rel)
    except RunbookError as exc:
        yield Finding(rel, 0, _strip_path(str(exc), rel))
        return
    header = _front_matter_lines(text)
    try:
        project.load_path(slug, path, write_cache=False)
    except FrontMatterError as exc:
        for problem in exc.problems:
            yield Finding(rel, _front_matter_problem_line(problem, header), problem)
    except RunbookError as exc:
        message = _strip_path(str(exc), rel)
        yield Finding(rel, _cell_problem_line(message, text), message)
    try:
        front = split_front_matter(text, rel)
    except FrontMatterError:
        front = None
    if isinstance(front, dict):
        yield from _unknown_environments(rel, front, header, known, env_folder)
    yield from _scan_secrets(rel, text)


def _front_matter_lines(text: str) -> dict[KeyPath, int]:
    """File line of each key and list item in the front matter."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return {}
    return _yaml_lines("\n".join(lines[1:end]), first_line=2)[0]


def _front_matter_problem_line(problem: str, header: dict[KeyPath, int]) -> int:
    invalid = re.match(r"front matter is not valid YAML at line (\d+)", problem)
    if invalid:
        return int(invalid.group(1))
    key = re.search(r"'([^']+)'", problem)
    return header.get((key.group(1),), 1) if key else 1


def _unknown_environments(
    rel: str, front: dict[str, Any], header: dict[KeyPath, int], known: list[str], folder: str
) -> Iterator[Finding]:
    names = front.get("environments")
    items = [names] if isinstance(names, str) else names if isinstance(names, list) else []
    for index, name in enumerate(items, start=1):
        if isinstance(name, str) and name.strip() and name.strip() not in known:
            line = header.get(("environments", index), header.get(("environments",), 1))
            listed = ", ".join(known) or "none"
            yield Finding(
                rel, line, UNKNOWN_ENVIRONMENT.format(name=name.strip(), known=listed, folder=folder)
            )


def _cell_problem_line(message: str, text: str) -> int:
    """The line a parser message about cells points to, 0 when it cannot be found."""
    step = re.match(r"step (\d+)\b", message)
    twice = re.match(r"two steps are named '(.+)'; ", message)
    tagged = re.match(r"\d+ cells are tagged 'parameters'", message)
    in_parameters = re.match(r"parameters cell line (\d+):", message)
    if not (step or twice or tagged or in_parameters):
        return 0
    cells = _code_cells(text)
    steps = [c for c in cells if "parameters" not in c.tags]
    parameters = [c for c in cells if "parameters" in c.tags]
    if step:
        number = int(step.group(1))
        return steps[number - 1].fence_line if number <= len(steps) else 0
    if twice:
        named = [c for c in steps if c.name == twice.group(1)]
        return named[1].fence_line if len(named) > 1 else 0
    if tagged:
        return parameters[1].fence_line if len(parameters) > 1 else 0
    assert in_parameters is not None
    if not parameters or not parameters[0].source_line:
        return 0
    return parameters[0].source_line + int(in_parameters.group(1)) - 1


@dataclass(frozen=True)
class _CodeCell:
    fence_line: int  # the opening fence; 0 when it could not be matched to the text
    source_line: int  # the cell's first source line; 0 when unknown
    name: Any
    tags: tuple[str, ...]


def _code_cells(text: str) -> list[_CodeCell]:
    """The notebook's code cells as jupytext reads them, each matched to its fence in ``text``."""
    import jupytext

    from runbook.source.parse import detect_format

    front = _safe_front(text)
    try:
        nb = jupytext.reads(text, fmt=detect_format(front, text))
    except Exception:  # the parser reported the cells unreadable already
        return []
    blocks = _fenced_blocks(text.splitlines())
    cells: list[_CodeCell] = []
    position = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = cell.source.strip("\n")
        while position < len(blocks) and not _holds(blocks[position][1], source):
            position += 1
        fence_line, body = blocks[position] if position < len(blocks) else (0, "")
        position += 1
        skipped = body[: len(body) - len(source)].count("\n") if fence_line and body.endswith(source) else 0
        tags = tuple(t for t in cell.metadata.get("tags") or [] if isinstance(t, str))
        cells.append(
            _CodeCell(
                fence_line, fence_line + 1 + skipped if fence_line else 0, cell.metadata.get("name"), tags
            )
        )
    return cells


def _safe_front(text: str) -> dict[str, Any]:
    from runbook.source.parse import split_front_matter

    try:
        front = split_front_matter(text, "")
    except FrontMatterError:
        return {}
    return front if isinstance(front, dict) else {}


_FENCE = re.compile(r"^(`{3,}|~{3,})\s*\S")


def _fenced_blocks(lines: list[str]) -> list[tuple[int, str]]:
    """``(opening line, body)`` of every fenced block that names a language."""
    blocks: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence = match.group(1)
        end = index + 1
        while end < len(lines) and not re.fullmatch(
            rf"{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[end]
        ):
            end += 1
        blocks.append((index + 1, "\n".join(lines[index + 1 : end]).strip("\n")))
        index = end + 1
    return blocks


def _holds(body: str, source: str) -> bool:
    """Whether a fenced block's body is this cell (allowing MyST options and magics)."""
    return body == source or body.endswith(f"\n{source}") or source.endswith(f"\n{body}")


# -- environment profiles ----------------------------------------------------------


def _profiles(project: Project, selected: Selected) -> Iterator[Finding]:
    folder = project.environments_dir
    if not folder.is_dir():
        return
    rel_dir = project.relative(folder)
    for path in sorted(folder.glob("*.yml")):
        rel = project.relative(path)
        if not selected(rel) or (path.is_symlink() and not project.contains(path)):
            continue
        text, problem = _read_yaml_text(path)
        if text is None:
            yield Finding(rel, 0, problem)
            continue
        yield from _profile(folder, path.stem, rel, rel_dir, text)
        yield from _scan_secrets(rel, text)


def _profile(folder: Path, name: str, rel: str, rel_dir: str, text: str) -> Iterator[Finding]:
    try:
        environments.load(folder, name, rel_dir)
    except RunbookError as exc:
        message = str(exc)
        if message.startswith("unknown environment"):
            yield Finding(rel, 0, BAD_PROFILE_NAME.format(name=name))
            return
        lines, error_line = _yaml_lines(text)
        for problem in _strip_path(message, rel).split("; "):
            key = re.search(r"'([^']+)'", problem)
            if problem.startswith("not valid YAML"):
                line = error_line or 1
            else:
                line = lines.get((key.group(1),), 1) if key else 1
            yield Finding(rel, line, problem)


def _read_yaml_text(path: Path) -> tuple[str | None, str]:
    """The file's text, or None and the reason it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, CANNOT_READ.format(reason=exc.strerror)
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, NOT_UTF8.format(byte=exc.start)


# -- FAQ ---------------------------------------------------------------------------


def _faq(project: Project, selected: Selected) -> Iterator[Finding]:
    folder = project.docs_dir / "faq"
    if not folder.is_dir():
        return
    rel_dir = project.relative(folder)
    texts: dict[str, str] = {}
    unreadable = False
    for path in sorted(folder.glob("*.yml")):
        rel = project.relative(path)
        text, problem = _read_yaml_text(path)
        if text is None:
            unreadable = True
            if selected(rel):
                yield Finding(rel, 0, problem)
        elif project.contains(path):
            texts[rel] = text
    if not unreadable:
        categories, problems = load_faq(folder, rel_dir)
    else:  # the loader cannot skip unreadable files: give it the readable ones
        categories, problems = _load_faq_copy(texts, rel_dir)
    problems += unknown_runbooks(categories, set(project.sources))
    for problem in problems:
        source = next((r for r in texts if problem.startswith(f"{r}: ")), None)
        if source is not None and selected(source):
            message = _strip_path(problem, source)
            yield Finding(source, _faq_problem_line(message, texts[source], categories, source), message)
    for rel, text in texts.items():
        if selected(rel):
            yield from _scan_secrets(rel, text)


def _load_faq_copy(texts: dict[str, str], rel_dir: str) -> tuple[list[Any], list[str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for rel, text in texts.items():
            (Path(scratch) / rel.rsplit("/", 1)[-1]).write_text(text, "utf-8")
        return load_faq(Path(scratch), rel_dir)


def _faq_problem_line(message: str, text: str, categories: list[Any], rel: str) -> int:
    lines, error_line = _yaml_lines(text)
    if message.startswith("not valid YAML"):
        return error_line or 1
    entry = re.match(r"entry (\d+)", message)
    base: KeyPath = ("entries", int(entry.group(1))) if entry else ()
    missing = re.search(r"names runbook '(.*)', which does not exist", message)
    if entry and missing:
        category = next(c for c in categories if c.source == rel)
        slugs = category.entries[int(entry.group(1)) - 1].runbooks
        return lines.get((*base, "runbooks", slugs.index(missing.group(1)) + 1), lines.get(base, 1))
    key = re.search(r"'([^']+)'", message[entry.end() :] if entry else message)
    keyed: KeyPath = (*base, key.group(1)) if key else ()
    if keyed in lines:
        return lines[keyed]
    return lines.get(base, 1) if base else 1


# -- YAML positions ----------------------------------------------------------------


def _yaml_lines(text: str, first_line: int = 1) -> tuple[dict[KeyPath, int], int | None]:
    """File lines of every mapping key and list item, and the line of a YAML error.

    Keys are paths: ``("production",)``, ``("entries", 2, "answer")`` (items count from 1).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return {}, (mark.line + first_line if mark is not None else None)
    lines: dict[KeyPath, int] = {}

    def walk(node: yaml.Node | None, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*path, key.value), key.start_mark.line + first_line)
                    walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for number, item in enumerate(node.value, start=1):
                lines.setdefault((*path, number), item.start_mark.line + first_line)
                walk(item, (*path, number))

    walk(root, ())
    return lines, None


# -- secrets -----------------------------------------------------------------------

#: detect-secrets detectors left out: free-standing entropy (checksums, commit ids) and
#: public IPs (not secrets); the keyword detector runs separately, with its filters.
_NOT_FORMATS = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector", "KeywordDetector")
_SECRETISH_NAME = re.compile(r"token|key|secret|passw|pwd|auth|credential", re.IGNORECASE)
_REFERENCE_NAME = re.compile(
    r"(^|[_.-])(names?|ids?|files?|paths?|dirs?|env|var|ref|arn|url|uri|type|kind|field|header|"
    r"prompt|label|length|len|format|version|size|bits)$",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(
    r"(changeme|change[-_]me|change[-_]?it|placeholder|example|redacted|secret|password|todo|tbd|"
    r"fixme|none|null|true|false|yes|no|x+|\*+|\.+|•+|your[-_ ].*|<.*>|\{.*\}|\$[A-Za-z_]\w*|"
    r"%s|%\(\w+\)s)",
    re.IGNORECASE,
)
#: Shorter keyword values are type names, flags and units far more often than passwords.
_MIN_KEYWORD_VALUE = 6
_NAMED_VALUE = re.compile(
    r"(?P<name>[A-Za-z_][\w.-]*)[\"'\]]*\s*(?::|=)\s*(?P<quote>[\"']?)(?P<value>[A-Za-z0-9+/=_.~-]{16,})(?P=quote)"
    r"(?![A-Za-z0-9+/=_.~-])"
)
_ASSIGNED_NAME = re.compile(r"([A-Za-z_][\w.-]*)[\"'\]]*\s*(?:[:=!]=?=?|=>)\s*[@\"'`]*$")
_SECRET_MARK = re.compile(r"#\s*secret\b", re.IGNORECASE)


class _SecretDetectors:
    """detect-secrets' detectors, built once."""

    def __init__(self) -> None:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.keyword import KeywordDetector

        mapping: dict[str, type[Any]] = get_mapping_from_secret_type_to_class()
        classes = [mapping[kind] for kind in sorted(mapping)]
        self.formats = [cls() for cls in classes if cls.__name__ not in _NOT_FORMATS]
        self.keyword = KeywordDetector()

    def kind(self, rel: str, line: str) -> str | None:
        """The type of the secret on this line, or None."""
        for detector in self.formats:
            for found in detector.analyze_line(filename=rel, line=line):
                if not _is_reference(found.secret_value or ""):
                    return str(detector.secret_type)
        for found in self.keyword.analyze_line(filename=rel, line=line):
            if not self._keyword_filtered(found.secret_value or "", line):
                return str(self.keyword.secret_type)
        quoted_only = not rel.endswith((".yml", ".yaml"))
        for match in _NAMED_VALUE.finditer(line):
            if (
                (match["quote"] or not quoted_only)
                and _SECRETISH_NAME.search(match["name"])
                and not _REFERENCE_NAME.search(match["name"])
                and not _is_reference(match["value"])
                and _looks_random(match["value"])
            ):
                return str(self.keyword.secret_type)
        return None

    def _keyword_filtered(self, value: str, line: str) -> bool:
        from detect_secrets.filters import heuristic

        index = line.find(value)
        name = _ASSIGNED_NAME.search(line[:index]) if index > 0 else None
        return (
            _is_reference(value)
            or len(value) < _MIN_KEYWORD_VALUE
            or (name is not None and _REFERENCE_NAME.search(name.group(1)) is not None)
            or heuristic.is_sequential_string(value)
            or heuristic.is_potential_uuid(value)
            or heuristic.is_likely_id_string(value, line, self.keyword)
            or heuristic.is_templated_secret(value)
            or heuristic.is_indirect_reference(line)
            or heuristic.is_not_alphanumeric_string(value)
        )


@lru_cache(maxsize=1)
def _detectors() -> _SecretDetectors:
    return _SecretDetectors()


def _is_reference(value: str) -> bool:
    """Empty, a ``${VAR}`` reference or another template, or an obvious placeholder."""
    value = value.strip().strip("\"'")
    return not value or "${" in value or bool(_PLACEHOLDER.fullmatch(value))


def _entropy(text: str) -> float:
    return -sum(text.count(c) / len(text) * math.log2(text.count(c) / len(text)) for c in set(text))


def _looks_random(value: str) -> bool:
    """A token rather than a word: long, mixed letters and digits, high entropy."""
    if re.fullmatch(r"[0-9a-f]{16,}|[0-9A-F]{16,}", value):
        return bool(re.search(r"\d", value) and re.search(r"[a-fA-F]", value)) and _entropy(value) >= 3.0
    chunk = max(re.split(r"[-_.~]", value), key=len)
    classes = sum(sum(1 for c in chunk if test(c)) >= 2 for test in (str.islower, str.isupper, str.isdigit))
    return len(chunk) >= 16 and classes >= 2 and _entropy(chunk) >= 3.5


def _scan_secrets(rel: str, text: str) -> Iterator[Finding]:
    """A finding for every line of ``text`` that holds a hard-coded secret."""
    detectors = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if len(line.strip()) < 8:
            continue
        detectors = detectors or _detectors()
        kind = detectors.kind(rel, line)
        if kind is None or _allowlisted(rel, lines, number):
            continue
        template = SECRET_DEFAULT if _SECRET_MARK.search(line) else SECRET_FOUND
        yield Finding(rel, number, template.format(kind=kind))


def _allowlisted(rel: str, lines: list[str], number: int) -> bool:
    """detect-secrets' ``pragma: allowlist secret`` on the line (or ``nextline`` above it)."""
    from detect_secrets.filters.allowlist import is_line_allowlisted
    from detect_secrets.util.code_snippet import get_code_snippet

    return bool(is_line_allowlisted(rel, lines[number - 1], get_code_snippet(lines, number)))
