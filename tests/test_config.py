"""The project comes from MkDocs' config: the file, ``!ENV``, ``INHERIT``, the plugin's block.

Every test runs the real command line (or a real ``mkdocs build``) on a project on disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_env, code, params_cell, runbook_md, write_project


def slugs(out: str) -> list[str]:
    return [item["slug"] for item in json.loads(out)]


def notebook_page(title: str) -> str:
    """A docs page with jupytext's header: a notebook in the docs folder."""
    return runbook_md(code("print('hi')", 'name="hello"'), title=title, jupyter={"jupytext": {}})


@pytest.fixture
def nested(tmp_path: Path) -> tuple[Path, Path]:
    """A project with two runbooks, and inside it another project (``mkdocs.yaml``) with one."""
    outer = write_project(
        tmp_path / "outer", {"outer-one": runbook_md(title="Outer one"), "outer-two": runbook_md()}
    )
    (outer / "mkdocs.yml").write_text("site_name: Outer\nplugins:\n  - runbook\n", "utf-8")
    inner = outer / "handbooks" / "inner"
    inner.mkdir(parents=True)
    (inner / "mkdocs.yaml").write_text("site_name: Inner\nplugins:\n  - runbook\n", "utf-8")
    (inner / "docs").mkdir()
    (inner / "docs" / "index.md").write_text("# Inner\n", "utf-8")
    (inner / "runbooks").mkdir()
    (inner / "runbooks" / "inner-only.md").write_text(runbook_md(title="Inner only"), "utf-8")
    return outer, inner


def test_a_nested_project_with_mkdocs_yaml_is_its_own_project(nested, invoke):
    outer, inner = nested

    _, inner_list, _ = invoke(inner / "runbooks", "list", "--json")
    _, outer_list, _ = invoke(outer, "list", "--json")

    assert slugs(inner_list) == ["inner-only"]
    assert slugs(outer_list) == ["outer-one", "outer-two"]


def test_mkdocs_build_of_a_nested_project_renders_only_its_runbooks(nested):
    outer, inner = nested

    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(inner / "mkdocs.yaml")],
        cwd=outer,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    built = sorted(p.name for p in (inner / "site" / "runbooks").iterdir() if p.is_dir())
    assert "inner-only" in built
    assert not {"outer-one", "outer-two"} & set(built)


