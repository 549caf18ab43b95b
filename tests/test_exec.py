"""``runbook exec`` with a real Jupyter kernel: records, ledger, failures, time limits,
signals, gates and secrets.

Each scenario runs the real command line once as a subprocess (a module-scoped fixture),
and several tests check what a user would notice about that one run.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import (
    clean_env,
    code,
    error_line,
    files_under,
    finish,
    params_cell,
    run_cli_in,
    runbook_md,
    write_project,
)

import runbook

kernel = pytest.mark.kernel

SECRET = "pa55-w0rd-that-must-not-leak"
PIDS = re.compile(r"^PIDS (\d+) (\d+)$", re.MULTILINE)

# The first step of the slow runbooks prints the kernel's pid and the pid of a process the
# cell started, so a test can check that nothing is left running after the run ends.
SPAWN = code(
    """
    import os, subprocess
    child = subprocess.Popen(["sleep", "300"])
    print("PIDS", os.getpid(), child.pid, flush=True)
    """,
    'name="spawn"',
)


@dataclass
class Run:
    """One finished ``runbook exec`` and what it left behind."""

    project: Path
    exit_code: int
    out: str
    err: str
    elapsed_s: float
    before: datetime
    after: datetime
    commit: str | None = None

    @property
    def records(self) -> list[Path]:
        return sorted((self.project / "runs").glob("*/*/record.json"))

    @property
    def stored(self) -> dict[str, Any]:
        (path,) = self.records
        return json.loads(path.read_text("utf-8"))

    @property
    def json_out(self) -> dict[str, Any]:
        return json.loads(self.out)

    @property
    def ledger(self) -> list[dict[str, Any]]:
        path = self.project / "runs" / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    @property
    def notebook(self) -> dict[str, Any]:
        (path,) = (self.project / "runs").glob("*/*/notebook.ipynb")
        return json.loads(path.read_text("utf-8"))

    def pids(self) -> tuple[int, int]:
        match = PIDS.search(self.err)
        assert match, f"the runbook's first step did not run:\n{self.err}"
        return int(match.group(1)), int(match.group(2))


def execute(project: Path, *args: str, env: dict[str, str | None] | None = None) -> Run:
    before = datetime.now(timezone.utc)
    start = time.monotonic()
    exit_code, out, err = run_cli_in(project, "exec", *args, env=env, timeout=90)
    elapsed = time.monotonic() - start
    return Run(project, exit_code, out, err, elapsed, before, datetime.now(timezone.utc))


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a killed child awaiting its reaper is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_in(folder: Path) -> list[psutil.Process]:
    """Live processes whose working directory is ``folder`` (the kernel runs in the project)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        if process.pid == os.getpid():  # in-process CLI tests chdir the test process itself
            continue
        try:
            if process.cwd() == str(folder) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def kill_leftovers(run: Run) -> None:
    """Clean up after a failing test: kill, by pid, what the run's kernel left behind.

    Only processes still working in the run's project (the kernel and what it started)
    are killed, so a recycled pid never hits anything else.
    """
    match = PIDS.search(run.err)
    pids = {int(p) for p in match.groups()} if match else set()
    pids |= {p.pid for p in processes_in(run.project)}
    for pid in pids - {os.getpid()}:
        try:
            process = psutil.Process(pid)
            if process.cwd() == str(run.project):
                process.kill()
        except psutil.Error:
            pass


def parse_utc(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", text), text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset().total_seconds() == 0
    return moment


# -- a successful run -------------------------------------------------------------------

HELLO = runbook_md(
    "# Say hello\n\n## Parameters\n\n"
    + params_cell(
        """
        who = "world"  # who to greet
        count = 2  # how many times
        api_key = ""  # secret: the API key
        """
    )
    + "\n## Greet\n\n"
    + code(
        """
        for _ in range(count):
            print("hello", who)
        """
    )
    + "\n## Use the key\n\n"
    + code('print("key length", len(api_key))\nprint("key is", api_key)', 'name="use-key"'),
    title="Say hello",
    summary="Greets someone.",
    owner="team-a",
)


@pytest.fixture(scope="module")
def succeeded(tmp_path_factory):
    project = write_project(
        tmp_path_factory.mktemp("succeeded") / "project",
        {"hello": HELLO},
        {"local": {"label": "This machine", "parameters": {"who": "${GREETEE:-local-world}"}}},
    )
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "runbooks"], cwd=project, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    )
    run = execute(
        project, "hello", "-p", "count=3", "-p", f"api_key={SECRET}", "--json", env={"GREETEE": None}
    )
    run.commit = head.stdout.strip()
    return run


