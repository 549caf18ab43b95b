"""The runbook page, the dashboard and the calendar, as people read them.

A project built from the site fixture plus runs written for each state the page must tell
apart: a failed run after an earlier success, a run whose steps all skipped, a runbook with
its own H1 and a long code cell, a traceback with the absolute paths of the machine that
ran it, and checks that recorded a latency over 30 runs. The site is built with the real
CLI (``runbook build --strict``); the browser tests drive Debian's Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, launch_chromium, serve_site
from test_site import FIXTURE, copy_fixture, page_text, runbook_cli

from runbook.source.project import Project

SHOTS = Path("/tmp")
NOW = datetime.now(timezone.utc)
BUILDER = "/home/builder/handbook"

FOLDED = """---
title: Long restore
summary: A restore whose code is long.
owner: dba-team
schedule: quarterly
---

# Long restore

Restore the latest dump into a scratch database.

```python name="restore"
{code}
```
"""

LATENCY = """---
title: Latency baseline
summary: How fast the API answers.
owner: sre-team
risk: mutating
schedule: daily
---

## Measure

```python name="measure"
print("measured")
```
"""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write_run(
    project: Path,
    slug: str,
    started: datetime,
    status: str,
    steps: list[tuple[str, str]],
    *,
    checks: list[dict[str, Any]] | None = None,
    failure: dict[str, Any] | None = None,
    notebook: dict[str, Any] | None = None,
    code_hash: str | None = None,
) -> str:
    """Store one run of ``slug`` the way the run store lays it out; returns its run id."""
    runbook = Project(project).load(slug)
    run_id = (
        started.strftime("%Y%m%dT%H%M%S.")
        + f"{started.microsecond // 1000:03d}Z-{abs(hash(slug)) % 0xFFFFFF:06x}"
    )
    record = json.loads(next((FIXTURE / "runs" / "broken-check").glob("*/record.json")).read_text("utf-8"))
    record.update(
        run_id=run_id,
        runbook={
            "slug": slug,
            "path": runbook.path,
            "title": runbook.meta.title,
            "code_hash": code_hash or runbook.code_hash,
        },
        status=status,
        exit_code=0 if status == "succeeded" else 1,
        started_at=_iso(started),
        finished_at=_iso(started + timedelta(seconds=2)),
        duration_s=2.0,
        steps=[
            {
                "name": name,
                "status": state,
                "started_at": None if state == "skipped" else _iso(started),
                "duration_s": None if state == "skipped" else 0.5,
                "effect": "read",
            }
            for name, state in steps
        ],
        failure=failure,
        checks=checks or [],
    )
    folder = project / "runs" / slug / run_id
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(record, indent=2), "utf-8")
    if notebook is not None:
        (folder / "notebook.ipynb").write_text(json.dumps(notebook), "utf-8")
    return run_id


def _failed_notebook(project: Path) -> dict[str, Any]:
    """The fixture's failed notebook, its traceback showing absolute paths of the machine."""
    notebook = json.loads(
        next((FIXTURE / "runs" / "broken-check").glob("*/notebook.ipynb")).read_text("utf-8")
    )
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"][2:2] = [
                    f"File {BUILDER}/.venv/lib/python3.11/site-packages/runbook/checks/result.py:212, in raise_for_failures()",
                    "File /srv/ci/checkout/src/runbook/checks/_support.py:40, in worst()",
                    f"File {project}/lib/replicas.py:7, in lag()",
                ]
    return notebook