def test_docs_dir_from_env_tag_means_what_it_means_to_mkdocs(make_project, invoke):
    root = make_project({"plain": runbook_md()})
    (root / "mkdocs.yml").write_text("site_name: T\ndocs_dir: !ENV [DOCS, content]\n", "utf-8")
    (root / "content").mkdir()
    (root / "content" / "live-example.md").write_text(notebook_page("Live example"), "utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "decoy.md").write_text(notebook_page("Decoy"), "utf-8")

    _, unset, _ = invoke(root, "list", "--json", env={"DOCS": None})
    _, chosen, _ = invoke(root, "list", "--json", env={"DOCS": "docs"})

    assert slugs(unset) == ["live-example", "plain"]
    assert slugs(chosen) == ["decoy", "plain"]


def test_inherit_brings_the_plugin_settings_of_the_parent_config(make_project, invoke):
    root = make_project()
    (root / "base.yml").write_text("plugins:\n  - runbook:\n      runbooks: playbooks\n", "utf-8")
    (root / "mkdocs.yml").write_text("INHERIT: base.yml\nsite_name: T\n", "utf-8")
    (root / "playbooks").mkdir()
    (root / "playbooks" / "from-playbooks.md").write_text(runbook_md(), "utf-8")

    _, out, _ = invoke(root, "list", "--json")
    (root / "base.yml").write_text("plugins:\n  - runbook:\n      runbooks: handbooks\n", "utf-8")
    (root / "handbooks").mkdir()
    (root / "handbooks" / "from-handbooks.md").write_text(runbook_md(), "utf-8")
    _, edited, _ = invoke(root, "list", "--json")

    assert slugs(out) == ["from-playbooks"]
    assert slugs(edited) == ["from-handbooks"]  # the parent's edit is read, not a cached answer


def test_an_unchanged_config_is_read_without_importing_mkdocs(make_project, tmp_path):
    root = make_project({"probe": runbook_md()})
    (root / "mkdocs.yml").write_text(
        "site_name: T\ndocs_dir: !ENV [DOCS, docs]\nplugins:\n  - runbook:\n      runs: history\n", "utf-8"
    )
    probe = (
        "import sys; from runbook.source.config import load_settings; s = load_settings(); "
        "print(s.runs, s.docs_dir.name, 'mkdocs.config' in sys.modules)"
    )

    def read(**env):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=root,
            env=clean_env(env),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()

    first, second, other_docs = read(DOCS=None), read(DOCS=None), read(DOCS="content")

    assert first == [str(root / "history"), "docs", "True"]
    assert second == [str(root / "history"), "docs", "False"]
    assert other_docs == [str(root / "history"), "content", "True"]


def test_config_file_option_on_every_command(nested, invoke, tmp_path):
    outer, inner = nested
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = str(inner / "mkdocs.yaml")

    _, listed, _ = invoke(elsewhere, "list", "--json", "-f", config)
    _, before_command, _ = invoke(elsewhere, "-f", config, "due", "--json")
    code_show, shown, _ = invoke(elsewhere, "show", "inner-only", "--config-file", config)
    code_exec, _, err = invoke(elsewhere, "exec", "inner-only", "--dry-run", "--config-file", config)

    assert slugs(listed) == ["inner-only"]
    assert slugs(before_command) == ["inner-only"]
    assert code_show == 0 and "Inner only" in shown
    assert code_exec == 0, err


def test_missing_config_file_is_one_clear_line(tmp_path, invoke):
    code_, _, err = invoke(tmp_path, "list", "-f", "nope.yml")

    assert code_ == 2
    assert err.strip().splitlines()[-1] == (
        "Error: nope.yml: no such config file; pass the path of a mkdocs.yml with -f/--config-file"
    )


def test_plugin_settings_say_where_runbooks_profiles_and_runs_live(make_project, invoke, run_cli):
    root = make_project()
    (root / "mkdocs.yml").write_text(
        "site_name: T\nplugins:\n  - runbook:\n      runbooks: ops/books\n"
        "      environments: ops/profiles\n      runs: ops/history\n      environment: lab\n",
        "utf-8",
    )
    books = root / "ops" / "books"
    books.mkdir(parents=True)
    body = params_cell('where = "nowhere"') + "\n" + code("print('hello from', where)", 'name="hello"')
    (books / "probe.md").write_text(runbook_md(body, title="Probe"), "utf-8")
    (root / "ops" / "profiles").mkdir()
    (root / "ops" / "profiles" / "lab.yml").write_text("label: Lab\nparameters:\n  where: the lab\n", "utf-8")

    exit_code, out, err = run_cli(root, "exec", "probe", "--json")

    assert exit_code == 0, err
    record = json.loads(out)
    assert record["environment"] == "lab"
    assert "hello from the lab" in err
    assert (root / "ops" / "history" / "probe" / record["run_id"] / "record.json").is_file()
    assert not (root / "runs").exists()
    _, runs, _ = invoke(root, "runs", "--json")
    assert [r["run_id"] for r in json.loads(runs)] == [record["run_id"]]


def test_runbook_runs_variable_overrides_the_store_for_one_command(make_project, invoke, tmp_path):
    root = make_project({"probe": runbook_md()})
    other = tmp_path / "other-runs" / "probe" / "20261130T000000.000Z-abcdef"
    other.mkdir(parents=True)
    record = {
        "schema": 1,
        "run_id": other.name,
        "runbook": {"slug": "probe", "path": "runbooks/probe.md", "title": "A runbook", "code_hash": "x"},
        "environment": "elsewhere",
        "parameters": {},
        "status": "succeeded",
        "exit_code": 0,
        "started_at": "2026-11-30T00:00:00.000Z",
        "finished_at": "2026-11-30T00:00:01.000Z",
        "duration_s": 1.0,
        "operator": {"user": "ci", "host": "runner"},
    }
    (other / "record.json").write_text(json.dumps(record), "utf-8")

    _, with_variable, _ = invoke(root, "runs", "--json", env={"RUNBOOK_RUNS": str(tmp_path / "other-runs")})
    _, without, _ = invoke(root, "runs", "--json", env={"RUNBOOK_RUNS": None})

    assert [r["environment"] for r in json.loads(with_variable)] == ["elsewhere"]
    assert json.loads(without) == []


def test_a_bad_plugin_option_names_its_key(make_project, invoke):
    root = make_project({"probe": runbook_md()})
    (root / "mkdocs.yml").write_text(
        "site_name: T\nplugins:\n  - search\n  - runbook:\n      runs: 3\n      colour: blue\n", "utf-8"
    )

    exit_code, _, err = invoke(root, "list")

    assert exit_code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"Error: {root / 'mkdocs.yml'}: ")
    assert "'plugins.runbook.runs': Expected type: <class 'str'> but received: <class 'int'>" in line
    assert f"Warning: {root / 'mkdocs.yml'}: 'plugins.runbook.colour': unknown option" in err
