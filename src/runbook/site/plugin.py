"""The MkDocs plugin ``runbook``: publishes the rendered runbooks, runs, FAQ and training.

It adds every page the renderer produces with ``File.generated`` (nothing is written into
the docs folder), replaces notebook pages of the docs with their rendered version, keeps
run pages out of the navigation and the FAQ's YAML out of the site, and under
``mkdocs serve`` watches the runbooks, the run store, the profiles, the FAQ and the alert
rule files. Problems (a FAQ entry naming a missing runbook, a malformed runbook, a rule
file that cannot be read) are logged as warnings, so a ``--strict`` build fails on them.

Converted pages are kept between builds (:mod:`runbook.site.page_cache`): a page whose
Markdown and settings are unchanged, and whose links still land, is not converted again;
on a fresh clone a forked worker converts pages alongside MkDocs. Once every page is
converted, a second worker builds pages from the end of the list (:mod:`runbook.site.builder`)
while MkDocs builds from the start.

Run pages are built with the shipped theme template ``runbook/run.html`` (in
``templates/theme``, added to the theme's search path after the project's ``custom_dir``,
which may override it): the site navigation they carry is the same on every run page, so
it is rendered once per build rather than once per run.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from markupsafe import Markup
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel

from runbook.errors import RunbookError
from runbook.source.plugin_config import RunbookPluginConfig

log = logging.getLogger("mkdocs.plugins.runbook")
#: Titles MkDocs would derive from folder names, as they should read.
SECTION_TITLES = {"Faq": "FAQ"}
#: Theme templates the package ships, and the one run pages are built with.
THEME_DIR = Path(__file__).resolve().parent.parent / "templates" / "theme"
RUN_TEMPLATE = "runbook/run.html"
#: Where run pages live; the navigation is shared only while no nav entry lives there too.
RUNS_PREFIX = "runs/"


class RunbookPlugin(BasePlugin[RunbookPluginConfig]):
    supports_multiple_instances = False

    def __init__(self) -> None:
        self.project: Any = None
        self.run_pages: set[str] = set()
        self.shared_nav: dict[tuple[str, str], Markup] = {}
        self.share_nav = True
        self.pages: Any = None  # the page cache, while a build uses it
        self.converter: Any = None
        self.builder: Any = None  # the worker building pages, while a build uses one
        self.nav: Any = None
        self.logged: Any = None
        self.converting: dict[str, tuple[str, int, Any]] = {}  # pages MkDocs converts: key, log count, stash
        self.may_fork = True  # workers may be forked: not under serve or a --dirty build

    def on_startup(self, *, command: str, dirty: bool) -> None:
        # `serve` runs a watcher and a web server in threads: no forked worker there (its
        # rebuilds find the pages that did not change in the cache anyway); a --dirty
        # build skips pages, which the workers do not know of.
        self.may_fork = command != "serve" and not dirty

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        if not self.config.enabled:
            return config
        from runbook.source.config import Settings
        from runbook.source.project import Project

        settings = Settings.from_plugin(
            Path(config.config_file_path), Path(config.docs_dir), self.config, config.site_url
        )
        self.project = Project.from_settings(settings)
        if str(THEME_DIR) not in config.theme.dirs:
            config.theme.dirs.append(str(THEME_DIR))
        return config

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files | None:
        if not self.config.enabled or self.project is None:
            return files
        from runbook import ops

        try:
            site = ops.render(self.project)
        except RunbookError as exc:
            raise PluginError(str(exc)) from None
        for warning in site.warnings:
            log.warning(warning)
        if site.notebooks:
            cached = site.notebooks - site.rendered
            log.info(f"{site.notebooks} notebooks: {site.rendered} rendered, {cached} from the render cache")
        for path in site.replaced | set(site.pages) | set(site.assets):
            existing = files.get_file_from_path(path)
            if existing is not None:
                files.remove(existing)
        self.run_pages = {path for path in site.hidden if path.startswith(RUNS_PREFIX)}
        for path, markdown in site.pages.items():
            inclusion = InclusionLevel.NOT_IN_NAV if path in site.hidden else InclusionLevel.UNDEFINED
            files.append(File.generated(config, path, content=markdown, inclusion=inclusion))
        for path, data in site.assets.items():
            files.append(File.generated(config, path, content=data))
        return files

    @event_priority(-100)  # after every other plugin's: the page cache's worker forks here
    def on_nav(self, nav: Any, /, *, config: MkDocsConfig, files: Files) -> Any:
        """Name the generated sections as people write them ("FAQ", not "Faq"); start the
        page cache."""
        from mkdocs.structure.nav import Section

        for item in nav.items:
            if isinstance(item, Section) and item.title in SECTION_TITLES:
                item.title = SECTION_TITLES[item.title]
        self.share_nav = not any(page.url.startswith(RUNS_PREFIX) for page in nav.pages)
        self.nav = nav
        self._start_page_cache(config, files)
        return nav

    def _start_page_cache(self, config: MkDocsConfig, files: Files) -> None:
        """Use the page cache when every Markdown extension allows it; on a build with many
        pages to convert, start the worker that converts from the end."""
        from runbook.site import page_cache

        self.pages = self.converter = None
        self.converting = {}
        if self.project is None or not page_cache.cacheable_extensions(
            config.markdown_extensions, config.mdx_configs
        ):
            return
        self.pages = page_cache.PageCache(
            self.project.root / page_cache.PAGE_CACHE, page_cache.settings_digest(config), files
        )
        self.logged = page_cache.Records()
        logging.getLogger("mkdocs").addHandler(self.logged)
        if self.may_fork:
            self.converter = page_cache.Converter.start(
                self.pages, list(files.documentation_pages()), config, files, self._stop_using_cache
            )

    def _stop_using_cache(self) -> None:
        self.pages = self.converter = None

    def _finish_page_cache(self) -> None:
        if self.converter is not None:
            self.converter.stop()
            self.converter = None
        if self.logged is not None:
            logging.getLogger("mkdocs").removeHandler(self.logged)
            self.logged = None
        pages = self.pages
        if pages is not None and (pages.hits or pages.converted):
            log.info(
                f"{pages.converted + pages.hits} pages: {pages.converted} converted, {pages.by_worker} "
                f"converted by a second process, {pages.hits - pages.by_worker} from the page cache"
            )
            pages.hits = pages.by_worker = pages.converted = 0

    @event_priority(100)  # first: every other hook sees the page's HTML
    def on_page_content(self, html: str, /, *, page: Any, config: MkDocsConfig, files: Files) -> str | None:
        """Put the renderer's HTML blocks back into MkDocs' and store the conversion (unless
        it logged something)."""
        from runbook.site.html_blocks import restore as restore_blocks

        src = page.file.src_uri
        if src in self.converting:
            entry_key, count, stashed = self.converting.pop(src)
            html = restore_blocks(page, stashed, config, files)
            if self.logged.count == count and self.pages is not None:
                self.pages.put(entry_key, page)
        return html

    @event_priority(-100)  # last: the worker building pages forks here, with the final env
    def on_env(self, env: Any, /, *, config: MkDocsConfig, files: Files) -> Any:
        """Give the run page template its helper; a build starts with nothing shared. Start
        the worker that builds pages from the end."""
        self.shared_nav = {}
        env.globals["runbook_nav_once"] = self._nav_once
        self._finish_page_cache()  # every page is converted by now
        if self.pages is not None:
            from runbook.site.page_cache import cache_search_entries

            cache_search_entries(self.pages, config.plugins)
        if self.project is not None and self.may_fork and self.nav is not None:
            from runbook.site.builder import Builder

            self.builder = Builder.start(config, files, self.nav, env)
        return env

    @event_priority(-100)  # last: the context as every hook left it
    def on_page_context(self, context: Any, /, *, page: Any, config: MkDocsConfig, nav: Any) -> Any:
        if self.builder is not None:
            self.builder.keep_context(page, context)
        return context

    @event_priority(-100)  # last: the cache key is the Markdown every other hook has had its say on
    def on_page_markdown(self, markdown: str, /, *, page: Any, config: MkDocsConfig, files: Files) -> str:
        """Build run pages with the run page template (it extends Material's), unless their
        front matter names one or the theme is not Material. A page whose conversion is in
        the page cache is not converted: its ``render`` puts the stored conversion on it (a
        new Python-Markdown, which MkDocs makes for every page, costs a millisecond)."""
        if page.file.src_uri in self.run_pages and "template" not in page.meta and _material(config):
            page.meta["template"] = RUN_TEMPLATE
        pages = self.pages
        if pages is None:
            return markdown
        from runbook.site.html_blocks import stash
        from runbook.site.page_cache import restorable

        entry_key = pages.key(page, markdown)
        entry = pages.get(page, entry_key)
        if entry is not None and restorable(entry, files):
            page.render = functools.partial(_render_from_cache, page, entry)
            return markdown
        stashed = stash(markdown)  # the renderer's HTML blocks skip Python-Markdown
        self.converting[page.file.src_uri] = (entry_key, self.logged.count, stashed)
        return stashed.markdown

    def _nav_once(self, base_url: str, hidden: str | None, caller: Any) -> Markup:
        """The primary navigation of a run page, rendered for the first run page at its depth.

        Links in it are relative to the page; run pages at the same depth (``base_url``) under
        ``runs/`` share no folder with any nav entry, so theirs read the same.
        """
        if not self.share_nav:
            return Markup(caller())
        key = (base_url, hidden or "")
        if key not in self.shared_nav:
            self.shared_nav[key] = Markup(caller())
        return self.shared_nav[key]

    @event_priority(100)  # first: every other hook finds every page written
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        builder, self.builder, self.nav = self.builder, None, None
        if builder is not None:
            log.info(f"{builder.finish()} pages built by a second process")
        if self.pages is not None:
            self.pages.prune_unused()
            self.pages = None

    def on_build_error(self, *, error: Exception) -> None:
        self._stop()

    def on_shutdown(self) -> None:
        """Also after Ctrl-C or SIGTERM, which end a build without an error event."""
        self._stop()

    def _stop(self) -> None:
        self._finish_page_cache()
        self.pages = self.nav = None
        if self.builder is not None:
            self.builder.stop()
            self.builder = None

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        if self.project is None:
            return server
        project = self.project
        for folder in (project.runbooks_dir, project.runs_dir, project.environments_dir):
            if folder is not None and folder.is_dir():
                server.watch(str(folder))
        from runbook.source.alerts import expand_patterns

        for rules in expand_patterns(project.settings.alert_rules, project.root)[0]:
            server.watch(str(rules))
        return server


def _render_from_cache(page: Any, entry: dict[str, Any], config: MkDocsConfig, files: Files) -> None:
    """``page.render`` for a page whose conversion is in the page cache: put it on the page,
    and give the page its own ``render`` back."""
    from runbook.site.page_cache import restore

    del page.render
    page.content = restore(page, entry, files)


def _material(config: MkDocsConfig) -> bool:
    """Whether the theme is Material (or one built on it), whose partials the run page
    template uses."""
    return config.theme.name == "material" or config.theme.get("extends") == "material"
