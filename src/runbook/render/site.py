"""The render orchestrator: the render inputs, as values, become the site's pages.

:func:`render_site` takes a :class:`RenderInputs` (parsed runbooks, run records, a way to
read a run's notebook, the FAQ, page paths, the docs folder's facts, the problems found
while gathering them) and returns plain values (pages as Markdown by docs-relative path,
asset files, the sources they replace, warnings). It reads no project files and writes
no cache but its own. Gathering the inputs is the site stage's job
(:func:`runbook.site.inputs.collect_inputs`); the MkDocs plugin and ``runbook render`` are
two adapters that publish the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from runbook import forked
from runbook.errors import RunbookError
from runbook.record.model import RunRecord
from runbook.record.standing import Standing, standing
from runbook.render import overview
from runbook.render.alerts import (
    ALERTS_INDEX,
    AlertMap,
    PageAlert,
    alerts_index,
    index_rows,
    map_alerts,
    page_alerts,
)
from runbook.render.cache import RenderCache
from runbook.render.cache import key as cache_key
from runbook.render.faq import FaqCategory, unknown_runbooks
from runbook.render.pages import HISTORY, FaqLink, link, run_page, run_page_path, runbook_page
from runbook.render.templates import Templates
from runbook.render.text import Commands, iso_utc
from runbook.render.trends import TREND_RUNS
from runbook.source.alerts import AlertRule
from runbook.source.model import Runbook

DASHBOARD = "runbooks/index.md"
CALENDAR = "runbooks/calendar.md"
FAQ_INDEX = "faq/index.md"
TRAINING_INDEX = "training/index.md"
#: Pages generated unless the docs folder has one of its own at that path.
OVERVIEW_PAGES = (DASHBOARD, CALENDAR, FAQ_INDEX, TRAINING_INDEX, ALERTS_INDEX)
RENDER_CACHE = ".runbook/cache/render"
#: Stands for the build time in cached overview pages; replaced on every render.
BUILT_AT = "\x00built-at\x00"
#: Notebooks to render before a helper process is worth forking.
HELPER_MIN = 100

NotebookLoader = Callable[[RunRecord], dict[str, Any] | None]


@dataclass(frozen=True)
class RenderInputs:
    r"""Everything a render reads, gathered beforehand.

    Attributes:
        runbooks: parsed notebooks with a unique slug, in slug order.
        records: every runbook's runs by slug, newest first.
        notebook: the executed notebook of a run (None when it has none or it is unreadable).
        faq: the FAQ categories.
        pages: each notebook's page, docs-relative, by slug.
        docs_dir: the docs folder, relative to the project root (``docs``).
        handwritten: the :data:`OVERVIEW_PAGES` the docs folder has by hand.
        template_folders: where templates are looked up, first folder first.
        parse_errors: notebooks that did not parse, one line each.
        clashes: slugs used by more than one file, one line each.
        faq_problems: FAQ files and entries that are malformed, one line each.
        store_problems: runs the store skipped as unreadable, one line each.
        alert_rules: the alerts of the rule files the site reads (the plugin's ``alert_rules``).
        alert_rules_configured: whether the site reads rule files at all.
        alert_problems: rule files that could not be read, one line each.
        site_url: mkdocs.yml's ``site_url``, to resolve absolute ``runbook_url``\ s.
        commands: writes the pages' Run it commands (knowing the profiles: the shortest).
        project_root: the project's folder; tracebacks show paths under it relative to it.
    """

    runbooks: Sequence[Runbook]
    records: Mapping[str, Sequence[RunRecord]]
    notebook: NotebookLoader
    faq: Sequence[FaqCategory]
    pages: Mapping[str, str]
    docs_dir: str
    handwritten: frozenset[str]
    template_folders: tuple[Path, ...]
    parse_errors: Sequence[str] = ()
    clashes: Sequence[str] = ()
    faq_problems: Sequence[str] = ()
    store_problems: Sequence[str] = ()
    alert_rules: Sequence[AlertRule] = ()
    alert_rules_configured: bool = False
    alert_problems: Sequence[str] = ()
    site_url: str | None = None
    commands: Commands = field(default_factory=Commands)
    project_root: str | None = None


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
        notebooks: the notebooks whose pages it holds.
        rendered: how many of them this render rendered (the others came from the cache).
    """

    pages: dict[str, str] = field(default_factory=dict)
    assets: dict[str, bytes] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    notebooks: int = 0
    rendered: int = 0


@dataclass(frozen=True)
class _Render:
    """What every part of one render shares."""

    inputs: RenderInputs
    templates: Templates
    cache: RenderCache | None


def render_site(
    inputs: RenderInputs, *, now: datetime | None = None, cache: RenderCache | None = None
) -> Site:
    """Render every notebook, its recent runs, the overview pages, the FAQ and training.

    Args:
        inputs: what to render.
        now: the build time the dashboard shows, and the time standings are computed at
            (default: the clock).
        cache: with a render cache, a notebook whose source, runs, standing and templates
            are unchanged since an earlier render is taken from it, and entries no runbook
            uses any more are pruned (:mod:`runbook.prune`).

    Returns:
        The pages, assets and warnings of the site.
    """
    now = now or datetime.now(timezone.utc)
    site = Site(warnings=[*inputs.parse_errors, *inputs.clashes, *inputs.faq_problems])
    site.warnings += unknown_runbooks(list(inputs.faq), {rb.slug for rb in inputs.runbooks})
    site.warnings += inputs.store_problems
    site.warnings += inputs.alert_problems
    render = _Render(inputs, Templates.load(inputs.template_folders), cache)
    faq_links = _faq_links(inputs.faq)
    docs_prefix = inputs.docs_dir + "/"
    tracks = training_tracks(list(inputs.runbooks))
    standings = {}
    alerts = map_alerts(inputs.runbooks, inputs.pages, inputs.alert_rules, inputs.site_url)
    notebooks = []
    for runbook in inputs.runbooks:
        runs = list(inputs.records.get(runbook.slug, ()))
        standings[runbook.slug] = standing(runbook, runs, now)
        links = faq_links.get(runbook.slug, [])
        shown = alerts.by_slug.get(runbook.slug, ())
        notebooks.append(_Notebook(runbook, standings[runbook.slug], runs[:TREND_RUNS], links, shown))
    site.notebooks = len(notebooks)
    helper = _Helper.start(render, notebooks)
    try:
        for notebook in notebooks:
            runbook, page = notebook.runbook, inputs.pages[notebook.runbook.slug]
            _render_notebook(render, site, notebook)
            site.pages[page] += _training_footer(render, runbook, page, tracks)
            if runbook.path.startswith(docs_prefix):
                site.replaced.add(page)
    finally:
        if helper is not None:
            helper.stop()
    _render_overview(render, site, standings, now)
    _render_alerts(render, site, alerts, standings)
    _render_faq(render, site)
    _render_training(render, site, tracks)
    if cache:
        cache.prune_unused()
    return site


class _Notebook(NamedTuple):
    """What a notebook's pages show: its standing, newest runs (enough for the trend
    charts; the history table and the run pages show the first :data:`HISTORY` of them),
    the FAQ entries and alerts that point to it."""

    runbook: Runbook
    standing: Standing
    runs: list[RunRecord]
    faq_links: list[FaqLink]
    alerts: Sequence[PageAlert]


class _Helper:
    """A forked process rendering notebooks from the last into the render cache while
    the build renders from the first, and takes the helper's from the cache when it gets
    there. Only with a render cache, enough notebooks not in it, and a second core
    (:func:`runbook.forked.can_fork`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    @classmethod
    def start(cls, render: _Render, notebooks: list[_Notebook]) -> _Helper | None:
        cache = render.cache
        if cache is None or len(notebooks) < HELPER_MIN or not forked.can_fork():
            return None
        if cache.contains(_notebook_key(render, notebooks[-1])):
            return None  # a warm cache: nothing for a helper to do

        def render_from_the_last() -> None:
            for notebook in reversed(notebooks):
                entry_key = _notebook_key(render, notebook)
                if cache.contains(entry_key):
                    return  # the build got here (or an earlier one did)
                cache.put(entry_key, *_notebook_pages(render, notebook))

        pid = forked.fork(render_from_the_last)
        return cls(pid) if pid else None

    def stop(self) -> None:
        """End the helper (what it renders now, the build has rendered) and reap it."""
        forked.reap(self.pid)


def _notebook_key(render: _Render, notebook: _Notebook) -> str:
    runbook, facts = notebook.runbook, notebook[1:]
    page = render.inputs.pages[runbook.slug]
    return _cache_key(runbook, page, *facts, render.templates, render.inputs.commands)


def _render_notebook(render: _Render, site: Site, notebook: _Notebook) -> None:
    """Add a notebook's page and its run pages to ``site``, from the cache when unchanged."""
    page, cache = render.inputs.pages[notebook.runbook.slug], render.cache
    entry_key = _notebook_key(render, notebook) if cache else ""
    cached = cache.get(entry_key) if cache else None
    if cached is None:
        pages, assets = _notebook_pages(render, notebook)
        site.rendered += 1
        if cache:
            cache.put(entry_key, pages, assets)
    else:
        pages, assets = cached
    site.pages.update(pages)
    site.assets.update(assets)
    site.hidden.update(p for p in pages if p != page)


def _notebook_pages(render: _Render, notebook: _Notebook) -> tuple[dict[str, str], dict[str, bytes]]:
    runbook, standing_, runs, faq_links, alerts = notebook
    page = render.inputs.pages[runbook.slug]
    history = runs[:HISTORY]
    notebooks = {r.run_id: render.inputs.notebook(r) for r in history}
    latest = history[0] if history else None
    templates = render.templates
    roots = (render.inputs.project_root,) if render.inputs.project_root else ()
    rendered = runbook_page(
        runbook,
        page,
        standing_,
        history,
        notebooks.get(latest.run_id) if latest else None,
        faq_links,
        templates,
        page_alerts(alerts),
        render.inputs.commands,
        runs=runs,
        intro=_training_intro(render, runbook),
        roots=roots,
    )
    pages, assets = {page: rendered.markdown}, dict(rendered.assets)
    for record in history:
        run = run_page(
            runbook, record, notebooks.get(record.run_id), page, templates, render.inputs.commands, roots
        )
        pages[run_page_path(record.slug, record.run_id)] = run.markdown
        assets.update(run.assets)
    return pages, assets


def _cache_key(
    runbook: Runbook,
    page: str,
    standing_: Standing,
    runs: list[RunRecord],
    faq_links: list[FaqLink],
    alerts: Sequence[PageAlert],
    templates: Templates,
    commands: Commands,
) -> str:
    verified = standing_.last_verified
    return cache_key(
        runbook.source_hash,
        runbook.path,
        page,
        [(r.run_id, r.status) for r in runs],
        [standing_.state, standing_.changed, verified.run_id if verified else None],
        [(f.question, f.page, f.anchor) for f in faq_links],
        standing_.next_due.isoformat() if standing_.next_due else None,
        [(a.name, a.severity) for a in alerts],
        templates.digest,
        commands.digest,
    )


def _faq_links(categories: Sequence[FaqCategory]) -> dict[str, list[FaqLink]]:
    links: dict[str, list[FaqLink]] = {}
    for category in categories:
        for entry in category.entries:
            for slug in entry.runbooks:
                links.setdefault(slug, []).append(FaqLink(entry.question, category.page, entry.anchor))
    return links


def _render_overview(render: _Render, site: Site, standings: dict[str, Standing], now: datetime) -> None:
    """The dashboard and the calendar, from the cache while no row changed.

    The build time the dashboard prints is filled in after the cache, so it alone never
    makes the thousand-row pages render again.
    """
    wanted = [p for p in (DASHBOARD, CALENDAR) if p not in render.inputs.handwritten]
    if not wanted:
        return
    cache, templates = render.cache, render.templates
    operational = [rb for rb in render.inputs.runbooks if rb.meta.kind == "runbook"]
    pages = {rb.slug: render.inputs.pages[rb.slug] for rb in operational}
    rows = [standings[rb.slug] for rb in operational]
    facts = [overview.facts(r, pages) for r in rows] if cache else []
    # The calendar is drawn from today's month: a new day may move what it shows.
    entry_key = (
        cache_key("overview", wanted, facts, now.date().isoformat(), templates.digest) if cache else ""
    )
    cached = cache.get(entry_key) if cache else None
    if cached is None:
        renderers = {
            DASHBOARD: lambda: overview.dashboard(rows, pages, BUILT_AT, templates),
            CALENDAR: lambda: overview.calendar(rows, pages, templates, now),
        }
        cached = {p: renderers[p]() for p in wanted}, {}
        if cache:
            cache.put(entry_key, *cached)
    for path, markdown in cached[0].items():
        site.pages[path] = markdown.replace(BUILT_AT, iso_utc(now))


def _render_alerts(render: _Render, site: Site, alerts: AlertMap, standings: dict[str, Standing]) -> None:
    """The alerts index, when any runbook has alerts or the site reads rule files."""
    inputs = render.inputs
    if ALERTS_INDEX in inputs.handwritten or not (alerts.by_slug or inputs.alert_rules_configured):
        return
    rows = index_rows(alerts, standings, inputs.pages)
    cache = render.cache
    entry_key = cache_key("alerts", rows, render.templates.digest) if cache else ""
    cached = cache.get(entry_key) if cache else None
    if cached is None:
        cached = {ALERTS_INDEX: alerts_index(rows, render.templates)}, {}
        if cache:
            cache.put(entry_key, *cached)
    site.pages.update(cached[0])


def _render_faq(render: _Render, site: Site) -> None:
    inputs = render.inputs
    runbooks = {rb.slug: rb for rb in inputs.runbooks}
    for category in inputs.faq:
        entries = [
            {
                "question": entry.question,
                "answer": entry.answer,
                "tags": entry.tags,
                "runbooks": [
                    {"title": runbooks[s].meta.title, "link": link(category.page, inputs.pages[s])}
                    for s in entry.runbooks
                    if s in runbooks
                ],
            }
            for entry in category.entries
        ]
        site.pages[category.page] = render.templates.markdown(
            "faq.md.j2",
            title=category.title,
            description=category.description or category.title,
            entries=entries,
        )
        site.replaced.add(category.source[len(inputs.docs_dir) + 1 :])
    if inputs.faq and FAQ_INDEX not in inputs.handwritten:
        site.pages[FAQ_INDEX] = render.templates.markdown(
            "faq_index.md.j2",
            categories=[
                {
                    "title": c.title,
                    "link": link(FAQ_INDEX, c.page),
                    "questions": [
                        {"text": e.question, "link": link(FAQ_INDEX, c.page) + "#" + e.anchor}
                        for e in c.entries
                    ],
                }
                for c in inputs.faq
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


def _render_training(render: _Render, site: Site, tracks: dict[str, list[Runbook]]) -> None:
    if not any(tracks.values()) or TRAINING_INDEX in render.inputs.handwritten:
        return
    site.pages[TRAINING_INDEX] = render.templates.markdown(
        "training_index.md.j2",
        tracks=[
            {
                "level": level,
                "title": TRACKS[level][0],
                "description": TRACKS[level][1],
                "pages": [
                    {
                        "title": p.meta.title,
                        "summary": p.meta.summary,
                        "link": link(TRAINING_INDEX, render.inputs.pages[p.slug]),
                    }
                    for p in pages
                ],
            }
            for level, pages in tracks.items()
        ],
    )


def _training_intro(render: _Render, runbook: Runbook) -> str:
    """A training page's track, objectives and prerequisites: what a learner reads first."""
    meta = runbook.meta
    if meta.kind != "training" or meta.level not in TRACKS:
        return ""
    return render.templates.markdown(
        "training_about.md.j2",
        level=meta.level,
        track=TRACKS[meta.level][0],
        objectives=list(meta.objectives),
        prerequisites=list(meta.prerequisites),
    )


def _training_footer(render: _Render, runbook: Runbook, page: str, tracks: dict[str, list[Runbook]]) -> str:
    """The previous/next links of a training page in its track."""
    meta = runbook.meta
    if meta.kind != "training" or meta.level not in TRACKS:
        return ""
    track = tracks[meta.level]
    position = next((i for i, r in enumerate(track) if r.slug == runbook.slug), 0)
    return render.templates.markdown(
        "training_footer.md.j2",
        previous=_neighbour(render, track, position - 1, page),
        next=_neighbour(render, track, position + 1, page),
    )


def _neighbour(render: _Render, track: list[Runbook], index: int, page: str) -> dict[str, str] | None:
    if not 0 <= index < len(track):
        return None
    return {"title": track[index].meta.title, "link": link(page, render.inputs.pages[track[index].slug])}


def write_site(site: Site, out: Path, docs_dir: Path) -> list[Path]:
    """Write a complete docs tree to ``out``: the docs folder, minus what the site
    replaces, plus every generated page and asset. ``mkdocs build`` over it, without
    the plugin, gives the same site.
    """
    import shutil

    if out.exists():
        raise RunbookError(f"{out}: already exists; give a new folder or remove it first")
    written = []
    for rel, content in site_files(site, docs_dir).items():
        if isinstance(content, Path):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(content, out / rel)
        else:
            written.append(_write(out / rel, content))
    return written


def site_files(site: Site, docs_dir: Path) -> dict[str, bytes | Path]:
    """The complete docs tree, by docs-relative path: the docs folder's files (as their
    paths) minus what the site replaces, then every generated page and asset (as bytes)."""
    files: dict[str, bytes | Path] = {}
    for folder, dirs, names in os.walk(docs_dir, followlinks=True):
        rel = Path(folder).relative_to(docs_dir).as_posix()
        prefix = "" if rel == "." else rel + "/"
        dirs[:] = sorted(d for d in dirs if prefix + d not in site.replaced)
        for name in sorted(names):
            if prefix + name not in site.replaced:
                files[prefix + name] = Path(folder, name)
    for rel, text in site.pages.items():
        files[rel] = text.encode("utf-8")
    files.update(site.assets)
    return files


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