def make_project(target: Path) -> Path:
    project = copy_fixture(target)
    config = project / "mkdocs.yml"
    config.write_text(
        config.read_text("utf-8").replace(
            "  custom_dir: overrides\n",
            "  custom_dir: overrides\n  palette:\n"
            '    - media: "(prefers-color-scheme: light)"\n      scheme: default\n'
            '    - media: "(prefers-color-scheme: dark)"\n      scheme: slate\n',
        ),
        "utf-8",
    )
    code = "\n".join(f'step_{i} = "restore part {i}"' for i in range(40)) + '\nprint("restored 40 parts")'
    (project / "runbooks" / "ops" / "long-restore.md").write_text(FOLDED.format(code=code), "utf-8")
    (project / "runbooks" / "ops" / "latency.md").write_text(LATENCY, "utf-8")
    # The fixture's failed run of broken-check, moved to yesterday, after a success two days ago.
    shutil.rmtree(project / "runs" / "broken-check")
    write_run(
        project,
        "broken-check",
        NOW - timedelta(days=2),
        "succeeded",
        [("look", "succeeded"), ("explode", "succeeded"), ("after", "succeeded")],
    )
    write_run(
        project,
        "broken-check",
        NOW - timedelta(days=1),
        "failed",
        [("look", "succeeded"), ("explode", "failed"), ("after", "skipped")],
        failure={
            "step_index": 1,
            "step_name": "explode",
            "exception": "RuntimeError",
            "message": f"replica lag is 42 s, over the 10 s limit (see {project}/lib/replicas.py)",
        },
        notebook=_failed_notebook(project),
    )
    write_run(project, "never-run", NOW - timedelta(hours=1), "succeeded", [("only", "skipped")])
    # Long restore ran last week, with code that has changed since.
    write_run(
        project,
        "long-restore",
        NOW - timedelta(days=7),
        "succeeded",
        [("restore", "succeeded")],
        code_hash="0" * 64,
        notebook={
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {"runbook": {"step": "restore"}},
                    "source": "",
                    "outputs": [{"output_type": "stream", "name": "stdout", "text": "restored 40 parts\n"}],
                }
            ]
        },
    )
    for day in range(30, 0, -1):
        latency = 120.0 + (30 - day) * 5
        write_run(
            project,
            "latency",
            NOW - timedelta(days=day, minutes=-30),
            "succeeded",
            [("measure", "succeeded")],
            checks=[
                {
                    "name": "http https://api/health",
                    "status": "pass" if latency < 200 else "warn",
                    "detail": f"GET https://api/health -> 200 OK in {latency:.0f} ms",
                    "data": {
                        "latency_ms": latency,
                        "status_code": 200,
                        "warn_latency_ms": 200,
                        "fail_latency_ms": 300,
                    },
                    "step": "measure",
                }
            ],
        )
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("page") / "handbook")


@pytest.fixture(scope="module")
def site(project: Path) -> Path:
    done = runbook_cli(project, "build", "--strict")
    assert done.returncode == 0, done.stderr
    return project / "site"


def html(site: Path, url_path: str) -> str:
    return (site / url_path / "index.html").read_text("utf-8")


# -- the page, as built -------------------------------------------------------------------


def test_failed_latest_run_keeps_the_earlier_success_as_last_verified_and_is_due_now(
    project: Path, site: Path
) -> None:
    page = page_text(site, "runbooks/ops/broken-check").text
    success = _iso(NOW - timedelta(days=2))[:19] + "Z"
    failure = _iso(NOW - timedelta(days=1))[:19] + "Z"

    assert f"last verified {success}" in page
    assert f"last verified {failure}" not in page
    assert f"Latest run {failure}" in page and "failed" in page
    assert re.search(
        r"<dt>Next due</dt><dd><strong class=\"rb-due-now\">due now</strong>",
        html(site, "runbooks/ops/broken-check"),
    )
    due = json.loads(runbook_cli(project, "due", "--json").stdout)
    assert "broken-check" in [d["slug"] for d in due], "the page and `runbook due` agree"


def test_a_run_whose_steps_all_skipped_says_it_verified_nothing(project: Path, site: Path) -> None:
    page = page_text(site, "runbooks/ops/never-run").text
    dashboard = page_text(site, "runbooks").text

    assert "skipped — verified nothing" in page
    assert "never verified" in page and "last verified" not in page
    assert "every step was skipped" in page
    assert re.search(r"skipped — verified nothing Never run", dashboard)
    listed = {i["slug"]: i for i in json.loads(runbook_cli(project, "list", "--json").stdout)}
    assert listed["never-run"]["state"] == "skipped"
    assert listed["never-run"]["last_status"] == "succeeded", "the record keeps its stored status"
    assert "never-run" in [d["slug"] for d in json.loads(runbook_cli(project, "due", "--json").stdout)]


def test_the_runbooks_own_h1_is_the_page_title_once(site: Path) -> None:
    page = html(site, "runbooks/ops/long-restore")

    assert len(re.findall(r"<h1[ >]", page)) == 1
    assert re.search(r"<h1[^>]*>Long restore", page)
    assert "Restore the latest dump" in page


def test_a_code_change_since_the_last_run_is_in_the_status_card(site: Path) -> None:
    page = html(site, "runbooks/ops/long-restore")
    card = re.search(r'<div class="rb-card.*?</div>', page, re.S)

    assert card and "The code changed since the latest run." in card.group(0)
    assert '<strong class="rb-due-now">due now</strong>' in card.group(0)