@kernel
def test_success_exits_0_and_prints_the_record_on_stdout(succeeded):
    assert succeeded.exit_code == 0, succeeded.err
    assert succeeded.json_out == succeeded.stored


@kernel
def test_record_identifies_the_runbook_and_its_code(succeeded, show_json):
    record = succeeded.stored
    shown = show_json(succeeded.project, "hello")

    assert record["schema"] == 1
    assert record["runbook"]["slug"] == "hello"
    assert record["runbook"]["path"] == "runbooks/hello.md"
    assert record["runbook"]["title"] == "Say hello"
    assert record["runbook"]["code_hash"] == shown["code_hash"]
    assert record["runbook"]["commit"] == succeeded.commit


@kernel
def test_record_has_status_environment_and_parameters(succeeded):
    record = succeeded.stored

    assert record["status"] == "succeeded"
    assert record["exit_code"] == 0
    assert record["failure"] is None
    assert record["approved_by"] is None
    assert record["environment"] == "local"
    assert record["parameters"]["who"] == "local-world"
    assert record["parameters"]["count"] == 3
    assert record["parameters"]["api_key"] not in ("", SECRET)


@kernel
def test_parameters_reach_the_kernel(succeeded):
    outputs = [o.get("text", "") for c in succeeded.notebook["cells"] for o in c.get("outputs", [])]

    assert "hello local-world\n" * 3 in "".join(outputs)
    assert f"key length {len(SECRET)}\n" in "".join(outputs)


@kernel
def test_record_times_are_iso_8601_utc(succeeded):
    record = succeeded.stored
    started = parse_utc(record["started_at"])
    finished = parse_utc(record["finished_at"])

    assert succeeded.before.replace(microsecond=0) <= started <= finished <= succeeded.after
    assert record["duration_s"] == pytest.approx((finished - started).total_seconds(), abs=0.01)
    for step in record["steps"]:
        assert started <= parse_utc(step["started_at"]) <= finished
        assert step["duration_s"] >= 0


@kernel
def test_record_names_the_operator_and_tools(succeeded):
    record = succeeded.stored

    assert record["operator"] == {"user": getpass.getuser(), "host": socket.gethostname()}
    assert record["tool"]["runbook"] == runbook.__version__
    assert record["tool"]["python"] == platform.python_version()
    for package in ("papermill", "nbclient", "jupytext", "ipykernel"):
        assert record["tool"][package] == version(package)


@kernel
def test_record_lists_each_step(succeeded):
    steps = succeeded.stored["steps"]

    assert [(s["name"], s["status"]) for s in steps] == [("greet", "succeeded"), ("use-key", "succeeded")]


@kernel
def test_run_is_stored_under_its_time_sortable_id(succeeded):
    record = succeeded.stored
    run_id = record["run_id"]
    folder = succeeded.project / "runs" / "hello" / run_id

    assert run_id.startswith(parse_utc(record["started_at"]).strftime("%Y%m%dT%H%M%S"))
    assert sorted(p.name for p in folder.iterdir()) == ["notebook.ipynb", "record.json"]
    assert files_under(succeeded.project / "runs") == {
        "ledger.jsonl",
        f"hello/{run_id}/record.json",
        f"hello/{run_id}/notebook.ipynb",
    }


@kernel
def test_stored_notebook_is_valid_nbformat(succeeded):
    nb = succeeded.notebook  # the file as stored (nbformat.read would silently add ids)

    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    assert [c["metadata"].get("tags") for c in nb["cells"] if "id" not in c] == []


@kernel
def test_ledger_has_a_start_and_an_end_line(succeeded):
    run_id = succeeded.stored["run_id"]
    start, end = succeeded.ledger

    assert (start["event"], start["run_id"], start["runbook"]) == ("start", run_id, "hello")
    assert (end["event"], end["run_id"], end["runbook"]) == ("end", run_id, "hello")
    assert (end["status"], end["exit_code"]) == ("succeeded", 0)
    assert start["started_at"] == succeeded.stored["started_at"]


