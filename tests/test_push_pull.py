"""``runbook runs push`` and ``runbook runs pull``: runs travel between folders and stores.

Runs are written by hand in the documented store format (``<slug>/<run_id>/record.json``
and ``notebook.ipynb``), so these tests need no kernel. A push or a pull between two
folders is allowed (a shared network folder, a migration), so most tests use two real
folders. The runs kept in the outbox go to a shared store named by a URL: real S3 over
HTTP, moto's server from ``test_shared_store``, reached through the standard AWS variables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, code, error_line, run_cli_in, runbook_md, write_record

HELLO = runbook_md("## Greet\n\n" + code('print("hello")'), title="Say hello", schedule="daily")
NOTES = runbook_md("## Look\n\n" + code("print(1)"), title="Notes")
PUSH = runbook_md("## Push\n\n" + code("print('push')"), title="A runbook named push")

Invoke = Callable[..., Result]


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    return make_project({"hello": HELLO, "notes": NOTES, "push": PUSH})


def three_runs(project: Path) -> list[dict[str, Any]]:
    """Three finished runs in the project's ``runs/`` folder, oldest first; one with a notebook."""
    now = datetime.now(timezone.utc)
    records = [
        write_record(project, "hello", code_hash="h", started=now - timedelta(hours=3), suffix="aaaaaa"),
        write_record(
            project,
            "notes",
            code_hash="n",
            status="failed",
            started=now - timedelta(hours=2),
            suffix="bbbbbb",
        ),
        write_record(project, "hello", code_hash="h", started=now - timedelta(hours=1), suffix="cccccc"),
    ]
    notebook = {"cells": [], "metadata": {"papermill": {"status": "ok"}}, "nbformat": 4, "nbformat_minor": 5}
    first = records[0]
    (project / "runs" / "hello" / first["run_id"] / "notebook.ipynb").write_text(
        json.dumps(notebook), "utf-8"
    )
    return records


def stored(folder: Path) -> dict[str, dict[str, Any]]:
    """Every stored run's record under ``folder``, by run id."""
    return {path.parent.name: json.loads(path.read_text("utf-8")) for path in folder.glob("*/*/record.json")}


def notebook_of(folder: Path, record: dict[str, Any]) -> Any:
    path = folder / record["runbook"]["slug"] / record["run_id"] / "notebook.ipynb"
    return json.loads(path.read_text("utf-8")) if path.exists() else None


# -- push --from FOLDER -----------------------------------------------------------------


def test_push_from_a_folder_copies_every_run_into_an_empty_store(project: Path, invoke: Invoke) -> None:
    records = three_runs(project)
    shared = project / "shared"

    exit_code, out, err = invoke(project, "runs", "push", "--from", "runs", env={"RUNBOOK_RUNS": "shared"})

    assert exit_code == 0, err
    assert out == ""
    assert err.splitlines() == [
        f"pushed hello {records[0]['run_id']} (succeeded)",
        f"pushed notes {records[1]['run_id']} (failed)",
        f"pushed hello {records[2]['run_id']} (succeeded)",
        f"pushed 3 runs to {shared}",
    ]
    assert stored(shared) == {r["run_id"]: r for r in records}  # each record as it was
    assert notebook_of(shared, records[0]) == notebook_of(project / "runs", records[0])
    assert notebook_of(shared, records[1]) is None
    assert len(stored(project / "runs")) == 3  # a migration leaves the source as it is


def test_a_second_push_copies_nothing_and_says_so(project: Path, invoke: Invoke) -> None:
    records = three_runs(project)
    env = {"RUNBOOK_RUNS": "shared"}
    assert invoke(project, "runs", "push", "--from", "runs", env=env)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in (project / "shared").glob("*/*/*")}  # the runs' files
    newer = write_record(project, "notes", code_hash="n", suffix="dddddd")

    first = invoke(project, "runs", "push", "--from", "runs", env=env)
    again = invoke(project, "runs", "push", "--from", "runs", env=env)

    shared = project / "shared"
    assert first == (
        0,
        "",
        f"pushed notes {newer['run_id']} (succeeded)\npushed 1 run to {shared}; 3 were there already\n",
    )
    assert again == (0, "", f"pushed nothing to {shared}: all 4 runs were there already\n")
    assert stored(shared) == {r["run_id"]: r for r in [*records, newer]}
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was written again"


def test_push_never_replaces_a_run_the_store_has(project: Path, invoke: Invoke) -> None:
    record = three_runs(project)[0]
    theirs = project / "shared" / "hello" / record["run_id"] / "record.json"
    theirs.parent.mkdir(parents=True)
    theirs.write_text(json.dumps({**record, "environment": "theirs"}), "utf-8")

    exit_code, _, err = invoke(project, "runs", "push", "--from", "runs", env={"RUNBOOK_RUNS": "shared"})

    assert exit_code == 0, err
    assert err.splitlines()[-1] == f"pushed 2 runs to {project / 'shared'}; 1 was there already"
    assert json.loads(theirs.read_text("utf-8"))["environment"] == "theirs"


