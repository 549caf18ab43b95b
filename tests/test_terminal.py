"""What a person reads in a real terminal: the CLI run under a pseudo-terminal (pexpect).

Each test asserts the lines on the screen: ``FAIL`` in red and ``PASS`` in green on a
terminal, plain text in CI and in pipes, a step's error in two lines, the elapsed time of
a running step, the prompts and what declining one says.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pexpect
import pytest
from conftest import clean_env, code, params_cell, run_cli_in, runbook_md

kernel = pytest.mark.kernel

RED_FAIL = "\x1b[1;31mFAIL\x1b[0m"
GREEN_PASS = "\x1b[32mPASS\x1b[0m"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

FAILING_CHECKS = runbook_md(
    "## Check\n\n"
    + code(
        """
        import time
        from runbook.checks.result import CheckResult, require
        print("looking around")
        time.sleep(1.5)
        require(
            CheckResult("disk /", "pass", "40% used"),
            CheckResult("api", "fail", "HTTP 500 from http://127.0.0.1:9/health"),
        )
        """,
        'name="check"',
    )
    + "\n## After\n\n"
    + code('print("never printed")', 'name="after"'),
    title="Failing checks",
)
RAISES = runbook_md(
    "## Divide\n\n" + code('print("dividing")\nvalue = 1 / 0', 'name="divide"'), title="Raises"
)
MUTATING = runbook_md("## Change\n\n" + code('print("changed")'), title="Change things", risk="mutating")
WITH_SECRET = runbook_md(
    "## Parameters\n\n"
    + params_cell('dsn = ""  # secret\nhost = "db"')
    + "\n## Look\n\n"
    + code("print(host)"),
    title="Has a secret",
)


class Screen:
    """A command's run on a pseudo-terminal: its exit code and every byte it wrote."""

    def __init__(self, exit_code: int, text: str) -> None:
        self.exit_code = exit_code
        self.text = text

    @property
    def plain(self) -> str:
        """The screen's text without colour and cursor codes."""
        return ANSI.sub("", self.text).replace("\r\n", "\n")

    def lines(self) -> list[str]:
        """The lines left on the screen once the live line has been erased: carriage
        returns, line erases and cursor-up moves played back, colours dropped."""
        kept: list[str] = []
        current = ""
        for token in re.split(r"(\r\n|\r|\n|\x1b\[1A|\x1b\[2K)", self.text):
            if token in ("\r\n", "\n"):
                kept.append(current)
                current = ""
            elif token == "\r":
                current = ""  # what follows overwrites the line (rich redraws it whole)
            elif token == "\x1b[1A":
                current = kept.pop() if kept else ""
            elif token == "\x1b[2K":
                current = ""
            else:
                current += ANSI.sub("", token)
        kept.append(current)
        return [line.rstrip() for line in kept if line.strip()]


def on_terminal(
    project: Path,
    *args: str,
    env: dict[str, str | None] | None = None,
    answers: tuple[tuple[str, str], ...] = (),
    columns: int = 100,
) -> Screen:
    """``runbook ARGS`` with stdin, stdout and stderr on a pseudo-terminal; each (pattern,
    answer) of ``answers`` is typed when the pattern appears."""
    environment = clean_env({"CI": None, "NO_COLOR": None, "COLUMNS": None, "TERM": "xterm-256color", **(env or {})})
    child = pexpect.spawn(
        sys.executable,
        ["-m", "runbook", *args],
        cwd=str(project),
        env=environment,
        encoding="utf-8",
        dimensions=(50, columns),
        timeout=120,
    )
    log = io.StringIO()
    child.logfile_read = log
    try:
        for pattern, answer in answers:
            child.expect(pattern)
            child.sendline(answer)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return Screen(child.exitstatus if child.exitstatus is not None else -1, log.getvalue())


# -- a failed step ---------------------------------------------------------------------


