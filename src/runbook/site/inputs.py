"""What a render reads, gathered from a project and its run store in one place.

:func:`collect_inputs` parses the notebooks (through the parse cache), reads the run
records, the FAQ and the docs folder's facts, and hands them to the renderer as one
:class:`~runbook.render.site.RenderInputs` value. :func:`render_project` is the entry point
of the site adapters: gather, render (with the render cache), then prune the parse cache,
so every cache is written by the stage that owns it.
"""

from __future__ import annotations

from datetime import datetime

from runbook.errors import Problem
from runbook.render.cache import RenderCache
from runbook.render.faq import load_faq
from runbook.render.site import OVERVIEW_PAGES, RENDER_CACHE, RenderInputs, Site, render_site
from runbook.render.templates import OVERRIDES, PACKAGE_TEMPLATES
from runbook.source.alerts import RuleFiles, expand_patterns, read_rule_files
from runbook.source.project import Project
from runbook.store import RunStore, project_store

CLASH = "runbook name '{slug}' is used by {paths}"


def collect_inputs(project: Project, store: RunStore) -> RenderInputs:
    """Everything the renderer needs from ``project`` and ``store``, as values.

    Parse errors, slug clashes, FAQ problems and runs the store skipped become warnings
    of the render, so a ``--strict`` build fails on them.
    """
    from runbook.ops import commands as shortest_commands

    parse_errors: list[str] = []
    runbooks = project.runbooks(on_error=lambda exc: parse_errors.append(str(exc)))
    records = store.by_slug()
    faq_dir = project.docs_dir / "faq"
    categories, faq_problems = load_faq(faq_dir, project.relative(faq_dir))
    rules = read_alert_rules(project)
    return RenderInputs(
        runbooks=tuple(runbooks),
        records=records,
        notebook=store.notebook,
        faq=tuple(categories),
        pages={rb.slug: project.page_path(rb) for rb in runbooks},
        docs_dir=project.relative(project.docs_dir),
        handwritten=frozenset(p for p in OVERVIEW_PAGES if (project.docs_dir / p).exists()),
        template_folders=(project.root / OVERRIDES, PACKAGE_TEMPLATES),
        parse_errors=tuple(parse_errors),
        clashes=tuple(
            CLASH.format(slug=slug, paths=", ".join(map(project.relative, paths)))
            for slug, paths in project.clashes().items()
        ),
        faq_problems=tuple(faq_problems),
        store_problems=tuple(store.problems),  # read after by_slug(), which fills it
        alert_rules=rules.alerts,
        alert_rules_configured=bool(project.settings.alert_rules),
        alert_problems=tuple(str(p) for p in rules.problems),
        site_url=project.settings.site_url,
        commands=shortest_commands(project),
        project_root=str(project.root),
    )


def read_alert_rules(project: Project) -> RuleFiles:
    """The alerts of the rule files the plugin's ``alert_rules`` names; a pattern that
    matches no file is a problem, like a file that cannot be read."""
    paths, unmatched = expand_patterns(project.settings.alert_rules, project.root)
    rules = read_rule_files(paths, project.root)
    missing = tuple(Problem(project.relative(project.config_file), m) for m in unmatched)
    return RuleFiles(rules.files, rules.alerts, missing + rules.problems)


def render_project(project: Project, *, now: datetime | None = None, use_cache: bool = True) -> Site:
    """Render the site of ``project``: gather its inputs, render, prune the parse cache.

    Args:
        project: the project to render.
        now: the build time (default: the clock).
        use_cache: take unchanged notebooks from the render cache (``.runbook/cache/render``)
            and prune the caches of entries nothing used.

    Returns:
        The pages, assets and warnings of the site.
    """
    inputs = collect_inputs(project, project_store(project))
    cache = RenderCache(project.root / RENDER_CACHE) if use_cache else None
    site = render_site(inputs, now=now, cache=cache)
    if use_cache:
        project.prune_parse_cache()
    return site
