"""Parsing runbook files: front matter, parameters, steps and the code hash.

Everything is observed the way a user sees it: ``runbook show NAME --json`` for what was
understood, the one ``Error: ...`` line and exit code 2 for what was refused.
"""

from __future__ import annotations

import pytest
from conftest import code, error_line, params_cell, runbook_md

HELLO_BODY = (
    "# Hello\n\n## Parameters\n\n"
    + params_cell('who = "world"  # who to greet\ncount = 2')
    + "\n## Greet them\n\n"
    + code('print("hello", who)')
)


def refused(invoke, project, name="broken"):
    """Run ``runbook show NAME``; expect exit 2 and return the error line."""
    exit_code, out, err = invoke(project, "show", name)
    assert exit_code == 2, (out, err)
    assert out == ""
    return error_line(err)


# -- front matter ----------------------------------------------------------------


def test_valid_front_matter_is_shown_with_defaults(make_project, show_json):
    project = make_project(
        {"hello": runbook_md(HELLO_BODY, title="Hello", summary="Greets.", owner="team-a")}
    )

    meta = show_json(project, "hello")["meta"]

    assert (meta["title"], meta["summary"], meta["owner"]) == ("Hello", "Greets.", "team-a")
    assert meta["kind"] == "runbook"
    assert meta["risk"] == "read-only"
    assert meta["tags"] == []
    assert meta["schedule"] is None
    assert meta["environments"] is None


def test_optional_front_matter_keys_are_read(make_project, show_json):
    text = runbook_md(
        HELLO_BODY,
        tags=["db", "backup"],
        kind="training",
        level="L2",
        risk="mutating",
        schedule="7d",
        timeout="10m",
        environments=["staging", "production"],
    )
    project = make_project({"hello": text})

    meta = show_json(project, "hello")["meta"]

    assert meta["tags"] == ["db", "backup"]
    assert (meta["kind"], meta["level"], meta["risk"]) == ("training", "L2", "mutating")
    assert meta["schedule"] == "7d"
    assert meta["timeout"] == "10m"
    assert meta["timeout_s"] == 600
    assert meta["environments"] == ["staging", "production"]


def test_every_front_matter_problem_is_reported_at_once(make_project, invoke):
    text = (
        "---\n"
        "title: ''\n"
        "owner: 3\n"
        "colour: red\n"
        "risk: yolo\n"
        "schedule: sometimes\n"
        "timeout: soon\n"
        "---\n\n" + code("print(1)")
    )
    project = make_project({"db/broken": text})

    line = refused(invoke, project)

    assert line == (
        "Error: runbooks/db/broken.md: "
        "unknown front matter key 'colour' "
        "(known: title, summary, owner, tags, kind, level, risk, schedule, timeout, environments, objectives, prerequisites, alerts); "
        "missing required key 'summary'; "
        "'title': expected a non-empty string, got ''; "
        "'owner': expected a non-empty string, got 3; "
        "'risk': expected read-only, mutating, destructive, got 'yolo'; "
        "'schedule': expected daily, weekly, monthly, quarterly, annually or <N>h/<N>d, got 'sometimes'; "
        "'timeout': expected seconds or a duration like 90s, 10m, 2h, got 'soon'"
    )


@pytest.mark.parametrize(
    ("front", "problem"),
    [
        ({"title": None}, "missing required key 'title'"),
        ({"owner": None}, "missing required key 'owner'"),
        ({"summary": ["a", "b"]}, "'summary': expected a non-empty string, got ['a', 'b']"),
        ({"tags": 5}, "'tags': expected a list of text items, got 5"),
        ({"environments": [1]}, "'environments': expected a list of text items, got [1]"),
        ({"kind": "faq"}, "'kind': expected runbook, training, doc, got 'faq'"),
        ({"kind": "training"}, "'level': training pages need a level (L1, L2, L3, L4)"),
        ({"level": "L9"}, "'level': expected L1, L2, L3, L4, got 'L9'"),
        ({"risk": "dangerous"}, "'risk': expected read-only, mutating, destructive, got 'dangerous'"),
        (
            {"schedule": "0d"},
            "'schedule': expected daily, weekly, monthly, quarterly, annually or <N>h/<N>d, got '0d'",
        ),
        ({"timeout": "-5s"}, "'timeout': expected seconds or a duration like 90s, 10m, 2h, got '-5s'"),
    ],
)
def test_front_matter_problem_names_the_file_and_key(make_project, invoke, front, problem):
    project = make_project({"broken": runbook_md(code("print(1)"), **front)})

    assert refused(invoke, project) == f"Error: runbooks/broken.md: {problem}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "# Just prose\n",
            "no front matter: start the file with a '---' block holding title, summary and owner",
        ),
        ("---\ntitle: x\n", "front matter is not closed: add a '---' line after it"),
        (
            "---\ntitle: [x\n---\n",
            "front matter is not valid YAML at line 2: expected ',' or ']', but got '<stream end>'",
        ),
        ("---\n---\n", "front matter is empty: add title, summary and owner"),
        ("---\n- a list\n---\n", "front matter: expected a mapping of keys, got list"),
        ("", "the file is empty; start it with front matter (title, summary, owner)"),
    ],
)
def test_malformed_front_matter_is_one_clear_line(make_project, invoke, text, problem):
    project = make_project({"broken": text})

    assert refused(invoke, project) == f"Error: runbooks/broken.md: {problem}"


