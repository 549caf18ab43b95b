"""The site: rendered pages (golden files, no kernel) and real MkDocs builds.

The fixture project in ``tests/fixtures/site`` holds runbooks, a training page, a FAQ and
the records and executed notebooks of real runs, committed so these tests need no kernel.
Regenerate the golden pages with ``pytest tests/test_site.py --update-golden``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runbook.render.site import RENDER_CACHE, Site, render_site
from runbook.render.templates import OVERRIDES as OVERRIDE_TEMPLATES
from runbook.render.templates import PACKAGE_TEMPLATES
from runbook.site.inputs import collect_inputs, render_project
from runbook.source.project import Project
from runbook.store import open_store

FIXTURE = Path(__file__).parent / "fixtures" / "site"
GOLDEN = Path(__file__).parent / "golden" / "site"
#: A fixed "now" one hour after the fixture runs, so relative times are stable.
NOW = datetime(2026, 11, 29, 18, 40, tzinfo=timezone.utc)


OVERRIDES = Path(__file__).parents[1] / "overrides"


def copy_fixture(target: Path) -> Path:
    """The fixture project, with the repository's theme overrides (CSS, relative times)."""
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns(".runbook", "site"))
    shutil.copytree(OVERRIDES, target / "overrides")
    return target


@pytest.fixture
def fixture_project(tmp_path: Path) -> Path:
    return copy_fixture(tmp_path / "handbook")


def runbook_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# -- golden pages -------------------------------------------------------------------------


def test_rendered_pages_match_the_golden_files(fixture_project: Path, update_golden: bool) -> None:
    site = render_project(Project(fixture_project), now=NOW)

    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for path, markdown in site.pages.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_text(markdown, "utf-8")
    expected = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.md")}
    assert set(site.pages) == expected
    for path in sorted(expected):
        assert site.pages[path] == (GOLDEN / path).read_text("utf-8"), f"{path} differs from its golden file"


def test_render_reports_what_it_replaces_and_hides(fixture_project: Path) -> None:
    site = render_project(Project(fixture_project), now=NOW)

    assert "training/first-steps.md" in site.replaced  # the notebook page's source
    assert "faq/basics.yml" in site.replaced  # FAQ data is not published
    assert all(p.startswith("runs/") for p in site.hidden) and len(site.hidden) == 3
    assert [p for p in site.assets if p.endswith(".png")], "the PNG output became an asset file"
    assert site.warnings == []


def test_unknown_runbook_in_the_faq_is_a_warning_naming_file_and_entry(fixture_project: Path) -> None:
    faq = fixture_project / "docs" / "faq" / "basics.yml"
    faq.write_text(faq.read_text("utf-8").replace("runbooks: [showcase]", "runbooks: [showcas]"), "utf-8")

    site = render_project(Project(fixture_project), now=NOW)

    assert site.warnings == [
        "docs/faq/basics.yml: entry 1 ('How do I rotate the showcase token?') names runbook 'showcas', "
        "which does not exist; fix the slug or remove it"
    ]


def test_unchanged_notebooks_come_from_the_render_cache(fixture_project: Path, monkeypatch) -> None:
    import runbook.render.site as site_module

    first = render_project(Project(fixture_project), now=NOW)
    rendered: list[str] = []
    real = site_module.runbook_page
    monkeypatch.setattr(
        site_module, "runbook_page", lambda rb, *a, **k: rendered.append(rb.slug) or real(rb, *a, **k)
    )
    showcase = fixture_project / "runbooks" / "ops" / "showcase.md"
    showcase.write_text(showcase.read_text("utf-8") + "\nA sentence added by an editor.\n", "utf-8")

    second = render_project(Project(fixture_project), now=NOW)

    assert rendered == ["showcase"], "only the edited runbook is rendered again"
    assert "A sentence added by an editor." in second.pages["runbooks/ops/showcase.md"]
    unchanged = {p: m for p, m in first.pages.items() if "showcase" not in p}
    assert {p: second.pages[p] for p in unchanged} == unchanged
    assert second.assets == first.assets


