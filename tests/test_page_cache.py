"""Converted pages kept between builds, and converted in a worker on a fresh clone.

Real ``runbook build`` runs of the site fixture (and of a generated project of many
runbooks), compared page by page: a build from the cache, or with the worker, must be the
site a plain conversion gives; a link whose target is gone, and a page whose conversion
warns, are reported on every build.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from conftest import code, runbook_md, write_project
from test_site import copy_fixture, runbook_cli

from runbook.site.page_cache import PAGE_CACHE, WORKER_MIN_PAGES

#: The dashboard says when the site was built.
BUILT_AT = re.compile(r"Built \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def pages(site: Path) -> dict[str, str]:
    """Every HTML page and the search index of a built site, the build time taken out."""
    found = {}
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html" or path.name == "search_index.json":
            found[path.relative_to(site).as_posix()] = BUILT_AT.sub("Built -", path.read_text("utf-8"))
    return found


def build(project: Path, *args: str, log: str | None = None) -> str:
    """``runbook build ARGS`` (``log``: ``-v`` or ``-vv`` before the command); its stderr."""
    done = runbook_cli(project, *([log] if log else []), "build", *args)
    assert done.returncode == 0, done.stderr
    return done.stderr


def entries(project: Path) -> list[Path]:
    return sorted((project / PAGE_CACHE).rglob("*.json"))


def test_a_build_from_the_cache_is_the_site_a_fresh_build_gives(tmp_path: Path) -> None:
    project = copy_fixture(tmp_path / "handbook")
    build(project, "--strict")
    fresh = pages(project / "site")
    stored = entries(project)
    assert len(stored) >= len([p for p in fresh if p.endswith(".html")]) - 2  # but 404 and the dashboard

    build(project, "--strict")

    assert pages(project / "site") == fresh


def test_a_warm_build_takes_the_pages_from_the_cache(tmp_path: Path) -> None:
    """What the cache holds is what the page shows (so it was not converted again), and
    what search finds (so it was not indexed again)."""
    project = copy_fixture(tmp_path / "handbook")
    build(project)
    indexed = 0
    for path in entries(project):
        entry = json.loads(path.read_text("utf-8"))
        if isinstance(entry, list) and entry and entry[0]["location"] != "runbooks/":
            # a page's search entries (but the dashboard's, which says when it was built)
            for section in entry:
                section["text"] += " indexedfromthecache"
            path.write_text(json.dumps(entry), "utf-8")
            indexed += len(entry)
    assert indexed > 10

    build(project)

    assert pages(project / "site")["search/search_index.json"].count("indexedfromthecache") == indexed
    marked = 0
    for path in entries(project):
        entry = json.loads(path.read_text("utf-8"))
        if isinstance(entry, dict) and "<h2" in entry["html"]:
            entry["html"] = entry["html"].replace("<h2", "<p>from the page cache</p><h2", 1)
            path.write_text(json.dumps(entry), "utf-8")
            marked += 1
    assert marked > 3

    build(project)

    site = pages(project / "site")
    assert (
        sum("from the page cache" in text for path, text in site.items() if path.endswith(".html")) == marked
    )


def test_a_link_whose_page_is_gone_is_reported_again(tmp_path: Path) -> None:
    project = copy_fixture(tmp_path / "handbook")
    (project / "docs" / "guide.md").write_text("# Guide\n\nSee [the checklist](checklist.md).\n", "utf-8")
    (project / "docs" / "checklist.md").write_text("# Checklist\n\nOne item.\n", "utf-8")
    build(project, "--strict")

    (project / "docs" / "checklist.md").unlink()
    done = runbook_cli(project, "build", "--strict")

    assert done.returncode == 1
    assert "guide.md" in done.stderr and "checklist.md" in done.stderr


def test_a_link_that_lands_on_another_file_at_the_same_url_is_checked_again(tmp_path: Path) -> None:
    """``checklist.md`` moved to ``checklist/index.md``: the URL is the same, but MkDocs
    does not resolve ``checklist.md`` to it, and says so."""
    project = copy_fixture(tmp_path / "handbook")
    (project / "docs" / "guide.md").write_text("# Guide\n\nSee [the checklist](checklist.md).\n", "utf-8")
    (project / "docs" / "checklist.md").write_text("# Checklist\n\nOne item.\n", "utf-8")
    build(project, "--strict")

    (project / "docs" / "checklist").mkdir()
    (project / "docs" / "checklist.md").rename(project / "docs" / "checklist" / "index.md")
    done = runbook_cli(project, "build", "--strict")

    assert done.returncode == 1
    assert "guide.md" in done.stderr and "checklist.md" in done.stderr


def test_links_to_anchors_are_checked_after_a_debug_build(tmp_path: Path) -> None:
    """At debug log level MkDocs collects no links to anchors, so such a conversion is not
    kept: the next build still checks the guide's link to a heading that went away."""
    project = copy_fixture(tmp_path / "handbook")
    (project / "docs" / "guide.md").write_text("# Guide\n\nSee [step two](checklist.md#two).\n", "utf-8")
    (project / "docs" / "checklist.md").write_text("# Checklist\n\n## Two\n\nOne item.\n", "utf-8")
    build(project, "--strict", log="-vv")  # debug

    (project / "docs" / "checklist.md").write_text("# Checklist\n\n## Three\n\nOne item.\n", "utf-8")
    done = runbook_cli(project, "build", "--strict")

    assert done.returncode == 1
    assert "#two" in done.stderr


