"""Lint stage behind ``runbook check``: every problem in the project's sources, with its line.

The checks reuse the parser, the profile loader and the FAQ loader, so a finding reads
exactly like the error the other commands would give, but all of them are collected at
once, each at the line its loader located it (:class:`runbook.errors.Problem`). On top
of those: symlinks that leave the project, ``environments:`` lists naming profiles that
do not exist, clashing runbook names and hard-coded secrets.

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
from typing import TYPE_CHECKING, Any

from runbook.errors import InputTooLarge, ProjectError, RunbookError
from runbook.render.faq import read_faq, unknown_runbook_problems
from runbook.run import environments
from runbook.source import bounded_yaml
from runbook.source.bounded_yaml import YamlDocument
from runbook.source.project import CLASHING_SLUG, Project
from runbook.source.skips import always_skipping

if TYPE_CHECKING:
    from runbook.source.fences import CellLines

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
        *(Finding(*found) for found in always_skipping(project, selected)),
    ]
    return sorted({replace(f, message=_one_line(f.message)) for f in findings})


@dataclass(frozen=True)
class Scope:
    """What a check looked at: how many notebooks, profiles and FAQ files."""

    notebooks: int
    profiles: int
    faq_files: int

    def describe(self) -> str:
        """``26 notebooks, 4 profiles and 7 FAQ files``."""
        counts = [(self.notebooks, "notebook"), (self.profiles, "profile"), (self.faq_files, "FAQ file")]
        parts = [f"{n} {noun}{'s' if n != 1 else ''}" for n, noun in counts]
        return f"{', '.join(parts[:-1])} and {parts[-1]}"


def scope(project: Project, paths: Iterable[Path] | None = None) -> Scope:
    """What :func:`check_project` with the same ``paths`` looks at."""
    selected = _selection(project, paths)
    notebooks = sum(selected(project.relative(p)) for paths_ in project.sources.values() for p in paths_)
    profiles = faq = 0
    if project.environments_dir.is_dir():
        profiles = sum(selected(project.relative(p)) for p in project.environments_dir.glob("*.yml"))
    if (project.docs_dir / "faq").is_dir():
        faq = sum(selected(project.relative(p)) for p in (project.docs_dir / "faq").glob("*.yml"))
    return Scope(notebooks, profiles, faq)


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
    from runbook.source.parse import read_front_matter, read_text

    try:
        text = read_text(path, rel)
    except RunbookError as exc:
        yield from _findings(rel, exc)
        return
    try:
        project.load_path(slug, path, write_cache=False)
    except RunbookError as exc:
        yield from _findings(rel, exc)
        yield from _later_layers(text, rel, exc)
    try:
        front: YamlDocument | None = read_front_matter(text, rel)
    except RunbookError:  # the parser reported it just above
        front = None
    if front is not None and isinstance(front.data, dict):
        yield from _unknown_environments(rel, front, known, env_folder)
    yield from _scan_secrets(rel, text)


def _later_layers(text: str, rel: str, first: RunbookError) -> Iterator[Finding]:
    """The problems the parser did not reach, having stopped at ``first``.

    The parser stops at the first layer with a problem (front matter, then the parameters
    cell, then the steps); a check reports every layer at once, so each is read here on
    its own: the parameters cell statement by statement, each step cell by itself.
    """
    from runbook.source import parse
    from runbook.source.fences import CellLines

    try:
        front = parse.read_front_matter(text, rel).data
        if not isinstance(front, dict):
            return
        nb = parse._read_notebook(text, parse.detect_format(front, text), rel, front)
    except RunbookError:
        return  # nothing past the front matter or the cells can be read
    lines = CellLines(text, nb["cells"])
    seen = {(p.line, p.message) for p in first.problems} or {(0, _strip_path(str(first), rel))}
    found = [*_parameter_problems(nb, rel, lines), *_step_problems(nb, rel, lines)]
    for finding in found:
        if (finding.line, finding.message) not in seen:
            seen.add((finding.line, finding.message))
            yield finding


def _parameter_problems(nb: dict[str, Any], rel: str, lines: Any) -> Iterator[Finding]:
    """Every statement of the parameters cell that is not a literal assignment."""
    from runbook.source import parse

    try:
        parse._parameters(nb, rel, lines)
        return
    except RunbookError as exc:
        error = exc
    index = parse.parameters_cell_index(nb)
    source = nb["cells"][index]["source"] if index is not None else ""
    for _ in range(100):  # a cell of a hundred bad lines is reported in full
        yield from _findings(rel, error)
        message = error.problems[0].message if error.problems else ""
        cell_line = re.match(r"parameters cell line (\d+):", message)
        if index is None or cell_line is None:
            return
        source = _without_statement(source, int(cell_line.group(1)))
        if source is None:
            return
        try:
            parse.parse_parameters(source, rel, lambda line: lines.in_cell(index, line))
            return
        except RunbookError as exc:
            error = exc


def _without_statement(source: str, line: int) -> str | None:
    """``source`` with the statement at ``line`` blanked (line numbers kept); None when
    ``source`` is not valid Python."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    rows = source.split("\n")
    for node in tree.body:
        if node.lineno == line:
            for number in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                rows[number - 1] = ""
            return "\n".join(rows)
    return None


#: Cell metadata a step reads besides its name; each is checked on its own.
STEP_KEYS = ("effect", "timeout", "continue_on_error")


