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
from datetime import datetime, timezone
from pathlib import Path

from conftest import code, runbook_md, write_project
from test_site import copy_fixture, runbook_cli

from runbook.site.inputs import render_project
from runbook.site.page_cache import PAGE_CACHE, WORKER_MIN_PAGES
from runbook.source.project import Project

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


def test_the_renderers_html_blocks_reach_the_page_as_python_markdown_passes_them(tmp_path: Path) -> None:
    """The plugin converts pages with the renderer's HTML blocks (status cards, step
    headers, outputs of every kind) swapped out and back in; with the page cache off
    (snippets on, unused) Python-Markdown passes them through itself: the same site, and
    a link to a step's anchor resolves in both."""
    swapped, plain = copy_fixture(tmp_path / "swapped"), copy_fixture(tmp_path / "plain")
    quoted = '<pre class="rb-output rb-stdout"><code>an output</code></pre>'
    for project in (swapped, plain):
        (project / "docs" / "steps.md").write_text(
            "# Steps\n\nSee [the streams](runbooks/ops/showcase.md#step-streams).\n\n"
            f"An output reads, in HTML:\n\n```html\n<p>Before.</p>\n\n{quoted}\n\n```\n",
            "utf-8",
        )
    config = plain / "mkdocs.yml"
    config.write_text(config.read_text("utf-8") + "  - pymdownx.snippets\n", "utf-8")

    build(swapped, "--strict")
    build(plain, "--strict")

    site = pages(swapped / "site")
    assert site == pages(plain / "site")
    assert sum(text.count('<div class="rb-step ') for text in site.values()) > 5
    assert sum(text.count('<pre class="rb-output ') for text in site.values()) > 5
    assert "an output" in site["steps/index.html"] and quoted not in site["steps/index.html"]  # shown as code


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


#: A hook that makes MkDocs build every page itself: the page builder runs only when
#: each ``post_page`` hook is one it knows.
SERIAL_HOOK = "def on_post_page(output, page, config):\n    return output\n"
#: A hook giving templates ``in_worker()``: true in a process other than the one that
#: made the theme's environment (the worker that builds pages, forked after that).
WORKER_HOOK = """\
import logging
import os

log = logging.getLogger("mkdocs.hooks.worker")


def on_env(env, config, files):
    main = os.getpid()
    env.globals["in_worker"] = lambda: os.getpid() != main
    env.globals["fail"] = fail
    env.globals["warn"] = log.warning
    return env


def fail(page):
    raise RuntimeError(f"the worker cannot build {page}")
"""


def many_pages(root: Path, *, serial: bool = False, main_html: str = "") -> Path:
    """A project of enough runbooks for both workers (the converter's and the page
    builder's), with Material and search. ``serial``: the page cache off (snippets on,
    unused) and MkDocs building every page itself. ``main_html``: the theme's
    ``main.html``, overridden, with the helpers of :data:`WORKER_HOOK`."""
    count = WORKER_MIN_PAGES + 20
    runbooks = {
        f"area-{i % 4}/check-{i:03d}": runbook_md(
            f"Checks part {i} of the service.\n\n## Look\n\nSee [the guide](../../guide.md).\n\n"
            + code(f"print({i} * 2)"),
            title=f"Check {i:03d}",
        )
        for i in range(count)
    }
    project = write_project(root, runbooks)
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# Home\n", "utf-8")
    (project / "docs" / "guide.md").write_text("# Guide\n\n## Steps\n", "utf-8")
    hooks = []
    theme = "theme:\n  name: material\n"
    if main_html:
        (project / "overrides").mkdir()
        (project / "overrides" / "main.html").write_text(main_html, "utf-8")
        (project / "worker.py").write_text(WORKER_HOOK, "utf-8")
        theme += "  custom_dir: overrides\n"
        hooks.append("worker.py")
    if serial:
        (project / "serial.py").write_text(SERIAL_HOOK, "utf-8")
        hooks.append("serial.py")
    config = project / "mkdocs.yml"
    config.write_text(
        config.read_text("utf-8")
        + theme
        + "plugins:\n  - search\n  - runbook\nmarkdown_extensions:\n  - toc:\n      permalink: true\n"
        + "  - pymdownx.superfences\n"
        + ("  - pymdownx.snippets\n" if serial else "")
        + "".join(f"hooks:\n  - {hook}\n" for hook in hooks[:1])
        + "".join(f"  - {hook}\n" for hook in hooks[1:]),
        "utf-8",
    )
    return project


def second_process(log: str, what: str) -> int:
    """How many pages the ``-v`` log says a second process converted or built."""
    found = re.search(rf"(\d+) (?:pages )?{what} by a second process", log)
    assert found, log
    return int(found.group(1))