def test_a_page_that_warns_warns_on_every_build(tmp_path: Path) -> None:
    project = copy_fixture(tmp_path / "handbook")
    (project / "docs" / "guide.md").write_text("# Guide\n\nSee [the missing page](missing.md).\n", "utf-8")

    first, second = build(project), build(project)

    assert "missing.md" in first
    assert "missing.md" in second


def test_an_extension_that_reads_other_files_turns_the_cache_off(tmp_path: Path) -> None:
    project = copy_fixture(tmp_path / "handbook")
    config = project / "mkdocs.yml"
    config.write_text(config.read_text("utf-8") + "  - pymdownx.snippets\n", "utf-8")
    (project / "docs" / "part.md").write_text("The included part, first version.\n", "utf-8")
    (project / "docs" / "guide.md").write_text('# Guide\n\n--8<-- "docs/part.md"\n', "utf-8")
    build(project)

    (project / "docs" / "part.md").write_text("The included part, second version.\n", "utf-8")
    build(project)

    assert "second version" in (project / "site" / "guide" / "index.html").read_text("utf-8")
    assert not entries(project)


def test_a_fresh_build_converted_partly_by_the_worker_is_the_plain_site(tmp_path: Path) -> None:
    """Enough runbooks for the worker; the same project with the cache off (snippets on,
    unused) converts every page in MkDocs."""
    count = WORKER_MIN_PAGES + 20
    runbooks = {
        f"area-{i % 4}/check-{i:03d}": runbook_md(
            f"Checks part {i} of the service.\n\n## Look\n\nSee [the guide](../../guide.md).\n\n"
            + code(f"print({i} * 2)"),
            title=f"Check {i:03d}",
        )
        for i in range(count)
    }
    with_cache = write_project(tmp_path / "cached", runbooks)
    without = write_project(tmp_path / "plain", runbooks)
    for project, extensions in ((with_cache, ""), (without, "  - pymdownx.snippets\n")):
        (project / "docs").mkdir()
        (project / "docs" / "index.md").write_text("# Home\n", "utf-8")
        (project / "docs" / "guide.md").write_text("# Guide\n\n## Steps\n", "utf-8")
        config = project / "mkdocs.yml"
        config.write_text(
            config.read_text("utf-8")
            + "theme:\n  name: material\nplugins:\n  - search\n  - runbook\nmarkdown_extensions:\n  - toc:\n      permalink: true\n"
            + "  - pymdownx.superfences\n"
            + extensions,
            "utf-8",
        )

    converted = build(with_cache, "--strict", log="-v")
    build(without, "--strict")

    site = pages(with_cache / "site")
    assert len([p for p in site if p.startswith("runbooks/area-")]) == count
    assert site == pages(without / "site")
    assert len(entries(with_cache)) >= count
    assert not entries(without)
    by_worker = re.search(r"(\d+) converted by a second process", converted)
    assert by_worker, converted
    if (os.cpu_count() or 1) > 1:
        assert int(by_worker.group(1)) > 10
