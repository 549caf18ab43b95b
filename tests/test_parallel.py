"""``runbook exec --due -j N``: up to N due runbooks at once, each in its own kernel.

Real kernels and real signals: every run of the batch is stored, each line a run prints
starts with its runbook's name, a table ends the batch, runs overlap in time, and Ctrl-C
stops every run as ``interrupted`` with no kernel left running.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import clean_env, code, finish, runbook_md, write_project
from test_exec import PIDS, processes_in, running

SLEEPS = code("import time\ntime.sleep(1.5)\nprint('slept')", 'name="sleep"')


def stored(project: Path) -> dict[str, dict]:
    records = {}
    for path in project.glob("runs/*/*/record.json"):
        record = json.loads(path.read_text("utf-8"))
        records[record["runbook"]["slug"]] = record
    return records


@pytest.mark.kernel
def test_a_parallel_batch_stores_every_run_prefixes_its_lines_and_ends_with_a_table(make_project, run_cli):
    runbooks = {name: runbook_md(SLEEPS, title=name.title()) for name in ("alpha", "beta", "gamma")}
    runbooks["broken"] = runbook_md(code("raise RuntimeError('disk full')", 'name="boom"'), title="Broken")
    root = make_project(runbooks)

    exit_code, out, err = run_cli(root, "exec", "--due", "-j", "2", "--json")

    assert exit_code == 1, err
    assert {slug: r["status"] for slug, r in stored(root).items()} == {
        "alpha": "succeeded",
        "beta": "succeeded",
        "gamma": "succeeded",
        "broken": "failed",
    }
    assert sorted(r["runbook"]["slug"] for r in json.loads(out)) == ["alpha", "beta", "broken", "gamma"]
    for slug in ("alpha", "beta", "gamma"):
        assert f"[{slug}] ▶ [1/1] sleep\n" in err
        assert f"[{slug}] slept\n" in err
        assert re.search(rf"^\[{slug}\] ✔ succeeded in ", err, re.MULTILINE)
    assert "[broken] RuntimeError: disk full\n" in err
    assert re.search(r"^runbook +status +took$", err, re.MULTILINE)
    assert re.search(r"^broken +failed +\d+\.\ds$", err, re.MULTILINE)
    assert re.search(r"^alpha +succeeded +\d+\.\ds$", err, re.MULTILINE)
    assert err.rstrip().endswith("4 due: 3 succeeded, 1 failed")


def step_interval(record: dict) -> tuple[datetime, datetime]:
    (step,) = record["steps"]
    start = datetime.fromisoformat(step["started_at"].replace("Z", "+00:00"))
    return start, start + timedelta(seconds=step["duration_s"])


@pytest.mark.kernel
def test_two_runs_overlap_in_time_with_two_jobs(make_project, run_cli):
    root = make_project({name: runbook_md(SLEEPS, title=name.title()) for name in ("first", "second")})

    exit_code, _, err = run_cli(root, "exec", "--due", "-j", "2")

    assert exit_code == 0, err
    (start_a, end_a), (start_b, end_b) = (step_interval(r) for r in stored(root).values())
    assert start_a < end_b and start_b < end_a


SPAWN_AND_WAIT = code(
    """
    import os, subprocess, time
    child = subprocess.Popen(["sleep", "300"])
    print("PIDS", os.getpid(), child.pid, flush=True)
    time.sleep(60)
    """,
    'name="wait"',
)


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("signum", "exit_code", "exception"),
    [(signal.SIGINT, 130, "KeyboardInterrupt"), (signal.SIGTERM, 143, "Terminated")],
)
def test_a_signal_stops_every_run_of_a_parallel_batch(tmp_path, signum, exit_code, exception):
    runbooks = {name: runbook_md(SPAWN_AND_WAIT, title=name.title()) for name in ("one", "two", "three")}
    project = write_project(tmp_path / "project", runbooks)
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "exec", "--due", "-j", "2"],
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
        while len(PIDS.findall(err)) < 2 and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            err += re.sub(r"^\[[a-z]+\] ", "", line)
        time.sleep(0.3)  # both sleeps are running
        process.send_signal(signum)
        _, rest = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    pids = [int(pid) for pair in PIDS.findall(err) for pid in pair]
    try:
        assert process.returncode == exit_code, err + rest
        records = stored(project)
        assert len(records) == 2, rest  # the third never started
        for record in records.values():
            assert record["status"] == "interrupted"
            assert record["exit_code"] == exit_code
            assert (record["failure"]["step_name"], record["failure"]["exception"]) == ("wait", exception)
        assert "stopped before the rest" in rest
        assert len(pids) == 4
        assert not any(running(pid) for pid in pids)
        assert processes_in(project) == []
    finally:
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_zero_jobs_is_a_usage_error(make_project, invoke):
    root = make_project({"one": runbook_md(SLEEPS)})

    exit_code, _, err = invoke(root, "exec", "--due", "-j", "0")

    assert exit_code == 2
    assert "Error: Invalid value for '-j' / '--jobs': 0 is not in the range x>=1." in err


@pytest.mark.kernel
def test_build_execute_runs_what_is_due_in_parallel_then_builds(make_project, run_cli):
    root = make_project({name: runbook_md(SLEEPS, title=name.title()) for name in ("first", "second")})
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# Handbook\n", "utf-8")

    exit_code, _, err = run_cli(root, "build", "--execute", "-j", "2")

    assert exit_code == 0, err
    assert {slug: r["status"] for slug, r in stored(root).items()} == {
        "first": "succeeded",
        "second": "succeeded",
    }
    assert "[second] slept\n" in err
    assert re.search(r"^first +succeeded +\d+\.\ds$", err, re.MULTILINE)
    assert "2 due: 2 succeeded" in err
    assert (root / "site" / "index.html").is_file()


# -- kernels started ahead -------------------------------------------------------------------

SECRET_ECHO = runbook_md(
    "## Parameters\n\n"
    + code('token = ""  # secret', 'tags=["parameters"]')
    + "\n## Echo\n\n"
    + code(
        """
        import os, time, psutil
        assert os.environ["RUNBOOK_SECRET_TOKEN"] == token
        print("KERNEL_STARTED", psutil.Process(os.getpid()).create_time())
        print("reversed", token[::-1])
        time.sleep(1.5)
        """,
        'name="echo"',
    )
)


@pytest.mark.kernel
def test_the_next_kernel_starts_while_runs_go_on_and_each_run_gets_its_own_secret(make_project, run_cli):
    names = ("alpha", "beta", "gamma")
    profile = {"label": "Local", "runbooks": {name: {"token": f"${{{name.upper()}_TOKEN}}"} for name in names}}
    root = make_project({name: SECRET_ECHO for name in names}, {"local": profile})
    env = {f"{name.upper()}_TOKEN": f"{name}-token" for name in names}

    exit_code, _, err = run_cli(root, "exec", "--due", "-j", "2", env=env)

    assert exit_code == 0, err
    for name in names:  # each kernel holds its own runbook's secret, whichever it was started for
        assert f"[{name}] reversed {f'{name}-token'[::-1]}\n" in err
        assert f"{name}-token" not in err  # masked wherever it would be printed
    records = stored(root)
    kernel_started = [float(t) for t in re.findall(r"^\[[a-z]+\] KERNEL_STARTED ([\d.]+)$", err, re.MULTILINE)]
    first_end = min(
        datetime.fromisoformat(record["finished_at"].replace("Z", "+00:00")).timestamp()
        for record in records.values()
    )
    assert len(kernel_started) == 3
    assert max(kernel_started) < first_end  # the third kernel started before a slot freed


# -- a fault of ours ---------------------------------------------------------------------------

WAITS_FOR_NOTHING = code(
    """
    import os, subprocess, time
    child = subprocess.Popen(["sleep", "300"])
    print("PIDS", os.getpid(), child.pid, flush=True)
    open("slow-started", "w").close()
    time.sleep(60)
    """,
    'name="wait"',
)
WAITS_FOR_SLOW = code(
    """
    import os, time
    for _ in range(1200):
        if os.path.exists("slow-started"):
            break
        time.sleep(0.1)
    print("quick done")
    """,
    'name="quick"',
)


@pytest.mark.kernel
def test_an_unexpected_error_stops_the_runs_going_on_as_interrupted_then_is_raised(make_project, capsys):
    from runbook.console import ExecObserver
    from runbook.run.execute import ExecOptions, plan
    from runbook.run.pool import run_plans
    from runbook.source.project import Project

    root = make_project(
        {
            "slow": runbook_md(WAITS_FOR_NOTHING, title="Slow"),
            "quick": runbook_md(WAITS_FOR_SLOW, title="Quick"),
            "next": runbook_md(SLEEPS, title="Next"),
            "last": runbook_md(SLEEPS, title="Last"),
        }
    )
    project = Project(root)
    slugs = ("slow", "quick", "next", "last")
    plans = [plan(project, project.load(slug), ExecOptions()) for slug in slugs]
    ended = []

    def on_done(planned, outcome):
        ended.append(planned.runbook.slug)
        raise LookupError("a fault in what follows a run")

    with pytest.raises(LookupError, match="a fault in what follows a run"):
        run_plans(project, plans, lambda slug: ExecObserver, 2, on_done)

    err = capsys.readouterr().err
    pids = [int(pid) for pair in PIDS.findall(err) for pid in pair]
    try:
        assert ended == ["quick"]  # passed on before the fault; nothing after it
        records = stored(root)
        # "next" may have begun in quick's freed slot before the fault reached the batch
        statuses = {slug: r["status"] for slug, r in records.items() if slug != "next"}
        assert statuses == {"quick": "succeeded", "slow": "interrupted"}
        assert records.get("next", {"status": "interrupted"})["status"] == "interrupted"
        failure = records["slow"]["failure"]
        assert failure["step_name"] == "wait"
        assert failure["message"] == "interrupted (the batch stopped on an error: LookupError)"
        assert records["slow"]["exit_code"] == 130
        assert len(pids) == 2
        assert not any(running(pid) for pid in pids)
        assert processes_in(root) == []  # no kernel: neither the runs' nor the one started for "last"
    finally:
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
