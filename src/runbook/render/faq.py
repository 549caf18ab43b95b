"""The FAQ as data: ``docs/faq/<category>.yml`` files become one page per category.

Each file holds ``title`` and ``entries``; each entry a ``question``, an ``answer`` in
Markdown, and optional ``tags`` and ``runbooks`` (slugs). Every question is a heading, so
search lands on the question; runbook pages list the questions that point to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markdown.extensions.toc import slugify

from runbook.errors import InputTooLarge, Problem
from runbook.source import bounded_yaml

CATEGORY_KEYS = ("title", "description", "entries")
ENTRY_KEYS = ("question", "answer", "tags", "runbooks")


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str
    tags: tuple[str, ...]
    runbooks: tuple[str, ...]
    runbook_lines: tuple[int, ...] = field(default=(), compare=False)
    """The file line of each of ``runbooks``, for problems about them."""

    @property
    def anchor(self) -> str:
        """The heading id MkDocs gives the question (python-markdown's toc slugify)."""
        return str(slugify(self.question, "-"))


@dataclass(frozen=True)
class FaqCategory:
    slug: str
    source: str
    title: str
    description: str
    entries: tuple[FaqEntry, ...]

    @property
    def page(self) -> str:
        return f"faq/{self.slug}.md"


def load_faq(faq_dir: Path, rel_dir: str) -> tuple[list[FaqCategory], list[str]]:
    """Every FAQ category file, and the problems found (each naming file and entry)."""
    categories, problems = read_faq(faq_dir, rel_dir)
    return categories, [str(p) for p in problems]


def read_faq(faq_dir: Path, rel_dir: str) -> tuple[list[FaqCategory], list[Problem]]:
    """Every FAQ category file, and the problems found, each with its file and line."""
    categories: list[FaqCategory] = []
    problems: list[Problem] = []
    if not faq_dir.is_dir():
        return categories, problems
    for path in sorted(faq_dir.glob("*.yml")):
        rel = f"{rel_dir}/{path.name}"
        document = _read(path, rel)
        if isinstance(document, Problem):
            problems.append(document)
            continue
        category, found = _category(_File(rel, document), path.stem)
        problems += found
        if category is not None:
            categories.append(category)
    return categories, problems


def _read(path: Path, rel: str) -> bounded_yaml.YamlDocument | Problem:
    """The file's YAML, bounded (see :mod:`runbook.source.bounded_yaml`), or why not."""
    try:
        return bounded_yaml.compose(bounded_yaml.read_limited(path, rel).decode("utf-8"), rel)
    except UnicodeDecodeError as exc:
        return Problem(rel, f"not UTF-8 text (byte {exc.start}); save it as UTF-8")
    except (OSError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return Problem(rel, f"not valid YAML: {getattr(exc, 'problem', exc)}", line)
    except InputTooLarge as exc:
        return exc.problems[0]


@dataclass(frozen=True)
class _File:
    """One FAQ file's YAML: problems found in it get the line of the key they are about."""

    rel: str
    document: bounded_yaml.YamlDocument

    def problem(self, message: str, *path: str | int) -> Problem:
        key = next((step for step in reversed(path) if isinstance(step, str)), None)
        return Problem(self.rel, message, self.document.line(*path) or 1, key)


def _category(file: _File, slug: str) -> tuple[FaqCategory | None, list[Problem]]:
    data = file.document.data
    if not isinstance(data, dict):
        return None, [file.problem("expected a mapping with title and entries")]
    problems = [
        file.problem(f"unknown key '{k}' (known: {', '.join(CATEGORY_KEYS)})", str(k))
        for k in data
        if k not in CATEGORY_KEYS
    ]
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        problems.append(file.problem("'title' is required", "title"))
    entries_data = data.get("entries")
    if not isinstance(entries_data, list) or not entries_data:
        return None, [*problems, file.problem("'entries' must be a non-empty list", "entries")]
    entries = []
    for number, item in enumerate(entries_data, start=1):
        entry, found = _entry(item, number, file)
        problems += found
        if entry is not None:
            entries.append(entry)
    if problems:
        return None, problems
    return FaqCategory(
        slug, file.rel, data["title"].strip(), str(data.get("description") or ""), tuple(entries)
    ), []


def _entry(item: Any, number: int, file: _File) -> tuple[FaqEntry | None, list[Problem]]:
    where, at = f"entry {number}", ("entries", number)
    if not isinstance(item, dict):
        return None, [file.problem(f"{where}: expected a mapping with question and answer", *at)]
    problems = [
        file.problem(f"{where}: unknown key '{k}' (known: {', '.join(ENTRY_KEYS)})", *at, str(k))
        for k in item
        if k not in ENTRY_KEYS
    ]
    for key in ("question", "answer"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(file.problem(f"{where}: '{key}' is required text", *at, key))
    lists = {}
    for key in ("tags", "runbooks"):
        value = item.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(file.problem(f"{where}: '{key}' must be a list of words", *at, key))
            value = []
        lists[key] = tuple(value)
    if problems:
        return None, problems
    lines = tuple(file.document.line(*at, "runbooks", i) or 0 for i in range(1, len(lists["runbooks"]) + 1))
    return FaqEntry(
        item["question"].strip(), item["answer"].strip(), lists["tags"], lists["runbooks"], lines
    ), []


def unknown_runbooks(categories: list[FaqCategory], slugs: set[str]) -> list[str]:
    """Problems for entries that name runbooks the project does not have."""
    return [str(p) for p in unknown_runbook_problems(categories, slugs)]


def unknown_runbook_problems(categories: list[FaqCategory], slugs: set[str]) -> list[Problem]:
    """:func:`unknown_runbooks`, each problem with its file and the line of the slug."""
    problems = []
    for category in categories:
        for number, entry in enumerate(category.entries, start=1):
            lines = entry.runbook_lines or (0,) * len(entry.runbooks)
            for slug, line in zip(entry.runbooks, lines, strict=True):
                if slug not in slugs:
                    message = (
                        f"entry {number} ({entry.question!r}) names runbook '{slug}', "
                        "which does not exist; fix the slug or remove it"
                    )
                    problems.append(Problem(category.source, message, line, "runbooks"))
    return problems
