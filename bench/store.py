"""Store figures: a site build reading its runs from a shared store, against a local one.

Loaded by ``run.py`` (``--only store`` runs this group alone). What is measured (DESIGN.md,
"Scale and performance"; listing the latest runs of 1,000 runbooks must not take one
request per run):

1. ``runbook build`` of 1,000 runbooks with 3 runs each, reading the runs from a shared
   store (``RUNBOOK_RUNS=s3://bucket/runs``, moto's S3 server on 127.0.0.1), against the
   same build reading them from the local store (``runs/``). Both warm: the render cache
   and the parse cache filled, and the shared store's local cache
   (``.runbook/cache/store/``) filled by the first build. Goal: at most 1.2x.
   The builds run interleaved (local, shared, local, ...) after the first build of each,
   which is timed for the record: the shared one downloads every record and notebook.
2. For the record: how many objects one build lists, how many HTTP requests one warm
   shared build makes (counted in the S3 server's request log), and how the store's read
   grows with the history: a listing and ``by_slug()`` (listing plus every record, from
   the local cache) in a fresh process, for 3 runs and for 10 runs per runbook.

The server runs as a child process (``python -m moto.server``) that logs every request
line to a file; it lives only for the group. The fake credentials and the endpoint are set
in the environment of the child processes only (every ``AWS_*`` variable of this process
is unset there, ``AWS_CONFIG_FILE`` and ``AWS_SHARED_CREDENTIALS_FILE`` point at
/dev/null), so nothing reaches real AWS. Without s3fs and moto the group says so in one
line and is skipped.

The project is generated in ``bench/.work/store-N/`` with the site group's generator (same
runbooks, the same cloned template run, one run per runbook per day), copied to
``store-N-shared/`` without its ``runs/`` folder, and its runs are uploaded into the bucket
with s3fs ``put`` (the layout of a local store and of an object store is the same).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness import BIN, CommandFailed, Group, Measurement, Variant, run, sample

WORK = Path(__file__).resolve().parent / ".work"
PYTHON = str(BIN / "python")
RUNBOOK = str(BIN / "runbook")
RUNBOOKS = 1000
RUNS_EACH = 3
GROWTH_EACH = 10  # runs per runbook of the second history, for the listing's growth
LIST_ROUNDS = 3
BUCKET = "runbook-bench"
ACCESS_KEY = "AKIARUNBOOKBENCH0001"
SECRET_KEY = "fake-bench-secret-not-a-real-key"
NEEDS = "needs s3fs and moto: pip install -e '.[s3,test]'; skipped"

# A fresh process opens the project's store and times a listing, then by_slug() (a
# listing plus every record, through the store's local cache). Prints: listing seconds,
# by_slug seconds, objects listed, records read.
LIST_CODE = """\
import time
from pathlib import Path
from runbook.source.project import Project
from runbook.store import project_store
store = project_store(Project(Path.cwd()))
shared = store.shared
start = time.perf_counter()
listing = shared.fs.find(shared.root, detail=True)
listed = time.perf_counter() - start
shared.fs.invalidate_cache()  # by_slug() lists again, as a build does
start = time.perf_counter()
grouped = store.by_slug()
read = time.perf_counter() - start
print(f"{listed:.4f} {read:.4f} {len(listing)} {sum(map(len, grouped.values()))}")
"""

UPLOAD_CODE = """\
import sys, s3fs
source, target = sys.argv[1], sys.argv[2]
fs = s3fs.S3FileSystem()
if not fs.exists(target.split("/")[0]):
    fs.mkdir(target.split("/")[0])
fs.put(source, target, recursive=True)
fs.rm(target + "/ledger.jsonl")  # the local store's audit trail; no object store has one
fs.invalidate_cache()
print(len(fs.find(target)))
"""


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("s3fs", "moto", "flask", "flask_cors"))


def child_env(endpoint: str, runs: str | None) -> list[str]:
    """``env`` arguments: this process's AWS_* and RUNBOOK_RUNS unset, fake credentials set."""
    unset = [f"--unset={k}" for k in sorted(os.environ) if k.startswith("AWS_") or k == "RUNBOOK_RUNS"]
    fake = [
        f"AWS_ACCESS_KEY_ID={ACCESS_KEY}",
        f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}",
        "AWS_DEFAULT_REGION=us-east-1",
        f"AWS_ENDPOINT_URL={endpoint}",
        "AWS_CONFIG_FILE=/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
        "AWS_EC2_METADATA_DISABLED=true",
    ]
    return ["env", *unset, *fake, *([f"RUNBOOK_RUNS={runs}"] if runs else [])]


