"""MkDocs' page loop shared with a forked worker: the template renders of a large site.

Once every page is converted (``on_env``), what is left of a build is, page by page, the
theme's template (Material's layout and navigation) and Material's search indexing of the
page's HTML: on a fresh clone of 1,000 runbooks, each with a run page, half of the build,
and most of a build whose conversions all come from the page cache. The plugin forks a
worker there that builds pages from the end of the list with MkDocs' own ``_build_page``
(the same hooks, the same template, the same file written), while MkDocs builds from the
start; the two meet in the middle.

Who builds a page is settled by a claim (:class:`runbook.forked.Claims`, one per page,
shared by the two processes). MkDocs claims a page when it looks up the page's template; for a
page the worker holds it gets an empty template, so it writes nothing (its
``Page skipped`` line is dropped), while its ``on_page_context`` hooks run as always and
Material's search takes the page's entries from the page cache, where the worker's own
indexing left them. The worker marks a page done once its file is written. One it did not
finish (it died, or the page's build logged a message, which MkDocs must print and count
for ``--strict``) is rendered by MkDocs after its loop, from the context MkDocs made.

Only when every ``page_context`` and ``post_page`` hook is one known to keep to itself
(the worker runs them too, and MkDocs never shows a hook of ``post_page`` the page the
worker wrote), never under ``serve`` (its threads make forking unsafe).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from runbook import forked
from runbook.site.page_cache import WORKER_MIN_PAGES, Records, known_hooks

#: Where MkDocs says it wrote nothing for a page.
_BUILD_LOGGER = "mkdocs.commands.build"


class Builder:
    """The build's side of the worker: claims, the pages the worker holds, their repair."""

    def __init__(self, pid: int, claims: forked.Claims, pages: list[Any], config: Any, env: Any) -> None:
        self.pid = pid
        self.claims = claims
        self.config = config
        self.index = {file.src_uri: number for number, file in enumerate(pages)}
        #: Pages the worker holds: the page, its template's name, the context MkDocs made.
        self.held: dict[str, list[Any]] = {}
        self.decided: dict[str, bool] = {}
        self.get_template = env.get_template
        self.empty = env.from_string("")
        self.quiet = _Skipped(self.held)
        logging.getLogger(_BUILD_LOGGER).addFilter(self.quiet)
        env.get_template = self._get_template

    @classmethod
    def start(cls, config: Any, files: Any, nav: Any, env: Any) -> Builder | None:
        """Fork the worker, if there are enough pages and a second core to build them on."""
        from mkdocs.structure.files import InclusionLevel

        pages = files.documentation_pages(inclusion=InclusionLevel.is_included)
        if len(pages) < WORKER_MIN_PAGES or not forked.can_fork():
            return None
        if not known_hooks(config.plugins, ("page_context", "post_page")):
            return None
        if any(file.page is None for file in pages):
            return None
        claims = forked.Claims(len(pages))
        pid = forked.fork(lambda: _build_from_the_end(claims, pages, config, nav, env))
        if pid is None:
            claims.close()
            return None
        return cls(pid, claims, pages, config, env)

    def _get_template(self, name: str, parent: str | None = None, globals: Any = None) -> Any:
        """The page's template, or an empty one for a page the worker holds."""
        page = self.config._current_page
        if parent is None and page is not None and self._held_by_worker(page, name):
            return self.empty
        return self.get_template(name, parent, globals)

    def _held_by_worker(self, page: Any, template: str) -> bool:
        src = page.file.src_uri
        held = self.decided.get(src)
        if held is None:
            number = self.index.get(src)
            held = number is not None and not self.claims.claim(number)
            self.decided[src] = held
            if held:
                self.held[src] = [page, template, None]
        return held

    def keep_context(self, page: Any, context: Any) -> None:
        """Keep the context of a page the worker holds, in case MkDocs must render it."""
        held = self.held.get(page.file.src_uri)
        if held is not None:
            held[2] = context

    def finish(self) -> int:
        """Wait for the worker; render each page it held but did not finish. The number
        of pages the worker built."""
        forked.reap(self.pid, kill=False)
        built = 0
        try:
            for src, (page, template, context) in self.held.items():
                if self.claims.done(self.index[src]):
                    built += 1
                else:
                    self._render(page, template, context)
        finally:
            self.close()
        return built

    def _render(self, page: Any, template: str, context: Any) -> None:
        """What ``_build_page`` does after ``on_page_context``."""
        from mkdocs.utils import write_file

        config = self.config
        config._current_page = page
        page.active = True
        try:
            output = self.get_template(template).render(context)
            output = config.plugins.on_post_page(output, page=page, config=config)
            if output.strip():
                write_file(output.encode("utf-8", errors="xmlcharrefreplace"), page.file.abs_dest_path)
        finally:
            page.active = False
            config._current_page = None

    def stop(self) -> None:
        """End the worker (the build failed or was stopped) and clean up."""
        forked.reap(self.pid)
        self.close()

    def close(self) -> None:
        logging.getLogger(_BUILD_LOGGER).removeFilter(self.quiet)
        self.claims.close()


class _Skipped(logging.Filter):
    """Drops MkDocs' ``Page skipped`` line for the pages the worker wrote."""

    def __init__(self, held: dict[str, list[Any]]) -> None:
        super().__init__()
        self.held = held

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("Page skipped: '"):
            return True
        return message[len("Page skipped: '") :].partition("'")[0] not in self.held


def _build_from_the_end(claims: forked.Claims, pages: list[Any], config: Any, nav: Any, env: Any) -> None:
    """The worker: MkDocs' ``_build_page`` for each page from the last, until MkDocs has
    claimed the next one."""
    from mkdocs.commands.build import _build_page

    seen = Records.only(logging.INFO)  # a page's debug lines (``-v``) are not worth building it again
    parent = os.getppid()
    for number in range(len(pages) - 1, -1, -1):
        if os.getppid() != parent or not claims.claim(number):
            return  # the build is gone, or MkDocs got here
        file = pages[number]
        before = seen.count
        _build_page(file.page, config, pages, nav, env, excluded=file.inclusion.is_excluded())
        if seen.count == before:
            claims.finish(number)