def test_push_to_the_local_run_store_has_nothing_to_push_to(project: Path, invoke: Invoke) -> None:
    three_runs(project)

    exit_code, out, err = invoke(project, "runs", "push")

    assert (exit_code, out) == (2, "")
    assert error_line(err) == (
        "Error: nothing to push to: the run store is the folder runs, where runs are stored as they end; "
        "set plugins.runbook.runs to a URL (s3://bucket/prefix) or RUNBOOK_RUNS to the shared store, "
        "or pass --from FOLDER to copy a folder's runs into this one"
    )


def test_push_from_the_store_itself_or_a_missing_folder_is_refused(project: Path, invoke: Invoke) -> None:
    three_runs(project)

    itself = invoke(project, "runs", "push", "--from", "runs")
    missing = invoke(project, "runs", "push", "--from", "old-runs", env={"RUNBOOK_RUNS": "shared"})

    assert itself[0] == 2
    assert error_line(itself[2]) == (
        "Error: runs: is the project's run store itself; "
        "pass another folder with --from, or set RUNBOOK_RUNS to the store to push to"
    )
    assert missing[0] == 2
    assert "old-runs" in error_line(missing[2])
    assert not (project / "shared").exists()


def test_a_store_that_cannot_be_written_stops_the_push_with_74(project: Path, invoke: Invoke) -> None:
    three_runs(project)
    shared = project / "shared"
    shared.mkdir()
    (shared / "notes").write_text("a file where the runbook's folder should be", "utf-8")

    exit_code, _, err = invoke(project, "runs", "push", "--from", "runs", env={"RUNBOOK_RUNS": "shared"})

    assert exit_code == 74
    lines = err.splitlines()
    assert lines[0].startswith("pushed hello ")  # the oldest run went before the store failed
    assert lines[-1].startswith(f"Error: {shared}: the shared run store cannot be reached (")
    assert lines[-1].endswith(
        "pushed 1 run before that; check the network and the store's credentials, "
        "then run `runbook runs push` again"
    )
    assert len(stored(shared)) == 1


# -- pull --to FOLDER -------------------------------------------------------------------


def test_pull_copies_the_history_into_a_folder_and_keeps_what_is_there(project: Path, invoke: Invoke) -> None:
    records = three_runs(project)
    offline = project / "offline"
    mine = offline / "hello" / records[2]["run_id"] / "record.json"
    mine.parent.mkdir(parents=True)
    mine.write_text(json.dumps({**records[2], "environment": "mine"}), "utf-8")

    first = invoke(project, "runs", "pull", "--to", "offline")
    again = invoke(project, "runs", "pull", "--to", "offline")

    runs = project / "runs"
    assert first == (
        0,
        "",
        f"pulled hello {records[0]['run_id']} (succeeded)\n"
        f"pulled notes {records[1]['run_id']} (failed)\n"
        f"pulled 2 runs from {runs} into offline; 1 was there already\n",
    )
    assert again == (0, "", f"pulled nothing from {runs} into offline: all 3 runs were there already\n")
    assert stored(offline)[records[0]["run_id"]] == records[0]
    assert notebook_of(offline, records[0]) == notebook_of(runs, records[0])
    assert json.loads(mine.read_text("utf-8"))["environment"] == "mine"  # never overwritten


def test_pulled_runs_are_read_back_as_history(project: Path, invoke: Invoke) -> None:
    records = three_runs(project)
    assert invoke(project, "runs", "pull", "--to", "offline")[0] == 0

    exit_code, out, err = invoke(project, "runs", "--json", env={"RUNBOOK_RUNS": "offline"})

    assert exit_code == 0, err
    assert json.loads(out) == list(reversed(records))


def test_pull_into_the_store_itself_is_refused(project: Path, invoke: Invoke) -> None:
    exit_code, _, err = invoke(project, "runs", "pull", "--to", "runs")

    assert exit_code == 2
    assert error_line(err) == (
        "Error: runs: is the project's run store itself; pull into another folder (--to DIR)"
    )


def test_pull_needs_a_folder(project: Path, invoke: Invoke) -> None:
    exit_code, _, err = invoke(project, "runs", "pull")

    assert exit_code == 2
    assert "Missing option '--to'" in err


# -- runs [NAME] still lists history ----------------------------------------------------


def test_runs_name_still_lists_history_and_help_names_push_and_pull(project: Path, invoke: Invoke) -> None:
    records = three_runs(project)
    named_push = write_record(project, "push", code_hash="p")

    by_name = invoke(project, "runs", "hello", "-n", "1", "--json")
    options_first = invoke(project, "runs", "-n", "2", "--json")
    by_path = invoke(project, "runs", "runbooks/push.md", "--json")
    help_code, help_text, _ = invoke(project, "runs", "--help")

    assert by_name[0] == 0, by_name[2]
    assert [r["run_id"] for r in json.loads(by_name[1])] == [records[2]["run_id"]]
    assert [r["run_id"] for r in json.loads(options_first[1])] == [named_push["run_id"], records[2]["run_id"]]
    assert [r["run_id"] for r in json.loads(by_path[1])] == [named_push["run_id"]]
    assert help_code == 0
    assert "runs [OPTIONS] [NAME]" in help_text
    assert "--limit" in help_text
    assert "push  Send the runs kept on this machine" in help_text
    assert "pull  Copy the shared run history" in help_text
    assert "runbook runs runbooks/push.md" in " ".join(help_text.split())


