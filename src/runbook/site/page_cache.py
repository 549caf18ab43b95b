"""Converted pages: MkDocs' Markdown-to-HTML step, done once per distinct page.

Converting Markdown is most of what a build of many runbooks costs, and between two builds
almost every page is the same text. The plugin keeps each converted page (its HTML, table of
contents, title, anchor ids and links to anchors) under ``.runbook/cache/pages``, keyed by
everything the conversion reads:

- the page's Markdown as the last ``on_page_markdown`` hook leaves it (so other plugins'
  changes are part of the key), its source path and URL;
- the Markdown settings (extensions and their options, ``use_directory_urls``, link
  validation levels) and the versions of MkDocs, Python-Markdown, pymdown-extensions and
  Pygments.

What the text alone does not say is whether the pages it links to still exist. An entry
keeps the relative links of its HTML, and is used only while each still lands on a file
of the site; a page whose conversion logged anything (a broken link, say) is never stored,
so its message is printed on every build. The cache is used only when every Markdown
extension is one whose output depends on nothing but the text and its options
(:func:`cacheable_extensions`); ``pymdownx.snippets``, which includes other files, or an
unknown extension turns it off.

Material's search reads every page's HTML again to index it; its entries for a page are
kept the same way, keyed by the page's HTML, URL, title, table of contents, front matter
and the search settings (:func:`cache_search_entries`). A page it indexes is handed to it
with the token spans of its highlighted code taken out: the same entries, from a fraction
of the tags to parse.

On a fresh clone nothing is cached: a forked worker then converts pages from the end of the
build's list while MkDocs converts from the start, and MkDocs takes the worker's pages when
it reaches them (:class:`Converter`). The worker runs the same hooks and the same
``Page.render``; a page whose final Markdown differs in the worker (a plugin whose hook
depends on the pages before it) only misses, and is converted by MkDocs as usual.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import re
import sys
import time
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from runbook import __version__, forked, prune
from runbook.memo import Memo
from runbook.render.cache import write_atomic

PAGE_CACHE = ".runbook/cache/pages"
#: Bump when an entry's content changes shape.
ENTRY_VERSION = "2"
#: Python-Markdown's own extensions, by the short names mkdocs.yml uses.
_MARKDOWN_BUILTINS = frozenset(
    {
        "abbr", "admonition", "attr_list", "codehilite", "def_list", "extra", "fenced_code",
        "footnotes", "legacy_attrs", "legacy_em", "md_in_html", "meta", "nl2br", "sane_lists",
        "smarty", "tables", "toc", "wikilinks",
    }
)  # fmt: skip
#: Extensions whose output depends on files or state besides the page's text.
_STATEFUL = frozenset({"pymdownx.snippets", "pymdownx.b64"})
#: Extension options that name files whose content ends up in the page.
_FILE_OPTIONS = frozenset({"custom_icons", "base_path", "auto_append"})
#: At least this many pages to convert before a worker is worth forking.
WORKER_MIN_PAGES = 100
#: A block of highlighted code, and a span tag in one.
_HIGHLIGHTED = re.compile(r'<div class="highlight"><pre>.*?</pre></div>', re.S)
_SPAN = re.compile(r"</?span\b[^>]*>")
_LINK = re.compile(r'<(?:a|img)\b[^>]*?\s(?:href|src)="([^"]*)"')
_MEMORY: Memo[str, dict[str, Any]] = Memo(8192)


def cacheable_extensions(extensions: Iterable[Any], configs: Any = None) -> bool:
    """Whether every Markdown extension is one whose output depends only on the text and
    its options: Python-Markdown's own, pymdown-extensions' (but snippets and b64) and
    Material's, with no option naming files to read (such as emoji's ``custom_icons``)."""
    if _names_files(configs):
        return False
    for extension in extensions:
        if not isinstance(extension, str):
            return False
        name = extension if "." in extension else f"markdown.extensions.{extension}"
        if name in _STATEFUL:
            return False
        if extension in _MARKDOWN_BUILTINS or name.startswith(("markdown.extensions.", "pymdownx.")):
            continue
        if name.startswith("material.extensions."):
            continue
        return False
    return True


def _names_files(value: Any) -> bool:
    if isinstance(value, dict):
        return any(key in _FILE_OPTIONS and item or _names_files(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_names_files(item) for item in value)
    return False


def settings_digest(config: Any) -> str:
    """What the conversion of any page reads from the config and the installed packages."""
    versions: dict[str, str | None] = {}
    for package in ("mkdocs", "markdown", "pymdown-extensions", "pygments", "mkdocs-material"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    links = config.validation.links
    data = [
        ENTRY_VERSION,
        __version__,
        versions,
        list(config.markdown_extensions),
        config.mdx_configs,
        config.use_directory_urls,
        [links.not_found, links.anchors, links.absolute_links, links.unrecognized_links],
    ]
    text = json.dumps(data, sort_keys=True, default=_describe)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _describe(value: Any) -> str:
    """A stable name for an option value JSON cannot hold (a function such as an emoji
    index); an object without one gets its repr, which may never match again (a miss)."""
    name = getattr(value, "__qualname__", None)
    module = getattr(value, "__module__", None)
    if not (name and module):
        return repr(value)
    package = sys.modules.get(module.partition(".")[0])
    return f"{module}.{name}@{getattr(package, '__version__', '')}"


class PageCache:
    """Converted pages on disk (and in memory) by key, and the site's URLs to check
    their links against."""

    def __init__(self, folder: Path, settings: str, files: Any) -> None:
        self.folder = folder
        self.settings = settings
        #: Each published file by its URL path (unquoted): what a relative link lands on.
        published = (file for file in files if not file.inclusion.is_excluded())
        self.targets = {_normal("/" + unquote(file.url)): file.src_uri for file in published}
        self.used: set[str] = set()
        self.started = time.time()
        self.hits = self.by_worker = self.converted = 0

    def key(self, page: Any, markdown: str) -> str:
        data = f"{self.settings}\0{page.file.src_uri}\0{page.url}\0{markdown}"
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def path(self, entry_key: str) -> Path:
        return self.folder / entry_key[:2] / f"{entry_key}.json"

    def get(self, page: Any, entry_key: str) -> dict[str, Any] | None:
        """The entry under ``entry_key``, if each of its links still lands on the file it
        landed on when the page was converted."""
        self.used.add(entry_key)
        entry = _MEMORY.get(entry_key)
        by_worker = False
        if entry is None:
            path = self.path(entry_key)
            try:
                entry = json.loads(path.read_bytes())
                by_worker = path.stat().st_mtime >= self.started
            except (OSError, ValueError):
                return None
            if not isinstance(entry, dict):
                return None
            _MEMORY.put(entry_key, entry)
        links = entry.get("links")
        if not isinstance(links, dict) or any(
            self.targets.get(self.landing(page, link)) != target for link, target in links.items()
        ):
            return None
        self.hits += 1
        self.by_worker += by_worker
        return entry

    def landing(self, page: Any, link: str) -> str:
        """The URL path a relative ``link`` of ``page`` lands on."""
        return _normal(_base("/" + unquote(page.url)) + link)

    def put(self, entry_key: str, page: Any) -> None:
        """Store what ``page.render`` left on ``page``; a failure to write only costs speed.

        Nothing is stored when MkDocs did not collect the page's links to anchors (at
        debug log level it does not): a later build would not check them.
        """
        self.converted += 1
        if getattr(page, "links_to_anchors", None) is None:
            return
        entry = capture(page)
        entry["links"] = {link: self.targets.get(self.landing(page, link)) for link in entry["links"]}
        self.used.add(entry_key)
        _MEMORY.put(entry_key, entry)
        _store(self.path(entry_key), json.dumps(entry).encode("utf-8"))

    def get_search(self, entry_key: str) -> list[dict[str, Any]] | None:
        """Search entries stored under ``entry_key`` (fresh copies: hooks may change them)."""
        self.used.add(entry_key)
        path = self.path(entry_key)
        try:
            entries = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return entries if isinstance(entries, list) else None

    def put_search(self, entry_key: str, entries: list[dict[str, Any]]) -> None:
        self.used.add(entry_key)
        try:
            data = json.dumps(entries)
        except (TypeError, ValueError):
            return  # a value JSON cannot hold: index the page every time
        _store(self.path(entry_key), data.encode("utf-8"))

    def prune_unused(self) -> int:
        """Remove old entries no page of this build used (at most daily)."""
        if not prune.due(self.folder):
            return 0
        names = {f"{k}.json" for k in self.used}
        return prune.prune(self.folder, names.__contains__)


def capture(page: Any) -> dict[str, Any]:
    """The result of ``page.render`` as JSON-able values."""
    anchors = {file.src_uri: dict(links) for file, links in (page.links_to_anchors or {}).items()}
    return {
        "html": page.content,
        "toc": [_toc_item(item) for item in page.toc.items],
        "title": page._title_from_render,
        "anchors": sorted(page.present_anchor_ids or (), key=str),  # may hold None
        "links_to_anchors": anchors,
        "links": _relative_links(page.content),
    }


def restorable(entry: dict[str, Any], files: Any) -> bool:
    """Whether every page ``entry`` links to by anchor is still in ``files``."""
    return all(files.get_file_from_path(src_uri) is not None for src_uri in entry["links_to_anchors"])


def restore(page: Any, entry: dict[str, Any], files: Any) -> str:
    """Put a :func:`restorable` conversion on ``page`` as ``page.render`` would; its HTML."""
    from mkdocs.structure.toc import TableOfContents

    links_to_anchors = {
        files.get_file_from_path(src_uri): dict(links) for src_uri, links in entry["links_to_anchors"].items()
    }
    items = [_anchor_link(item) for item in entry["toc"]]
    if items:
        items[0].active = True  # as mkdocs.structure.toc.get_toc marks it
    page.toc = TableOfContents(items)
    page._title_from_render = entry["title"]
    page.present_anchor_ids = set(entry["anchors"])
    if hasattr(page, "links_to_anchors"):
        page.links_to_anchors = links_to_anchors
    html: str = entry["html"]
    return html


def _toc_item(item: Any) -> list[Any]:
    return [item.title, item.id, item.level, [_toc_item(child) for child in item.children]]


def _anchor_link(data: list[Any]) -> Any:
    from mkdocs.structure.toc import AnchorLink

    title, anchor, level, children = data
    link = AnchorLink(title, anchor, level)
    link.children = [_anchor_link(child) for child in children]
    return link


def _relative_links(html: str) -> list[str]:
    """The relative link targets of ``html`` (paths only), each once."""
    seen: dict[str, None] = {}
    for url in _LINK.findall(html):
        parts = urlsplit(url.replace("&amp;", "&"))
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        seen.setdefault(unquote(parts.path), None)
    return list(seen)


def _base(url: str) -> str:
    return url if url.endswith("/") else posixpath.dirname(url) + "/"


def _normal(url: str) -> str:
    """A site URL path as a link to it resolves: ``a/b/``, ``a/b/index.html`` and ``a/b``
    are one page."""
    path = posixpath.normpath(url)
    if path.endswith("/index.html"):
        path = path[: -len("/index.html")]
    return path.rstrip("/") or "/"


def _store(path: Path, data: bytes) -> None:
    """Write an entry; a failure (a read-only checkout) only costs speed."""
    try:
        write_atomic(path, data)
    except OSError:
        pass


def cache_search_entries(cache: PageCache, plugins: Any) -> None:
    """Take Material's search entries for an unchanged page from ``cache``.

    Wraps ``add_entry_from_context`` of the search plugin's index for this build (the
    index is made anew by every build); nothing happens when the search plugin is not
    Material's or its index does not look as expected.
    """
    search = next(
        (
            plugin
            for plugin in plugins.values()
            if type(plugin).__module__ == "material.plugins.search.plugin"
        ),
        None,
    )
    index = getattr(search, "search_index", None)
    add = getattr(index, "add_entry_from_context", None)
    if index is None or add is None or not isinstance(getattr(index, "entries", None), list):
        return
    settings = json.dumps([cache.settings, dict(search.config)], sort_keys=True, default=_describe)  # type: ignore[union-attr]

    def add_entry_from_context(page: Any) -> None:
        toc = [_toc_item(item) for item in page.toc.items]
        try:
            described = json.dumps(
                [settings, page.url, str(page.title), page.meta, toc], sort_keys=True, default=_describe
            )
        except (TypeError, ValueError):  # front matter JSON cannot key (mixed key types)
            add(page)
            return
        entry_key = hashlib.sha256(f"{described}\0{page.content}".encode()).hexdigest()
        entries = cache.get_search(entry_key)
        if entries is not None:
            index.entries.extend(entries)
            return
        before = len(index.entries)
        content = page.content
        page.content = _plain_code_blocks(content)  # the same text in far fewer tags
        try:
            add(page)
        finally:
            page.content = content
        cache.put_search(entry_key, index.entries[before:])

    index.add_entry_from_context = add_entry_from_context


def _plain_code_blocks(html: str) -> str:
    """``html`` with the ``span`` tags of highlighted code blocks taken out: Pygments
    wraps each token in one, and Material's search reads the text of a ``pre`` as it is,
    so it indexes the same text from a fraction of the tags it would parse."""
    if '<div class="highlight"><pre>' not in html:
        return html
    return _HIGHLIGHTED.sub(lambda block: _SPAN.sub("", block.group(0)), html)


class Converter:
    """A forked worker converting pages from the end of the build's list into the cache,
    while MkDocs converts from the start; MkDocs finds the worker's pages as cache hits.

    The worker stops at the first page it finds stored (MkDocs' or its own from an earlier
    build), or when :meth:`stop` is called after the last page was converted.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid

    @classmethod
    def start(
        cls, cache: PageCache, pages: list[Any], config: Any, files: Any, prepare: Callable[[], None]
    ) -> Converter | None:
        """Fork the worker, if there are enough pages and a second core to convert them on;
        ``prepare`` runs first in the worker (the plugin stops using the cache there).

        Not in a process running other threads (``serve``: forking one is unsafe), and not
        when a plugin that is not known to keep to itself runs before conversion (the
        worker runs those hooks too, and may be killed in the middle of one).
        """
        if len(pages) < WORKER_MIN_PAGES or not forked.can_fork() or not known_hooks(config.plugins):
            return None

        def convert() -> None:
            prepare()
            _convert_from_the_end(cache, pages, config, files)

        pid = forked.fork(convert)
        return cls(pid) if pid else None

    def stop(self) -> None:
        """End the worker and reap it."""
        forked.reap(self.pid)


