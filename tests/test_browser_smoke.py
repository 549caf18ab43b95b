"""Smoke tests for the browser helpers: a plain MkDocs Material site in real headless Chromium.

One site is built (``mkdocs build --strict``) and one Chromium launched for the module;
each test gets a fresh page. Skipped without Chromium on a developer machine, failed in CI.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from browser import (
    blocked_requests,
    build_mkdocs_site,
    chromium_page,
    flags_raised,
    launch_chromium,
    search,
    search_results,
    serve_site,
)

QUESTION = "How do I rotate the database password?"

PAGES = {
    "index.md": """
        # Operations handbook

        Start here: the [FAQ](faq.md) answers common questions, [deploying](deploy.md) explains releases.
        """,
    "faq.md": f"""
        # FAQ

        ## {QUESTION}

        Run the credentials runbook against the primary, then restart the application
        servers so they pick up the new secret from the vault.

        ## Where do the logs go?

        Every service ships its logs to the central logging cluster, kept for 30 days.
        """,
    "deploy.md": """
        # Deploying

        Releases go out through the deploy pipeline. The database schema is migrated first;
        a password is never part of the release artefacts.
        """,
}

# Copied verbatim by MkDocs (not a Markdown page, so not in the nav or the search index):
# a page where every kind of payload the XSS tests look for does run.
CANARY = """<!doctype html>
<html><body>
<script>window.__xss_flags.push("script")</script>
<img src="http://payload.invalid/x.png" onerror="window.__xss_flags.push('onerror')">
<script>alert("xss")</script>
</body></html>
"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    project = tmp_path_factory.mktemp("smoke-site")
    (project / "mkdocs.yml").write_text(
        "site_name: Smoke handbook\n"
        "theme:\n  name: material\n"
        "plugins:\n  - search\n"
        "nav:\n  - index.md\n  - faq.md\n  - deploy.md\n",
        "utf-8",
    )
    docs = project / "docs"
    docs.mkdir()
    for name, text in PAGES.items():
        (docs / name).write_text(textwrap.dedent(text).lstrip(), "utf-8")
    (docs / "canary.html").write_text(CANARY, "utf-8")
    with serve_site(build_mkdocs_site(project)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with chromium_page(browser) as fresh:
        yield fresh


def test_search_lands_on_the_faq_question(page: Any, site_url: str) -> None:
    assert QUESTION in search(page, site_url, "rotate database password")
    hit = page.locator(".md-search-result__link", has=page.locator("h2", has_text=QUESTION))
    assert hit.get_attribute("href") == f"{site_url}faq/#how-do-i-rotate-the-database-password"


def test_search_results_carry_url_and_text(page: Any, site_url: str) -> None:
    results = search_results(page, site_url, "logs")
    assert {"title": "Where do the logs go?", "url": f"{site_url}faq/#where-do-the-logs-go"}.items() <= next(
        r for r in results if r["title"] == "Where do the logs go?"
    ).items()
    assert any("central logging cluster" in r["text"] for r in results)


def test_search_with_no_match_returns_nothing(page: Any, site_url: str) -> None:
    assert search(page, site_url, "xylophone") == []


def test_clean_page_raises_no_flags(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}faq/")
    assert page.locator("h2", has_text=QUESTION).is_visible()
    assert page.evaluate("() => window.__xss") is None
    assert flags_raised(page) == []
    # Material asks Google Fonts for Roboto; nothing leaves the machine.
    assert all("127.0.0.1" not in url for url in blocked_requests(page))


def test_payloads_that_run_are_detected(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}canary.html")
    assert flags_raised(page) == ["script", "onerror", "dialog:alert:xss"]
    assert blocked_requests(page) == ["http://payload.invalid/x.png"]


def test_chromium_page_launches_its_own_browser(site_url: str) -> None:
    with chromium_page() as own:
        own.goto(site_url)
        assert own.title() == "Smoke handbook"