def test_a_fresh_build_converted_and_built_partly_by_workers_is_the_plain_site(tmp_path: Path) -> None:
    """The same project built by MkDocs alone, page by page: the same site; and again
    from the cache, with the page builder."""
    with_workers = many_pages(tmp_path / "workers")
    serial = many_pages(tmp_path / "serial", serial=True)

    log = build(with_workers, "--strict", log="-v")
    assert "built by a second process" not in build(serial, "--strict", log="-v")

    site = pages(with_workers / "site")
    assert len([p for p in site if p.startswith("runbooks/area-")]) == WORKER_MIN_PAGES + 20
    assert site == pages(serial / "site")
    assert len(entries(with_workers)) >= WORKER_MIN_PAGES + 20
    assert not entries(serial)
    if (os.cpu_count() or 1) > 1:
        assert second_process(log, "converted") > 10
        assert second_process(log, "built") > 10

    warm = build(with_workers, "--strict", log="-v")

    assert pages(with_workers / "site") == site
    if (os.cpu_count() or 1) > 1:
        assert second_process(warm, "built") > 10


def test_pages_the_page_builder_did_not_finish_are_built_by_mkdocs(tmp_path: Path) -> None:
    """The worker fails on the first page it builds (as a killed worker would): MkDocs
    builds that one after its loop, and the site is the one MkDocs alone builds."""
    main_html = '{% extends "base.html" %}{% block content %}{% if in_worker() %}{{ fail(page.file.src_uri) }}{% endif %}{{ super() }}{% endblock %}'
    failing = many_pages(tmp_path / "failing", main_html=main_html)
    serial = many_pages(tmp_path / "serial", serial=True, main_html=main_html)

    log = build(failing, "--strict", log="-v")
    build(serial, "--strict")

    assert "cannot build" not in log
    assert pages(failing / "site") == pages(serial / "site")
    if (os.cpu_count() or 1) > 1:
        assert second_process(log, "built") == 0


def test_a_page_that_warns_while_built_warns_once_and_fails_a_strict_build(tmp_path: Path) -> None:
    """Every page warns as its template renders, in whichever process builds it: MkDocs
    prints each page's warning once (the worker leaves such a page to MkDocs), and counts
    them for ``--strict``."""
    main_html = '{% extends "base.html" %}{% block content %}{{ warn("rendering " ~ page.file.src_uri ~ ".") }}{{ super() }}{% endblock %}'
    project = many_pages(tmp_path / "warning", main_html=main_html)

    log = build(project)
    strict = runbook_cli(project, "build", "--strict")

    rendered = re.findall(r"rendering (\S+)\.", log)
    assert len(rendered) == len(set(rendered)) == len(list((project / "site").rglob("index.html")))
    assert "runbooks/area-3/check-119.md" in rendered
    assert strict.returncode == 1
    assert f"{len(rendered)} warnings" in strict.stderr


def test_notebooks_a_helper_rendered_are_the_ones_rendered_alone(tmp_path: Path) -> None:
    """A fresh build of enough runbooks forks a helper that renders notebooks from the
    last into the render cache; the build takes those from there, and each is what a
    render without the cache gives."""
    project = many_pages(tmp_path / "helped")

    log = build(project, log="-v")

    counts = re.search(r"(\d+) notebooks: (\d+) rendered, (\d+) from the render cache", log)
    assert counts, log
    assert int(counts.group(1)) == WORKER_MIN_PAGES + 20
    if (os.cpu_count() or 1) > 1:
        assert int(counts.group(3)) > 10
    now = datetime.now(timezone.utc)
    cached = render_project(Project(project), now=now)
    alone = render_project(Project(project), now=now, use_cache=False)
    assert cached.rendered == 0
    assert cached.pages == alone.pages


def test_two_processes_claiming_from_both_ends_take_each_page_once() -> None:
    """The page builder's claims: MkDocs takes pages from the start while a forked helper
    takes them from the end; every page is taken by exactly one, and what the helper marks
    done is seen by the build. A helper that dies holding the claims' lock (the kernel
    drops it) does not leave the build waiting."""
    from runbook.forked import Claims

    count = 2000
    claims = Claims(count)
    taken = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: from the end, until it meets the build
        os.close(taken[0])
        mine = [n for n in range(count - 1, -1, -1) if claims.claim(n)]
        for number in mine:
            claims.finish(number)
        os.write(taken[1], json.dumps(mine).encode())
        os._exit(0)
    os.close(taken[1])
    ours = [n for n in range(count) if claims.claim(n)]
    with os.fdopen(taken[0], "rb") as pipe:
        theirs = json.loads(pipe.read())
    os.waitpid(pid, 0)

    assert sorted(ours + theirs) == list(range(count))
    assert all(claims.done(n) for n in theirs) and not any(claims.done(n) for n in ours)
    claims.close()

    held = Claims(1)
    pid = os.fork()
    if pid == 0:
        import fcntl

        fcntl.lockf(held._file.fileno(), fcntl.LOCK_EX)
        os._exit(0)  # dies with the lock held
    os.waitpid(pid, 0)
    assert held.claim(0) and not held.claim(0)
    held.close()
