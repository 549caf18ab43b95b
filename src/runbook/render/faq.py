"""The FAQ as data: ``docs/faq/<category>.yml`` files become one page per category.

Each file holds ``title`` and ``entries``; each entry a ``question``, an ``answer`` in
Markdown, and optional ``tags`` and ``runbooks`` (slugs). Every question is a heading, so
search lands on the question; runbook pages list the questions that point to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from markdown.extensions.toc import slugify

CATEGORY_KEYS = ("title", "description", "entries")
ENTRY_KEYS = ("question", "answer", "tags", "runbooks")


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str
    tags: tuple[str, ...]
    runbooks: tuple[str, ...]

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
    categories: list[FaqCategory] = []
    problems: list[str] = []
    if not faq_dir.is_dir():
        return categories, problems
    for path in sorted(faq_dir.glob("*.yml")):
        rel = f"{rel_dir}/{path.name}"
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(f"{rel}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
            continue
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{rel}: not valid YAML: {getattr(exc, 'problem', exc)}")
            continue
        category, found = _category(data, path.stem, rel)
        problems += found
        if category is not None:
            categories.append(category)
    return categories, problems


def _category(data: Any, slug: str, rel: str) -> tuple[FaqCategory | None, list[str]]:
    if not isinstance(data, dict):
        return None, [f"{rel}: expected a mapping with title and entries"]
    problems = [
        f"{rel}: unknown key '{k}' (known: {', '.join(CATEGORY_KEYS)})"
        for k in data
        if k not in CATEGORY_KEYS
    ]
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        problems.append(f"{rel}: 'title' is required")
    entries_data = data.get("entries")
    if not isinstance(entries_data, list) or not entries_data:
        return None, [*problems, f"{rel}: 'entries' must be a non-empty list"]
    entries = []
    for number, item in enumerate(entries_data, start=1):
        entry, found = _entry(item, f"{rel}: entry {number}")
        problems += found
        if entry is not None:
            entries.append(entry)
    if problems:
        return None, problems
    return FaqCategory(
        slug, rel, data["title"].strip(), str(data.get("description") or ""), tuple(entries)
    ), []


def _entry(item: Any, where: str) -> tuple[FaqEntry | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"{where}: expected a mapping with question and answer"]
    problems = [
        f"{where}: unknown key '{k}' (known: {', '.join(ENTRY_KEYS)})" for k in item if k not in ENTRY_KEYS
    ]
    for key in ("question", "answer"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(f"{where}: '{key}' is required text")
    lists = {}
    for key in ("tags", "runbooks"):
        value = item.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{where}: '{key}' must be a list of words")
            value = []
        lists[key] = tuple(value)
    if problems:
        return None, problems
    return FaqEntry(item["question"].strip(), item["answer"].strip(), lists["tags"], lists["runbooks"]), []


def unknown_runbooks(categories: list[FaqCategory], slugs: set[str]) -> list[str]:
    """Problems for entries that name runbooks the project does not have."""
    problems = []
    for category in categories:
        for number, entry in enumerate(category.entries, start=1):
            for slug in entry.runbooks:
                if slug not in slugs:
                    problems.append(
                        f"{category.source}: entry {number} ({entry.question!r}) names runbook '{slug}', "
                        "which does not exist; fix the slug or remove it"
                    )
    return problems