@kernel
def test_failed_check_on_a_terminal_is_one_coloured_line_per_check(make_project):
    project = make_project({"failing": FAILING_CHECKS})

    screen = on_terminal(project, "exec", "failing")

    assert screen.exit_code == 1, screen.plain
    assert f"{GREEN_PASS}  disk /  40% used" in screen.text
    assert f"{RED_FAIL}  api     HTTP 500 from http://127.0.0.1:9/health" in screen.text
    lines = screen.lines()
    start = lines.index("looking around")
    assert lines[start + 1 :] == [
        "PASS  disk /  40% used",
        "FAIL  api     HTTP 500 from http://127.0.0.1:9/health",
        "2 checks: 1 pass, 0 warn, 1 fail",
        "at line 5: require(",
        "CheckFailed: 1 of 2 checks failed",
        lines[-1],
    ]
    assert lines[-1].startswith("✘ failed at step 'check' in ")
    assert screen.plain.count("HTTP 500") == 1  # the detail once, not three times
    assert "Traceback" not in screen.plain and "result.py" not in screen.plain
    assert "never printed" not in screen.plain


@kernel
def test_a_running_step_shows_its_elapsed_time_on_a_terminal(make_project):
    project = make_project({"failing": FAILING_CHECKS})

    screen = on_terminal(project, "exec", "failing")

    times = [float(t) for t in re.findall(r"▶ \[1/2\] check\x1b\[0m\x1b\[1m  (\d+\.\d)s", screen.text)]
    assert times and max(times) >= 1.5  # the step sleeps 1.5 s: the clock went past it
    assert times == sorted(times)
    assert "looking around" in screen.lines()  # the step's output is on its own line, not garbled
    assert not any("▶ [1/2] check  " in line for line in screen.lines())  # the live line is gone


@kernel
def test_failed_check_in_ci_and_in_a_pipe_is_plain(make_project):
    project = make_project({"failing": FAILING_CHECKS})

    in_ci = on_terminal(project, "exec", "failing", env={"CI": "true"})
    piped = run_cli_in(project, "exec", "failing")

    assert in_ci.exit_code == 1
    assert "\x1b[" not in in_ci.text  # no colour, no live line
    assert "FAIL  api     HTTP 500 from http://127.0.0.1:9/health" in in_ci.plain
    exit_code, _, err = piped
    assert exit_code == 1
    assert "\x1b[" not in err
    assert "FAIL  api     HTTP 500 from http://127.0.0.1:9/health\n" in err
    assert "CheckFailed: 1 of 2 checks failed\n" in err
    assert err.count("HTTP 500") == 1


@kernel
def test_a_step_error_is_its_line_and_exception_and_the_traceback_comes_with_verbose(make_project):
    project = make_project({"raises": RAISES})

    short = run_cli_in(project, "exec", "raises")
    verbose = run_cli_in(project, "-v", "exec", "raises")

    exit_code, _, err = short
    assert exit_code == 1
    lines = err.splitlines()
    at = lines.index("dividing")
    assert lines[at + 1 : at + 3] == ["at line 2: value = 1 / 0", "ZeroDivisionError: division by zero"]
    assert lines[at + 3].startswith("✘ failed at step 'divide' in ")
    assert "Traceback" not in err
    assert verbose[0] == 1
    assert "Traceback (most recent call last)" in verbose[2]
    assert "----> 2 value = 1 / 0" in verbose[2]


# -- prompts ---------------------------------------------------------------------------


def test_declining_the_prompt_says_it_was_declined(make_project):
    project = make_project({"change": MUTATING})

    screen = on_terminal(project, "exec", "change", answers=(("Run it\\?", "n"),))

    assert screen.exit_code == 3
    assert "Error: change is mutating; not confirmed, nothing ran (pass --yes to run it without the prompt)" in screen.plain
    assert "confirm on a terminal" not in screen.plain
    assert not (project / "runs").exists()


def test_a_secret_the_profile_sets_empty_is_not_asked_for(make_project):
    project = make_project({"secretive": WITH_SECRET}, {"local": {"parameters": {"dsn": ""}}, "other": {}})

    quiet = on_terminal(project, "exec", "secretive", "--dry-run")
    asked = on_terminal(project, "exec", "secretive", "--dry-run", "--env", "other", answers=(("Secret dsn", ""),))

    assert quiet.exit_code == 0, quiet.plain
    assert "Secret" not in quiet.plain
    assert asked.exit_code == 0, asked.plain


