"""``runbook new``: a new runbook, training page or FAQ category, written from a template.

The templates are files (``templates/new/*.j2``); a project overrides one by putting a file
of the same name in ``overrides/runbook/new/``. A runbook or training page written here
passes ``runbook check`` and runs in the ``local`` profile as it is; nothing is ever
overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from runbook.errors import ProjectError
from runbook.render.templates import OVERRIDES, PACKAGE_TEMPLATES
from runbook.source.project import Project

KINDS = ("runbook", "training", "faq")
LEVELS = ("L1", "L2", "L3", "L4")
TEMPLATES = {"runbook": "runbook.md.j2", "training": "training.md.j2", "faq": "faq.yml.j2"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$")

BAD_NAME = (
    "'{name}' cannot be a name; use lower-case letters, digits and dashes, "
    "with '/' for a folder (e.g. db/failover)"
)
NO_FOLDERS = "'{name}': only a runbook's name may have folders; give the {kind} a plain name"
EXISTS = "{path} already exists; pick another name or edit that file"
SLUG_TAKEN = "a notebook named '{slug}' exists already ({path}); pick another name"


@dataclass(frozen=True)
class Scaffolded:
    """What ``runbook new`` wrote: the file, relative to the project, and its kind."""

    path: str
    kind: str
    slug: str


def new(
    project: Project, name: str, kind: str, *, title: str | None, owner: str, level: str = "L1"
) -> Scaffolded:
    """Write a new ``kind`` (runbook, training, faq) named ``name`` from its template.

    A runbook goes to ``runbooks/NAME.md`` (``NAME`` may hold folders: ``db/failover``),
    a training page to ``docs/training/<level>/NAME.md``, an FAQ category to
    ``docs/faq/NAME.yml``.

    Raises:
        ProjectError: a bad name, a file that exists, or a notebook name already in use.
    """
    if not _NAME.match(name):
        raise ProjectError(BAD_NAME.format(name=name))
    if "/" in name and kind != "runbook":
        raise ProjectError(NO_FOLDERS.format(name=name, kind=kind))
    slug = name.rsplit("/", 1)[-1]
    target = _target(project, name, kind, level)
    rel = project.relative(target)
    if target.exists() or target.is_symlink():
        raise ProjectError(EXISTS.format(path=rel))
    if kind != "faq" and slug in project.sources:
        raise ProjectError(SLUG_TAKEN.format(slug=slug, path=project.relative(project.sources[slug][0])))
    text = _render(project, kind, title=title or _title(slug), owner=owner, level=level, slug=slug)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as file:  # never over a file made meanwhile
        file.write(text)
    return Scaffolded(rel, kind, slug)


def _target(project: Project, name: str, kind: str, level: str) -> Path:
    if kind == "runbook":
        return project.runbooks_dir / f"{name}.md"
    if kind == "training":
        return project.docs_dir / "training" / level.lower() / f"{name}.md"
    return project.docs_dir / "faq" / f"{name}.yml"


def _title(slug: str) -> str:
    """``db-failover`` -> ``Db failover``."""
    words = slug.replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _render(project: Project, kind: str, **values: str) -> str:
    import jinja2

    folders = [project.root / OVERRIDES / "new", PACKAGE_TEMPLATES / "new"]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown and YAML; values are quoted with the yaml filter
    )
    environment.filters["yaml"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return environment.get_template(TEMPLATES[kind]).render(**values)