def test_binary_and_non_utf8_files_are_refused(make_project, invoke):
    project = make_project()
    (project / "runbooks" / "binary.md").write_bytes(b"---\ntitle: x\0\n---\n")
    (project / "runbooks" / "latin.md").write_bytes("---\ntitle: café\n---\n".encode("latin-1"))

    assert (
        refused(invoke, project, "binary")
        == "Error: runbooks/binary.md: this is a binary file, not a Markdown runbook"
    )
    assert (
        refused(invoke, project, "latin")
        == "Error: runbooks/latin.md: not UTF-8 text (byte 14); save it as UTF-8"
    )


def test_jupytext_keys_may_sit_beside_ours(make_project, show_json):
    text = runbook_md(
        HELLO_BODY,
        jupyter={
            "jupytext": {"text_representation": {"extension": ".md", "format_name": "markdown"}},
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        },
    )
    project = make_project({"hello": text})

    shown = show_json(project, "hello")

    assert shown["meta"]["title"] == "A runbook"
    assert [p["name"] for p in shown["parameters"]] == ["who", "count"]


# -- MyST Markdown -----------------------------------------------------------------

MYST = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
title: MyST runbook
summary: Written in MyST Markdown.
owner: team-b
---

# MyST

## Parameters

```{code-cell} ipython3
:tags: [parameters]

host = "db-1"  # which host
retries = 3
password = ""  # secret
```

## Check the host

```{code-cell} ipython3
print(host, retries)
```