@kernel
def test_progress_and_outputs_go_to_stderr(succeeded):
    err = succeeded.err

    assert re.search(r"\[1/2\] greet\b", err)
    assert re.search(r"\[2/2\] use-key\b", err)
    assert err.index("greet") < err.index("hello local-world") < err.index("use-key")
    assert "hello local-world" not in succeeded.out


@kernel
def test_secret_never_reaches_disk_or_the_terminal(succeeded):
    leaked = [
        path
        for path in succeeded.project.rglob("*")
        if path.is_file() and ".git" not in path.parts and SECRET.encode() in path.read_bytes()
    ]

    assert leaked == []
    assert SECRET not in succeeded.out
    assert SECRET not in succeeded.err
    assert "key is " in succeeded.err


@kernel
def test_history_commands_show_the_run(succeeded, invoke):
    run_id = succeeded.stored["run_id"]

    _, runs_out, _ = invoke(succeeded.project, "runs", "hello", "--json")
    _, list_out, _ = invoke(succeeded.project, "list", "--json")
    _, show_out, _ = invoke(succeeded.project, "show", "hello", "--json")

    assert json.loads(runs_out) == [succeeded.stored]
    (item,) = json.loads(list_out)
    assert (item["last_status"], item["last_run_id"], item["changed_since_last_run"]) == (
        "succeeded",
        run_id,
        False,
    )
    assert [r["run_id"] for r in json.loads(show_out)["runs"]] == [run_id]


@kernel
def test_secret_in_a_failing_step_is_masked_everywhere(make_project):
    body = (
        params_cell('password = ""  # secret')
        + "\n## Log in\n\n"
        + code('raise RuntimeError(f"login failed for password {password}")', 'name="login"')
    )
    project = make_project({"login": runbook_md(body, title="Log in")})

    run = execute(project, "login", "-p", f"password={SECRET}", "--json")

    assert run.exit_code == 1, run.err
    failure = run.stored["failure"]
    assert (failure["step_name"], failure["exception"]) == ("login", "RuntimeError")
    assert failure["message"].startswith("login failed for password ")
    assert SECRET not in run.out + run.err
    assert [p for p in project.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()] == []


@kernel
def test_secret_parameter_keeps_its_type_in_the_kernel(make_project):
    body = (
        params_cell("pin = 1234  # secret") + "\n## Use it\n\n" + code("print(type(pin).__name__, pin + 1)")
    )
    project = make_project({"pin": runbook_md(body, title="Pin")})

    run = execute(project, "pin", "-p", "pin=987654", "--json")

    assert run.exit_code == 0, run.err
    assert "int 987655" in run.err


# -- a failing step --------------------------------------------------------------------

FAILING = runbook_md(
    "## One\n\n"
    + code('print("one ran")')
    + "\n## Two\n\n"
    + code('raise ValueError("disk /dev/sda1 is 97% full")')
    + "\n## Three\n\n"
    + code('print("three ran")'),
    title="Fails in the middle",
)


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("failed") / "project", {"fails": FAILING})
    return execute(project, "fails", "--json")


@kernel
def test_failing_step_exits_1_and_is_stored(failed):
    assert failed.exit_code == 1, failed.err
    assert failed.json_out == failed.stored
    assert failed.stored["status"] == "failed"
    assert failed.stored["exit_code"] == 1


@kernel
def test_failure_names_the_step_exception_and_message(failed):
    assert failed.stored["failure"] == {
        "step_index": 1,
        "step_name": "two",
        "exception": "ValueError",
        "message": "disk /dev/sda1 is 97% full",
    }


@kernel
def test_steps_after_the_failure_are_skipped(failed):
    steps = failed.stored["steps"]

    assert [(s["name"], s["status"]) for s in steps] == [
        ("one", "succeeded"),
        ("two", "failed"),
        ("three", "skipped"),
    ]
    assert "one ran" in failed.err
    assert "three ran" not in failed.err
    outputs = [o for c in failed.notebook["cells"] for o in c.get("outputs", [])]
    assert "three ran" not in json.dumps(outputs)
    assert "one ran" in json.dumps(outputs)


