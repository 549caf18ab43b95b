"""Browser-test helpers: build a MkDocs site, serve it, drive it with real headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, override with ``RUNBOOK_CHROMIUM``), driven by
the Python ``playwright`` package; ``playwright install`` is never needed. When Chromium or
playwright is missing, a test using these helpers is skipped on a developer machine and
fails in CI (the ``CI`` environment variable is set), so CI can never go green by skipping.

Pages only reach the local site: every request to another host (Material's Google Fonts,
anything a payload tries to load) is aborted and listed by ``blocked_requests(page)``.
``flags_raised(page)`` lists what injected script managed to do: pushes to
``window.__xss_flags`` (an empty array set up before any page script runs) and any
``alert``/``confirm``/``prompt`` dialog.

    with serve_site(build_mkdocs_site(project)) as base_url, chromium_page() as page:
        assert "How do I rotate the database password?" in search(page, base_url, "rotate password")
"""

from __future__ import annotations

import atexit
import functools
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("RUNBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root (CI containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Per page: requests aborted because they left the local site, and dialogs opened.
_blocked: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
_dialogs: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def build_mkdocs_site(project: Path) -> Path:
    """``python -m mkdocs build --strict`` in ``project``; returns the built ``site`` folder."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return project / "site"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser hung up: normal
            super().handle_error(request, client_address)


@contextmanager
def serve_site(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (ephemeral port) from a background thread; yields the base URL."""
    if not (Path(folder) / "index.html").is_file():
        raise FileNotFoundError(f"{folder}: no index.html, is it a built site?")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where a skipped browser test would hide breakage."""
    if os.environ.get("CI", ""):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


_playwright: Any = None


def _shared_playwright() -> Any:
    """One playwright driver per test process: the sync API cannot be started twice at once."""
    global _playwright
    if _playwright is None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            _unavailable("the playwright package is not installed: pip install -e '.[test]'")
        _playwright = sync_playwright().start()
        atexit.register(_playwright.stop)
    return _playwright


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium ``Browser``; skips (or fails under CI) when it cannot be had."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    browser = _shared_playwright().chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@contextmanager
def chromium_page(browser: Any = None) -> Iterator[Any]:
    """A fresh page (own context: no shared cookies or storage) in ``browser``, or in its own Chromium."""
    if browser is None:
        with launch_chromium() as own, chromium_page(own) as page:
            yield page
        return
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    context.set_default_timeout(10_000)
    context.add_init_script("window.__xss_flags = [];")
    page = context.new_page()
    blocked: list[str] = []
    dialogs: list[str] = []
    _blocked[page] = blocked
    _dialogs[page] = dialogs

    def route(r: Any) -> None:
        url = r.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    def dialog(d: Any) -> None:
        dialogs.append(f"dialog:{d.type}:{d.message}")
        d.dismiss()

    context.route("**/*", route)
    page.on("dialog", dialog)
    try:
        yield page
    finally:
        context.close()


def flags_raised(page: Any) -> list[Any]:
    """What injected script did on this page: ``window.__xss_flags`` entries, then dialogs opened."""
    flags = page.evaluate("() => Array.isArray(window.__xss_flags) ? Array.from(window.__xss_flags) : []")
    return [*flags, *_dialogs.get(page, [])]


def blocked_requests(page: Any) -> list[str]:
    """URLs this page tried to fetch from anywhere but the local site (all were aborted)."""
    return list(_blocked.get(page, []))


# Material's search: the result meta line reads "Initializing search", then the
# "placeholder" translation once the worker has its index, then none/one/other once a query
# has been answered. Translations come from the page's #__config, so any theme language works.
_SEARCH_READY = """() => {
  const meta = document.querySelector(".md-search-result__meta");
  const t = JSON.parse(document.getElementById("__config").textContent).translations;
  return !!meta && meta.textContent.trim() === t["search.result.placeholder"];
}"""

# Answered, and the result list has not changed for 250 ms: every key typed sends a query,
# so earlier (prefix) answers may still be arriving when the first answer shows.
_SEARCH_SETTLED = r"""() => {
  const meta = document.querySelector(".md-search-result__meta");
  const t = JSON.parse(document.getElementById("__config").textContent).translations;
  const text = meta ? meta.textContent.trim() : "";
  const [pre, post] = t["search.result.other"].split("#");
  const many = text.startsWith(pre) && text.endsWith(post)
    && /^\d+$/.test(text.slice(pre.length, text.length - post.length));
  if (!(text === t["search.result.none"] || text === t["search.result.one"] || many)) return false;
  const html = document.querySelector("[data-md-component=search-result]").innerHTML;
  const s = window.__rb_search || (window.__rb_search = {html: null, since: 0});
  const now = performance.now();
  if (html !== s.html) { s.html = html; s.since = now; return false; }
  return now - s.since >= 250;
}"""

_SEARCH_RESULTS = r"""() => Array.from(
  document.querySelectorAll(".md-search-result__item .md-search-result__link"), a => {
    const text = el => (el ? el.textContent : "").replace(/\s+/g, " ").trim();
    return {title: text(a.querySelector("h1, h2")), url: a.href, text: text(a.querySelector("p"))};
  })"""


def search_results(page: Any, base_url: str, words: str) -> list[dict[str, str]]:
    """Search the site like a user; one ``{title, url, text}`` per result link, in page order.

    Opens ``base_url``, waits for the search index, presses "/" (Material's shortcut) to
    focus the search box, or clicks the search button when that did not focus it (narrow
    layouts), types ``words`` key by key and waits until the answer has settled. A page
    result has the page title; each section under it has its heading and an ``#anchor``
    URL (including sections folded under "N more on this page").
    """
    page.goto(base_url)
    page.wait_for_function(_SEARCH_READY, polling=50)
    query = page.locator("[data-md-component=search-query]")
    page.keyboard.press("/")
    if not query.evaluate("el => el === document.activeElement"):
        page.locator("label[for=__search]").first.click()
        query.focus()
    page.keyboard.type(words)
    page.wait_for_function(_SEARCH_SETTLED, polling=50)
    results: list[dict[str, str]] = page.evaluate(_SEARCH_RESULTS)
    return results


def search(page: Any, base_url: str, words: str) -> list[str]:
    """The titles (page titles and section headings) of the search results for ``words``."""
    return [r["title"] for r in search_results(page, base_url, words)]


def search_results_again(page: Any, base_url: str, words: str) -> list[dict[str, str]]:
    """:func:`search_results` without reloading the page when search is already open on it.

    On a page of ``base_url`` where a search has been typed, empties the search box, waits
    for Material's placeholder, and types ``words`` key by key as before; the worker keeps
    its index, so many questions are asked in a fraction of the time. Anywhere else it is
    :func:`search_results`.
    """
    query = page.locator("[data-md-component=search-query]")
    if not page.url.startswith(base_url) or not query.count() or not query.input_value():
        return search_results(page, base_url, words)
    query.fill("")
    page.wait_for_function(_SEARCH_READY, polling=50)
    page.evaluate("() => { window.__rb_search = null; }")
    query.focus()
    page.keyboard.type(words)
    page.wait_for_function(_SEARCH_SETTLED, polling=50)
    results: list[dict[str, str]] = page.evaluate(_SEARCH_RESULTS)
    return results


_SEARCH_RESULTS_SHOWN = r"""() => Array.from(
  document.querySelectorAll(".md-search-result__item .md-search-result__link"), a => a)
  .filter(a => !a.closest("details.md-search-result__more"))
  .map(a => a.href)"""


def shown_result_urls(page: Any) -> list[str]:
    """The result URLs a reader sees without opening any "N more on this page", in order.

    Material folds a page's sections that score below its best one; when a page's own
    title outscores its sections, every section is folded under it.
    """
    urls: list[str] = page.evaluate(_SEARCH_RESULTS_SHOWN)
    return urls