def test_a_new_run_renders_the_page_again(fixture_project: Path) -> None:
    first = render_project(Project(fixture_project), now=NOW)
    run = next((fixture_project / "runs" / "broken-check").iterdir())
    record = json.loads((run / "record.json").read_text("utf-8"))
    newer = run.parent / "20261129T180000.000Z-abcdef"
    shutil.copytree(run, newer)
    record.update(run_id=newer.name, started_at="2026-11-29T18:00:00.000Z", status="succeeded", failure=None)
    (newer / "record.json").write_text(json.dumps(record), "utf-8")

    second = render_project(Project(fixture_project), now=NOW)

    assert "rb-card--failed" in first.pages["runbooks/ops/broken-check.md"]
    assert "rb-card--succeeded" in second.pages["runbooks/ops/broken-check.md"]
    assert f"runs/broken-check/{newer.name}.md" in second.pages


def test_one_process_rendering_again_follows_edits_runs_and_the_clock(fixture_project: Path) -> None:
    """`runbook serve` renders in one process: what it keeps in memory must never go stale."""
    first = render_project(Project(fixture_project), now=NOW)
    never = fixture_project / "runbooks" / "ops" / "never-run.md"
    never.write_text(never.read_text("utf-8").replace("title: Never run", "title: Not yet run"), "utf-8")

    retitled = render_project(Project(fixture_project), now=NOW)

    for page in ("runbooks/index.md", "runbooks/calendar.md"):
        assert "[Never run](ops/never-run.md)" in first.pages[page]
        assert "[Not yet run](ops/never-run.md)" in retitled.pages[page]
    run = next((fixture_project / "runs" / "broken-check").iterdir())
    shutil.rmtree(run)  # a team prunes its history

    pruned = render_project(Project(fixture_project), now=NOW + timedelta(hours=2))

    dashboard = pruned.pages["runbooks/index.md"]
    assert "Built 2026-11-29T20:40:00Z" in dashboard
    assert "rb-badge--failed" in first.pages["runbooks/index.md"] and "rb-badge--failed" not in dashboard
    assert f"runs/broken-check/{run.name}.md" not in pruned.pages
    assert "rb-card--failed" not in pruned.pages["runbooks/ops/broken-check.md"]

    again = render_project(Project(fixture_project), now=NOW)  # nothing changed but the clock

    assert again.pages["runbooks/index.md"] == dashboard.replace("20:40:00Z; times", "18:40:00Z; times")


def test_cache_entries_nothing_uses_are_pruned_once_old(fixture_project: Path) -> None:
    import os
    import time

    cache = fixture_project / ".runbook" / "cache"
    render_project(Project(fixture_project), now=NOW)  # fills both caches
    in_use = sorted(p for p in cache.rglob("*") if p.is_file() and p.name != ".pruned")
    month_ago = time.time() - 30 * 24 * 3600
    for path in in_use:  # still used, however old
        os.utime(path, (month_ago, month_ago))
    leftovers = {
        "old": [
            cache / "parse" / "0ld.json",
            cache / "render" / "ab" / "ab0ld.json",
            cache / "render" / "blobs" / "cd" / "cd0ld",
        ],
        "recent": [cache / "parse" / "r3cent.json", cache / "render" / "ef" / "efr3cent.json"],
    }
    for age, paths in leftovers.items():
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}", "utf-8")
            if age == "old":
                os.utime(path, (month_ago, month_ago))
    for stamp in cache.glob("*/.pruned"):
        stamp.unlink()  # as if the last pruning was long ago

    render_project(Project(fixture_project), now=NOW)

    assert not any(p.exists() for p in leftovers["old"]), "unused entries older than two weeks go"
    assert all(p.exists() for p in leftovers["recent"] + in_use), "recent or used entries stay"
    late = cache / "parse" / "l4te.json"
    late.write_text("{}", "utf-8")
    os.utime(late, (month_ago, month_ago))

    render_project(Project(fixture_project), now=NOW)

    assert late.exists(), "pruning runs at most once a day"


def render_with_templates(project: Path, package: Path) -> Site:
    """Render ``project`` the way ``render_project`` does, with ``package`` standing in for the
    package's own templates (an installed copy, as an upgrade of the package finds it)."""
    from runbook.render.cache import RenderCache

    inputs = collect_inputs(Project(project), open_store(project / "runs"))
    inputs = replace(inputs, template_folders=(project / OVERRIDE_TEMPLATES, package))
    return render_site(inputs, now=NOW, cache=RenderCache(project / RENDER_CACHE))