@kernel
def test_failure_is_shown_on_stderr_and_in_the_ledger(failed):
    assert "ValueError" in failed.err
    assert "disk /dev/sda1 is 97% full" in failed.err
    assert failed.ledger[-1]["event"] == "end"
    assert (failed.ledger[-1]["status"], failed.ledger[-1]["exit_code"]) == ("failed", 1)


# -- a step over its time limit --------------------------------------------------------

STEP_TIMEOUT = runbook_md(
    "## Start\n\n"
    + SPAWN
    + "\n## Wait\n\n"
    + code("import time\ntime.sleep(30)", 'name="wait" timeout=1')
    + "\n## After\n\n"
    + code('print("after ran")', 'name="after"'),
    title="Slow step",
)


@pytest.fixture(scope="module")
def step_timed_out(tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("step_timeout") / "project", {"slow": STEP_TIMEOUT})
    run = execute(project, "slow", "--json")
    yield run
    kill_leftovers(run)


@kernel
def test_step_timeout_exits_124_with_status_timed_out(step_timed_out):
    run = step_timed_out

    assert run.exit_code == 124, run.err
    assert run.stored["status"] == "timed_out"
    assert run.stored["exit_code"] == 124
    assert run.json_out == run.stored
    assert run.elapsed_s < 25  # it did not wait for the 30 s sleep
    assert (run.ledger[-1]["status"], run.ledger[-1]["exit_code"]) == ("timed_out", 124)


@kernel
def test_step_timeout_failure_names_the_step(step_timed_out):
    failure = step_timed_out.stored["failure"]

    assert (failure["step_index"], failure["step_name"]) == (1, "wait")
    assert failure["message"] == "step 'wait' exceeded its 1s timeout"


@kernel
def test_step_timeout_marks_the_step_and_skips_the_rest(step_timed_out):
    steps = step_timed_out.stored["steps"]

    assert [(s["name"], s["status"]) for s in steps] == [
        ("spawn", "succeeded"),
        ("wait", "timed_out"),
        ("after", "skipped"),
    ]
    assert steps[2]["started_at"] is None
    assert "after ran" not in step_timed_out.err


@kernel
def test_step_timeout_leaves_no_kernel_or_child_running(step_timed_out):
    kernel_pid, child_pid = step_timed_out.pids()

    assert not running(kernel_pid)
    assert not running(child_pid)
    assert processes_in(step_timed_out.project) == []


# -- the whole run over its time limit ---------------------------------------------------


def assert_nothing_left_running(run: Run, project: Path) -> None:
    """The run's kernel, the child its cell spawned, and anything else started in ``project``
    are gone."""
    kernel_pid, child_pid = run.pids()
    assert not running(kernel_pid)
    assert not running(child_pid)
    assert processes_in(project) == []


RUN_TIMEOUT_BODY = (
    "## Start\n\n" + SPAWN + "\n## Wait\n\n" + code("import time\ntime.sleep(30)", 'name="wait"')
)


@kernel
@pytest.mark.parametrize("where", ["option", "front matter"])
def test_whole_run_timeout_exits_124_and_leaves_nothing_running(tmp_path, where):
    front = {"timeout": "2s"} if where == "front matter" else {}
    args = ["--timeout", "2s"] if where == "option" else []
    project = write_project(
        tmp_path / "project", {"slow": runbook_md(RUN_TIMEOUT_BODY, title="Slow run", **front)}
    )

    run = execute(project, "slow", "--json", *args)
    try:
        assert run.exit_code == 124, run.err
        record = run.stored
        assert record["status"] == "timed_out"
        assert record["failure"]["step_name"] == "wait"
        assert record["failure"]["message"] == "the run exceeded its 2s timeout"
        assert [(s["name"], s["status"]) for s in record["steps"]] == [
            ("spawn", "succeeded"),
            ("wait", "timed_out"),
        ]
        assert run.elapsed_s < 25
        assert_nothing_left_running(run, project)
    finally:
        kill_leftovers(run)


# -- signals -----------------------------------------------------------------------------


