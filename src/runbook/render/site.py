"""The render orchestrator: a project's sources and run store become the site's pages.

:func:`render_site` returns plain values (pages as Markdown by docs-relative path, asset
files, the sources they replace, warnings); the MkDocs plugin and ``runbook render`` are
two adapters that publish them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runbook.errors import RunbookError
from runbook.source.model import Runbook
from runbook.source.project import Project
from runbook.record.model import RunRecord
from runbook.render import overview
from runbook.render.cache import RenderCache, templates_fingerprint
from runbook.render.cache import key as cache_key
from runbook.render.faq import FaqCategory, load_faq, unknown_runbooks
from runbook.render.pages import HISTORY, FaqLink, link, run_page, run_page_path, runbook_page
from runbook.render.templates import OVERRIDES, render
from runbook.render.text import iso_utc
from runbook.record.standing import standing
from runbook.store import open_store

DASHBOARD = "runbooks/index.md"
CALENDAR = "runbooks/calendar.md"
FAQ_INDEX = "faq/index.md"
TRAINING_INDEX = "training/index.md"
RENDER_CACHE = ".runbook/cache/render"
#: Stands for the build time in cached overview pages; replaced on every render.
BUILT_AT = "\x00built-at\x00"


@dataclass
class Site:
    """Everything the renderer produced.

    Attributes:
        pages: Markdown by docs-relative path.
        assets: asset files by docs-relative path.
        replaced: docs-relative sources that must not be published as they are (notebook
            pages, replaced by their rendered version; the FAQ's YAML files).
        hidden: generated pages kept out of the navigation (run pages).
        warnings: problems a ``--strict`` build fails on, each naming its file.
    """

    pages: dict[str, str] = field(default_factory=dict)
    assets: dict[str, bytes] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def render_site(project: Project, now: datetime | None = None, *, use_cache: bool = True) -> Site:
    """Render every notebook, its recent runs, the overview pages, the FAQ and training.

    With ``use_cache``, a notebook whose source, runs and standing are unchanged since an
    earlier render is taken from the render cache (``.runbook/cache/render``), and cache
    entries no runbook uses any more are pruned (:mod:`runbook.prune`).
    """
    now = now or datetime.now(timezone.utc)
    site = Site()
    cache = RenderCache(project.root / RENDER_CACHE) if use_cache else None
    templates = templates_fingerprint(project.root / OVERRIDES)
    runbooks = project.runbooks(on_error=lambda exc: site.warnings.append(str(exc)))
    for slug, paths in project.clashes().items():
        site.warnings.append(f"runbook name '{slug}' is used by {', '.join(map(project.relative, paths))}")
    records = open_store(project.runs_dir).by_slug()
    faq_rel = project.relative(project.docs_dir / "faq")
    categories, problems = load_faq(project.docs_dir / "faq", faq_rel)
    site.warnings += problems + unknown_runbooks(categories, {rb.slug for rb in runbooks})
    faq_links = _faq_links(categories)
    docs_prefix = project.relative(project.docs_dir) + "/"
    tracks = training_tracks(runbooks)
    standings = {}
    for runbook in runbooks:
        page = project.page_path(runbook)
        history = records.get(runbook.slug, [])[:HISTORY]
        standings[runbook.slug] = standing(runbook, history[0] if history else None, now)
        links = faq_links.get(runbook.slug, [])
        _render_notebook(
            project, site, runbook, page, standings[runbook.slug], history, links, cache, templates
        )
        site.pages[page] += _training_footer(project, runbook, page, tracks)
        if runbook.path.startswith(docs_prefix):
            site.replaced.add(page)
    _render_overview(project, site, runbooks, standings, now, cache, templates)
    _render_faq(project, site, categories, {rb.slug: rb for rb in runbooks})
    _render_training(project, site, tracks)
    if cache:
        cache.prune_unused()
        project.prune_parse_cache()
    return site


def _notebook(store_root: Path, record: RunRecord) -> dict[str, Any] | None:
    path = store_root / record.slug / record.run_id / "notebook.ipynb"
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data
    except (OSError, ValueError):
        return None


def _render_notebook(
    project: Project,
    site: Site,
    runbook: Runbook,
    page: str,
    standing_: Any,
    history: list[RunRecord],
    faq_links: list[FaqLink],
    cache: RenderCache | None,
    templates: list[tuple[str, int]],
) -> None:
    """Add a notebook's page and its run pages to ``site``, from the cache when unchanged."""
    entry_key = _cache_key(runbook, page, standing_, history, faq_links, templates) if cache else ""
    cached = cache.get(entry_key) if cache else None
    if cached is None:
        pages, assets = _notebook_pages(project, runbook, page, standing_, history, faq_links)
        if cache:
            cache.put(entry_key, pages, assets)
    else:
        pages, assets = cached
    site.pages.update(pages)
    site.assets.update(assets)
    site.hidden.update(p for p in pages if p != page)


def _notebook_pages(
    project: Project,
    runbook: Runbook,
    page: str,
    standing_: Any,
    history: list[RunRecord],
    faq_links: list[FaqLink],
) -> tuple[dict[str, str], dict[str, bytes]]:
    root = str(project.root)
    notebooks = {r.run_id: _notebook(project.runs_dir, r) for r in history if r.status != "abandoned"}
    latest = history[0] if history else None
    rendered = runbook_page(
        runbook,
        page,
        standing_,
        history,
        notebooks.get(latest.run_id) if latest else None,
        faq_links,
        root,
    )
    pages, assets = {page: rendered.markdown}, dict(rendered.assets)
    for record in history:
        run = run_page(runbook, record, notebooks.get(record.run_id), page, root)
        pages[run_page_path(record.slug, record.run_id)] = run.markdown
        assets.update(run.assets)
    return pages, assets


def _cache_key(
    runbook: Runbook,
    page: str,
    standing_: Any,
    history: list[RunRecord],
    faq_links: list[FaqLink],
    templates: list[tuple[str, int]],
) -> str:
    return cache_key(
        runbook.source_hash,
        runbook.path,
        page,
        [(r.run_id, r.status) for r in history],
        [standing_.state, standing_.changed],
        [(f.question, f.page, f.anchor) for f in faq_links],
        standing_.next_due.isoformat() if standing_.next_due else None,
        templates,
    )


def _faq_links(categories: list[FaqCategory]) -> dict[str, list[FaqLink]]:
    links: dict[str, list[FaqLink]] = {}
    for category in categories:
        for entry in category.entries:
            for slug in entry.runbooks:
                links.setdefault(slug, []).append(FaqLink(entry.question, category.page, entry.anchor))
    return links


def _render_overview(
    project: Project,
    site: Site,
    runbooks: list[Runbook],
    standings: dict[str, Any],
    now: datetime,
    cache: RenderCache | None,
    templates: list[tuple[str, int]],
) -> None:
    """The dashboard and the calendar, from the cache while no row changed.

    The build time the dashboard prints is filled in after the cache, so it alone never
    makes the thousand-row pages render again.
    """
    wanted = [p for p in (DASHBOARD, CALENDAR) if not (project.docs_dir / p).exists()]
    if not wanted:
        return
    operational = [rb for rb in runbooks if rb.meta.kind == "runbook"]
    pages = {rb.slug: project.page_path(rb) for rb in operational}
    rows = [standings[rb.slug] for rb in operational]
    facts = [overview.facts(r, pages) for r in rows] if cache else []
    entry_key = cache_key("overview", wanted, facts, templates) if cache else ""
    cached = cache.get(entry_key) if cache else None
    if cached is None:
        root = str(project.root)
        renderers = {
            DASHBOARD: lambda: overview.dashboard(rows, pages, BUILT_AT, root),
            CALENDAR: lambda: overview.calendar(rows, pages, root),
        }
        cached = {p: renderers[p]() for p in wanted}, {}
        if cache:
            cache.put(entry_key, *cached)
    for path, markdown in cached[0].items():
        site.pages[path] = markdown.replace(BUILT_AT, iso_utc(now))


def _render_faq(
    project: Project, site: Site, categories: list[FaqCategory], runbooks: dict[str, Runbook]
) -> None:
    root = str(project.root)
    for category in categories:
        entries = [
            {
                "question": entry.question,
                "answer": entry.answer,
                "tags": entry.tags,
                "runbooks": [
                    {
                        "title": runbooks[s].meta.title,
                        "link": link(category.page, project.page_path(runbooks[s])),
                    }
                    for s in entry.runbooks
                    if s in runbooks
                ],
            }
            for entry in category.entries
        ]
        site.pages[category.page] = render(
            "faq.md.j2",
            root,
            title=category.title,
            description=category.description or category.title,
            entries=entries,
        )
        site.replaced.add(category.source[len(project.relative(project.docs_dir)) + 1 :])
    if categories and not (project.docs_dir / FAQ_INDEX).exists():
        site.pages[FAQ_INDEX] = render(
            "faq_index.md.j2",
            root,
            categories=[
                {
                    "title": c.title,
                    "link": link(FAQ_INDEX, c.page),
                    "questions": [
                        {"text": e.question, "link": link(FAQ_INDEX, c.page) + "#" + e.anchor}
                        for e in c.entries
                    ],
                }
                for c in categories
            ],
        )


TRACKS = {
    "L1": (
        "Basic user support",
        "Answer the common questions, find the right runbook, run read-only checks.",
    ),
    "L2": ("Technical issue resolution", "Diagnose failing checks, read logs and metrics, restore service."),
    "L3": (
        "Complex system issues",
        "Databases, backups and recovery, performance, incidents across services.",
    ),
    "L4": ("Architecture and development", "Change the system and its runbooks safely; own the design."),
}


def training_tracks(runbooks: list[Runbook]) -> dict[str, list[Runbook]]:
    """Training pages by level, in path order."""
    tracks: dict[str, list[Runbook]] = {level: [] for level in TRACKS}
    for runbook in sorted(runbooks, key=lambda r: r.path):
        if runbook.meta.kind == "training" and runbook.meta.level in tracks:
            tracks[runbook.meta.level].append(runbook)
    return tracks


def _render_training(project: Project, site: Site, tracks: dict[str, list[Runbook]]) -> None:
    if not any(tracks.values()) or (project.docs_dir / TRAINING_INDEX).exists():
        return
    site.pages[TRAINING_INDEX] = render(
        "training_index.md.j2",
        str(project.root),
        tracks=[
            {
                "level": level,
                "title": TRACKS[level][0],
                "description": TRACKS[level][1],
                "pages": [
                    {
                        "title": p.meta.title,
                        "summary": p.meta.summary,
                        "link": link(TRAINING_INDEX, project.page_path(p)),
                    }
                    for p in pages
                ],
            }
            for level, pages in tracks.items()
        ],
    )


def _training_footer(project: Project, runbook: Runbook, page: str, tracks: dict[str, list[Runbook]]) -> str:
    """Objectives, prerequisites and previous/next links of a training page."""
    meta = runbook.meta
    if meta.kind != "training" or meta.level not in TRACKS:
        return ""
    track = tracks[meta.level]
    position = next((i for i, r in enumerate(track) if r.slug == runbook.slug), 0)
    return render(
        "training_footer.md.j2",
        str(project.root),
        level=meta.level,
        track=TRACKS[meta.level][0],
        objectives=list(meta.objectives),
        prerequisites=list(meta.prerequisites),
        previous=_neighbour(project, track, position - 1, page),
        next=_neighbour(project, track, position + 1, page),
    )


def _neighbour(project: Project, track: list[Runbook], index: int, page: str) -> dict[str, str] | None:
    if not 0 <= index < len(track):
        return None
    return {"title": track[index].meta.title, "link": link(page, project.page_path(track[index]))}


def write_site(site: Site, out: Path, docs_dir: Path) -> list[Path]:
    """Write a complete docs tree to ``out``: the docs folder, minus what the site
    replaces, plus every generated page and asset. ``mkdocs build`` over it, without
    the plugin, gives the same site.
    """
    import shutil

    if out.exists():
        raise RunbookError(f"{out}: already exists; give a new folder or remove it first")
    written = []
    if docs_dir.is_dir():
        shutil.copytree(docs_dir, out, ignore=_ignore_replaced(docs_dir, site.replaced))
    for rel, text in site.pages.items():
        written.append(_write(out / rel, text.encode("utf-8")))
    for rel, data in site.assets.items():
        written.append(_write(out / rel, data))
    return written


def _ignore_replaced(docs_dir: Path, replaced: set[str]) -> Any:
    def ignore(folder: str, names: list[str]) -> list[str]:
        rel = Path(folder).relative_to(docs_dir).as_posix()
        prefix = "" if rel == "." else rel + "/"
        return [n for n in names if prefix + n in replaced]

    return ignore


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
