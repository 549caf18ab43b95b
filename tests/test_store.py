"""The run store keeps going and never lies (DESIGN.md, "Run store").

A record written by another version of runbook still lists; one unreadable run is
skipped with a warning naming it while every other run still shows; a torn ledger line
never swallows the next one; a store that cannot be written stops the run with one line
and exit code 74 before any step runs, or after it, leaving nothing half-written and no
run reported as abandoned. The full disk and the read-only store are real: a tiny tmpfs
or a read-only mount where this machine allows mounting, and a file size limit (EFBIG)
or a ``runs`` path that is a file everywhere.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    clean_env,
    code,
    error_line,
    files_under,
    run_cli_in,
    runbook_md,
    write_project,
    write_record,
)

NOTES = runbook_md("## Look\n\n" + code("print('looked')", 'name="look"'), title="Notes", owner="ops")
DISK = runbook_md("## Measure\n\n" + code("print('measured')", 'name="check"'), title="Disk space")
BIG_OUTPUT = runbook_md(  # a 300 kB output in the notebook; the terminal shows one word of it
    "## Talk a lot\n\n"
    + code(
        "from IPython.display import display\n"
        "display({'text/plain': 'talked', 'text/html': '<p>' + 'x' * 300_000 + '</p>'}, raw=True)",
        'name="talk"',
    ),
    title="Talks a lot",
)
MARKS = runbook_md(
    "## Leave a mark\n\n" + code("open('ran.txt', 'w').write('ran')", 'name="mark"'), title="Leaves a mark"
)
NOW = datetime.now(timezone.utc)
UNREADABLE = re.compile(
    r"^(?:Warning: |WARNING runbook: )(runs/[\w-]+/[\w.-]+/record\.json): unreadable run record \((.+)\); "
    r"skipped, move it aside$",
    re.MULTILINE,
)


def code_hash(project: Path, slug: str) -> str:
    exit_code, out, err = run_cli_in(project, "show", slug, "--json")
    assert exit_code == 0, err
    return str(json.loads(out)["code_hash"])


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Two runbooks, each with one stored run (disk-space's is the newer)."""
    project = write_project(tmp_path / "project", {"notes": NOTES, "disk-space": DISK})
    write_record(project, "notes", code_hash=code_hash(project, "notes"), started=NOW - timedelta(hours=2))
    write_record(
        project, "disk-space", code_hash=code_hash(project, "disk-space"), started=NOW - timedelta(hours=1)
    )
    return project


def record_path(project: Path, slug: str) -> Path:
    (path,) = (project / "runs" / slug).glob("*/record.json")
    return path