@kernel
@pytest.mark.parametrize(
    ("signum", "exit_code", "exception"),
    [
        (signal.SIGTERM, 143, "Terminated"),
        (signal.SIGINT, 130, "KeyboardInterrupt"),
    ],
)
def test_signal_stores_an_interrupted_run_and_stops_the_kernel(tmp_path, signum, exit_code, exception):
    project = write_project(tmp_path / "project", {"slow": runbook_md(RUN_TIMEOUT_BODY, title="Slow run")})
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "exec", "slow", "--json"],
        cwd=project,
        env=clean_env(None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = ""
    try:
        deadline = time.monotonic() + 60
        while not re.search(r"\bwait\b", err.split("PIDS")[-1]) and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            err += line
        time.sleep(0.3)  # the sleep is running
        process.send_signal(signum)
        out, rest = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    run = Run(
        project,
        process.returncode,
        out,
        err + rest,
        0.0,
        datetime.now(timezone.utc),
        datetime.now(timezone.utc),
    )
    try:
        assert run.exit_code == exit_code, run.err
        record = run.stored
        assert record["status"] == "interrupted"
        assert record["exit_code"] == exit_code
        assert (record["failure"]["step_name"], record["failure"]["exception"]) == ("wait", exception)
        assert [(s["name"], s["status"]) for s in record["steps"]] == [
            ("spawn", "succeeded"),
            ("wait", "interrupted"),
        ]
        assert run.ledger[-1]["status"] == "interrupted"
        assert_nothing_left_running(run, project)
    finally:
        kill_leftovers(run)


@kernel
def test_killed_run_is_reported_abandoned_and_its_kernel_exits(tmp_path, invoke):
    project = write_project(tmp_path / "project", {"slow": runbook_md(RUN_TIMEOUT_BODY, title="Slow run")})
    kernel_dirs = set(Path(tempfile.gettempdir()).glob("runbook-kernel-*"))
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "exec", "slow"],
        cwd=project,
        env=clean_env(None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = ""
    try:
        while not PIDS.search(err):
            line = process.stderr.readline()
            if not line:
                break
            err += line
    finally:
        process.kill()  # SIGKILL: no chance to write a record
        process.communicate()
    run = Run(
        project, process.returncode, "", err, 0.0, datetime.now(timezone.utc), datetime.now(timezone.utc)
    )
    try:
        kernel_pid, _ = run.pids()
        deadline = time.monotonic() + 10
        while running(kernel_pid) and time.monotonic() < deadline:
            time.sleep(0.1)

        exit_code, out, _ = invoke(project, "runs", "--json")

        assert not running(kernel_pid), "the kernel outlived the killed runbook process"
        assert exit_code == 0
        (record,) = json.loads(out)
        assert (record["runbook"]["slug"], record["status"], record["finished_at"]) == (
            "slow",
            "abandoned",
            None,
        )
        assert run.ledger[0]["event"] == "start"
    finally:
        kill_leftovers(run)
        # A SIGKILLed runbook cannot remove its kernel's connection folder; remove the one it made.
        for folder in set(Path(tempfile.gettempdir()).glob("runbook-kernel-*")) - kernel_dirs:
            shutil.rmtree(folder, ignore_errors=True)


# -- continue_on_error ---------------------------------------------------------------------


@kernel
def test_continue_on_error_runs_the_later_steps(tmp_path):
    body = (
        code('raise RuntimeError("cache is cold")', 'name="warm-cache" continue_on_error=true')
        + "\n"
        + code('print("later step ran")', 'name="report"')
    )
    project = write_project(tmp_path / "project", {"tolerant": runbook_md(body, title="Tolerant")})

    run = execute(project, "tolerant", "--json")

    assert "later step ran" in run.err
    assert [(s["name"], s["status"]) for s in run.stored["steps"]] == [
        ("warm-cache", "failed"),
        ("report", "succeeded"),
    ]


@kernel
def test_kernel_opens_no_tcp_port_and_forked_children_still_print(make_project):
    body = code(
        """
        import multiprocessing, os, psutil
        ports = [c.laddr.port for c in psutil.Process(os.getpid()).net_connections(kind="tcp")]
        print("tcp ports:", ports)
        child = multiprocessing.get_context("fork").Process(target=print, args=("from a forked child",))
        child.start()
        child.join()
        """,
        'name="sockets"',
    )
    project = make_project({"sockets": runbook_md(body)})

    run = execute(project, "sockets")

    assert run.exit_code == 0, run.err
    assert "tcp ports: []" in run.err
    assert "from a forked child" in run.err


# -- gates ------------------------------------------------------------------------------------

MUTATING = runbook_md(
    "## Change\n\n" + code('print("changed the system")'), title="Change things", risk="mutating"
)
DESTRUCTIVE = runbook_md("## Drop\n\n" + code('print("dropped")'), title="Drop things", risk="destructive")
WRITE_STEP = runbook_md(
    "## Look\n\n" + code('print("looked")') + "\n## Fix\n\n" + code('print("fixed")', 'effect="write"'),
    title="Look then fix",
)
STAGING_ONLY = runbook_md(
    "## Look\n\n" + code('print("looked")'), title="Staging only", environments=["staging"]
)


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("change", "change is mutating; confirm on a terminal or pass --yes"),
        ("drop", "drop is destructive; confirm on a terminal or pass --yes"),
        ("fix", "fix is read-only but has write steps (fix); confirm on a terminal or pass --yes"),
    ],
)
def test_gate_refuses_without_yes_and_runs_nothing(make_project, invoke, slug, message):
    project = make_project({"change": MUTATING, "drop": DESTRUCTIVE, "fix": WRITE_STEP})

    exit_code, out, err = invoke(project, "exec", slug)  # stdin is not a terminal: no prompt

    assert exit_code == 3
    assert error_line(err) == f"Error: {message}"
    assert out == ""
    assert not (project / "runs").exists()
    assert "changed the system" not in err