class Moto:
    """moto's S3 server as a child process on 127.0.0.1, its request lines in a log file."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [
            *child_env(self.endpoint, None),
            PYTHON,
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        with log.open("w") as handle:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise CommandFailed(
                        argv, f"the S3 server did not start:\n{log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)

    def requests(self) -> list[str]:
        """Every request line for the bench's bucket so far (``GET /bucket/key``)."""
        found = []
        for line in self.log.read_text("utf-8", "replace").splitlines():
            if f" /{BUCKET}" in line and '"' in line:
                found.append(line.split('"')[1].split(" HTTP/")[0])
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load_site_module() -> Any:
    """bench/site.py (``import site`` would give the standard library's)."""
    module = sys.modules.get("site_bench")
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location("site_bench", Path(__file__).with_name("site.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def generate(
    site: Any, n: int, each: int, template: tuple[dict[str, Any], dict[str, Any]], now: datetime
) -> Path:
    """Project ``store-N``: the site group's project with ``each`` runs per runbook, a day apart."""
    from runbook.source.project import Project

    root = WORK / f"store-{n}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "docs").mkdir(parents=True)
    (root / "mkdocs.yml").write_text(
        site.MKDOCS_YML.format(n=n, docs_dir="docs", site_dir="site", plugins="  - search\n  - runbook"),
        "utf-8",
    )
    (root / "docs" / "index.md").write_text(site.INDEX_MD.format(n=n, per=site.PER_FOLDER), "utf-8")
    for i in range(n):
        path = root / site.runbook_rel(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(site.runbook_text(i), "utf-8")
    runbooks = Project(root).runbooks()  # fills the parse cache
    if len(runbooks) != n:
        raise RuntimeError(f"{root}: {len(runbooks)} runbooks parsed, expected {n}")
    write_runs(site, root / "runs", runbooks, each, template, now)
    return root


def write_runs(
    site: Any,
    folder: Path,
    runbooks: list[Any],
    each: int,
    template: tuple[dict[str, Any], dict[str, Any]],
    now: datetime,
) -> None:
    """``each`` cloned runs of every runbook into the local store at ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    ledger = []
    for runbook in runbooks:
        i = int(runbook.slug.removeprefix("rb-"))
        for day in range(each):
            run_id, record, notebook = site.clone_run(i, runbook, *template, now - timedelta(days=day))
            path = folder / runbook.slug / run_id
            path.mkdir(parents=True)
            (path / "notebook.ipynb").write_text(
                json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", "utf-8"
            )
            (path / "record.json").write_text(
                json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8"
            )
            ledger.append(
                {"event": "adopted", "run_id": run_id, "runbook": runbook.slug, "status": record["status"]}
            )
    (folder / "ledger.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ledger), "utf-8")


def upload(moto: Moto, source: Path, prefix: str) -> tuple[float, int]:
    """Copy a local store's runs to ``s3://BUCKET/prefix``; seconds taken and objects there."""
    argv = [*child_env(moto.endpoint, None), PYTHON, "-c", UPLOAD_CODE, str(source), f"{BUCKET}/{prefix}"]
    took, stdout = run(argv, WORK)
    return took, int(stdout.strip().splitlines()[-1])


def _kinds(lines: list[str]) -> str:
    """Request lines summed up by kind: listings, object reads, other."""
    listings = sum(1 for line in lines if line.startswith("GET ") and "list-type=2" in line)
    reads = sum(1 for line in lines if line.startswith("GET ") and "list-type=2" not in line)
    other = len(lines) - listings - reads
    return f"{listings} listings, {reads} object reads, {other} other"


def measure_store(build_runs: int) -> Group:
    if not available():
        return Group("store", [], [NEEDS])
    site = load_site_module()
    now = datetime.now(timezone.utc)
    print("store: one template run with runbook exec ...", file=sys.stderr)
    template = site.template_run()
    print(f"store: generating bench/.work/store-{RUNBOOKS} ({RUNS_EACH} runs each) ...", file=sys.stderr)
    local = generate(site, RUNBOOKS, RUNS_EACH, template, now)
    shared = WORK / f"store-{RUNBOOKS}-shared"
    shutil.rmtree(shared, ignore_errors=True)
    shutil.copytree(local, shared, ignore=lambda folder, names: ["runs"] if Path(folder) == local else [])
    moto = Moto(WORK / "moto.log")
    try:
        print("store: uploading the runs to the S3 server ...", file=sys.stderr)
        upload_s, objects = upload(moto, local / "runs", "runs")
        runs_url = f"s3://{BUCKET}/runs"
        build_local = Variant(
            "build, local store", [*child_env(moto.endpoint, None), RUNBOOK, "build"], local
        )
        build_shared = Variant(
            "build, shared store", [*child_env(moto.endpoint, runs_url), RUNBOOK, "build"], shared
        )

        print("store: first builds, local / shared (cold caches) ...", file=sys.stderr)
        cold_local = Variant(build_local.label + " (first)", build_local.argv, local)
        cold_shared = Variant(build_shared.label + " (first)", build_shared.argv, shared)
        before = len(moto.requests())
        sample([cold_local, cold_shared], 1, warm_up=False)
        time.sleep(0.5)
        cold_requests = moto.requests()[before:]

        print(f"store: warm builds, local / shared, interleaved, {build_runs} rounds", file=sys.stderr)
        sample([build_local, build_shared], build_runs, warm_up=False)  # the first builds warmed up
        before = len(moto.requests())
        run(build_shared.argv, shared)
        time.sleep(0.5)  # the server logs a request after answering it
        warm_requests = moto.requests()[before:]

        print(f"store: {GROWTH_EACH} runs each under s3://{BUCKET}/runs-x{GROWTH_EACH} ...", file=sys.stderr)
        from runbook.source.project import Project

        growth_folder = WORK / f"store-{RUNBOOKS}-x{GROWTH_EACH}-runs"
        write_runs(site, growth_folder, Project(local).runbooks(), GROWTH_EACH, template, now)
        growth_upload_s, growth_objects = upload(moto, growth_folder, f"runs-x{GROWTH_EACH}")
        reads = {
            each: Variant(
                f"store read, {each} runs each",
                [*child_env(moto.endpoint, f"s3://{BUCKET}/{prefix}"), PYTHON, "-c", LIST_CODE],
                shared,
                inner=True,
            )
            for each, prefix in ((RUNS_EACH, "runs"), (GROWTH_EACH, f"runs-x{GROWTH_EACH}"))
        }
        print(f"store: listing and by_slug(), {RUNS_EACH} / {GROWTH_EACH} runs each", file=sys.stderr)
        sample(list(reads.values()), LIST_ROUNDS)  # the warm-up fills the new prefix's cache
    finally:
        moto.stop()

    def median_field(variant: Variant, index: int) -> float:
        values = sorted(float(out.strip().splitlines()[-1].split()[index]) for out in variant.outputs)
        return values[len(values) // 2]

    small, large = reads[RUNS_EACH], reads[GROWTH_EACH]
    list_small = Variant(small.label, small.argv, shared, samples=[median_field(small, 0)])
    list_large = Variant(large.label, large.argv, shared, samples=[median_field(large, 0)])
    read_small = Variant(small.label, small.argv, shared, samples=[median_field(small, 1)])
    read_large = Variant(large.label, large.argv, shared, samples=[median_field(large, 1)])
    runs_total = RUNBOOKS * RUNS_EACH
    samples = "; ".join(
        f"{v.label} {', '.join(f'{x:.1f}' for x in v.samples)}" for v in (build_local, build_shared)
    )
    return Group(
        "store",
        [
            Measurement(
                f"build {RUNBOOKS} x{RUNS_EACH} runs, shared vs local", build_shared, build_local, 1.2
            ),
            Measurement("  first build (cold caches)", cold_shared, cold_local, None),
            Measurement(f"listing, x{GROWTH_EACH} vs x{RUNS_EACH} runs", list_large, list_small, None),
            Measurement(f"by_slug(), x{GROWTH_EACH} vs x{RUNS_EACH} runs", read_large, read_small, None),
        ],
        [
            f"generated {RUNBOOKS} runbooks with {RUNS_EACH} runs each ({runs_total} runs) in "
            f"bench/.work/store-{RUNBOOKS}; the runs uploaded to moto's S3 server on 127.0.0.1 in "
            f"{upload_s:.0f}s: {objects} objects (2 per run, no pending markers) listed by every build",
            f"warm builds: medians of {build_runs} interleaved runs each after the first build of each; "
            f"render, parse and store caches warm; samples (s): {samples}",
            f"requests of one warm shared build: {len(warm_requests)} ({_kinds(warm_requests)}); "
            f"of the first build: {len(cold_requests)} ({_kinds(cold_requests)})",
            f"first builds (s): local {cold_local.samples[0]:.1f}, shared {cold_shared.samples[0]:.1f} "
            "(empty render and store caches: every notebook rendered, the shared one downloads "
            "every record and notebook)",
            f"store reads in a fresh process, medians of {LIST_ROUNDS} after one warm-up: listing "
            f"{list_small.median:.2f}s for {objects} objects, {list_large.median:.2f}s for "
            f"{growth_objects} ({RUNBOOKS} x {GROWTH_EACH} runs, uploaded in {growth_upload_s:.0f}s); "
            f"by_slug() (listing + records from the store cache) {read_small.median:.2f}s / "
            f"{read_large.median:.2f}s",
        ],
    )
