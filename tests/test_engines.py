"""One source, three engines: ``runbook build --engine mkdocs|properdocs|zensical``.

The fixture project (``tests/fixtures/site``: runbooks, a training page, a FAQ and the
records of real runs, so no kernel starts) is built by each engine through the real
command line, and each site is compared with MkDocs': the same pages, the same status
cards and navigation, the FAQ's questions as headings and in the search index, run pages
published but outside the navigation. In Chromium, a runbook page from each engine has
the handbook's CSS and script at work. Set ``RUNBOOK_SCREENSHOTS=DIR`` to keep the
screenshots (``<engine>.png``) for a look.

An engine that is not installed is skipped, naming the extra that installs it; under CI
(the ``CI`` variable set) it fails instead, so CI cannot go green without building with
every engine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from browser import blocked_requests, chromium_page, launch_chromium, search_results, serve_site
from conftest import copy_handbook
from test_site import copy_fixture

OTHER_ENGINES = ["properdocs", "zensical"]
FAQ_QUESTIONS = ["How do I rotate the showcase token?", "Why did the broken check fail?"]
RUNBOOK_PAGES = ["runbooks/ops/showcase", "runbooks/ops/broken-check", "runbooks/ops/never-run"]


def runbook(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def require_engine(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        reason = f"{name} is not installed: pip install -e '.[{name}]'"
        if os.environ.get("CI", ""):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_fixture(tmp_path_factory.mktemp("engines") / "handbook")


def build(handbook: Path, engine: str) -> Path:
    site = handbook.parent / f"site-{engine}"
    choice = [] if engine == "mkdocs" else ["--engine", engine]  # MkDocs: the default
    done = runbook(handbook, "build", "--strict", *choice, "--site-dir", str(site))
    assert done.returncode == 0, f"build --engine {engine} failed:\n{done.stdout}\n{done.stderr}"
    assert f"built the site in {site}" in done.stderr
    return site


@pytest.fixture(scope="module")
def mkdocs_site(handbook: Path) -> Path:
    return build(handbook, "mkdocs")


@pytest.fixture(scope="module", params=OTHER_ENGINES)
def engine_site(request: pytest.FixtureRequest, handbook: Path) -> tuple[str, Path]:
    require_engine(request.param)
    return request.param, build(handbook, request.param)


# -- what a built site shows ---------------------------------------------------------------


class _Collect(HTMLParser):
    """Nav titles of the primary navigation, h2 headings, status cards and badges of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.nav_titles: list[str] = []
        self.nav_links: list[str] = []
        self.h2: list[str] = []
        self.cards: list[str] = []
        self.badges: list[str] = []
        self._stack: list[tuple[str, str]] = []
        self._in_primary_nav = 0
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        classes = attributes.get("class", "").split()
        if tag in ("br", "img", "input", "meta", "link", "hr"):
            return
        entering_nav = tag == "nav" and "md-nav--primary" in classes
        self._stack.append((tag, "primary" if entering_nav else ""))
        if entering_nav:
            self._in_primary_nav += 1
        if self._in_primary_nav and tag == "a" and "href" in attributes:
            self.nav_links.append(attributes["href"])
        if "rb-card" in classes:
            self.cards.append(" ".join(c for c in classes if c.startswith("rb-card--")))
        if (
            (self._in_primary_nav and "md-ellipsis" in classes)
            or tag == "h2"
            or "rb-badge" in classes
        ):
            self._text = []
            self._target = (
                self.nav_titles if self._in_primary_nav and "md-ellipsis" in classes
                else self.h2 if tag == "h2" else self.badges
            )
            self._closing = len(self._stack)

    def handle_endtag(self, tag: str) -> None:
        if not self._stack:
            return
        if self._text is not None and len(self._stack) == self._closing:
            self._target.append(" ".join("".join(self._text).split()).rstrip("¶").strip())
            self._text = None
        _, mark = self._stack.pop()
        if mark == "primary":
            self._in_primary_nav -= 1

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def page(site: Path, path: str) -> _Collect:
    parsed = _Collect()
    parsed.feed((site / path / "index.html").read_text("utf-8"))
    return parsed


def pages_of(site: Path) -> set[str]:
    return {p.relative_to(site).as_posix() for p in site.rglob("*.html")}