def test_environment_gate(make_project, invoke):
    project = make_project({"staging-only": STAGING_ONLY}, environments={"local": {}, "staging": {}})

    exit_code, _, err = invoke(project, "exec", "staging-only")
    allowed_code, _, allowed_err = invoke(project, "exec", "staging-only", "--env", "staging", "--dry-run")

    assert exit_code == 3
    assert error_line(err) == "Error: staging-only may not run in 'local' (its front matter allows: staging)"
    assert not (project / "runs").exists()
    assert allowed_code == 0, allowed_err


def test_environment_gate_without_profiles(make_project, invoke):
    project = make_project({"staging-only": STAGING_ONLY})

    exit_code, _, err = invoke(project, "exec", "staging-only")

    assert exit_code == 3
    assert (
        error_line(err)
        == "Error: staging-only may not run in 'no environment' (its front matter allows: staging)"
    )


@kernel
def test_yes_passes_the_gate_and_records_who_approved(make_project):
    project = make_project({"change": MUTATING})

    run = execute(project, "change", "--yes", "--json")

    assert run.exit_code == 0, run.err
    assert "changed the system" in run.err
    assert run.stored["approved_by"] == {"user": getpass.getuser(), "how": "--yes"}


def on_terminal(
    project: Path,
    answer: str,
    *args: str,
    prompts: tuple[bytes, ...] = (b"?", b"run it"),
    env: dict | None = None,
) -> tuple[int, str, str]:
    """Run ``runbook exec ARGS`` with stdin and stderr on a pseudo-terminal; answer its prompt.

    The prompt is recognised by any of ``prompts`` on the screen. Returns (exit code,
    stdout, everything written to the terminal).
    """
    import pty
    import select

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "exec", *args],
        cwd=project,
        env=clean_env(env),
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    screen = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the other side closed
                    break
                if not chunk:
                    break
                screen += chunk
            if not answered and any(p in screen for p in prompts):
                os.write(master, answer.encode() + b"\r")
                answered = True
            if process.poll() is not None and not ready:
                break
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        os.close(master)
    return process.returncode, out, screen.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("slug", "answer"),
    [("change", "n"), ("change", ""), ("drop", "yes"), ("drop", "Drop")],
)
def test_prompt_on_a_terminal_refuses_unless_confirmed(make_project, slug, answer):
    project = make_project({"change": MUTATING, "drop": DESTRUCTIVE})

    exit_code, out, screen = on_terminal(project, answer, slug)

    assert exit_code == 3, screen
    assert out == ""
    assert (
        screen.index(f"{slug} is ") < screen.index(answer + "\r\n") < screen.index("Error: ")
    )  # asked, then refused
    assert not (project / "runs").exists()