def _step_problems(nb: dict[str, Any], rel: str, lines: CellLines) -> Iterator[Finding]:
    """Every step cell whose name, effect, timeout or continue_on_error is wrong."""
    from runbook.source import parse

    code_cells = [
        (i, c)
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and "parameters" not in parse._tags(c)
    ]
    checked: list[tuple[int, dict[str, Any]]] = []
    for position, (cell_index, cell) in enumerate(code_cells):
        metadata = cell.get("metadata", {})
        try:  # each name against the good names before it: every clash and bad name once
            parse._explicit_names([*checked, (cell_index, cell)], rel, lines)
            checked.append((cell_index, cell))
        except RunbookError as exc:
            yield from _findings(rel, exc)
            unnamed = {k: v for k, v in metadata.items() if k != "name"}
            checked.append((cell_index, {**cell, "metadata": unnamed}))
        name = metadata.get("name") if isinstance(metadata.get("name"), str) else f"step-{position + 1}"
        for key in STEP_KEYS:
            only = {k: v for k, v in metadata.items() if k not in STEP_KEYS or k == key}
            alone = {**cell, "metadata": only}
            try:
                parse._step(alone, cell_index, position, name, "", rel, lines)
            except RunbookError as exc:
                yield from _findings(rel, exc)


def _findings(rel: str, error: RunbookError) -> Iterator[Finding]:
    """A finding per problem the error located; one about the whole file when it has none."""
    if not error.problems:
        yield Finding(rel, 0, _strip_path(str(error), rel))
    for problem in error.problems:
        yield Finding(rel, problem.line, problem.message)


def _unknown_environments(rel: str, front: YamlDocument, known: list[str], folder: str) -> Iterator[Finding]:
    names = front.data.get("environments")
    items = [names] if isinstance(names, str) else names if isinstance(names, list) else []
    for index, name in enumerate(items, start=1):
        if isinstance(name, str) and name.strip() and name.strip() not in known:
            listed = ", ".join(known) or "none"
            yield Finding(
                rel,
                front.line("environments", index) or 1,
                UNKNOWN_ENVIRONMENT.format(name=name.strip(), known=listed, folder=folder),
            )


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
        text, problem = _read_yaml_text(path, rel)
        if text is None:
            yield Finding(rel, 0, problem)
            continue
        yield from _profile(folder, path.stem, rel, rel_dir)
        yield from _scan_secrets(rel, text)


def _profile(folder: Path, name: str, rel: str, rel_dir: str) -> Iterator[Finding]:
    try:
        environments.load(folder, name, rel_dir)
    except RunbookError as exc:
        if exc.problems:
            yield from _findings(rel, exc)
        else:  # the loader refuses a name it cannot take before it reads the file
            yield Finding(rel, 0, BAD_PROFILE_NAME.format(name=name))


def _read_yaml_text(path: Path, rel: str) -> tuple[str | None, str]:
    """The file's text, or None and the reason it cannot be read."""
    try:
        data = bounded_yaml.read_limited(path, rel)
    except OSError as exc:
        return None, CANNOT_READ.format(reason=exc.strerror)
    except InputTooLarge as exc:
        return None, exc.problems[0].message
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, NOT_UTF8.format(byte=exc.start)


# -- FAQ ---------------------------------------------------------------------------


def _faq(project: Project, selected: Selected) -> Iterator[Finding]:
    folder = project.docs_dir / "faq"
    if not folder.is_dir():
        return
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.yml")):
        rel = project.relative(path)
        text, problem = _read_yaml_text(path, rel)
        if text is None:
            if selected(rel):
                yield Finding(rel, 0, problem)
        elif project.contains(path):
            texts[rel] = text
    categories, problems = read_faq(folder, project.relative(folder))
    for found in problems + unknown_runbook_problems(categories, set(project.sources)):
        if found.path in texts and selected(found.path):
            yield Finding(found.path, found.line, found.message)
    for rel, text in texts.items():
        if selected(rel):
            yield from _scan_secrets(rel, text)


# -- alerts ------------------------------------------------------------------------


def check_alerts(project: Project, rule_files: Iterable[Path]) -> list[Finding]:
    """Every alert of ``rule_files`` leads to a runbook, and every alert a runbook names exists.

    Findings are located at the alert's ``alert:`` line, its ``runbook_url`` line, or the
    runbook's ``alerts:`` item (:func:`runbook.source.alerts.alert_findings`). A
    ``runbook_url`` that Prometheus builds from a template is not checked.

    Returns:
        Every finding, sorted by path and line.
    """
    from runbook.metrics import page_url
    from runbook.source.alerts import alert_findings, read_rule_files

    rules = read_rule_files(rule_files, project.root)
    runbooks = project.runbooks(on_error=lambda exc: None)  # the source check reports those
    pages = {page_url(project.page_path(rb), None) for rb in runbooks}
    named = [found for rb in runbooks if rb.meta.alerts for found in _named_alerts(project, rb.path)]
    found = alert_findings(rules, named, pages, project.settings.site_url)
    return sorted({Finding(p.path, p.line, _one_line(p.message)) for p in found})


def _named_alerts(project: Project, rel: str) -> Iterator[tuple[str, int, str]]:
    """``(file, line, alert)`` for each alert a runbook's front matter names."""
    from runbook.source.parse import read_front_matter, read_text

    try:
        front = read_front_matter(read_text(project.root / rel, rel), rel)
    except RunbookError:
        return
    names = front.data.get("alerts") if isinstance(front.data, dict) else None
    items = [names] if isinstance(names, str) else names if isinstance(names, list) else []
    for index, name in enumerate(items, start=1):
        if isinstance(name, str) and name.strip():
            yield rel, front.line("alerts", index) or 1, name.strip()


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