# -- a shared store on S3 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """moto's S3 server on 127.0.0.1 (as ``test_shared_store`` starts it), for the module."""
    shared_store = pytest.importorskip("test_shared_store")
    server = shared_store.start_s3()
    yield server
    server.stop()
    logging.getLogger("werkzeug").removeHandler(server.log)


def keep_in_outbox(project: Path, record: dict[str, Any], notebook: dict[str, Any] | None = None) -> Path:
    """Move a run written by :func:`write_record` into the outbox, as a run the store could not take."""
    slug, run_id = record["runbook"]["slug"], record["run_id"]
    folder = project / ".runbook" / "outbox" / slug / run_id
    folder.parent.mkdir(parents=True, exist_ok=True)
    (project / "runs" / slug / run_id).rename(folder)
    if notebook is not None:
        (folder / "notebook.ipynb").write_text(json.dumps(notebook), "utf-8")
    return folder


def test_runs_kept_in_the_outbox_go_to_s3_and_leave_the_outbox_once_stored(project: Path, s3: Any) -> None:
    bucket = s3.new_bucket()
    records = three_runs(project)
    notebook = json.loads((project / "runs" / "hello" / records[0]["run_id"] / "notebook.ipynb").read_text())
    kept = [keep_in_outbox(project, r) for r in records[:2]]
    env = s3.env(bucket)

    exit_code, out, err = run_cli_in(project, "runs", "push", env=env)
    again = run_cli_in(project, "runs", "push", env=env)

    assert (exit_code, out) == (0, ""), err
    assert err.splitlines() == [
        f"pushed hello {records[0]['run_id']} (succeeded)",
        f"pushed notes {records[1]['run_id']} (failed)",
        f"pushed 2 runs to s3://{bucket}/runs",
    ]
    first, second = (f"runs/{r['runbook']['slug']}/{r['run_id']}" for r in records[:2])
    assert s3.keys(bucket) == [f"{first}/notebook.ipynb", f"{first}/record.json", f"{second}/record.json"]
    assert json.loads(s3.read(bucket, f"{first}/record.json")) == records[0]  # as it was
    assert json.loads(s3.read(bucket, f"{first}/notebook.ipynb")) == notebook
    assert not any(folder.exists() for folder in kept)
    assert not list((project / ".runbook" / "outbox").glob("*/*"))
    assert again == (0, "", f"pushed nothing to s3://{bucket}/runs: there are no runs in .runbook/outbox\n")
    assert len(stored(project / "runs")) == 1  # the local folder is not what is pushed


def test_a_store_out_of_reach_keeps_every_run_in_the_outbox_and_exits_74(project: Path, s3: Any) -> None:
    records = three_runs(project)
    kept = [keep_in_outbox(project, r) for r in records[:2]]
    before = {p: p.read_bytes() for folder in kept for p in folder.iterdir()}
    closed = s3.env("nowhere", AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")

    exit_code, out, err = run_cli_in(project, "runs", "push", env=closed)

    assert (exit_code, out) == (74, "")
    line = error_line(err)
    assert line.startswith("Error: s3://nowhere/runs: the shared run store cannot be reached (")
    assert line.endswith(
        "); the runs not yet pushed stay in .runbook/outbox; check the network and the store's "
        "credentials, then run `runbook runs push` again"
    )
    assert {p: p.read_bytes() for folder in kept for p in folder.iterdir()} == before


def test_pull_from_s3_copies_the_history_once(project: Path, s3: Any) -> None:
    bucket = s3.new_bucket()
    records = three_runs(project)
    env = s3.env(bucket)
    assert run_cli_in(project, "runs", "push", "--from", "runs", env=env)[0] == 0

    first = run_cli_in(project, "runs", "pull", "--to", "offline", env=env)
    again = run_cli_in(project, "runs", "pull", "--to", "offline", env=env)
    offline = run_cli_in(project, "runs", "--json", env={"RUNBOOK_RUNS": "offline"})
    closed = run_cli_in(
        project, "runs", "pull", "--to", "elsewhere", env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    )

    assert first[0] == 0, first[2]
    assert first[2].splitlines()[-1] == f"pulled 3 runs from s3://{bucket}/runs into offline"
    assert again == (
        0,
        "",
        f"pulled nothing from s3://{bucket}/runs into offline: all 3 runs were there already\n",
    )
    assert json.loads(offline[1]) == list(reversed(records))
    assert notebook_of(project / "offline", records[0]) == notebook_of(project / "runs", records[0])
    assert closed[0] == 74
    assert error_line(closed[2]).startswith(
        f"Error: s3://{bucket}/runs: the shared run store cannot be reached ("
    )
    assert not (project / "elsewhere").exists()