@kernel
@pytest.mark.parametrize(("slug", "answer"), [("change", "y"), ("drop", "drop")])
def test_confirmed_prompt_runs_and_records_who_approved(make_project, slug, answer):
    project = make_project({"change": MUTATING, "drop": DESTRUCTIVE})

    exit_code, out, screen = on_terminal(project, answer, slug, "--json")

    assert exit_code == 0, screen
    record = json.loads(out)
    assert record["status"] == "succeeded"
    assert record["approved_by"] == {"user": getpass.getuser(), "how": "prompt"}


# -- dry runs and bad input write nothing ----------------------------------------------------


def test_dry_run_of_a_gated_runbook_needs_no_confirmation_and_says_a_run_would(make_project, invoke):
    project = make_project({"change": MUTATING, "fix": WRITE_STEP})

    change_code, change_out, change_err = invoke(project, "exec", "change", "--dry-run")
    fix_code, fix_out, _ = invoke(project, "exec", "fix", "--dry-run", "--json")

    assert change_code == 0, change_err
    assert "a real run needs confirmation or --yes: mutating" in change_out
    assert fix_code == 0
    assert json.loads(fix_out)["needs_confirmation"] == "read-only but has write steps (fix)"
    assert not (project / "runs").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(make_project, run_cli):
    project = make_project(
        {"hello": HELLO, "change": MUTATING}, environments={"local": {"parameters": {"who": "ops"}}}
    )
    before = files_under(project)

    exit_code, out, err = run_cli(
        project, "exec", "hello", "--dry-run", "-p", "count=5", "-p", f"api_key={SECRET}"
    )

    assert exit_code == 0, err
    assert files_under(project) == before
    lines = [line.split() for line in out.splitlines()]
    assert out.splitlines()[0] == "Dry run of hello in local: nothing runs, nothing is written"
    assert ["who", '"ops"', "environments/local.yml"] in lines
    assert ["count", "5", "-p"] in lines
    assert ["1", "greet", "read"] in lines
    assert ["2", "use-key", "read"] in lines
    assert SECRET not in out + err


@pytest.mark.parametrize(
    "args",
    [
        ["nope"],
        ["hello", "-p", "count=many"],
        ["hello", "-p", "colour=red"],
        ["hello", "-p", "count"],
        ["hello", "--env", "production"],
        ["hello", "--timeout", "soon"],
        ["hello", "-f", "missing.yml"],
        ["broken"],
    ],
)
def test_bad_input_exits_2_and_writes_no_run(make_project, invoke, args):
    project = make_project({"hello": HELLO, "broken": "---\ntitle: Broken\n---\n"})

    exit_code, out, err = invoke(project, "exec", *args)

    assert exit_code == 2, err
    assert out == ""
    error_line(err)
    assert not (project / "runs").exists()


# -- checks in the record ------------------------------------------------------------------------


@kernel
@pytest.mark.parametrize("how", ["displayed", "required"])
def test_a_failed_check_fails_the_run_and_every_check_is_recorded(make_project, how):
    results = (
        'checks.disk_usage("/", warn_pct=99, fail_pct=100), checks.tcp_port("127.0.0.1", 1, timeout=0.5)'
    )
    source = f"checks.Report([{results}])" if how == "displayed" else f"checks.require({results})"
    body = "## Check\n\n" + code(f"from runbook import checks\n{source}", 'name="probe"')
    body += "\n## After\n\n" + code('print("after")', 'name="after"')
    project = make_project({"probe": runbook_md(body, title="Probe")})

    run = execute(project, "probe", "--json")

    assert run.exit_code == 1, run.err
    record = run.json_out
    assert [(c["name"], c["status"], c["step"]) for c in record["checks"]] == [
        ("disk /", "pass", "probe"),
        ("tcp 127.0.0.1:1", "fail", "probe"),
    ]
    assert record["failure"]["step_name"] == "probe"
    assert record["failure"]["exception"] == "CheckFailed"
    assert "127.0.0.1:1 is closed" in record["failure"]["message"]
    assert record["steps"][0]["status"] == "failed"
