"""Bounded input: YAML alias bombs and oversized files are refused fast, with one clear line.

A "billion laughs" document is a few hundred bytes whose aliases expand to a billion
values; an oversized runbook is megabytes of text. Every command that reads them must
refuse them with exit 2 (or, for ``runbook check``, a finding with the file's line) and
write nothing. The commands run as subprocesses under a 2 GB address-space limit and a
timeout, so that a regression fails the test instead of hanging the suite or the machine.

Also here: the errors the parser, the profile loader and the FAQ loader raise carry the
line of each problem, so ``runbook check`` can report it without reading the message.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Result, clean_env, code, files_under, params_cell, runbook_md, write_project

from runbook.errors import EnvironmentProfileError, FrontMatterError, NotebookError, ParameterError
from runbook.run import environments
from runbook.source.parse import parse_text

MEMORY_LIMIT = 2 * 1024**3
TIMEOUT_S = 60
FRONT_MATTER_BOMB = (
    "runbooks/bomb.md: front matter: YAML aliases expand to more than 10000 nodes; "
    "write the values out instead of nesting aliases"
)
NODES = "YAML aliases expand to more than 100000 nodes; write the values out instead of nesting aliases"
TOO_BIG = "the file is larger than 5 MB; split the runbook, or move its data into files it reads"


def alias_bomb(indent: str) -> str:
    """Nine levels of ten aliases each: a billion strings once expanded, as YAML list items."""
    names = "abcdefghi"
    items = [f"{indent}- &a [{', '.join(['x'] * 10)}]"]
    for previous, name in zip(names, names[1:], strict=False):
        items.append(f"{indent}- &{name} [{', '.join([f'*{previous}'] * 10)}]")
    return "\n".join(items) + "\n"


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_bounded(project: Path, *args: str) -> Result:
    """``python -m runbook ARGS`` in ``project`` with at most 2 GB of memory and 60 s."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runbook", *args],
            cwd=project,
            env=clean_env(None),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            preexec_fn=limited,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"runbook {' '.join(args)} did not finish within {TIMEOUT_S} s")
    return done.returncode, done.stdout, done.stderr


BODY = params_cell('hosts = ["db-1"]  # hosts to check') + "\n" + code("print(hosts)", 'name="show"')
BOMB_FRONT = "---\ntitle: T\nsummary: S.\nowner: team\ntags:\n" + alias_bomb("  ") + "---\n\n" + BODY
#: The line of ``- &d [...]``, where the expansion first passes 10,000 nodes.
BOMB_FRONT_LINE = 9