def edit_keeping_mtime(path: Path, old: str, new: str) -> None:
    """Change a file's text but not its modification time (an upgrade may keep it)."""
    before = path.stat()
    text = path.read_text("utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new), "utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_an_upgraded_package_template_renders_every_page_again(fixture_project: Path, tmp_path: Path) -> None:
    package = shutil.copytree(PACKAGE_TEMPLATES, tmp_path / "installed-templates")
    first = render_with_templates(fixture_project, package)
    edit_keeping_mtime(package / "runbook.md.j2", "Run it:\n", "Run it from a shell:\n")
    edit_keeping_mtime(
        package / "partials" / "page.html.j2", '<time class="rb-when"', '<time class="rb-when rb-v2"'
    )

    second = render_with_templates(fixture_project, package)

    runbook_pages = ["runbooks/ops/showcase.md", "runbooks/ops/broken-check.md", "runbooks/ops/never-run.md"]
    for page in runbook_pages:
        assert "Run it:\n" in first.pages[page] and "Run it from a shell:\n" in second.pages[page], page
    run_pages = [p for p in second.pages if p.startswith("runs/")]
    assert run_pages and all('<time class="rb-when rb-v2"' in second.pages[p] for p in run_pages)
    assert '<time class="rb-when rb-v2"' in second.pages["runbooks/index.md"]


def test_an_edited_override_renders_its_pages_again(fixture_project: Path) -> None:
    overrides = fixture_project / OVERRIDE_TEMPLATES
    overrides.mkdir(parents=True)
    shutil.copy(PACKAGE_TEMPLATES / "run.md.j2", overrides / "run.md.j2")
    first = render_project(Project(fixture_project), now=NOW)
    edit_keeping_mtime(overrides / "run.md.j2", "Run it again:", "Repeat this run:")

    second = render_project(Project(fixture_project), now=NOW)

    run_pages = [p for p in second.pages if p.startswith("runs/")]
    assert run_pages and all("Repeat this run:" in second.pages[p] for p in run_pages)
    assert all("Run it again:" in first.pages[p] for p in run_pages)


def break_a_record(project: Path) -> Path:
    """A run of the showcase whose record.json is cut short, as a full disk leaves it."""
    run = next((project / "runs" / "showcase").iterdir())
    broken = shutil.copytree(run, run.parent / "20261129T100000.000Z-0badc0")
    record = broken / "record.json"
    record.write_text(record.read_text("utf-8")[:40], "utf-8")
    return record


def test_a_run_the_store_skips_is_a_warning_naming_its_file(fixture_project: Path) -> None:
    record = break_a_record(fixture_project)

    site = render_project(Project(fixture_project), now=NOW)

    assert len(site.warnings) == 1 and str(record) in site.warnings[0], site.warnings
    assert "runs/showcase/20261129T100000.000Z-0badc0.md" not in site.pages


def test_a_run_whose_process_was_killed_shows_as_abandoned(fixture_project: Path) -> None:
    pending = fixture_project / "runs" / ".pending" / "20261129T183000.000Z-dead00"
    pending.mkdir(parents=True)
    started = {
        "runbook": {"slug": "never-run", "path": "runbooks/ops/never-run.md", "title": "Never run"},
        "environment": "local",
        "parameters": {},
        "started_at": "2026-11-29T18:30:00.000Z",
        "operator": {"user": "oncall", "host": "ops-1"},
        "pid": 2**22 + 12345,  # no such process: its runbook exec was killed
        "pid_started": 0,
    }
    (pending / "started.json").write_text(json.dumps(started), "utf-8")

    site = render_project(Project(fixture_project), now=NOW)

    page = site.pages["runbooks/ops/never-run.md"]
    assert '<span class="rb-badge rb-badge--abandoned">abandoned</span>' in page
    assert "runs/never-run/20261129T183000.000Z-dead00.md" in site.pages
    assert "abandoned" in site.pages["runbooks/index.md"]


# -- a real mkdocs build --------------------------------------------------------------------


class _Text(HTMLParser):
    """Visible text of an HTML document, and the ids and classes it uses."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.classes: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name == "class" and value:
                self.classes.update(value.split())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.parts))


def page_text(site: Path, url_path: str) -> _Text:
    """The page's article (its content, without navigation and table of contents)."""
    html = (site / url_path / "index.html").read_text("utf-8")
    article = re.search(r"<article.*?</article>", html, re.S)
    assert article, url_path
    parser = _Text()
    parser.feed(article.group(0))
    return parser


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_fixture(tmp_path_factory.mktemp("built") / "handbook")
    done = runbook_cli(project, "build", "--strict")
    assert done.returncode == 0, done.stderr
    return project / "site"


def test_strict_build_shows_status_times_output_and_command(built_site: Path) -> None:
    page = page_text(built_site, "runbooks/ops/showcase")

    record = json.loads(next((FIXTURE / "runs" / "showcase").glob("*/record.json")).read_text("utf-8"))
    started = record["started_at"][:19] + "Z"  # ISO 8601, UTC, to the second

    assert "succeeded" in page.text
    assert f"last verified {started}" in page.text
    assert "hello from the profile on stdout" in page.text
    assert "careful: this goes to stderr" in page.text and "rb-stderr" in page.classes
    assert "red text without its colour codes" in page.text and "\x1b" not in page.text
    assert "runbook exec showcase" in page.text
    assert "--env local" not in page.text and "-p 'greeting=" not in page.text  # the profile gives them
    assert "fixture-secret-4242" not in (built_site / "runbooks/ops/showcase/index.html").read_text("utf-8")
    assert "service" in page.text and "replicas" in page.text  # HTML table and JSON outputs
    assert list((built_site / "runs" / "showcase").rglob("*.png")), "the image output is published"


def test_failing_step_is_highlighted_with_its_error(built_site: Path) -> None:
    page = page_text(built_site, "runbooks/ops/broken-check")

    assert "failed" in page.text
    assert "Failed at step explode: RuntimeError: replica lag is 42 s, over the 10 s limit" in page.text
    assert "rb-step--failed" in page.classes and "rb-error" in page.classes
    assert "not printed" not in page.text.replace('print("not printed")', "")


def test_never_run_runbook_says_so(built_site: Path) -> None:
    page = page_text(built_site, "runbooks/ops/never-run")

    assert "never run" in page.text
    assert "runbook exec never-run" in page.text


def test_history_links_to_run_pages_that_stay_out_of_the_nav(built_site: Path) -> None:
    showcase = (built_site / "runbooks/ops/showcase/index.html").read_text("utf-8")
    run_pages = list((built_site / "runs" / "showcase").glob("*/index.html"))

    assert len(run_pages) == 1
    run_id = run_pages[0].parent.name
    assert f"runs/showcase/{run_id}/" in showcase
    nav = re.search(r'<nav class="md-nav md-nav--primary".*?</nav>', showcase, re.S)
    assert nav and "runs/" not in nav.group(0)
    assert "Steps" in page_text(built_site, f"runs/showcase/{run_id}").text


def test_dashboard_lists_failed_first_and_the_calendar_shows_what_is_due_when(built_site: Path) -> None:
    dashboard = page_text(built_site, "runbooks").text
    calendar = page_text(built_site, "runbooks/calendar").text

    # Failed first, stale before never run before succeeded. The fixture's daily showcase
    # run was made on 2026-11-29, so it reads succeeded for a day after it, stale since.
    showcase = (built_site / "runbooks" / "ops" / "showcase" / "index.html").read_text("utf-8")
    stale = 'class="rb-card rb-card--stale"' in showcase
    assert stale or 'class="rb-card rb-card--succeeded"' in showcase
    never, shown = dashboard.index("Never run"), dashboard.index("Output showcase")
    assert dashboard.index("Broken check") < min(never, shown)
    assert (shown < never) if stale else (never < shown)
    assert re.search(r"overdue since \d\d \w+ Broken check", calendar)
    assert "daily: Output showcase" in calendar and "weekly: Broken check" in calendar


def test_faq_is_a_page_per_category_with_a_heading_per_question(built_site: Path) -> None:
    html = (built_site / "faq/basics/index.html").read_text("utf-8")

    assert re.search(
        r'<h2 id="how-do-i-rotate-the-showcase-token">How do I rotate the showcase token\?', html
    )
    assert not list(built_site.rglob("*.yml")), "FAQ data files are not published"
    showcase = page_text(built_site, "runbooks/ops/showcase").text
    assert "Questions this runbook answers" in showcase and "How do I rotate the showcase token?" in showcase


def test_training_page_is_executed_content_in_its_track(built_site: Path) -> None:
    page = page_text(built_site, "training/first-steps")
    index = page_text(built_site, "training")

    assert "training example ran" in page.text
    assert (
        page.text.index("Objectives")
        < page.text.index("Run a runbook")
        < page.text.index("training example ran")
    )
    assert "L1: Basic user support" in index.text and "First steps" in index.text


def test_search_index_has_questions_and_output_but_not_folded_output(built_site: Path) -> None:
    index = (built_site / "search" / "search_index.json").read_text("utf-8")
    docs = json.loads(index)["docs"]
    text = " ".join(d["title"] + " " + d["text"] for d in docs)

    assert "How do I rotate the showcase token?" in text
    assert "hello from the profile on stdout" in text
    assert "quietxylophone" not in text  # 80 lines: folded and excluded from search
    html = (built_site / "runbooks/ops/showcase/index.html").read_text("utf-8")
    assert "quietxylophone" in html, "folded output is still on the page"


def test_strict_build_fails_on_a_faq_entry_naming_a_missing_runbook(fixture_project: Path) -> None:
    faq = fixture_project / "docs" / "faq" / "basics.yml"
    faq.write_text(
        faq.read_text("utf-8").replace("runbooks: [broken-check]", "runbooks: [no-such-check]"), "utf-8"
    )

    done = runbook_cli(fixture_project, "build", "--strict")

    assert done.returncode == 1
    assert (
        "docs/faq/basics.yml: entry 2 ('Why did the broken check fail?') names runbook 'no-such-check'"
        in done.stderr
    )
    assert done.stderr.strip().splitlines()[-1].startswith("Error: mkdocs.yml: the site did not build")


def test_strict_build_fails_on_an_unreadable_run_record(fixture_project: Path) -> None:
    record = break_a_record(fixture_project)

    done = runbook_cli(fixture_project, "build", "--strict")

    assert done.returncode == 1
    assert str(record.relative_to(fixture_project)) in done.stderr or str(record) in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Error: mkdocs.yml: the site did not build")


def test_strict_build_fails_on_a_broken_link(fixture_project: Path) -> None:
    (fixture_project / "docs" / "index.md").write_text(
        "# Home\n\nSee [the missing page](missing.md).\n", "utf-8"
    )

    done = runbook_cli(fixture_project, "build", "--strict")

    assert done.returncode == 1
    assert "missing.md" in done.stderr


def test_render_out_builds_the_same_site_with_plain_mkdocs(fixture_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "rendered-docs"
    rendered = runbook_cli(fixture_project, "render", "--out", str(out))
    assert rendered.returncode == 0, rendered.stderr
    plugin_build = runbook_cli(
        fixture_project, "build", "--strict", "--site-dir", str(tmp_path / "with-plugin")
    )
    assert plugin_build.returncode == 0, plugin_build.stderr
    config = (fixture_project / "mkdocs.yml").read_text("utf-8")
    plain = config.replace("docs_dir: docs", f"docs_dir: {out}").replace("  - runbook\n", "")
    (fixture_project / "plain.yml").write_text(plain, "utf-8")

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            "plain.yml",
            "-d",
            str(tmp_path / "plain"),
        ],
        cwd=fixture_project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    with_plugin = sorted(
        p.relative_to(tmp_path / "with-plugin").as_posix() for p in (tmp_path / "with-plugin").rglob("*.html")
    )
    without = sorted(
        p.relative_to(tmp_path / "plain").as_posix() for p in (tmp_path / "plain").rglob("*.html")
    )
    assert with_plugin == without
    for page in (
        "runbooks/ops/showcase/index.html",
        "faq/basics/index.html",
        "training/first-steps/index.html",
    ):
        a = _article(tmp_path / "with-plugin" / page)
        b = _article(tmp_path / "plain" / page)
        assert a == b, page


def _article(path: Path) -> str:
    html = path.read_text("utf-8")
    match = re.search(r"<article.*?</article>", html, re.S)
    assert match, path
    # "n minutes ago" may tick between the two builds
    return re.sub(r"\(\d+ \w+ ago\)|\(in \d+ \w+\)|\(just now\)", "(…)", match.group(0))


# -- real headless Chromium -----------------------------------------------------------------


def test_times_say_how_long_ago_they_were_when_the_page_is_read(built_site: Path) -> None:
    from browser import chromium_page, serve_site

    with serve_site(built_site) as base_url, chromium_page() as page:
        page.goto(base_url + "/runbooks/ops/showcase/")
        page.wait_for_selector(".rb-card__verified .rb-ago")
        verified = page.locator(".rb-card__verified").inner_text()

    assert re.search(
        r"last verified \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ (minute|hour|day)s? ago\)", verified
    )


def test_support_finds_a_faq_question_by_searching_the_built_site(built_site: Path) -> None:
    from browser import chromium_page, flags_raised, search_results, serve_site

    with serve_site(built_site) as base_url, chromium_page() as page:
        results = search_results(page, base_url, "rotate showcase token")

        assert any(
            r["title"] == "How do I rotate the showcase token?" and "faq/basics/" in r["url"] for r in results
        ), results
        assert flags_raised(page) == []