# -- list ------------------------------------------------------------------------------

LONG_TITLE = runbook_md(
    "## Look\n\n" + code("print(1)"),
    title="Restore the primary PostgreSQL database from last night's base backup and WAL archive",
    owner="database-reliability-engineering",
    schedule="weekly",
)


def test_list_reads_well_at_80_columns_and_wide_shows_every_column(make_project):
    project = make_project({"db/restore-primary-from-backup": LONG_TITLE, "notes": MUTATING})

    narrow = on_terminal(project, "list", columns=80)
    wide = on_terminal(project, "list", "--wide", columns=200)

    lines = narrow.lines()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0].split() == ["runbook", "kind", "title", "status", "last", "run"]
    assert lines[1].startswith("notes")
    assert lines[2].split()[:3] == ["restore-primary-from-backup", "runbook", "Restore"]
    assert "…" in lines[2] and "never run" in lines[2]  # one line: the title is cut, not wrapped
    assert len(lines) == 4
    assert lines[3] == "2 notebooks: 2 runbooks; 2 never run"
    assert "database-reliability-engineering" in wide.lines()[2]
    assert "weekly" in wide.lines()[2]


LATER_VERDICT = runbook_md(
    "## Look\n\n"
    + code(
        """
        from runbook.checks.result import CheckResult, Report
        report = Report([CheckResult("api", "fail", "HTTP 503"), CheckResult("disk /", "pass", "40% used")])
        report
        """,
        'name="look"',
    )
    + "\n## Verdict\n\n"
    + code("report.raise_for_failures()", 'name="verdict"'),
    title="Verdict at the end",
)


@kernel
def test_checks_shown_in_an_earlier_step_are_not_named_again_by_the_verdict(make_project):
    project = make_project({"verdict": LATER_VERDICT})

    exit_code, _, err = run_cli_in(project, "exec", "verdict")

    assert exit_code == 1
    lines = err.splitlines()
    assert lines[lines.index("▶ [2/2] verdict") + 1 :][:2] == [
        "at line 1: report.raise_for_failures()",
        "CheckFailed: 1 of 2 checks failed",
    ]
    assert err.count("HTTP 503") == 1


@kernel
def test_no_color_on_a_terminal_is_plain_text(make_project):
    project = make_project({"failing": FAILING_CHECKS})

    screen = on_terminal(project, "exec", "failing", env={"NO_COLOR": "1"})

    assert screen.exit_code == 1
    assert "\x1b[1;31m" not in screen.text and "\x1b[32m" not in screen.text
    assert "FAIL  api     HTTP 500 from http://127.0.0.1:9/health" in screen.lines()


@kernel
def test_a_new_runbook_runs_as_it_is_written(make_project):
    project = make_project({}, {"local": {}})

    made = run_cli_in(project, "new", "ops/first-look")
    ran = on_terminal(project, "exec", "first-look")

    assert made[0] == 0 and made[2].startswith("wrote runbooks/ops/first-look.md\n")
    assert ran.exit_code == 0, ran.plain
    assert f"{GREEN_PASS}  disk /" in ran.text
    assert ran.lines()[-1].startswith("✔ succeeded in ")


PARTIAL_LINE = runbook_md(
    "## Wait\n\n"
    + code(
        """
        import time
        print("waiting for the lock", end="", flush=True)
        for _ in range(3):
            time.sleep(0.5)
            print(".", end="", flush=True)
        print(" got it")
        """,
        'name="wait"',
    ),
    title="Partial lines",
)


@kernel
def test_a_line_still_being_written_shows_as_it_comes_and_ends_whole(make_project):
    project = make_project({"partial": PARTIAL_LINE})

    screen = on_terminal(project, "exec", "partial")

    assert screen.exit_code == 0, screen.plain
    growing = screen.text.index("waiting for the lock.\r\n")  # on screen before the line ended
    assert growing < screen.text.index("waiting for the lock... got it")
    lines = screen.lines()
    assert lines[lines.index("▶ [1/1] wait") + 1] == "waiting for the lock... got it"
