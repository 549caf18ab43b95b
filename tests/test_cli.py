"""The read-only commands: ``list``, ``show``, ``runs``, ``due``, and naming runbooks.

Run history is written by hand in the documented store format (``runs/<slug>/<run_id>/
record.json``), so these tests need no kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import psutil
import pytest
from conftest import code, error_line, params_cell, runbook_md, write_record

HELLO = runbook_md(
    "## Parameters\n\n"
    + params_cell(
        'who = "world"  # who to greet\ncount = 2  # how many times\ntoken = "t0ken-default"  # secret'
    )
    + "\n## Greet\n\n"
    + code('print("hello", who)'),
    title="Say hello",
    summary="Greets someone.",
    owner="team-a",
    tags=["demo", "greeting"],
    schedule="daily",
)
BACKUP = runbook_md(
    "## Back up\n\n" + code("print('backing up')", 'effect="write"'),
    title="Back up the database",
    summary="Takes a backup.",
    owner="dba",
    risk="mutating",
    schedule="weekly",
)
NOTES = runbook_md("## Look\n\n" + code("print(1)"), title="Notes", owner="ops")


@pytest.fixture
def project(make_project):
    return make_project({"hello": HELLO, "db/backup": BACKUP, "notes": NOTES})


def rows(out):
    """Each non-empty output line split into cells."""
    return [line.split() for line in out.splitlines() if line.strip()]


def row(out, first):
    """The table row whose first cell is ``first``, split into words."""
    found = [r for r in rows(out) if r[0] == first]
    assert len(found) == 1, out
    return found[0]


# -- list -----------------------------------------------------------------------------


def test_list_text_shows_every_runbook(project, invoke):
    exit_code, out, err = invoke(project, "list")

    assert exit_code == 0, err
    table = rows(out)
    assert table[0] == ["runbook", "kind", "title", "owner", "risk", "schedule", "status", "last", "run"]
    assert [r[0] for r in table[1:4]] == ["backup", "hello", "notes"]
    assert "Back up the database" in out
    assert table[1][:2] == ["backup", "runbook"]
    assert table[1][-6:] == ["dba", "mutating", "weekly", "never", "run", "-"]
    assert table[3][-6:] == ["ops", "read-only", "-", "never", "run", "-"]
    assert out.splitlines()[-1] == "3 notebooks: 3 runbooks; 3 never run"


TRAINING = (
    "---\njupyter:\n  jupytext:\n    text_representation:\n      extension: .md\n"
    "      format_name: markdown\n  kernelspec:\n    name: python3\n    display_name: Python 3\n"
    "title: Reading a check\nsummary: What PASS and FAIL mean.\nowner: support\nkind: training\n"
    "level: L1\n---\n\n## Look\n\n```python\nprint(1)\n```\n"
)


def test_list_says_which_are_training_pages_and_filters_by_kind(project, invoke):
    (project / "docs" / "training").mkdir(parents=True)
    (project / "docs" / "training" / "reading.md").write_text(TRAINING, "utf-8")

    _, everything, err = invoke(project, "list")
    _, training, _ = invoke(project, "list", "--kind", "training")
    _, runbooks_json, _ = invoke(project, "list", "--kind", "runbook", "--json")
    _, docs, _ = invoke(project, "list", "--kind", "doc")

    assert row(everything, "reading")[:3] == ["reading", "training", "L1"]
    assert everything.splitlines()[-1] == "4 notebooks: 3 runbooks, 1 training page; 4 never run"
    assert [r[0] for r in rows(training)] == ["runbook", "reading", "1"]
    assert [i["slug"] for i in json.loads(runbooks_json)] == ["backup", "hello", "notes"]
    assert docs.strip() == "no doc notebooks"


def test_list_json_has_the_documented_fields(project, invoke):
    exit_code, out, err = invoke(project, "list", "--json")

    assert exit_code == 0, err
    items = json.loads(out)
    assert [i["slug"] for i in items] == ["backup", "hello", "notes"]
    hello = items[1]
    assert hello == {
        "slug": "hello",
        "title": "Say hello",
        "kind": "runbook",
        "path": "runbooks/hello.md",
        "owner": "team-a",
        "risk": "read-only",
        "schedule": "daily",
        "tags": ["demo", "greeting"],
        "alerts": [],
        "last_status": None,
        "last_run_at": None,
        "last_run_id": None,
        "state": "never run",
        "stale": False,
        "changed_since_last_run": False,
        "next_due": None,
    }
    assert items[0]["path"] == "runbooks/db/backup.md"


def test_list_shows_the_latest_run(project, invoke, show_json):
    code_hash = show_json(project, "hello")["code_hash"]
    now = datetime.now(timezone.utc)
    write_record(
        project,
        "hello",
        code_hash=code_hash,
        status="failed",
        started=now - timedelta(hours=3),
        suffix="old111",
    )
    newest = write_record(
        project, "hello", code_hash=code_hash, started=now - timedelta(hours=1), suffix="new222"
    )

    exit_code, out, err = invoke(project, "list", "--json")
    text_code, text, _ = invoke(project, "list")

    assert exit_code == 0, err
    hello = next(i for i in json.loads(out) if i["slug"] == "hello")
    assert hello["last_status"] == "succeeded"
    assert hello["last_run_id"] == newest["run_id"]
    assert hello["last_run_at"] == newest["started_at"]
    assert hello["state"] == "succeeded"
    assert hello["next_due"].startswith((now + timedelta(hours=23)).strftime("%Y-%m-%dT%H"))
    assert text_code == 0
    hello_row = " ".join(row(text, "hello"))
    assert hello_row.startswith("hello runbook Say hello team-a read-only daily succeeded ")
    assert "(1h ago)" in hello_row


def test_list_in_empty_project(make_project, invoke):
    exit_code, out, err = invoke(make_project(), "list", "--json")

    assert (exit_code, json.loads(out), err) == (0, [], "")


def test_list_warns_about_clashing_slugs_and_lists_the_rest(make_project, invoke):
    project = make_project({"a/dup": NOTES, "b/dup": NOTES, "hello": HELLO})

    exit_code, out, err = invoke(project, "list", "--json")

    assert exit_code == 0
    assert [i["slug"] for i in json.loads(out)] == ["hello"]
    assert (
        err.strip()
        == "Warning: runbook name 'dup' is used by runbooks/a/dup.md, runbooks/b/dup.md; rename one"
    )


def test_list_skips_a_broken_runbook_with_a_warning_naming_it(make_project, invoke):
    # One malformed file must not hide every other runbook from the on-call engineer.
    project = make_project({"broken": "---\ntitle: Broken\n---\n", "hello": HELLO})

    exit_code, out, err = invoke(project, "list", "--json")

    assert exit_code == 0
    assert [i["slug"] for i in json.loads(out)] == ["hello"]
    assert err.strip() == (
        "Warning: skipped runbooks/broken.md: missing required key 'summary'; missing required key 'owner'"
    )


# -- show ------------------------------------------------------------------------------


def test_show_text(project, invoke):
    exit_code, out, err = invoke(project, "show", "hello")

    assert exit_code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Say hello (hello)"
    assert lines[1] == "Greets someone."
    table = rows(out)
    for fact in (
        ["file", "runbooks/hello.md"],
        ["owner", "team-a"],
        ["risk", "read-only"],
        ["schedule", "daily"],
        ["timeout", "-"],
        ["tags", "demo,", "greeting"],
        ["environments", "any"],
    ):
        assert fact in table
    assert ["who", "str", '"world"', "who", "to", "greet"] in table
    assert ["count", "int", "2", "how", "many", "times"] in table
    assert ["token", "str", "secret"] in table
    assert ["1", "greet", "read", "-"] in table
    assert "never run" in lines
    assert lines[-1] == "runbook exec hello"
    assert "t0ken-default" not in out


def test_show_json(project, invoke):
    exit_code, out, err = invoke(project, "show", "backup", "--json")

    assert exit_code == 0, err
    data = json.loads(out)
    assert data["slug"] == "backup"
    assert data["path"] == "runbooks/db/backup.md"
    assert data["meta"]["risk"] == "mutating"
    assert data["steps"][0]["name"] == "back-up"
    assert data["steps"][0]["effect"] == "write"
    assert data["command"] == "runbook exec backup"
    assert data["runs"] == []
    assert "notebook" not in data


def test_show_lists_recent_runs(project, invoke, show_json):
    code_hash = show_json(project, "notes")["code_hash"]
    record = write_record(project, "notes", code_hash=code_hash, status="failed", environment="staging")

    exit_code, out, err = invoke(project, "show", "notes")
    json_code, json_out, _ = invoke(project, "show", "notes", "--json")

    assert exit_code == 0, err
    run_row = row(out, record["run_id"])
    assert run_row[1:3] == ["failed", "staging"]
    assert run_row[-1] == "2.0s"
    assert [r["run_id"] for r in json.loads(json_out)["runs"]] == [record["run_id"]]


TYPED = runbook_md(
    "## Parameters\n\n"
    + params_cell(
        "url = 'http://127.0.0.1:8000/healthz'\n"
        "stand_in = False  # start a stand-in service\n"
        "paths = ['/']\n"
        "limits = {'warn': 80}\n"
        "ratio = 0.5\n"
        "count = 3\n"
        "label = ''\n"
        "word = 'yes'\n"
        "anything = None\n"
        "token = ''  # secret"
    )
    + "\n## Look\n\n"
    + code("print(url)"),
    title="Typed",
    owner="ops",
)
TYPED_PROFILES = {
    "local": {"parameters": {"stand_in": True, "count": 5}, "runbooks": {"typed": {"label": "here"}}},
    "staging": {"parameters": {"stand_in": False, "url": "https://staging.example/healthz"}},
}


def _dry_run_values(invoke, project, args):
    exit_code, out, err = invoke(project, "exec", *args, "--dry-run", "--json")
    assert exit_code == 0, err
    plan = json.loads(out)
    return plan["parameters"], plan["command"]


@pytest.mark.parametrize(
    "given",
    [
        [],
        ["-p", "stand_in=false"],
        ["-p", "count=3", "-p", "label="],
        ["-p", "paths=[/var, /home]", "-p", "limits={warn: 70, fail: 90}", "-p", "ratio=1e-3"],
        ["-p", "word=no", "-p", "anything=yes", "-p", "url=http://x/?a=1&b=two words"],
        ["-p", "anything='yes'", "-p", "label=true"],
        ["--env", "staging", "-p", "stand_in=true"],
        ["--env", "staging", "-p", "url=http://127.0.0.1:8000/healthz", "-p", "count=5"],
    ],
)
def test_the_printed_command_pasted_back_gives_the_same_values(make_project, invoke, given):
    import shlex

    project = make_project({"typed": TYPED}, TYPED_PROFILES)
    values, command = _dry_run_values(invoke, project, ["typed", *given])

    words = shlex.split(command)
    assert words[:3] == ["runbook", "exec", "typed"]
    pasted, again = _dry_run_values(invoke, project, words[2:])

    assert pasted == values
    assert again == command
    assert command.count(" -p ") <= given.count("-p")  # nothing the runbook or profile gives anyway


def test_show_prints_only_what_differs_from_the_runbook_and_profile(make_project, invoke, show_json):
    project = make_project({"typed": TYPED}, TYPED_PROFILES)
    assert show_json(project, "typed")["command"] == "runbook exec typed"
    record = write_record(project, "typed", code_hash="x", environment="staging")
    record["parameters"] = {"url": "https://staging.example/healthz", "stand_in": False, "count": 4}
    record_file = project / "runs" / "typed" / record["run_id"] / "record.json"
    record_file.write_text(json.dumps(record), "utf-8")

    exit_code, out, err = invoke(project, "show", "typed")

    assert exit_code == 0, err
    assert out.splitlines()[-1] == "runbook exec typed --env staging -p count=4"


def test_show_by_path(project, invoke):
    exit_code, out, err = invoke(project, "show", "runbooks/db/backup.md")

    assert exit_code == 0, err
    assert out.splitlines()[0] == "Back up the database (backup)"


def test_commands_work_from_a_subfolder(project, invoke):
    exit_code, out, err = invoke(project / "runbooks" / "db", "show", "backup.md", "--json")

    assert exit_code == 0, err
    assert json.loads(out)["slug"] == "backup"


# -- naming runbooks -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "exec", "runs"])
def test_unknown_name_suggests_the_closest_slug(project, invoke, command):
    exit_code, out, err = invoke(project, command, "helo")

    assert exit_code == 2
    assert (
        error_line(err)
        == "Error: unknown runbook 'helo'; did you mean 'hello'?; `runbook list` shows them all"
    )
    assert not (project / "runs").exists()


def test_unknown_name_without_a_close_match(project, invoke):
    exit_code, _, err = invoke(project, "show", "zzzzzz")

    assert exit_code == 2
    assert error_line(err) == "Error: unknown runbook 'zzzzzz'; `runbook list` shows them all"


def test_clashing_slugs_name_both_files(make_project, invoke):
    project = make_project({"a/dup": NOTES, "b/dup": NOTES})

    exit_code, _, err = invoke(project, "show", "dup")

    assert exit_code == 2
    assert error_line(err) == (
        "Error: runbook name 'dup' is ambiguous: runbooks/a/dup.md, runbooks/b/dup.md; rename one of the files "
        "(the name keys its run history, so it must be unique)"
    )


def test_clashing_slug_is_refused_by_path_too(make_project, invoke):
    # Both files would share runs/dup/, so neither may run until one is renamed.
    project = make_project({"a/dup": NOTES, "b/dup": runbook_md(code("print(2)"), title="Second")})

    exit_code, out, err = invoke(project, "show", "runbooks/b/dup.md", "--json")

    assert exit_code == 2
    assert "runbooks/a/dup.md, runbooks/b/dup.md; rename one of the files" in error_line(err)
    assert out == ""


@pytest.mark.parametrize("name", ["../elsewhere.md", "/etc/passwd", "../../../../../etc/hosts"])
def test_path_outside_the_project_is_refused(project, invoke, name, tmp_path):
    (tmp_path / "elsewhere.md").write_text(NOTES, "utf-8")

    exit_code, out, err = invoke(project, "show", name)

    assert exit_code == 2
    assert (
        error_line(err) == f"Error: {name}: outside the project at {project}; runbooks live under runbooks/"
    )
    assert out == ""


def test_symlink_out_of_the_project_is_refused(project, invoke, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.md").write_text(NOTES, "utf-8")
    (project / "runbooks" / "evil.md").symlink_to(outside / "evil.md")
    (project / "runbooks" / "linked").symlink_to(outside)

    by_path = invoke(project, "show", "runbooks/evil.md")
    by_folder = invoke(project, "show", "runbooks/linked/evil.md")
    by_slug = invoke(project, "show", "evil")
    listed = invoke(project, "list", "--json")

    assert by_path[0] == 2
    assert (
        error_line(by_path[2])
        == f"Error: runbooks/evil.md: outside the project at {project}; runbooks live under runbooks/"
    )
    assert by_folder[0] == 2
    assert "outside the project" in error_line(by_folder[2])
    assert by_slug[0] == 2
    assert "evil" not in [i["slug"] for i in json.loads(listed[1])]


def test_markdown_file_outside_runbooks_is_not_a_runbook(project, invoke):
    (project / "docs").mkdir()
    (project / "docs" / "page.md").write_text(NOTES, "utf-8")

    exit_code, _, err = invoke(project, "show", "docs/page.md")

    assert exit_code == 2
    assert error_line(err) == (
        "Error: docs/page.md: not a runbook; runbooks are the .md files under runbooks/ "
        "and docs pages with a jupyter: header"
    )


def test_docs_page_with_a_jupyter_header_is_a_notebook(project, invoke):
    (project / "docs" / "training").mkdir(parents=True)
    header = "jupyter:\n  kernelspec:\n    name: python3\n    display_name: Python 3\n"
    page = NOTES.replace("---\n", "---\n" + header, 1)
    (project / "docs" / "training" / "first-steps.md").write_text(page, "utf-8")

    by_slug = invoke(project, "show", "first-steps", "--json")
    by_path = invoke(project, "show", "docs/training/first-steps.md", "--json")

    assert by_slug[0] == 0, by_slug[2]
    assert json.loads(by_slug[1])["path"] == "docs/training/first-steps.md"
    assert by_path[0] == 0


def test_missing_path(project, invoke):
    exit_code, _, err = invoke(project, "show", "runbooks/nope.md")

    assert exit_code == 2
    assert (
        error_line(err)
        == "Error: unknown runbook 'runbooks/nope.md' (no such file); `runbook list` shows them all"
    )


def test_no_project_here(tmp_path, invoke):
    lonely = tmp_path / "not-a-project"
    lonely.mkdir()

    exit_code, _, err = invoke(lonely, "list")

    assert exit_code == 2
    assert error_line(err) == (
        f"Error: no Runbook project here: no mkdocs.yml or mkdocs.yaml in {lonely} or any folder above it; run inside a project or pass -f/--config-file"
    )


def test_exec_needs_a_name_or_due(project, invoke):
    exit_code, _, err = invoke(project, "exec")

    assert exit_code == 2
    assert (
        err.strip().splitlines()[-1]
        == "Error: give a runbook NAME, or --due to run every runbook that is due"
    )


def test_broken_runbook_is_one_error_line_without_traceback(project, run_cli):
    (project / "runbooks" / "broken.md").write_text("---\ntitle: [\n---\n", "utf-8")

    exit_code, out, err = run_cli(project, "show", "broken")

    assert exit_code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("Error: runbooks/broken.md: front matter is not valid YAML at line ")


# -- runs ------------------------------------------------------------------------------


def test_runs_when_there_are_none(project, invoke):
    assert invoke(project, "runs") == (0, "no runs yet\n", "")
    assert invoke(project, "runs", "--json") == (0, "[]\n", "")


def test_runs_newest_first_with_filter_and_limit(project, invoke, show_json):
    now = datetime.now(timezone.utc)
    hello_hash = show_json(project, "hello")["code_hash"]
    notes_hash = show_json(project, "notes")["code_hash"]
    first = write_record(
        project, "hello", code_hash=hello_hash, started=now - timedelta(hours=3), suffix="aaaaaa"
    )
    second = write_record(
        project,
        "notes",
        code_hash=notes_hash,
        status="failed",
        started=now - timedelta(hours=2),
        suffix="bbbbbb",
        user="bob",
    )
    third = write_record(
        project,
        "hello",
        code_hash=hello_hash,
        status="timed_out",
        started=now - timedelta(hours=1),
        suffix="cccccc",
    )

    all_code, all_out, _ = invoke(project, "runs", "--json")
    hello_code, hello_out, _ = invoke(project, "runs", "hello", "--json")
    limited_code, limited_out, _ = invoke(project, "runs", "-n", "1", "--json")
    text_code, text, err = invoke(project, "runs")

    assert [r["run_id"] for r in json.loads(all_out)] == [third["run_id"], second["run_id"], first["run_id"]]
    assert json.loads(all_out)[1] == second  # the stored record, whole
    assert [r["run_id"] for r in json.loads(hello_out)] == [third["run_id"], first["run_id"]]
    assert [r["run_id"] for r in json.loads(limited_out)] == [third["run_id"]]
    assert text_code == 0, err
    table = rows(text)
    assert table[0] == ["run", "runbook", "status", "environment", "started", "took", "by"]
    assert [r[0] for r in table[1:]] == [third["run_id"], second["run_id"], first["run_id"]]
    assert table[1][1:4] + table[1][-2:] == ["hello", "timed_out", "local", "2.0s", "alice"]
    assert table[2][1:4] + table[2][-2:] == ["notes", "failed", "local", "2.0s", "bob"]
    assert table[3][1:4] + table[3][-2:] == ["hello", "succeeded", "local", "2.0s", "alice"]


def test_runs_limit_must_be_positive(project, invoke):
    exit_code, _, err = invoke(project, "runs", "-n", "0")

    assert exit_code == 2
    assert "Invalid value for '-n' / '--limit'" in err


def _pending_run(project, run_id, pid, pid_started):
    folder = project / "runs" / ".pending" / run_id
    folder.mkdir(parents=True)
    started = {
        "runbook": {
            "slug": "notes",
            "path": "runbooks/notes.md",
            "title": "Notes",
            "code_hash": "x",
            "commit": None,
        },
        "environment": None,
        "parameters": {},
        "started_at": "2026-01-02T03:04:05.678Z",
        "operator": {"user": "carol", "host": "box"},
        "pid": pid,
        "pid_started": pid_started,
    }
    (folder / "started.json").write_text(json.dumps(started), "utf-8")


def test_run_whose_process_died_is_reported_abandoned(project, invoke):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _pending_run(project, "20260102T030405.678Z-dead00", int(gone.stdout), 1.0)
    me = psutil.Process()
    _pending_run(project, "20260102T030406.000Z-live00", me.pid, me.create_time())

    exit_code, out, err = invoke(project, "runs", "--json")

    assert exit_code == 0, err
    runs = json.loads(out)
    assert [(r["run_id"], r["status"]) for r in runs] == [("20260102T030405.678Z-dead00", "abandoned")]
    assert runs[0]["operator"]["user"] == "carol"
    assert runs[0]["finished_at"] is None


# -- due -------------------------------------------------------------------------------


def test_due_by_schedule_failure_and_code_change(make_project, invoke, show_json):
    fresh = runbook_md(code("print('fresh')"), schedule="daily")
    stale = runbook_md(code("print('stale')"), schedule="12h")
    failed = runbook_md(code("print('failed')"), schedule="weekly")
    changed = runbook_md(code("print('changed')"), schedule="monthly")
    never = runbook_md(code("print('never')"), schedule="daily")
    project = make_project(
        {"fresh": fresh, "stale": stale, "failed": failed, "changed": changed, "never": never}
    )
    now = datetime.now(timezone.utc)
    for slug, status, age in (("fresh", "succeeded", 1), ("stale", "succeeded", 13), ("failed", "failed", 1)):
        write_record(
            project,
            slug,
            code_hash=show_json(project, slug)["code_hash"],
            status=status,
            started=now - timedelta(hours=age),
        )
    write_record(project, "changed", code_hash="0" * 64, started=now - timedelta(hours=1))

    exit_code, out, err = invoke(project, "due", "--json")
    text_code, text, _ = invoke(project, "due")
    list_code, list_out, _ = invoke(project, "list", "--json")

    assert exit_code == 0, err
    due = {d["slug"]: d for d in json.loads(out)}
    assert set(due) == {"stale", "failed", "changed", "never"}
    assert due["stale"]["state"] == "stale"
    assert due["stale"]["stale"] is True
    assert due["failed"]["state"] == "failed"
    assert due["changed"]["changed_since_last_run"] is True
    assert due["never"]["state"] == "never run"
    table = rows(text)
    assert table[0] == ["runbook", "status", "changed", "schedule"]
    assert ["changed", "succeeded", "yes", "monthly"] in table
    assert ["stale", "stale", "12h"] in table
    assert "fresh" not in [r[0] for r in table]
    states = {i["slug"]: i["state"] for i in json.loads(list_out)}
    assert states["fresh"] == "succeeded"
    assert states["stale"] == "stale"


def test_nothing_due(make_project, invoke, show_json):
    project = make_project({"fresh": runbook_md(code("print('fresh')"), schedule="daily")})
    write_record(project, "fresh", code_hash=show_json(project, "fresh")["code_hash"])

    assert invoke(project, "due") == (0, "nothing is due\n", "")
    assert invoke(project, "due", "--json") == (0, "[]\n", "")


# -- check -----------------------------------------------------------------------------

EVERY_LAYER = """---
title: Broken in every layer
summary: Front matter, parameters and steps.
owner: ops
schedule: sometimes
---

