"""Search that lands on the answer: the repository's handbook, built once, searched in Chromium.

Support staff type an FAQ question in full; the question's heading must be the first thing
search shows, and one of the first three when a word of it is different. Run pages (one per
run, full of command output) are published but are not search results.

The module copies the handbook into ``tmp``, runs two read-only runbooks for real (so there
are run pages and outputs) and builds the site once with ``mkdocs build --strict``. The
first tests read ``site/search/search_index.json`` (fast feedback); the rest type into
Material's search box in headless Chromium (see ``tests/browser.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import (
    build_mkdocs_site,
    chromium_page,
    launch_chromium,
    search_results,
    search_results_again,
    serve_site,
    shown_result_urls,
)
from conftest import copy_handbook
from markdown.extensions.toc import slugify

REPO = Path(__file__).resolve().parents[1]
#: Read-only runbooks that take a second in the ``local`` profile: their runs give the site
#: run pages, and their outputs appear on their runbook pages.
RUN_FIRST = ("host-facts", "disk-space")

pytestmark = pytest.mark.kernel


@dataclass(frozen=True)
class Question:
    text: str
    page: str
    anchor: str

    @property
    def location(self) -> str:
        """Where Material's search sends the reader: the category page and the heading."""
        return f"{self.page}#{self.anchor}"


def handbook_questions() -> list[Question]:
    """Every question of the handbook's FAQ (``docs/faq/*.yml``), in file order."""
    questions = []
    for path in sorted((REPO / "docs" / "faq").glob("*.yml")):
        for entry in yaml.safe_load(path.read_text("utf-8"))["entries"]:
            text = entry["question"].strip()
            questions.append(Question(text, f"faq/{path.stem}/", slugify(text, "-")))
    return questions


QUESTIONS = handbook_questions()
BY_TEXT = {q.text: q for q in QUESTIONS}

#: A question as someone might type it, one word different, and the question it means.
REWORDED = {
    "The disk is full, what do I do now?": "The disk is full, what do I do first?",
    "How do I know the backups can be trusted?": "How do I know the backups can be restored?",
    "How do I roll back a deploy?": "How do I roll back a release?",
    "Browsers say the certificate has expired or is not trusted.": (
        "Browsers say the certificate has expired or is not valid."
    ),
    "Where are the logs, and how long are they stored?": "Where are the logs, and how long are they kept?",
    "A user got a 500 error page with a request id. Where do I see what happened?": (
        "A user got a 500 error page with a request id. Where do I find what happened?"
    ),
    "The password reset mail never arrives. What do I do?": (
        "The password reset email never arrives. What do I do?"
    ),
    "Can I deploy on a Saturday or in the evening?": "Can I deploy on a Friday or in the evening?",
}


def runbook_cli(project: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, f"runbook {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The handbook with two runs, built strictly; returns the ``site`` folder."""
    project = copy_handbook(tmp_path_factory.mktemp("search") / "handbook")
    for slug in RUN_FIRST:
        runbook_cli(project, "exec", slug, "--env", "local")
    return build_mkdocs_site(project)


@pytest.fixture(scope="module")
def index(site: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((site / "search" / "search_index.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    with serve_site(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with chromium_page(browser) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def asking_page(browser: Any) -> Iterator[Any]:
    """One page for every question: each is typed into the same search box, emptied first."""
    with chromium_page(browser) as shared:
        yield shared


def run_pages(site: Path) -> list[Path]:
    return sorted((site / "runs").glob("*/*/index.html"))


# -- the search index (no browser) ----------------------------------------------------------


def test_run_pages_are_published_but_not_in_the_search_index(site: Path, index: dict[str, Any]) -> None:
    assert len(run_pages(site)) == len(RUN_FIRST)
    assert [d["location"] for d in index["docs"] if d["location"].startswith("runs/")] == []


def test_every_faq_question_is_its_own_boosted_search_entry(index: dict[str, Any]) -> None:
    docs = {d["location"]: d for d in index["docs"]}
    assert len(QUESTIONS) >= 10
    for question in QUESTIONS:
        entry = docs.get(question.location)
        assert entry is not None, f"{question.text!r}: no search entry at {question.location}"
        assert entry["title"] == question.text
        assert entry.get("boost", 1) > 1, f"{question.text!r} is not boosted"


def test_a_category_title_weighs_less_than_its_questions(index: dict[str, Any]) -> None:
    docs = {d["location"]: d for d in index["docs"]}
    for page in {q.page for q in QUESTIONS}:
        questions = [docs[q.location] for q in QUESTIONS if q.page == page]
        assert docs[page].get("boost", 1) < min(d["boost"] for d in questions), page


def test_the_faq_index_lists_questions_without_indexing_them_again(site: Path, index: dict[str, Any]) -> None:
    html = (site / "faq" / "index.html").read_text("utf-8")
    assert all(q.anchor in html for q in QUESTIONS)
    (faq_index,) = [d for d in index["docs"] if d["location"].startswith("faq/#") or d["location"] == "faq/"]
    assert faq_index["location"] == "faq/"
    assert not any(q.text in faq_index["text"] for q in QUESTIONS)


def test_tags_weigh_less_than_title_words(index: dict[str, Any]) -> None:
    fields = index["config"]["fields"]
    assert fields["tags"]["boost"] < fields["title"]["boost"]


# -- typed into the search box --------------------------------------------------------------


def sections(urls: list[str], base_url: str) -> list[str]:
    """The section results (headings) among ``urls``, as site paths without ``?h=``."""
    paths = [re.sub(r"\?h=[^#]*", "", u[len(base_url) :]) for u in urls]
    return [p for p in paths if "#" in p]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.anchor[:60])
def test_a_question_typed_in_full_is_the_first_result(
    asking_page: Any, site_url: str, question: Question
) -> None:
    results = search_results_again(asking_page, site_url, question.text)
    listed = sections([r["url"] for r in results], site_url)
    shown = shown_result_urls(asking_page)

    assert results and results[0]["url"].split("?")[0] == site_url + question.page, (
        f"{question.text!r}: first results {[r['title'] for r in results[:4]]}"
    )
    assert listed[:1] == [question.location], f"{question.text!r}: first questions {listed[:3]}"
    assert sections(shown, site_url)[:1] == [question.location], f"{question.text!r} is folded away"


@pytest.mark.parametrize("typed", sorted(REWORDED))
def test_a_question_with_one_word_changed_is_in_the_first_three(
    asking_page: Any, site_url: str, typed: str
) -> None:
    # In the order search ranks them: a second question of the same page may be folded
    # under a closer one ("How do I roll back a deploy?" shows "Errors started right after
    # a deploy. Do we roll back?", then "1 more on this page").
    question = BY_TEXT[REWORDED[typed]]

    results = search_results_again(asking_page, site_url, typed)
    listed = sections([r["url"] for r in results], site_url)

    assert question.location in listed[:3], f"{typed!r}: first results {listed[:3]}"


def test_words_from_run_output_find_the_runbook_page_not_run_pages(
    page: Any, site: Path, site_url: str
) -> None:
    # host-facts prints a table of facts ("load average ...", "swap none") that shows on
    # its run page and, as the latest outputs, on its runbook page: search offers the
    # runbook page only.
    (run_page,) = sorted((site / "runs" / "host-facts").glob("*/index.html"))
    assert "load average" in run_page.read_text("utf-8")

    urls = [r["url"] for r in search_results(page, site_url, "load average swap")]

    assert any("/runbooks/health/host-facts/" in u for u in urls), urls
    assert [u for u in urls if "/runs/" in u] == []
