"""Run pages share one rendering of the site navigation, and look as Material renders them.

The plugin builds run pages with the shipped ``runbook/run.html`` theme template, which
renders the navigation drawer once per build instead of once per run. What a reader sees
must not change: every run page is compared with the page Material's own ``main.html``
gives when a project overrides the template with a plain one (the same HTML, but for the
indentation between tags).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_site import copy_fixture, runbook_cli

PLAIN_RUN_TEMPLATE = '{% extends "main.html" %}\n'
#: The navigation drawer: the primary sidebar, up to the table of contents beside it.
DRAWER = r'"md-sidebar md-sidebar--primary".*?"md-sidebar md-sidebar--secondary"'


def build(project: Path) -> Path:
    done = runbook_cli(project, "build", "--strict")
    assert done.returncode == 0, done.stderr
    return project / "site"


def run_pages(site: Path) -> dict[str, str]:
    """Every run page's HTML, whitespace runs folded to one space."""
    return {
        str(page.relative_to(site)): re.sub(r"\s+", " ", page.read_text("utf-8"))
        for page in sorted(site.glob("runs/*/*/index.html"))
    }


def shared_and_plain(tmp: Path, mkdocs_yml_tail: str = "") -> tuple[Path, Path]:
    """The fixture built as shipped, and built with Material's own page for run pages."""
    projects = copy_fixture(tmp / "shared"), copy_fixture(tmp / "plain")
    override = projects[1] / "overrides" / "runbook" / "run.html"
    override.parent.mkdir(parents=True)
    override.write_text(PLAIN_RUN_TEMPLATE, "utf-8")
    for project in projects:
        with (project / "mkdocs.yml").open("a", encoding="utf-8") as config:
            config.write(mkdocs_yml_tail)
    return build(projects[0]), build(projects[1])


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return shared_and_plain(tmp_path_factory.mktemp("sites"))


def test_run_pages_read_the_same_as_materials_own(sites: tuple[Path, Path]) -> None:
    shared, plain = sites
    pages = run_pages(shared)
    assert len(pages) >= 3
    assert pages == run_pages(plain)


def test_the_navigation_drawer_of_a_run_page_leads_to_every_runbook(sites: tuple[Path, Path]) -> None:
    shared, _ = sites
    for name, html in run_pages(shared).items():
        drawer = re.search(DRAWER, html, re.S)
        assert drawer, name
        page = shared / name
        for runbook in ("runbooks/ops/showcase/", "runbooks/ops/broken-check/"):
            links = re.findall(rf'href="((?:\.\./)+{runbook})"', drawer.group(0))
            assert links, f"{name}: no link to {runbook}"
            assert (page.parent / links[0] / "index.html").resolve().is_file()


def test_a_run_page_listed_in_the_nav_gets_a_navigation_of_its_own(tmp_path: Path) -> None:
    run = next((Path(__file__).parent / "fixtures" / "site" / "runs" / "broken-check").iterdir())
    nav = (
        "nav:\n  - index.md\n  - runbooks/ops/showcase.md\n"
        f"  - Last broken check: runs/broken-check/{run.name}.md\n"
    )
    shared, plain = shared_and_plain(tmp_path, nav)
    pages = run_pages(shared)
    assert pages == run_pages(plain)
    listed = pages[f"runs/broken-check/{run.name}/index.html"]
    assert re.search(r"md-nav__link--active[^>]*>.*?Last broken check", listed, re.S)