def search_entries(site: Path) -> list[dict[str, Any]]:
    """The search index: MkDocs/ProperDocs' ``search/search_index.json`` (``docs``) or
    Zensical's ``search.json`` (``items``); each entry has a location and a title."""
    mkdocs_index = site / "search" / "search_index.json"
    if mkdocs_index.is_file():
        entries: list[dict[str, Any]] = json.loads(mkdocs_index.read_text("utf-8"))["docs"]
        return entries
    entries = json.loads((site / "search.json").read_text("utf-8"))["items"]
    return entries


# -- the same site from each engine --------------------------------------------------------


def test_mkdocs_is_the_default_and_builds_with_the_plugin(handbook: Path, mkdocs_site: Path) -> None:
    assert (mkdocs_site / "runbooks" / "ops" / "showcase" / "index.html").is_file()
    assert not (handbook / ".runbook" / "engines" / "mkdocs").exists()


def test_each_engine_builds_the_same_pages(mkdocs_site: Path, engine_site: tuple[str, Path]) -> None:
    engine, site = engine_site
    assert pages_of(site) == pages_of(mkdocs_site), f"{engine} built other pages than MkDocs"
    assert (site / "runs" / "showcase" / "20261129T174248.827Z-303716" / "assets").is_dir()


def test_each_engine_shows_the_same_status_cards(mkdocs_site: Path, engine_site: tuple[str, Path]) -> None:
    engine, site = engine_site
    for path in RUNBOOK_PAGES:
        expected, got = page(mkdocs_site, path), page(site, path)
        assert got.cards == expected.cards != [], f"{engine}: {path}"
        assert got.badges == expected.badges, f"{engine}: {path}"
    # The fixture's daily showcase run (2026-11-29) reads succeeded for a day, stale since.
    assert page(site, "runbooks/ops/showcase").cards in (["rb-card--succeeded"], ["rb-card--stale"])
    assert page(site, "runbooks/ops/broken-check").cards == ["rb-card--failed"]


def test_each_engine_has_the_faq_questions_as_headings(
    mkdocs_site: Path, engine_site: tuple[str, Path]
) -> None:
    engine, site = engine_site
    headings = page(site, "faq/basics").h2
    assert headings == page(mkdocs_site, "faq/basics").h2
    assert headings == FAQ_QUESTIONS, engine


def test_each_engine_has_the_same_navigation_without_run_pages(
    mkdocs_site: Path, engine_site: tuple[str, Path]
) -> None:
    engine, site = engine_site
    home = page(site, ".")
    assert home.nav_titles == page(mkdocs_site, ".").nav_titles, engine
    assert "FAQ" in home.nav_titles and "Faq" not in home.nav_titles
    for path in ["."] + RUNBOOK_PAGES:
        assert not [link for link in page(site, path).nav_links if "runs/" in link], f"{engine}: {path}"
    run_page = site / "runs" / "showcase" / "20261129T174248.827Z-303716" / "index.html"
    assert "Output showcase" in run_page.read_text("utf-8")


def test_each_engine_puts_the_faq_questions_in_its_search_index(
    mkdocs_site: Path, engine_site: tuple[str, Path]
) -> None:
    engine, site = engine_site
    for built in (mkdocs_site, site):
        entries = search_entries(built)
        faq = {e["title"]: e["location"] for e in entries if e["location"].startswith("faq/basics/")}
        for question in FAQ_QUESTIONS:
            anchor = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")
            assert faq.get(question) == f"faq/basics/#{anchor}", f"{engine}: {question} not in {faq}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as chromium:
        yield chromium