```{code-cell} ipython3
:name: final-step

print("final")
```
"""


def test_myst_markdown_runbook_parses(make_project, show_json):
    project = make_project({"myst": MYST})

    shown = show_json(project, "myst")

    assert shown["meta"]["title"] == "MyST runbook"
    assert [(p["name"], p["type"], p["default"], p["help"], p["secret"]) for p in shown["parameters"]] == [
        ("host", "str", "db-1", "which host", False),
        ("retries", "int", 3, "", False),
        ("password", "str", "", "", True),
    ]
    assert [s["name"] for s in shown["steps"]] == ["check-the-host", "final-step"]


def test_myst_code_cells_without_jupytext_header_are_recognised(make_project, show_json):
    body = (
        '## Parameters\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nhost = "db-1"  # which host\n```\n\n'
        "## Look around\n\n```{code-cell} ipython3\nprint(host)\n```\n"
    )
    project = make_project({"myst": runbook_md(body)})

    shown = show_json(project, "myst")

    assert [(p["name"], p["help"]) for p in shown["parameters"]] == [("host", "which host")]
    assert [s["name"] for s in shown["steps"]] == ["look-around"]


# -- parameters --------------------------------------------------------------------


def test_parameters_are_inferred_with_types_help_and_secrets(make_project, show_json):
    cell = params_cell(
        """
        host = "db-1"  # replica to promote
        port = 5432  # TCP port
        ratio = 0.75
        dry = True  # only print what would change
        hosts = ["a", "b"]  # hosts to check
        limits = {"cpu": 2}
        nothing = None
        negative = -3
        annotated: float = 1  # annotated type wins
        password = ""  # secret
        api_key = "x"  # secret: the API key
        shouting = ""  # SECRET
        remark = "y"  # not a secret, just help
        """
    )
    project = make_project({"params": runbook_md(cell + "\n" + code("print(host)"))})

    params = {p["name"]: p for p in show_json(project, "params")["parameters"]}

    assert list(params) == [
        "host",
        "port",
        "ratio",
        "dry",
        "hosts",
        "limits",
        "nothing",
        "negative",
        "annotated",
        "password",
        "api_key",
        "shouting",
        "remark",
    ]
    assert {name: p["type"] for name, p in params.items()} == {
        "host": "str",
        "port": "int",
        "ratio": "float",
        "dry": "bool",
        "hosts": "list",
        "limits": "dict",
        "nothing": "any",
        "negative": "int",
        "annotated": "float",
        "password": "str",
        "api_key": "str",
        "shouting": "str",
        "remark": "str",
    }
    assert params["port"]["default"] == 5432
    assert params["hosts"]["default"] == ["a", "b"]
    assert params["limits"]["default"] == {"cpu": 2}
    assert params["negative"]["default"] == -3
    assert params["host"]["help"] == "replica to promote"
    assert params["dry"]["help"] == "only print what would change"
    assert params["ratio"]["help"] == ""
    assert {name for name, p in params.items() if p["secret"]} == {"password", "api_key", "shouting"}
    assert params["api_key"]["help"] == "the API key"
    assert params["password"]["help"] == ""
    assert params["remark"]["help"] == "not a secret, just help"


def test_parameter_spanning_lines_takes_the_comment_of_its_last_line(make_project, show_json):
    cell = params_cell('hosts = [\n    "a",\n    "b",\n]  # hosts to check')
    project = make_project({"params": runbook_md(cell)})

    (param,) = show_json(project, "params")["parameters"]

    assert (param["name"], param["default"], param["help"]) == ("hosts", ["a", "b"], "hosts to check")


def test_show_hides_secret_defaults_and_lists_help(make_project, invoke):
    cell = params_cell(
        'replica = "db-2"  # replica to promote\npassword = "hunter2-default"  # secret: admin password'
    )
    project = make_project({"failover": runbook_md(cell + "\n## Promote\n\n" + code("print(replica)"))})

    exit_code, out, err = invoke(project, "show", "failover")

    assert exit_code == 0, err
    assert "hunter2-default" not in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["replica"][:3] == ["replica", "str", '"db-2"']
    assert " ".join(rows["replica"][3:]) == "replica to promote"
    assert rows["password"][:3] == ["password", "str", "secret"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            "x = 1 + 2",
            "parameters cell line 1: 'x' must be a literal value (a string, number, boolean, list or dict); "
            "compute derived values in a later cell",
        ),
        (
            "a = 1\nhost = socket.gethostname()",
            "parameters cell line 2: 'host' must be a literal value (a string, number, "
            "boolean, list or dict); compute derived values in a later cell",
        ),
        ("import os", "parameters cell line 1: expected 'name = value' assignments only, got 'import os'"),
        (
            "a, b = 1, 2",
            "parameters cell line 1: expected 'name = value' assignments only, got 'a, b = (1, 2)'",
        ),
        ("a = ", "parameters cell line 1: invalid syntax"),
    ],
)
def test_bad_parameters_cell_is_refused_with_its_line(make_project, invoke, source, problem):
    project = make_project({"broken": runbook_md(params_cell(source) + "\n" + code("print(1)"))})

    assert refused(invoke, project) == f"Error: runbooks/broken.md: {problem}"


def test_two_parameters_cells_are_refused(make_project, invoke):
    project = make_project({"broken": runbook_md(params_cell("a = 1") + "\n" + params_cell("b = 2"))})

    assert refused(invoke, project) == "Error: runbooks/broken.md: 2 cells are tagged 'parameters'; keep one"


def test_runbook_without_parameters_cell_has_none(make_project, show_json):
    project = make_project({"plain": runbook_md("## Look\n\n" + code("print(1)"))})

    shown = show_json(project, "plain")

    assert shown["parameters"] == []
    assert shown["command"] == "runbook exec plain"


# -- steps -------------------------------------------------------------------------


def step_names(show_json, project, name="steps"):
    return [s["name"] for s in show_json(project, name)["steps"]]


def test_steps_are_named_by_fence_metadata_or_nearest_heading(make_project, show_json):
    body = (
        "# Restore a backup\n\nSome prose.\n\n"
        + params_cell("target = 'db'")
        + "\n## Check `free` space (root)\n\n"
        + code("print(1)")
        + "\nMore prose, no heading.\n\n"
        + code("print(2)")
        + "\n### Restore!\n\n"
        + code("print(3)", 'name="restore"')
        + "\n"
        + code("print(4)")
    )
    project = make_project({"steps": runbook_md(body)})

    # The parameters cell is not a step; a second cell under one heading gets its position.
    assert step_names(show_json, project) == [
        "check-free-space-root",
        "check-free-space-root-2",
        "restore",
        "restore-4",
    ]


def test_cells_before_any_heading_are_numbered(make_project, show_json):
    project = make_project({"steps": runbook_md(code("print(1)") + "\n" + code("print(2)"))})

    assert step_names(show_json, project) == ["step-1", "step-2"]


def test_step_metadata_is_read_from_the_fence(make_project, show_json):
    body = (
        "## Write it\n\n"
        + code("print(1)", 'name="write-it" effect="write" timeout=30 continue_on_error=true')
        + "\n## Read it\n\n"
        + code("print(2)", 'timeout="2m"')
    )
    project = make_project({"steps": runbook_md(body)})

    first, second = show_json(project, "steps")["steps"]

    assert (first["name"], first["effect"], first["timeout_s"], first["continue_on_error"]) == (
        "write-it",
        "write",
        30,
        True,
    )
    assert (second["name"], second["effect"], second["timeout_s"], second["continue_on_error"]) == (
        "read-it",
        "read",
        120,
        False,
    )


def test_show_lists_steps_with_effect_and_timeout(make_project, invoke):
    body = "## Look\n\n" + code("print(1)") + "\n## Fix\n\n" + code("print(2)", 'effect="write" timeout=30')
    project = make_project({"steps": runbook_md(body)})

    exit_code, out, err = invoke(project, "show", "steps")

    assert exit_code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert ["1", "look", "read", "-"] in lines
    assert ["2", "fix", "write", "30s"] in lines


def test_duplicate_explicit_step_names_are_refused(make_project, invoke):
    body = code("print(1)", 'name="restore"') + "\n" + code("print(2)", 'name="restore"')
    project = make_project({"broken": runbook_md(body)})

    assert (
        refused(invoke, project)
        == "Error: runbooks/broken.md: two steps are named 'restore'; step names must be unique"
    )


def test_explicit_step_name_wins_over_a_heading_derived_one(make_project, show_json):
    body = "## Restore\n\n" + code("print(1)") + "\n## Verify\n\n" + code("print(2)", 'name="restore"')
    project = make_project({"steps": runbook_md(body)})

    names = step_names(show_json, project)

    assert names[1] == "restore"
    assert len(set(names)) == 2


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        (
            'name="Restore DB"',
            "step 1: name='Restore DB' is not a step name; use lower-case letters, digits and dashes",
        ),
        ('effect="delete"', "step 1 (step-1): effect='delete'; expected read or write"),
        ('timeout="soon"', "step 1 (step-1): timeout='soon'; expected seconds or a duration like 30s, 5m"),
        ('continue_on_error="maybe"', "step 1 (step-1): continue_on_error='maybe'; expected true or false"),
    ],
)
def test_bad_step_metadata_is_refused(make_project, invoke, meta, problem):
    project = make_project({"broken": runbook_md(code("print(1)", meta))})

    assert refused(invoke, project) == f"Error: runbooks/broken.md: {problem}"


# -- code hash ---------------------------------------------------------------------


def test_code_hash_ignores_prose_and_follows_code(make_project, show_json):
    original = runbook_md(HELLO_BODY)
    project = make_project({"hello": original})
    path = project / "runbooks" / "hello.md"
    before = show_json(project, "hello")["code_hash"]

    path.write_text(
        original.replace("# Hello", "# Hello, reworded\n\nA new paragraph of explanation."), "utf-8"
    )
    after_prose = show_json(project, "hello")["code_hash"]
    path.write_text(runbook_md(HELLO_BODY, summary="A different summary."), "utf-8")
    after_front_matter = show_json(project, "hello")["code_hash"]
    path.write_text(original.replace('print("hello", who)', 'print("hi", who)'), "utf-8")
    after_code = show_json(project, "hello")["code_hash"]
    path.write_text(original.replace("count = 2", "count = 3"), "utf-8")
    after_default = show_json(project, "hello")["code_hash"]

    assert len(before) == 64
    assert after_prose == before
    assert after_front_matter == before
    assert after_code != before
    assert after_default not in (before, after_code)
    # The edit is seen at once (a parse cache must not serve the old file).
    assert show_json(project, "hello")["parameters"][1]["default"] == 3