#: Plugins whose per-page hooks touch nothing but their own memory.
_KNOWN_PLUGINS = ("runbook.site.plugin", "material.plugins.search.plugin", "material.plugins.tags.plugin")
#: The hooks a worker converting pages runs.
CONVERSION_EVENTS = ("pre_page", "page_read_source", "page_markdown")


def known_hooks(plugins: Any, events: Iterable[str] = CONVERSION_EVENTS) -> bool:
    """Whether every hook of ``events`` belongs to one of the known plugins."""
    return all(
        type(getattr(method, "__self__", None)).__module__ in _KNOWN_PLUGINS
        for event in events
        for method in plugins.events.get(event, ())
    )


def _convert_from_the_end(cache: PageCache, pages: list[Any], config: Any, files: Any) -> None:
    """The worker: the hooks before conversion, then ``Page.render``, page by page from the
    last; a page whose conversion logged something is left to MkDocs (which logs it)."""
    from mkdocs.structure.pages import Page

    from runbook.site.html_blocks import restore, stash

    seen = Records.only()
    parent = os.getppid()
    for file in reversed(pages):
        if os.getppid() != parent:
            return  # the build is gone
        page = file.page if file.page is not None else Page(None, file, config)
        page = config.plugins.on_pre_page(page, config=config, files=files)
        page.read_source(config)
        markdown = config.plugins.on_page_markdown(page.markdown, page=page, config=config, files=files)
        entry_key = cache.key(page, markdown)
        if cache.path(entry_key).exists():
            return  # MkDocs got here first (or an earlier build did)
        stashed = stash(markdown)
        page.markdown = stashed.markdown
        before = seen.count
        page.render(config, files)
        restore(page, stashed, config, files)
        if seen.count == before:
            cache.put(entry_key, page)


class Records(logging.Handler):
    """Counts log records: a conversion that logged anything is not stored."""

    def __init__(self, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.count = 0

    @classmethod
    def only(cls, level: int = logging.DEBUG) -> Records:
        """In a worker: the one handler of the root and ``mkdocs`` loggers, counting what
        would have been printed (the build prints its own messages, not the worker)."""
        seen = cls(level)
        for logger in (logging.getLogger(), logging.getLogger("mkdocs")):
            logger.handlers = [seen]
        return seen

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