## Parameters

```python tags=["parameters"]
host = "db"
port = int("5432")
print(host)
```

```python name="look"
print(1)
```

```python name="look"
print(2)
```

```python name="Fix It" effect="delete" timeout="soon"
print(3)
```
"""


def test_check_reports_every_layer_of_problems_at_once(make_project, invoke):
    project = make_project({"broken": EVERY_LAYER, "hello": HELLO}, {"local": {}})

    exit_code, out, err = invoke(project, "check")

    assert exit_code == 1
    assert out.splitlines() == [
        "runbooks/broken.md:5: 'schedule': expected daily, weekly, monthly, quarterly, annually or <N>h/<N>d, got 'sometimes'",
        "runbooks/broken.md:12: parameters cell line 2: 'port' must be a literal value (a string, number, boolean, list or dict); compute derived values in a later cell",
        "runbooks/broken.md:13: parameters cell line 3: expected 'name = value' assignments only, got 'print(host)'",
        "runbooks/broken.md:20: two steps are named 'look'; step names must be unique",
        "runbooks/broken.md:24: step 3 (Fix It): effect='delete'; expected read or write",
        "runbooks/broken.md:24: step 3 (Fix It): timeout='soon'; expected seconds or a duration like 30s, 5m",
        "runbooks/broken.md:24: step 3: name='Fix It' is not a step name; use lower-case letters, digits and dashes",
    ]
    assert err == "checked 2 notebooks, 1 profile and 0 FAQ files: 7 problems found\n"


def test_check_says_what_it_checked_when_all_is_well(project, invoke):
    exit_code, out, err = invoke(project, "check", "runbooks/hello.md")

    assert (exit_code, out) == (0, "")
    assert err == "checked 1 notebook, 0 profiles and 0 FAQ files: no problems\n"


# -- serve -----------------------------------------------------------------------------


def test_serve_prints_its_url_and_what_it_watches(make_project, tmp_path):
    import socket
    import urllib.request

    from conftest import clean_env

    project = make_project({"hello": HELLO})
    (project / "mkdocs.yml").write_text("site_name: T\ndocs_dir: docs\nplugins:\n  - runbook\n", "utf-8")
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# Home\n", "utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "serve", "-a", f"127.0.0.1:{port}"],
        cwd=project,
        env=clean_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("Serving on "):
                break
        url = lines[-1].removeprefix("Serving on ")
        with urllib.request.urlopen(url + "runbooks/hello/", timeout=30) as page:
            body = page.read().decode("utf-8")
    finally:
        process.terminate()
        process.communicate(timeout=30)

    assert lines[0] == "Building documentation..."
    assert lines[-1] == f"Serving on http://127.0.0.1:{port}/"
    watching = next(line for line in lines if line.startswith("Watching paths for changes: "))
    assert all(f"'{folder}'" in watching for folder in ("docs", "mkdocs.yml", "runbooks"))
    assert "Say hello" in body


# -- new -------------------------------------------------------------------------------


def test_new_writes_a_runbook_training_page_and_faq_category_that_pass_check(project, invoke):
    import yaml

    made = [
        invoke(project, "new", "db/failover", "--owner", "dba"),
        invoke(project, "new", "reading-graphs", "--kind", "training", "--level", "L2"),
        invoke(project, "new", "databases", "--kind", "faq", "--title", "Databases: the questions"),
    ]
    exit_code, out, err = invoke(project, "check")

    assert [m[0] for m in made] == [0, 0, 0]
    assert made[0][2].splitlines()[0] == "wrote runbooks/db/failover.md"
    assert made[1][2].splitlines()[0] == "wrote docs/training/l2/reading-graphs.md"
    assert made[2][2].splitlines()[0] == "wrote docs/faq/databases.yml"
    assert (exit_code, out) == (0, ""), out
    assert err == "checked 5 notebooks, 0 profiles and 1 FAQ file: no problems\n"
    _, listed, _ = invoke(project, "list", "--json")
    kinds = {i["slug"]: (i["kind"], i["title"], i["owner"]) for i in json.loads(listed)}
    assert kinds["failover"] == ("runbook", "Failover", "dba")
    assert kinds["reading-graphs"][:2] == ("training", "Reading graphs")
    _, shown, _ = invoke(project, "show", "reading-graphs", "--json")
    assert json.loads(shown)["meta"]["level"] == "L2"
    faq = yaml.safe_load((project / "docs" / "faq" / "databases.yml").read_text("utf-8"))
    assert faq["title"] == "Databases: the questions"


def test_new_never_overwrites_and_refuses_a_name_in_use(project, invoke):
    before = (project / "runbooks" / "hello.md").read_text("utf-8")

    taken = invoke(project, "new", "hello")
    same_file = invoke(project, "new", "hello", "--kind", "training")
    bad = invoke(project, "new", "Fix_It")
    invoke(project, "new", "notes-faq", "--kind", "faq")
    again = invoke(project, "new", "notes-faq", "--kind", "faq")

    assert taken[0] == 2
    assert error_line(taken[2]) == "Error: runbooks/hello.md already exists; pick another name or edit that file"
    assert error_line(same_file[2]) == (
        "Error: a notebook named 'hello' exists already (runbooks/hello.md); pick another name"
    )
    assert error_line(bad[2]).startswith("Error: 'Fix_It' cannot be a name; use lower-case letters")
    assert error_line(again[2]) == "Error: docs/faq/notes-faq.yml already exists; pick another name or edit that file"
    assert (project / "runbooks" / "hello.md").read_text("utf-8") == before


# -- shell completion ------------------------------------------------------------------


def complete(project, *words):
    """What bash completion offers after ``runbook WORDS`` (the last word being typed)."""
    from conftest import clean_env

    env = clean_env(
        {"_RUNBOOK_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(["runbook", *words]), "COMP_CWORD": str(len(words))}
    )
    done = subprocess.run(
        [sys.executable, "-m", "runbook"], cwd=project, env=env, capture_output=True, text=True, check=True
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_completion_of_commands_runbook_names_and_parameter_names(project):
    assert complete(project, "s") == ["schedule", "serve", "show"]
    assert complete(project, "exec", "") == ["backup", "hello", "notes"]
    assert complete(project, "show", "h") == ["hello"]
    assert complete(project, "runs", "no") == ["notes"]
    assert complete(project, "runs", "p") == ["pull", "push"]
    assert complete(project, "exec", "hello", "-p", "") == ["who=", "count=", "token="]
    assert complete(project, "exec", "hello", "-p", "c") == ["count="]
    assert complete(project, "exec", "hello", "-p", "who=") == []
    assert complete(project, "exec", "nope", "-p", "") == []


def test_completion_of_environment_profiles(make_project):
    project = make_project({"hello": HELLO}, {"local": {}, "staging": {}, "production": {}})

    assert complete(project, "exec", "hello", "--env", "") == ["local", "production", "staging"]
    assert complete(project, "exec", "hello", "--env", "st") == ["staging"]


def test_the_run_pages_give_the_same_shortest_command_as_show(make_project, invoke, show_json):
    import shlex

    from runbook.site.inputs import render_project
    from runbook.source.project import Project

    project = make_project({"typed": TYPED}, TYPED_PROFILES)
    record = write_record(project, "typed", code_hash=show_json(project, "typed")["code_hash"], environment="staging")
    record["parameters"] = {"url": "https://staging.example/healthz", "stand_in": True, "count": 3, "paths": ["/"]}
    record_file = project / "runs" / "typed" / record["run_id"] / "record.json"
    record_file.write_text(json.dumps(record), "utf-8")

    pages = render_project(Project(project), use_cache=False).pages
    shown = show_json(project, "typed")["command"]

    assert shown == "runbook exec typed --env staging -p stand_in=true"
    assert f"\n{shown}\n" in pages["runbooks/typed.md"]
    assert f"\n{shown}\n" in pages[f"runs/typed/{record['run_id']}.md"]
    values, _ = _dry_run_values(invoke, project, shlex.split(shown)[2:])
    assert {k: values[k] for k in record["parameters"]} == record["parameters"]