@pytest.fixture
def bombed(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", {"bomb": BOMB_FRONT, "fine": runbook_md(BODY)})


def new_files(project: Path, before: set[str]) -> set[str]:
    """Files that appeared, apart from the git-ignored parse cache."""
    return {f for f in files_under(project) - before if not f.startswith(".runbook/")}


# -- front matter -----------------------------------------------------------------------


def test_exec_refuses_an_alias_bomb_in_front_matter(bombed):
    before = files_under(bombed)

    exit_code, out, err = run_bounded(bombed, "exec", "bomb", "--yes")

    assert (exit_code, out, err) == (2, "", f"Error: {FRONT_MATTER_BOMB}\n")
    assert new_files(bombed, before) == set()


def test_list_skips_a_runbook_with_an_alias_bomb(bombed):
    exit_code, out, err = run_bounded(bombed, "list", "--json")

    assert exit_code == 0, err
    assert '"slug": "fine"' in out and '"slug": "bomb"' not in out
    assert FRONT_MATTER_BOMB in err


def test_check_reports_an_alias_bomb_in_front_matter_on_its_line(bombed):
    exit_code, out, err = run_bounded(bombed, "check")

    assert exit_code == 1, err
    assert out == f"runbooks/bomb.md:{BOMB_FRONT_LINE}: {FRONT_MATTER_BOMB.split(': ', 1)[1]}\n"


# -- parameter values: -f and -p --------------------------------------------------------


def test_exec_refuses_an_alias_bomb_in_a_params_file_and_writes_nothing(bombed):
    (bombed / "values.yml").write_text("hosts:\n" + alias_bomb("  "), "utf-8")
    before = files_under(bombed)

    exit_code, out, err = run_bounded(bombed, "exec", "fine", "-f", "values.yml", "--yes")

    assert (exit_code, out) == (2, ""), err
    assert err == f"Error: -f values.yml: {NODES}\n"
    assert not (bombed / "runs").exists()
    assert new_files(bombed, before) == set()


def test_exec_refuses_an_alias_bomb_in_a_p_value(bombed):
    items = ["&a [x, x, x, x, x, x, x, x, x, x]"]
    items += [f"&{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    value = "[" + ", ".join(items) + "]"

    exit_code, out, err = run_bounded(bombed, "exec", "fine", "-p", f"hosts={value}", "--dry-run")

    assert (exit_code, out) == (2, ""), err
    assert err == (
        "Error: parameter 'hosts' (-p): YAML aliases expand to more than 10000 nodes; "
        "write the values out instead of nesting aliases\n"
    )


# -- environment profiles ---------------------------------------------------------------


def test_exec_refuses_an_alias_bomb_in_a_profile_and_check_reports_it(tmp_path):
    profile = "label: Bomb\nparameters:\n  hosts:\n" + alias_bomb("    ")
    project = write_project(tmp_path / "project", {"fine": runbook_md(BODY)}, {"bomb": profile})
    before = files_under(project)

    exit_code, out, err = run_bounded(project, "exec", "fine", "--env", "bomb", "--yes")
    checked = run_bounded(project, "check")

    assert (exit_code, out, err) == (2, "", f"Error: environments/bomb.yml: {NODES}\n")
    assert not (project / "runs").exists()
    assert new_files(project, before) == set()
    assert checked[:2] == (1, f"environments/bomb.yml:8: {NODES}\n")


# -- the FAQ ------------------------------------------------------------------------------

FAQ_BOMB = (
    "title: Bombs\ndescription:\n" + alias_bomb("  ") + "entries:\n  - question: Why?\n    answer: Because.\n"
)


@pytest.fixture
def faq_bombed(tmp_path: Path) -> Path:
    project = write_project(tmp_path / "project", {"fine": runbook_md(BODY)})
    (project / "docs" / "faq").mkdir(parents=True)
    (project / "docs" / "faq" / "bombs.yml").write_text(FAQ_BOMB, "utf-8")
    return project


def test_check_reports_an_alias_bomb_in_a_faq_file(faq_bombed):
    exit_code, out, err = run_bounded(faq_bombed, "check")

    assert (exit_code, out) == (1, f"docs/faq/bombs.yml:7: {NODES}\n"), err


def test_render_warns_about_an_alias_bomb_in_a_faq_file_and_goes_on(faq_bombed, tmp_path):
    exit_code, _, err = run_bounded(faq_bombed, "render", "--out", str(tmp_path / "out"))

    assert exit_code == 0, err
    assert f"docs/faq/bombs.yml: {NODES}" in err
    assert (tmp_path / "out" / "runbooks" / "fine.md").is_file()


# -- oversized files ----------------------------------------------------------------------


@pytest.fixture
def oversized(tmp_path: Path) -> Path:
    prose = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n") * 80_000
    return write_project(tmp_path / "project", {"big": runbook_md(prose + BODY), "fine": runbook_md(BODY)})


def test_exec_refuses_a_runbook_over_5_mb(oversized):
    assert (oversized / "runbooks" / "big.md").stat().st_size > 6_000_000

    assert run_bounded(oversized, "exec", "big", "--dry-run") == (
        2,
        "",
        f"Error: runbooks/big.md: {TOO_BIG}\n",
    )


def test_check_reports_a_runbook_over_5_mb(oversized):
    assert run_bounded(oversized, "check")[:2] == (1, f"runbooks/big.md:0: {TOO_BIG}\n")


def test_a_yaml_file_over_1_mb_is_refused(bombed):
    (bombed / "values.yml").write_text("hosts:\n" + "  - db-1\n" * 150_000, "utf-8")

    exit_code, _, err = run_bounded(bombed, "exec", "fine", "-f", "values.yml", "--dry-run")

    assert (exit_code, err) == (
        2,
        "Error: -f values.yml: the file is larger than 1 MB; keep YAML input small and move bulk data elsewhere\n",
    )


def test_long_front_matter_is_refused_before_it_is_parsed(make_project, invoke):
    project = make_project({"long": runbook_md(BODY, summary="word " * 30_000)})

    exit_code, _, err = invoke(project, "exec", "long", "--dry-run")

    assert (exit_code, err) == (
        2,
        "Error: runbooks/long.md: front matter: YAML longer than 100000 characters; "
        "keep YAML input small and move bulk data elsewhere\n",
    )


# -- errors carry their location ------------------------------------------------------------


def test_front_matter_problems_carry_their_key_and_line():
    from runbook.errors import Problem

    text = "---\ntitle: T\nowner: 3\nrisk: yolo\n---\n\n" + code("print(1)")

    with pytest.raises(FrontMatterError) as caught:
        parse_text(text, "runbooks/x.md", "x")

    assert caught.value.problems == (
        Problem("runbooks/x.md", "missing required key 'summary'", line=1, key="summary"),
        Problem("runbooks/x.md", "'owner': expected a non-empty string, got 3", line=3, key="owner"),
        Problem(
            "runbooks/x.md",
            "'risk': expected read-only, mutating, destructive, got 'yolo'",
            line=4,
            key="risk",
        ),
    )


def test_cell_problems_carry_the_line_of_their_fence():
    front = "---\ntitle: T\nsummary: S.\nowner: team\n---\n\n"
    bad_effect = front + code("print(1)") + "\n" + code("print(2)", 'name="wipe" effect="delete"')
    bad_parameter = front + "Intro.\n\n" + params_cell('host = "db"\nport = compute()')

    with pytest.raises(NotebookError) as step:
        parse_text(bad_effect, "runbooks/x.md", "x")
    with pytest.raises(ParameterError) as parameter:
        parse_text(bad_parameter, "runbooks/x.md", "x")

    assert [(p.line, p.message) for p in step.value.problems] == [
        (11, "step 2 (wipe): effect='delete'; expected read or write")
    ]
    assert [(p.line, p.key) for p in parameter.value.problems] == [(11, "port")]
    assert str(parameter.value).startswith("runbooks/x.md: parameters cell line 2: 'port' must be a literal")


def test_profile_problems_carry_their_line(tmp_path):
    (tmp_path / "prod.yml").write_text("label: P\nproduction: maybe\ncolour: red\n", "utf-8")

    with pytest.raises(EnvironmentProfileError) as caught:
        environments.load(tmp_path, "prod")

    assert [(p.line, p.key) for p in caught.value.problems] == [(3, "colour"), (2, "production")]


def test_faq_problems_carry_their_line(tmp_path):
    (tmp_path / "db.yml").write_text(
        "title: DB\nentries:\n  - question: Q?\n    answer: A.\n  - question: R?\n    link: x\n", "utf-8"
    )

    from runbook.render.faq import read_faq

    _, problems = read_faq(tmp_path, "docs/faq")

    assert [(p.path, p.line, p.message) for p in problems] == [
        ("docs/faq/db.yml", 6, "entry 2: unknown key 'link' (known: question, answer, tags, runbooks)"),
        ("docs/faq/db.yml", 5, "entry 2: 'answer' is required text"),
    ]