def test_a_long_code_cell_is_folded_and_its_output_is_not(site: Path) -> None:
    page = html(site, "runbooks/ops/long-restore")

    folded = re.search(
        r'<details class="rb-code">\s*<summary>Show code \(41 lines\)</summary>.*?</details>', page, re.S
    )
    assert folded and "step_39" in folded.group(0)
    after = page[folded.end() :]
    assert re.search(r'<pre class="rb-output rb-stdout"><code>restored 40 parts', after), "output stays open"
    short = html(site, "runbooks/ops/broken-check")
    assert '<details class="rb-code"' not in short, "short code stays open"


def test_tracebacks_show_paths_relative_to_the_package_or_the_project(project: Path, site: Path) -> None:
    page = page_text(site, "runbooks/ops/broken-check").text
    run_pages = list((site / "runs" / "broken-check").glob("*/index.html"))

    assert "runbook/checks/result.py:212" in page and "runbook/checks/_support.py:40" in page
    assert "File lib/replicas.py:7" in page and "see lib/replicas.py" in page
    for text in [page, *(p.read_text("utf-8") for p in run_pages)]:
        assert BUILDER not in text and str(project) not in text
        assert "/srv/ci" not in text and "site-packages" not in text


def test_training_page_opens_with_objectives_and_shows_no_runbook_fields(site: Path) -> None:
    page = page_text(site, "training/first-steps").text

    assert page.index("Objectives") < page.index("last verified") < page.index("training example ran")
    assert page.index("Prerequisites") < page.index("training example ran")
    for field in ("Schedule", "Next due", "Risk"):
        assert field not in page


def test_a_checks_number_is_drawn_over_its_last_30_runs_with_its_threshold(site: Path) -> None:
    page = html(site, "runbooks/ops/latency")
    figure = re.search(r'<figure class="rb-trend">.*?</figure>', page, re.S)

    assert figure, "a trend chart"
    chart = figure.group(0)
    assert len(re.search(r'points="([^"]+)"', chart).group(1).split()) == 30
    assert 'class="trend__limit trend__limit--fail"' in chart and "fail 300 ms" in chart
    assert "latest 265 ms over 30 runs" in page_text(site, "runbooks/ops/latency").text
    assert "<script" not in chart


def test_the_calendar_draws_months_with_overdue_runbooks_in_red(site: Path) -> None:
    page = html(site, "runbooks/calendar")
    months = re.findall(r'<p class="rb-month__title">([^<]+)</p>', page)

    assert months[0] == f"{NOW:%B %Y}" and len(months) == 12
    current = page.split('<div class="rb-month rb-month--current">')[1].split('<div class="rb-month">')[0]
    assert "Broken check" in current and "rb-cal-when--overdue" in current
    assert "Long restore" in current, "its code changed: due now"


# -- in Chromium --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Any:
    with launch_chromium() as chromium:
        yield chromium


def test_dashboard_fits_1400_px_and_filters_by_status_risk_and_owner(site: Path, browser: Any) -> None:
    with serve_site(site) as base, chromium_page(browser) as page:
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(base + "runbooks/")
        page.wait_for_selector(".rb-filter select")
        table = page.locator("table.rb-sortable")
        overflow = table.evaluate(
            "t => [t.scrollWidth, t.parentElement.clientWidth, t.getBoundingClientRect().right]"
        )
        page.screenshot(path=str(SHOTS / "rb-dashboard-1400.png"), full_page=True)

        assert overflow[0] <= overflow[1] + 1 and overflow[2] <= 1400, f"cut-off columns: {overflow}"
        visible = lambda: table.locator("tbody tr:visible").all_inner_texts()  # noqa: E731
        everything = len(visible())
        page.select_option('select[aria-label="Filter by status"]', "failed")
        assert [r.split("\t")[1].strip() for r in visible()] == ["Broken check"]
        page.select_option('select[aria-label="Filter by status"]', "")
        page.select_option('select[aria-label="Filter by risk"]', "mutating")
        assert [r.split("\t")[1].strip() for r in visible()] == ["Latency baseline"]
        page.select_option('select[aria-label="Filter by risk"]', "")
        page.select_option('select[aria-label="Filter by owner"]', "platform-team")
        assert {r.split("\t")[1].strip() for r in visible()} == {"Never run", "Output showcase"}
        page.select_option('select[aria-label="Filter by owner"]', "")
        assert len(visible()) == everything
        page.get_by_role("button", name="Runbook").click()
        titles = [r.split("\t")[1].strip() for r in visible()]
        assert titles == sorted(titles, key=str.lower)
        page.get_by_role("button", name="Runbook").click()
        assert [r.split("\t")[1].strip() for r in visible()] == sorted(titles, key=str.lower, reverse=True)


