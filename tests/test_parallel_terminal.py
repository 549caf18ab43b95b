"""``runbook exec --due -j N`` on a real terminal: every question is asked up front.

The CLI runs under a pseudo-terminal (pexpect), as an operator would start it: the
confirmations of gated runbooks and the secrets nobody supplied are asked before the
first run starts, one after another, each answered at its prompt; a declined runbook is
skipped, and only then do the runs' prefixed lines appear.
"""

from __future__ import annotations

import getpass
import io
import json
import re
import sys
from pathlib import Path

import pytest
from conftest import clean_env, code, params_cell, runbook_md
from test_parallel import stored as records

pexpect = pytest.importorskip("pexpect")

SLEEPS = code("import time\ntime.sleep(1)\nprint('slept')", 'name="sleep"')
RUNBOOKS = {
    "alpha": runbook_md(SLEEPS, title="Alpha"),
    "change": runbook_md(code("print('changed the system')", 'name="change"'), title="Change", risk="mutating"),
    "drop": runbook_md(code("print('dropped')", 'name="drop"'), title="Drop", risk="destructive"),
    "login": runbook_md(
        params_cell('token = ""  # secret: the API token')
        + code("print('reversed', token[::-1])", 'name="login"'),
        title="Login",
    ),
}
CHANGE_PROMPT = "change is mutating or has write steps. Run it? [y/N]: "
DROP_PROMPT = "drop is destructive. Type its name to run it: "
SECRET_PROMPT = "Secret token (the API token): "
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def spawn_due(project: Path, *args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "runbook", "exec", "--due", *args],
        cwd=str(project),
        env=clean_env(None),
        encoding="utf-8",
        codec_errors="replace",
        timeout=120,
        dimensions=(40, 200),
    )


@pytest.mark.kernel
def test_every_question_is_asked_up_front_then_the_runs_go_on_two_at_a_time(make_project):
    project = make_project(RUNBOOKS)
    child = spawn_due(project, "-j", "2")
    child.logfile_read = io.StringIO()
    try:
        child.expect_exact(CHANGE_PROMPT)
        child.sendline("y")
        child.expect_exact(DROP_PROMPT)
        child.sendline("nope")
        child.expect_exact(SECRET_PROMPT)
        child.sendline("s3cret-token")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    screen = ANSI.sub("", child.logfile_read.getvalue()).replace("\r\n", "\n")  # text as read
    lines = [line.rstrip() for line in screen.split("\n")]

    assert child.exitstatus == 0, screen
    assert lines[0] == "4 due: alpha, change, drop, login"
    asked = [
        screen.index(CHANGE_PROMPT + "y\n"),
        screen.index(DROP_PROMPT + "nope\n"),
        screen.index("drop: skipped, not confirmed\n"),
        screen.index(SECRET_PROMPT + "\n"),  # typed without echo
    ]
    assert asked == sorted(asked)
    first_run_line = next(i for i, line in enumerate(lines) if line.startswith("["))
    assert screen.index(lines[first_run_line]) > asked[-1]  # no run began before every answer
    assert "[change] changed the system" in lines
    assert f"[login] reversed {'s3cret-token'[::-1]}" in lines
    assert "s3cret-token" not in screen
    assert "[alpha] slept" in lines
    assert any(re.fullmatch(r"\[alpha\] ✔ succeeded in [\d.]+s · .*", line) for line in lines), screen
    assert any(re.fullmatch(r"drop +skipped +-", line) for line in lines), screen
    assert [line for line in lines if line][-1] == "4 due: 3 succeeded, 1 skipped (drop)"
    stored = records(project)
    assert {slug: r["status"] for slug, r in stored.items()} == {
        "alpha": "succeeded",
        "change": "succeeded",
        "login": "succeeded",
    }
    assert stored["change"]["approved_by"] == {"user": getpass.getuser(), "how": "prompt"}
    assert "s3cret-token" not in json.dumps(stored["login"])