@pytest.mark.parametrize("engine", ["mkdocs", *OTHER_ENGINES])
def test_a_runbook_page_from_each_engine_has_its_css_and_script_in_chromium(
    handbook: Path, browser: Any, engine: str, request: pytest.FixtureRequest
) -> None:
    if engine != "mkdocs":
        require_engine(engine)
    site = request.getfixturevalue("mkdocs_site") if engine == "mkdocs" else build_once(handbook, engine)
    with serve_site(site) as base_url, chromium_page(browser) as tab:
        tab.goto(base_url + "runbooks/ops/showcase/")
        tab.wait_for_selector(".rb-ago")  # runbook.js ran: relative times next to UTC ones
        look = tab.evaluate(
            """() => {
              const style = el => getComputedStyle(document.querySelector(el));
              return {
                card_border: style(".rb-card").borderLeftWidth,
                card_display: style(".rb-card").display,
                badge_background: style(".rb-badge--succeeded").backgroundColor,
                badge_text: document.querySelector(".rb-badge--succeeded").textContent.trim(),
                ago: document.querySelector(".rb-ago").textContent,
                title: document.querySelector("h1").textContent.replace("¶", "").trim(),
              };
            }"""
        )
        shots = os.environ.get("RUNBOOK_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(Path(shots) / f"{engine}.png"))
        assert not [u for u in blocked_requests(tab) if "runbook" in u]
    assert look["title"] == "Output showcase"
    assert look["badge_text"].lower() == "succeeded"
    assert look["card_border"] not in ("0px", ""), "runbook.css did not style the status card"
    assert look["badge_background"] not in ("rgba(0, 0, 0, 0)", "transparent"), "the badge has no colour"
    assert re.fullmatch(r" \((\d+ \w+ ago|in \d+ \w+|just now)\)", look["ago"]), look["ago"]


# Zensical's search dialog lives in a shadow root; a result is a link with the page or
# section title as its heading.
_ZENSICAL_RESULTS = r"""() => {
  const host = Array.from(document.querySelectorAll("*")).find(el => el.shadowRoot
    && el.shadowRoot.querySelector("input"));
  if (!host) return [];
  return Array.from(host.shadowRoot.querySelectorAll("a[href]"), a => ({
    title: (a.querySelector("h1, h2, h3") || a).textContent.replace(/\s+/g, " ").trim(),
    url: a.href,
  }));
}"""


_ZENSICAL_SEARCH_OPEN = """() => {
  const host = document.activeElement;
  return !!(host && host.shadowRoot && host.shadowRoot.activeElement
    && host.shadowRoot.activeElement.tagName === "INPUT");
}"""


def zensical_search_results(tab: Any, base_url: str, words: str, expected_url: str) -> list[dict[str, str]]:
    """Search a Zensical site like a user (Ctrl+K, type); the results once ``expected_url`` shows."""
    tab.goto(base_url)
    for _ in range(100):  # until the theme's script listens for the shortcut
        tab.keyboard.press("Control+k")
        if tab.evaluate(_ZENSICAL_SEARCH_OPEN):
            break
        tab.wait_for_timeout(100)
    else:
        pytest.fail("Ctrl+K never opened Zensical's search dialog")
    tab.keyboard.type(words)
    tab.wait_for_function(
        f"() => ({_ZENSICAL_RESULTS})().some(r => r.url.endsWith({json.dumps(expected_url)}))", polling=50
    )
    results: list[dict[str, str]] = tab.evaluate(_ZENSICAL_RESULTS)
    return results


@pytest.mark.parametrize("engine", ["mkdocs", *OTHER_ENGINES])
def test_searching_each_engines_site_finds_the_faq_question(
    handbook: Path, browser: Any, engine: str, request: pytest.FixtureRequest
) -> None:
    if engine != "mkdocs":
        require_engine(engine)
    site = request.getfixturevalue("mkdocs_site") if engine == "mkdocs" else build_once(handbook, engine)
    question, anchor = FAQ_QUESTIONS[0], "faq/basics/#how-do-i-rotate-the-showcase-token"
    with serve_site(site) as base_url, chromium_page(browser) as tab:
        if engine == "zensical":
            results = zensical_search_results(tab, base_url, "rotate token", anchor)
        else:
            results = search_results(tab, base_url, "rotate token")
    assert {"title": question, "url": base_url + anchor} in [
        {"title": r["title"], "url": r["url"]} for r in results
    ], results


_built: dict[tuple[Path, str], Path] = {}


def build_once(handbook: Path, engine: str) -> Path:
    """The engine's site of a module-scoped handbook, built on first use."""
    site = handbook.parent / f"site-{engine}"
    if (handbook, engine) not in _built:
        _built[(handbook, engine)] = site if (site / "index.html").is_file() else build(handbook, engine)
    return _built[(handbook, engine)]


# -- the repository's own handbook ---------------------------------------------------------



@pytest.fixture(scope="module")
def repo_handbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's handbook (its own mkdocs.yml: Material features, tags, alert rules),
    without runs: every runbook page shows "never run"."""
    return copy_handbook(tmp_path_factory.mktemp("repo-handbook") / "project")


def faq_questions(project: Path) -> set[str]:
    questions = set()
    for path in (project / "docs" / "faq").glob("*.yml"):
        questions |= {entry["question"] for entry in yaml.safe_load(path.read_text("utf-8"))["entries"]}
    return questions


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_the_repository_handbook_builds_strictly_the_same_with_each_engine(
    repo_handbook: Path, engine: str
) -> None:
    require_engine(engine)
    expected = build_once(repo_handbook, "mkdocs")
    site = build_once(repo_handbook, engine)

    assert pages_of(site) == pages_of(expected)
    assert page(site, ".").nav_titles == page(expected, ".").nav_titles
    questions = faq_questions(repo_handbook)
    assert questions
    titles = {e["title"] for e in search_entries(site) if e["location"].startswith("faq/")}
    assert questions <= titles, f"{engine}: FAQ questions missing from search: {questions - titles}"
    alerts = "runbooks/alerts"  # every shipped alert and its runbook's badge
    assert page(site, alerts).badges == page(expected, alerts).badges != []


# -- errors and the engine config ----------------------------------------------------------


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_a_missing_engine_is_one_line_naming_the_extra(tmp_path: Path, engine: str) -> None:
    project = copy_fixture(tmp_path / "handbook")
    hide = tmp_path / "hide"
    hide.mkdir()
    # The engine's module looks uninstalled to the command (find_spec() is None for it).
    (hide / "sitecustomize.py").write_text(f"import sys\nsys.modules[{engine!r}] = None\n", "utf-8")
    pythonpath = os.pathsep.join(p for p in (str(hide), os.environ.get("PYTHONPATH", "")) if p)

    done = runbook(project, "build", "--engine", engine, env={"PYTHONPATH": pythonpath})

    label = {"properdocs": "ProperDocs", "zensical": "Zensical"}[engine]
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: --engine {engine}: {label} is not installed; "
        f"install it with: pip install 'runbook-docs[{engine}]'\n"
    )
    assert not (project / "site").exists()


def test_an_unknown_engine_is_a_usage_error(handbook: Path) -> None:
    done = runbook(handbook, "build", "--engine", "sphinx")
    assert done.returncode == 2
    assert "Invalid value for '--engine': 'sphinx' is not one of 'mkdocs', 'properdocs', 'zensical'" in done.stderr


def test_the_engine_config_is_the_projects_without_the_plugin(tmp_path: Path) -> None:
    from runbook.site.engines import ENGINES, stage
    from runbook.source.project import Project

    root = copy_fixture(tmp_path / "handbook")
    config = root / "mkdocs.yml"
    config.write_text(
        config.read_text("utf-8").replace(
            "plugins:\n  - search\n  - runbook\n",
            "plugins:\n  - search\n  - runbook:\n      environment: local\n"
            "extra:\n  analytics: !ENV [RUNBOOK_ANALYTICS, none]\n",
        )
        + "  - pymdownx.emoji:\n      emoji_index: !!python/name:material.extensions.emoji.twemoji\n",
        "utf-8",
    )

    staging = stage(Project(root), ENGINES["zensical"])

    text = staging.config_file.read_text("utf-8")
    written = yaml.load(text, Loader=_AnyTag)  # noqa: S506 (safe loading, tags as strings)
    assert written["plugins"] == ["search"]
    assert written["docs_dir"] == "docs" and written["site_dir"] == "site"
    assert written["theme"]["custom_dir"] == str(root / "overrides")
    assert written["extra"]["analytics"] == "!ENV ['RUNBOOK_ANALYTICS', 'none']"
    assert "emoji_index: !!python/name:material.extensions.emoji.twemoji" in text
    assert (staging.docs_dir / "runbooks" / "ops" / "showcase.md").is_file()
    assert (staging.docs_dir / "faq" / "basics.md").is_file()


class _AnyTag(yaml.SafeLoader):
    """Reads a tagged node as the string ``"<tag> <value>"``."""


def _tag_as_text(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return f"!{suffix} {loader.construct_sequence(node)}"
    assert isinstance(node, yaml.ScalarNode)
    return f"!{suffix} {loader.construct_scalar(node)}"


_AnyTag.add_multi_constructor("!", _tag_as_text)
_AnyTag.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: f"!!python/{suffix}")


# -- live preview --------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(url: str, text: str, process: subprocess.Popen[str], deadline: float) -> str:
    """The page at ``url`` once it contains ``text`` (polled until ``deadline``)."""
    last = ""
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve ended early:\n{process.communicate()[1]}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
                last = response.read().decode("utf-8")
            if text in last:
                return last
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} never showed {text!r}; last page:\n{last[:2000]}")


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_serve_with_an_engine_renders_again_when_a_runbook_changes(tmp_path: Path, engine: str) -> None:
    require_engine(engine)
    project = copy_fixture(tmp_path / "handbook")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "serve", "--engine", engine, "-a", f"127.0.0.1:{port}"],
        cwd=project,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    engine_processes: list[psutil.Process] = []
    try:
        url = f"http://127.0.0.1:{port}/runbooks/ops/showcase/"
        _wait_for(url, "Output showcase", process, time.monotonic() + 180)
        source = project / "runbooks" / "ops" / "showcase.md"
        text = source.read_text("utf-8")
        source.write_text(text.replace("title: Output showcase", "title: Output gallery"), "utf-8")
        _wait_for(url, "Output gallery", process, time.monotonic() + 180)
        engine_processes = psutil.Process(process.pid).children(recursive=True)
        assert engine_processes, "the engine runs as a child process"
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not [p for p in engine_processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_strict_fails_on_a_rendering_warning_before_the_engine_runs(tmp_path: Path, engine: str) -> None:
    require_engine(engine)
    project = copy_fixture(tmp_path / "handbook")
    faq = project / "docs" / "faq" / "basics.yml"
    faq.write_text(faq.read_text("utf-8").replace("runbooks: [broken-check]", "runbooks: [no-such-runbook]"))

    done = runbook(project, "build", "--strict", "--engine", engine)

    assert done.returncode == 1
    assert "no-such-runbook" in done.stderr
    assert done.stderr.endswith(
        "Error: mkdocs.yml: --strict: rendering the pages gave 1 warning(s), logged above; fix them\n"
    )
    assert not (project / "site").exists()
    relaxed = runbook(project, "build", "--engine", engine)
    assert relaxed.returncode == 0, relaxed.stderr
    assert (project / "site" / "faq" / "basics" / "index.html").is_file()


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_a_rebuild_with_an_engine_stages_only_what_changed(tmp_path: Path, engine: str) -> None:
    require_engine(engine)
    project = copy_fixture(tmp_path / "handbook")
    notes, extra = project / "docs" / "notes.md", project / "docs" / "extra.md"
    notes.write_text("# Notes\n\nFirst draft.\n", "utf-8")
    extra.write_text("# Extra\n\nTo be removed.\n", "utf-8")
    staged = project / ".runbook" / "engines" / engine / "docs"

    def staged_files() -> dict[str, tuple[int, int]]:
        return {
            p.relative_to(staged).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in staged.rglob("*")
            if p.is_file()
        }

    first = runbook(project, "build", "--engine", engine)
    assert first.returncode == 0, first.stderr
    before = staged_files()
    notes.write_text("# Notes\n\nSecond draft.\n", "utf-8")
    extra.unlink()
    second = runbook(project, "build", "--engine", engine)
    assert second.returncode == 0, second.stderr
    after = staged_files()

    rewritten = {rel for rel, stamp in after.items() if before.get(rel) != stamp}
    assert rewritten - {"runbooks/index.md"} == {"notes.md"}  # the overview shows the build time
    assert set(before) - set(after) == {"extra.md"}
    assert not [p.name for p in staged.rglob(".*")]  # no temporary file left behind
    site = project / "site"
    assert "Second draft." in (site / "notes" / "index.html").read_text("utf-8")
    assert not (site / "extra").exists()
    assert (site / "runbooks" / "ops" / "showcase" / "index.html").is_file()
