"""Secrets never leak, faults lose nothing, concurrent runs stay intact (DESIGN.md, "Security model").

Real kernels, real signals and a real strict build: a canary secret given each way a
secret can be given appears in no file under runs/ and site/ and not on the terminal; a
kernel that dies gives a failed run with the reason; eight runs at once give eight
intact records and sixteen ledger lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from conftest import clean_env, code, params_cell, runbook_md, write_project
from test_exec import on_terminal

pytestmark = pytest.mark.kernel

CANARY = "canary-7f3c9e1d5b"
LEAKY = runbook_md(
    params_cell('token = ""  # secret: the API token')
    + "\n## Use it\n\n"
    + code(
        """
        import os, subprocess
        print("token is", token)
        print(subprocess.run(["sh", "-c", "echo child sees $RUNBOOK_SECRET_TOKEN"], capture_output=True, text=True).stdout)
        from IPython.display import HTML, display
        display(HTML(f"<b>{token}</b>"))
        {"token": token}
        """,
        'name="use"',
    )
    + "\n## Fail with it\n\n"
    + code('raise RuntimeError(f"bad token {token}")', 'name="fail"'),
    title="Leaky",
)


def run(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def files_containing(folder: Path, text: str) -> list[str]:
    needle = text.encode()
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("way", ["environment variable", "profile ${VAR}", "-p", "prompt"])
def test_canary_secret_reaches_no_file_and_no_terminal(tmp_path: Path, way: str) -> None:
    profile = {"parameters": {"token": "${LEAKY_TOKEN}"}} if way == "profile ${VAR}" else {}
    project = write_project(tmp_path / "p", {"ops/leaky": LEAKY}, {"local": profile})
    (project / "mkdocs.yml").write_text("site_name: Leaks\nplugins:\n  - search\n  - runbook\n", "utf-8")
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# Home\n", "utf-8")

    if way == "prompt":
        exit_code, out, screen = on_terminal(project, CANARY, "leaky", prompts=(b"Secret token",))
        err = screen
    else:
        args = ["-p", f"token={CANARY}"] if way == "-p" else []
        env = {"RUNBOOK_SECRET_TOKEN": CANARY} if way == "environment variable" else {"LEAKY_TOKEN": CANARY}
        done = run(project, "exec", "leaky", *args, env=env)
        exit_code, out, err = done.returncode, done.stdout, done.stderr
    built = run(project, "build", "--strict")

    assert exit_code == 1  # the second step fails, naming the (masked) token
    assert "token is ••••••" in err and "child sees ••••••" in err
    assert CANARY not in out + err
    assert built.returncode == 0, built.stderr
    assert files_containing(project / "runs", CANARY) == []
    assert files_containing(project / "site", CANARY) == []
    record = json.loads(next((project / "runs" / "leaky").glob("*/record.json")).read_text("utf-8"))
    assert record["parameters"]["token"] == "••••••"
    assert record["failure"]["message"] == "bad token ••••••"
    assert record["redactions"] >= 4
    if way == "-p":
        assert "Warning: -p token: a secret on the command line lands in your shell history" in err


KERNEL_DEATHS = {
    "os._exit": ("import os\nos._exit(3)", "the kernel died (exited with status 3)"),
    "segfault": ("import ctypes\nctypes.string_at(0)", "the kernel died (killed by SIGSEGV)"),
}


@pytest.mark.parametrize("how", sorted(KERNEL_DEATHS))
def test_a_dying_kernel_gives_a_failed_run_with_the_reason(tmp_path: Path, how: str) -> None:
    source, reason = KERNEL_DEATHS[how]
    body = "## Start\n\n" + code("import os\nprint(os.getpid())", 'name="start"')
    body += (
        "\n## Die\n\n"
        + code(source, 'name="die"')
        + "\n## After\n\n"
        + code('print("after")', 'name="after"')
    )
    project = write_project(tmp_path / "p", {"dies": runbook_md(body, title="Dies")})

    done = run(project, "exec", "dies", "--json")

    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "failed"
    assert record["failure"]["step_name"] == "die"
    assert record["failure"]["exception"] == "DeadKernelError"
    assert record["failure"]["message"].startswith(reason)
    assert [s["status"] for s in record["steps"]] == ["succeeded", "failed", "skipped"]
    kernel_pid = int(done.stderr.split("▶ [1/3] start\n")[1].split("\n")[0])
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == psutil.STATUS_ZOMBIE


def test_eight_concurrent_runs_give_eight_intact_records(tmp_path: Path) -> None:
    body = "## Work\n\n" + code("import time\ntime.sleep(0.5)\nprint('done', n)", 'name="work"')
    project = write_project(
        tmp_path / "p", {"busy": runbook_md(params_cell("n = 0  # which run") + body, title="Busy")}
    )

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: run(project, "exec", "busy", "-p", f"n={i}", "--json"), range(8)))

    assert [r.returncode for r in results] == [0] * 8, [r.stderr[-300:] for r in results if r.returncode]
    records = [json.loads(p.read_text("utf-8")) for p in (project / "runs" / "busy").glob("*/record.json")]
    assert len(records) == 8
    assert sorted(r["parameters"]["n"] for r in records) == list(range(8))
    assert all(r["status"] == "succeeded" for r in records)
    ledger = [
        json.loads(line) for line in (project / "runs" / "ledger.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(ledger) == 16
    assert sorted(e["event"] for e in ledger) == ["end"] * 8 + ["start"] * 8
    assert {e["run_id"] for e in ledger} == {r["run_id"] for r in records}
    assert not list((project / "runs" / ".pending").iterdir())


def test_a_finished_run_asks_its_kernel_to_exit_and_hears_the_answer(tmp_path: Path) -> None:
    """A live kernel is asked to shut down and its answer is heard (it then gets the short
    grace period); a killed one is not asked."""
    from types import SimpleNamespace

    from jupyter_core.utils import run_sync

    from runbook.run.execute import _request_shutdown, _shutdown_answered
    from runbook.run.kernel import KernelProcess

    kernel = KernelProcess.start("python3", tmp_path)
    kc = kernel.client()
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        session = SimpleNamespace(client=SimpleNamespace(kc=kc))

        assert _request_shutdown(session, kernel) is True
        assert _shutdown_answered(session) is True
        assert _shutdown_answered(session) is False  # one answer per request
        kernel.kill()
        assert _request_shutdown(session, kernel) is False
    finally:
        kernel.stop(grace_s=0)
        kc.stop_channels()


def test_a_kernel_asked_to_shut_down_exits_by_itself_every_time(tmp_path: Path) -> None:
    """ipykernel's exit handlers can stop its IOPub thread while the control thread still
    flushes through it; the flush then hangs for 10 s and ``runbook exec`` kills the kernel
    (about one run in five here, before the launcher let the control thread finish). Each
    of these kernels must exit on its own, cleanly, without that timeout."""
    from jupyter_core.utils import run_sync

    from runbook.run.kernel import KernelProcess

    for attempt in range(20):
        kernel = KernelProcess.start("python3", tmp_path)
        kc = kernel.client()
        kc.start_channels()
        try:
            run_sync(kc.wait_for_ready)(timeout=60)
            run_cell = run_sync(kc.execute_interactive)
            reply = run_cell("print('step output')", timeout=60, output_hook=lambda msg: None)
            assert reply["content"]["status"] == "ok"
            kc.shutdown()
            code = kernel.process.wait(timeout=60)
            log = kernel.log_path.read_text("utf-8", "replace")
        finally:
            kernel.stop(grace_s=0)
            kc.stop_channels()
        assert "IOStream.flush timed out" not in log, f"attempt {attempt + 1}: {log}"
        assert code == 0, f"attempt {attempt + 1}: exit code {code}: {log}"


def test_what_a_runbook_leaves_open_is_finished_when_its_kernel_exits(tmp_path: Path, run_cli) -> None:
    """The kernel keeps the collector off what it loaded itself, not off the runbook's
    objects: at exit a file a step left open has its buffered line written, and an object
    only the collector can free (a reference cycle) has its finalizer run, as on any exit."""
    body = code(
        """
        from pathlib import Path
        log = open(Path.cwd() / "left-open.txt", "w")  # buffered, never closed
        log.write("written before the kernel exited\\n")
        class Holder:
            def __del__(self, open=open, path=str(Path.cwd() / "finalized.txt")):
                with open(path, "w") as out:  # names bound now: the namespace is gone by then
                    out.write("finalized")
        holder = Holder()
        holder.itself = holder  # a cycle: only the collector frees it
        """
    )
    project = write_project(tmp_path / "project", {"leaves-open": runbook_md(body)})

    exit_code, _, err = run_cli(project, "exec", "leaves-open")

    assert exit_code == 0, err
    assert (project / "left-open.txt").read_text("utf-8") == "written before the kernel exited\n"
    assert (project / "finalized.txt").read_text("utf-8") == "finalized"