def test_runbook_page_in_chromium_light_dark_and_narrow(site: Path, browser: Any) -> None:
    with serve_site(site) as base, chromium_page(browser) as page:
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(base + "runbooks/ops/broken-check/")
        text = page.locator("article").inner_text()
        page.screenshot(path=str(SHOTS / "rb-failed-1400.png"), full_page=True)

        assert "last verified" in text and "due now" in text
        assert page.locator("h1").count() == 1
        assert "/home/builder" not in text
        page.goto(base + "runbooks/ops/long-restore/")
        assert not page.locator("details.rb-code").evaluate("d => d.open")
        assert page.locator("details.rb-code summary").inner_text().startswith("Show code")
    # A fresh page: Material keeps the palette a visitor first saw in local storage.
    with serve_site(site) as base, chromium_page(browser) as page:
        page.emulate_media(color_scheme="dark")
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(base + "runbooks/ops/latency/")
        assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
        assert page.locator(".rb-trend svg polyline").count() == 1
        page.screenshot(path=str(SHOTS / "rb-latency-dark.png"), full_page=True)
        page.goto(base + "runbooks/calendar/")
        red = page.locator(".rb-cal-when--overdue").first.evaluate("e => getComputedStyle(e).color")
        page.screenshot(path=str(SHOTS / "rb-calendar-dark.png"), full_page=True)
        assert red.startswith("rgb(239, 83, 80"), red
    with serve_site(site) as base, chromium_page(browser) as page:
        page.set_viewport_size({"width": 400, "height": 800})
        page.goto(base + "runbooks/ops/never-run/")
        page.screenshot(path=str(SHOTS / "rb-skipped-400.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"the page scrolls sideways at 400 px ({width} px wide)"
        assert "skipped — verified nothing" in page.locator("article").inner_text().lower()


def test_the_checks_own_thresholds_draw_the_limit_lines(tmp_path: Path) -> None:
    from runbook.checks import disk_usage
    from runbook.record.model import RunRecord
    from runbook.render.templates import package_templates
    from runbook.render.trends import trend_rows

    record = json.loads(next((FIXTURE / "runs" / "broken-check").glob("*/record.json")).read_text("utf-8"))
    runs = []
    for number in range(3):
        result = disk_usage(str(tmp_path), warn_pct=70, fail_pct=95).to_dict()
        record.update(run_id=f"20261129T17420{number}.000Z-abcdef", checks=[{**result, "step": "look"}])
        runs.append(RunRecord.from_dict(record))

    rows = trend_rows(runs, package_templates())

    assert [(r["figure"], r["thresholds"]) for r in rows] == [("used_pct", "fail 95%, warn 70%")]
    svg = rows[0]["svg"]
    assert svg.count('class="trend__limit ') == 2 and "fail 95%" in svg and "warn 70%" in svg


def test_a_trend_chart_carries_no_markup_from_a_run() -> None:
    from runbook.record.model import RunRecord
    from runbook.render.templates import package_templates
    from runbook.render.trends import trend_rows

    record = json.loads(next((FIXTURE / "runs" / "broken-check").glob("*/record.json")).read_text("utf-8"))
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    runs = []
    for number in range(2):
        check = {
            "name": hostile,
            "status": "pass",
            "detail": "",
            "data": {"p95": 10.0 + number, "fail_p95": 20},
        }
        check["data"]["unit"] = hostile
        record.update(run_id=f"20261129T17420{number}.000Z-abcdef", checks=[check])
        runs.append(RunRecord.from_dict(record))

    svg = trend_rows(runs, package_templates())[0]["svg"]

    assert "<script" not in svg and "<img" not in svg
    assert not re.search(r"<[^>]*\bon\w+=", svg), "no element has an event handler"
    assert "&lt;script&gt;" in svg, "the check's name is shown as text"


def test_without_script_the_dashboard_is_the_whole_table(site: Path, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, java_script_enabled=False)
    context.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
    try:
        with serve_site(site) as base:
            page = context.new_page()
            page.goto(base + "runbooks/")
            rows = page.locator("table tbody tr")

            assert rows.count() == 5 and page.locator(".rb-filter").count() == 0
            assert "Broken check" in rows.first.inner_text()
            assert not page.locator(".rb-table-tools").is_visible(), "no empty filter bar"
    finally:
        context.close()