def edit_record(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    record = json.loads(path.read_text("utf-8"))
    change(record)
    path.write_text(json.dumps(record, indent=2), "utf-8")


# -- records written by other versions ------------------------------------------------------


def test_a_record_with_fields_this_version_does_not_know_lists_shows_and_keeps_them(history: Path) -> None:
    def newer(record: dict[str, Any]) -> None:
        record["reviewed_by"] = {"user": "dana"}
        record["steps"][0]["retries"] = 2
        record["runbook"]["kernel"] = "python3"

    edit_record(record_path(history, "disk-space"), newer)

    listed = run_cli_in(history, "list")
    shown = run_cli_in(history, "show", "disk-space")
    runs = run_cli_in(history, "runs", "--json")

    assert (listed[0], listed[2]) == (0, "")
    assert re.search(r"^disk-space\s+runbook\s+Disk space\s+.*succeeded", listed[1], re.MULTILINE), listed[1]
    assert (shown[0], shown[2]) == (0, "")
    assert "succeeded" in shown[1]
    assert runs[0] == 0, runs[2]
    newest = json.loads(runs[1])[0]
    assert (newest["runbook"]["slug"], newest["reviewed_by"]) == ("disk-space", {"user": "dana"})


# -- unreadable records -----------------------------------------------------------------------

BREAKAGES: dict[str, Callable[[Path], None]] = {
    "truncated JSON": lambda path: path.write_text(path.read_text("utf-8")[:200], "utf-8"),
    "status of the wrong type": lambda path: edit_record(path, lambda r: r.update(status=5)),
    "steps of the wrong type": lambda path: edit_record(path, lambda r: r.update(steps="all fine")),
    "no schema": lambda path: edit_record(path, lambda r: r.pop("schema")),
    "schema not a number": lambda path: edit_record(path, lambda r: r.update(schema="1")),
    "not an object": lambda path: path.write_text("[]\n", "utf-8"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_an_unreadable_record_is_skipped_with_a_warning_naming_it(history: Path, breakage: str) -> None:
    broken = record_path(history, "disk-space")
    BREAKAGES[breakage](broken)
    named = broken.relative_to(history).as_posix()

    listed = run_cli_in(history, "list", "--json")
    runs = run_cli_in(history, "runs", "--json")
    shown = run_cli_in(history, "show", "disk-space", "--json")

    for exit_code, _, err in (listed, runs, shown):
        assert exit_code == 0, err
        assert {m.group(1) for m in UNREADABLE.finditer(err)} == {named}, err
        assert all(named in line for line in err.splitlines()), err  # nothing else, no traceback
    assert {s["slug"]: s["last_status"] for s in json.loads(listed[1])} == {
        "disk-space": None,
        "notes": "succeeded",
    }
    assert [r["runbook"]["slug"] for r in json.loads(runs[1])] == ["notes"]
    assert json.loads(shown[1])["runs"] == []


def test_the_site_builds_past_an_unreadable_record_and_warns(history: Path) -> None:
    (history / "mkdocs.yml").write_text("site_name: Handbook\nplugins:\n  - runbook\n", "utf-8")
    (history / "docs").mkdir()
    (history / "docs" / "index.md").write_text("# Home\n", "utf-8")
    broken = record_path(history, "disk-space")
    broken.write_text("{", "utf-8")

    exit_code, _, err = run_cli_in(history, "build")

    assert exit_code == 0, err
    assert {m.group(1) for m in UNREADABLE.finditer(err)} == {broken.relative_to(history).as_posix()}, err
    assert (history / "site" / "runbooks" / "notes" / "index.html").is_file()


# -- the ledger -------------------------------------------------------------------------------


@pytest.mark.kernel
def test_a_torn_ledger_line_does_not_swallow_the_next_entry(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"notes": NOTES})
    (project / "runs").mkdir()
    whole = json.dumps({"event": "start", "run_id": "20261130T010000.000Z-aaaaaa", "runbook": "notes"})
    torn = '{"event": "end", "run_id": "20261130T0100'  # a write cut short: no newline
    (project / "runs" / "ledger.jsonl").write_text(whole + "\n" + torn, "utf-8")

    exit_code, out, err = run_cli_in(project, "exec", "notes", "--json")

    assert exit_code == 0, err
    lines = (project / "runs" / "ledger.jsonl").read_text("utf-8").splitlines()
    assert lines[:2] == [whole, torn]
    entries = [json.loads(line) for line in lines[2:]]
    run_id = json.loads(out)["run_id"]
    assert [(e["event"], e["run_id"]) for e in entries] == [("start", run_id), ("end", run_id)]


# -- a store that cannot be written ------------------------------------------------------------


def mounted(target: Path, options: str) -> bool:
    """Mount a tmpfs with ``options`` at ``target``; False where this machine does not allow it."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, check=False
        )
    except OSError:
        return False
    return done.returncode == 0


@pytest.fixture
def mounts() -> Iterator[Callable[[Path, str], None]]:
    """``mount(target, options)`` a tmpfs, skipping the test where mounting is not allowed."""
    done: list[Path] = []

    def mount(target: Path, options: str) -> None:
        if not mounted(target, options):
            pytest.skip("mounting a tmpfs needs privileges this machine does not give")
        done.append(target)

    yield mount
    for target in reversed(done):
        subprocess.run(["umount", str(target)], check=False)


def exec_limited(project: Path, *args: str, file_size_limit: int | None = None) -> tuple[int, str, str]:
    """``runbook exec ARGS`` whose process may write no file larger than ``file_size_limit``."""

    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    done = subprocess.run(
        [sys.executable, "-m", "runbook", "exec", *args],
        cwd=project,
        env=clean_env(None),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("how", "reason"), [("runs is a file", "Not a directory"), ("read-only mount", "Read-only file system")]
)
def test_a_store_that_cannot_be_written_stops_the_run_before_any_step(
    tmp_path: Path, mounts: Callable[[Path, str], None], how: str, reason: str
) -> None:
    from test_exec import processes_in

    project = write_project(tmp_path / "project", {"marks": MARKS})
    if how == "runs is a file":
        (project / "runs").write_text("not a folder\n", "utf-8")
    else:
        mounts(project / "runs", "ro,size=64k")

    exit_code, out, err = run_cli_in(project, "exec", "marks")

    assert (exit_code, out) == (74, "")
    assert error_line(err) == f"Error: runs: the run store cannot be written ({reason}); nothing was run"
    assert not (project / "ran.txt").exists()
    assert processes_in(project) == []


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("how", "reason"), [("full disk", "No space left on device"), ("file size limit", "File too large")]
)
def test_a_run_that_cannot_be_stored_says_how_it_ended_and_leaves_nothing(
    tmp_path: Path, mounts: Callable[[Path, str], None], how: str, reason: str
) -> None:
    project = write_project(tmp_path / "project", {"talks": BIG_OUTPUT})
    runs = project / "runs"
    if how == "full disk":
        mounts(runs, "size=64k")  # room for the start of a run, not for its 300 kB notebook
        exit_code, out, err = exec_limited(project, "talks")
    else:
        exit_code, out, err = exec_limited(project, "talks", file_size_limit=128 * 1024)

    assert (exit_code, out) == (74, ""), err
    assert "▶ [1/1] talk" in err and "talked" in err
    last = err.splitlines()[-1]
    assert re.fullmatch(
        rf"Error: runs/talks/\d{{8}}T[\d.]+Z-[0-9a-f]{{6}}: cannot store the run \({reason}\); "
        r"it ended as succeeded \(exit code 0\), but nothing of it was kept",
        last,
    ), err
    assert files_under(runs) == {"ledger.jsonl"}
    assert [p.name for p in runs.rglob("*") if p.is_dir()] in ([], [".pending"])
    listed = run_cli_in(project, "runs", "--json")
    assert (listed[0], json.loads(listed[1])) == (0, [])
