"""A shared run store on S3: runs from several machines meet in one history (DESIGN.md, "Run store").

The store is real S3 over HTTP: moto's standalone server on 127.0.0.1, reached by s3fs
through the standard AWS variables (``AWS_ENDPOINT_URL`` as for MinIO or R2). Runs are
real ``runbook exec`` processes with real kernels. Two clones of a project write runs of
the same runbook at the same moment and a third clone sees all of them; a second build
reads no record or notebook again (counted in the server's request log); a store that
goes away while a run is running, or is out of reach from the start, leaves the run in
the local outbox with one line and exit code 75 (or the run's own); an object that is
not a record is skipped and named; the secret key never shows anywhere.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import clean_env, code, error_line, finish, params_cell, run_cli_in, runbook_md, write_project

from runbook.render.pages import HISTORY

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

#: The fake secret key every command gets: it must never be written or printed anywhere.
SECRET_KEY = "fake-secret-Rq7vX2pZ9kLm4Tn8wJ"
ACCESS_KEY = "AKIARUNBOOKTEST0001"

HELLO = runbook_md(
    params_cell("who = 'nobody'") + "\n## Greet\n\n" + code("print(f'hello from {who}')", 'name="greet"'),
    title="Say hello",
)
SLOW = runbook_md(
    "## Wait\n\n" + code("import time\nprint('waiting', flush=True)\ntime.sleep(4)", 'name="wait"'),
    title="Takes a while",
)
BROKEN = runbook_md(
    "## Fail\n\n" + code("raise RuntimeError('the disk is full')", 'name="fail"'), title="Fails"
)


class RequestLog(logging.Handler):
    """Every request the moto server answers, as werkzeug logs it (``"GET /bucket/key HTTP/1.1" 200``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def since(self, start: int, bucket: str) -> list[str]:
        """The request lines (``GET /bucket/...``) for ``bucket`` logged after position ``start``."""
        found = []
        for line in self.lines[start:]:
            if f" /{bucket}" in line and '"' in line:
                found.append(line.split('"')[1].split(" HTTP/")[0])
        return found


@dataclass
class S3:
    """The moto server, its request log and a client to look into buckets."""

    host: str
    port: int
    server: Any
    log: RequestLog
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"runs-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        """A new server on the same port; the buckets live in this process, so they are still there."""
        self.server = moto_server.ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self.server.start()

    def env(self, bucket: str | None = None, **extra: str | None) -> dict[str, str | None]:
        """The environment of a command using this server: standard AWS variables, few retries."""
        env: dict[str, str | None] = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_MAX_ATTEMPTS": "2",
            "AWS_PROFILE": None,
            "AWS_SESSION_TOKEN": None,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        }
        if bucket is not None:
            env["RUNBOOK_RUNS"] = f"s3://{bucket}/runs"
        env.update(extra)
        return env


def start_s3() -> S3:
    log = RequestLog()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(log)
    werkzeug.setLevel(logging.INFO)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3(host, port, server, log)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1, for the whole module."""
    found = start_s3()
    yield found
    found.stop()
    logging.getLogger("werkzeug").removeHandler(found.log)


@pytest.fixture
def own_s3() -> Iterator[S3]:
    """A server of its own, for a test that stops it."""
    found = start_s3()
    yield found
    found.stop()
    logging.getLogger("werkzeug").removeHandler(found.log)


def shared_project(root: Path, bucket: str, runbooks: dict[str, str]) -> Path:
    """A project whose mkdocs.yml names the shared store (``plugins.runbook.runs``)."""
    write_project(root, runbooks)
    (root / "mkdocs.yml").write_text(
        f"site_name: Team handbook\ndocs_dir: docs\nplugins:\n  - runbook:\n      runs: s3://{bucket}/runs\n",
        "utf-8",
    )
    (root / "docs").mkdir()
    return root


def assert_no_secret(*texts: str, folders: tuple[Path, ...] = ()) -> None:
    """The secret key is in none of ``texts`` and in no file below ``folders``."""
    for text in texts:
        assert SECRET_KEY not in text
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert SECRET_KEY.encode() not in path.read_bytes(), path


# -- many machines, one history ---------------------------------------------------------------


@dataclass
class History:
    """Two clones that ran ``hello`` 8 times each at the same moment, into one bucket."""

    bucket: str
    outputs: list[str]
    clones: list[Path]


@pytest.fixture(scope="module")
def history(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> History:
    bucket = s3.new_bucket()
    base = tmp_path_factory.mktemp("clones")
    clones = [shared_project(base / name, bucket, {"hello": HELLO}) for name in ("alice", "bob")]
    loop = 'for i in 1 2 3 4 5 6 7 8; do "$0" -m runbook exec hello -p who="$1" || exit $?; done'
    processes = [
        subprocess.Popen(
            ["sh", "-c", loop, sys.executable, clone.name],
            cwd=clone,
            env=clean_env(s3.env()),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    outputs = []
    for process in processes:
        out, err = finish(process, timeout=240)
        assert process.returncode == 0, err
        outputs += [out, err]
    return History(bucket, outputs, clones)


def test_runs_from_two_clones_at_the_same_moment_meet_in_one_history(
    s3: S3, history: History, tmp_path: Path
) -> None:
    third = shared_project(tmp_path / "carol", history.bucket, {"hello": HELLO})

    exit_code, out, err = run_cli_in(third, "runs", "--json", "-n", "100", env=s3.env())

    assert exit_code == 0, err
    runs = json.loads(out)
    assert len(runs) == 16
    assert len({r["run_id"] for r in runs}) == 16
    assert {r["status"] for r in runs} == {"succeeded"}
    assert sorted(r["parameters"]["who"] for r in runs) == ["alice"] * 8 + ["bob"] * 8
    keys = s3.keys(history.bucket)
    assert len([k for k in keys if k.endswith("/record.json")]) == 16
    assert len([k for k in keys if k.endswith("/notebook.ipynb")]) == 16
    assert not [k for k in keys if "/.pending/" in k]  # every marker removed at commit
    for clone in history.clones:  # nothing went to a clone's outbox or a local folder
        assert not (clone / ".runbook" / "outbox").exists()
        assert not (clone / "runs").exists()


def test_a_third_clone_builds_every_run_and_a_second_build_reads_no_record_again(
    s3: S3, history: History, tmp_path: Path
) -> None:
    third = shared_project(tmp_path / "carol", history.bucket, {"hello": HELLO})

    start = len(s3.log.lines)
    exit_code, out, err = run_cli_in(third, "build", "--strict", env=s3.env())
    first = s3.log.since(start, history.bucket)

    assert exit_code == 0, err
    run_ids = sorted(k.split("/")[2] for k in s3.keys(history.bucket) if k.endswith("/record.json"))
    newest = run_ids[-HISTORY:]  # the runbook's page keeps the newest runs, each with a page
    run_pages = sorted(p.parent.name for p in (third / "site" / "runs" / "hello").glob("*/index.html"))
    assert run_pages == newest
    page = (third / "site" / "runs" / "hello" / newest[-1] / "index.html").read_text("utf-8")
    assert "hello from" in page  # the executed notebook's output, read from the bucket
    runbook_page = (third / "site" / "runbooks" / "hello" / "index.html").read_text("utf-8")
    assert all(run_id in runbook_page for run_id in newest)
    listings = [r for r in first if r.startswith("GET") and "list-type=2" in r]
    record_reads = [r for r in first if r.startswith("GET") and r.endswith("/record.json")]
    notebook_reads = [r for r in first if r.startswith("GET") and r.endswith("/notebook.ipynb")]
    assert len(listings) == 1  # one listing of 32 keys, never one request per run
    assert len(record_reads) == len(set(record_reads)) == 16  # each record once
    assert sorted(r.split("/")[-2] for r in notebook_reads) == newest  # only the notebooks shown

    start = len(s3.log.lines)
    exit_code, _, err = run_cli_in(third, "build", "--strict", env=s3.env())
    second = s3.log.since(start, history.bucket)

    assert exit_code == 0, err
    assert [r for r in second if "list-type=2" not in r] == []  # only the listing: no record, no notebook
    assert len(second) == 1
    assert sorted(p.parent.name for p in (third / "site" / "runs" / "hello").glob("*/index.html")) == newest
    objects = [s3.read(history.bucket, key).decode() for key in s3.keys(history.bucket)]
    assert_no_secret(out, err, *history.outputs, *objects, folders=(third, *history.clones))


# -- nothing lost when the network is ---------------------------------------------------------


def test_a_run_whose_store_goes_away_while_it_runs_is_kept_in_the_outbox(own_s3: S3, tmp_path: Path) -> None:
    bucket = own_s3.new_bucket()
    project = write_project(tmp_path / "project", {"slow": SLOW})
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "exec", "slow"],
        cwd=project,
        env=clean_env(own_s3.env(bucket)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not [k for k in own_s3.keys(bucket) if k.startswith("runs/.pending/")]:
        assert process.poll() is None and time.monotonic() < deadline, "the run never began in the bucket"
        time.sleep(0.1)
    (marker,) = own_s3.keys(bucket)
    run_id = marker.removeprefix("runs/.pending/").removesuffix(".json")
    own_s3.stop()  # while the step sleeps

    out, err = finish(process, timeout=120)

    assert process.returncode == 75, err
    (line,) = [line for line in err.splitlines() if line.startswith("Error: ")]
    reason = line.split(" there (")[1].split("); it ended")[0]
    assert line == (
        f"Error: s3://{bucket}/runs: cannot store the run there ({reason}); "
        f"it ended as succeeded (exit code 0) and is kept in .runbook/outbox/slow/{run_id}; "
        "`runbook runs push` sends it"
    )
    assert "Could not connect" in reason
    assert "✔ succeeded" in err and "Traceback" not in err and "Warning" not in err
    kept = project / ".runbook" / "outbox" / "slow" / run_id
    assert json.loads((kept / "record.json").read_text("utf-8"))["status"] == "succeeded"
    assert "waiting" in (kept / "notebook.ipynb").read_text("utf-8")

    own_s3.restart()
    assert own_s3.keys(bucket) == [marker]  # the shared store never got the run, only its start
    exit_code, runs_out, runs_err = run_cli_in(project, "runs", "--json", env=own_s3.env(bucket))
    assert exit_code == 0, runs_err
    runs = json.loads(runs_out)
    assert [(r["run_id"], r["status"]) for r in runs] == [(run_id, "succeeded")]  # once, not also abandoned
    assert_no_secret(out, err, runs_out, runs_err, folders=(project,))


def test_a_store_out_of_reach_from_the_start_warns_once_and_the_run_keeps_its_exit_code(
    s3: S3, tmp_path: Path
) -> None:
    dead = "http://127.0.0.1:1"  # a privileged port where nothing listens (never a kernel's port)
    project = write_project(tmp_path / "project", {"broken": BROKEN})
    env = s3.env("runs-nowhere", AWS_ENDPOINT_URL=dead)

    exit_code, out, err = run_cli_in(project, "exec", "broken", env=env)

    assert exit_code == 1, err  # the run's own outcome comes first
    warnings = [line for line in err.splitlines() if line.startswith("Warning: ")]
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert (
        len(warnings) == 1 and "s3://runs-nowhere/runs: the shared run store is out of reach" in warnings[0]
    )
    assert len(errors) == 1
    (kept,) = (project / ".runbook" / "outbox" / "broken").iterdir()
    assert errors[0].endswith(
        f"it ended as failed (exit code 1) and is kept in .runbook/outbox/broken/{kept.name}; "
        "`runbook runs push` sends it"
    )
    assert json.loads((kept / "record.json").read_text("utf-8"))["failure"]["message"] == "the disk is full"
    assert not (project / ".runbook" / "outbox" / ".pending" / kept.name).exists()
    assert_no_secret(out, err, folders=(project,))


def test_json_still_prints_the_record_of_a_run_kept_in_the_outbox(s3: S3, tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"broken": BROKEN})
    env = s3.env("runs-nowhere", AWS_ENDPOINT_URL="http://127.0.0.1:1")

    exit_code, out, err = run_cli_in(project, "exec", "broken", "--json", env=env)

    assert exit_code == 1, err
    record = json.loads(out)
    assert (record["status"], record["failure"]["message"]) == ("failed", "the disk is full")
    assert (project / ".runbook" / "outbox" / "broken" / record["run_id"] / "record.json").is_file()


# -- abandoned runs ----------------------------------------------------------------------------


def pending_marker(run_id: str, started: datetime, *, host: str, time_limit_s: float | None) -> bytes:
    """A pending marker as another machine writes it (``<prefix>/.pending/<run_id>.json``)."""
    return json.dumps(
        {
            "runbook": {
                "slug": "slow",
                "path": "runbooks/slow.md",
                "title": "Takes a while",
                "code_hash": "0",
            },
            "environment": None,
            "parameters": {},
            "started_at": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "operator": {"user": "ci", "host": host},
            "run_id": run_id,
            "host": host,
            "boot_time": 1.0,
            "pid": 4242,
            "pid_started": 1.0,
            "time_limit_s": time_limit_s,
        }
    ).encode()


def test_runs_that_never_ended_are_abandoned_here_at_once_and_elsewhere_past_their_time_limit(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    now = datetime.now(timezone.utc)
    client = s3.client()
    late, running = "20261129T090000.000Z-0ld0ld", "20261130T000000.000Z-fre5h0"
    client.put_object(
        Bucket=bucket,
        Key=f"runs/.pending/{late}.json",
        Body=pending_marker(late, now - timedelta(hours=2), host="ci-runner-7", time_limit_s=1800),
    )
    client.put_object(
        Bucket=bucket,
        Key=f"runs/.pending/{running}.json",
        Body=pending_marker(running, now - timedelta(minutes=10), host="ci-runner-7", time_limit_s=3600),
    )
    project = write_project(tmp_path / "project", {"slow": SLOW})
    kernel_dirs = set(Path(tempfile.gettempdir()).glob("runbook-kernel-*"))
    process = subprocess.Popen(
        [sys.executable, "-m", "runbook", "exec", "slow"],
        cwd=project,
        env=clean_env(s3.env(bucket)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = ""
        for line in process.stderr:  # type: ignore[union-attr]
            said += line
            if line.strip() == "waiting":  # the step is running: the run has begun in the bucket
                break
        assert "waiting" in said, said
    finally:
        process.kill()  # SIGKILL: no chance to commit or remove its marker
        process.communicate()
    killed = next(
        k for k in s3.keys(bucket) if k.startswith("runs/.pending/") and late not in k and running not in k
    )

    exit_code, out, err = run_cli_in(project, "runs", "--json", env=s3.env(bucket))

    for folder in set(Path(tempfile.gettempdir()).glob("runbook-kernel-*")) - kernel_dirs:
        shutil.rmtree(folder, ignore_errors=True)
    assert exit_code == 0, err
    runs = [(r["run_id"], r["status"], r["finished_at"]) for r in json.loads(out)]
    killed_id = killed.removeprefix("runs/.pending/").removesuffix(".json")
    assert runs == [(killed_id, "abandoned", None), (late, "abandoned", None)]  # not the one still in time


# -- reading -----------------------------------------------------------------------------------


def test_an_object_that_is_not_a_record_is_skipped_with_a_warning_naming_it(
    s3: S3, history: History, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    client = s3.client()
    good = next(k for k in s3.keys(history.bucket) if k.endswith("/record.json"))
    client.put_object(Bucket=bucket, Key=good, Body=s3.read(history.bucket, good))
    bad = "runs/hello/20261129T080000.000Z-0badc0/record.json"
    client.put_object(Bucket=bucket, Key=bad, Body=b'{"schema": 1, "run_id": ')
    project = write_project(tmp_path / "project", {"hello": HELLO})

    exit_code, out, err = run_cli_in(project, "runs", "--json", env=s3.env(bucket))

    assert exit_code == 0, err
    assert [r["run_id"] for r in json.loads(out)] == [good.split("/")[2]]
    (warning,) = err.splitlines()
    assert warning.startswith(f"Warning: s3://{bucket}/{bad}: unreadable run record (")
    assert warning.endswith("); skipped, move it aside")


def test_a_url_whose_package_is_missing_says_what_to_install(s3: S3, tmp_path: Path) -> None:
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    project = write_project(tmp_path / "project", {"hello": HELLO})

    exit_code, out, err = run_cli_in(project, "list", env={"RUNBOOK_RUNS": "gs://team-bucket/runs"})

    assert exit_code == 2
    assert error_line(err) == (
        "Error: gs://team-bucket/runs: reading runs from Google Cloud Storage needs gcsfs; "
        "pip install 'runbook-docs[gcs]'"
    )
