"""Store stage: runs written atomically under ``runs/``.

```
runs/<slug>/<run_id>/record.json     the RunRecord
runs/<slug>/<run_id>/notebook.ipynb  the executed notebook
runs/ledger.jsonl                    one line per run start and end
runs/.pending/<run_id>/              a run in progress, outside the visible tree
```

A run is assembled in ``.pending`` and moved into place with one ``os.replace`` of its
folder, so no reader ever sees half a run. A pending run whose process is gone is
reported as ``abandoned``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runbook.errors import StoreError
from runbook.memo import Memo
from runbook.record.model import EXIT_CODES, RunRecord

PENDING = ".pending"
RECORD = "record.json"
NOTEBOOK = "notebook.ipynb"
STARTED = "started.json"
LEDGER = "ledger.jsonl"


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: UTC timestamp plus a short random suffix."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%S}.{moment.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass
class PendingRun:
    """A run in progress: its folder in ``.pending`` and the facts known at the start."""

    run_id: str
    slug: str
    folder: Path
    started: dict[str, Any]


class RunStore:
    """The run store of one project (``runs/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER

    def begin(self, run_id: str, slug: str, started: dict[str, Any]) -> PendingRun:
        """Open a pending run and note its start in the ledger."""
        folder = self.root / PENDING / run_id
        try:
            folder.mkdir(parents=True)
            _write_atomic(
                folder / STARTED, json.dumps({**started, "pid": os.getpid(), "pid_started": _process_start()})
            )
        except OSError as exc:
            raise StoreError(f"{folder}: cannot start a run: {exc.strerror}") from None
        self.append_ledger({"event": "start", "run_id": run_id, "runbook": slug, **_ledger_facts(started)})
        return PendingRun(run_id, slug, folder, started)

    def commit(self, pending: PendingRun, record: RunRecord, notebook: dict[str, Any] | None) -> Path:
        """Write the record and notebook, then move the run into ``runs/<slug>/<run_id>``."""
        target = self.root / pending.slug / pending.run_id
        try:
            if notebook is not None:
                _write_atomic(
                    pending.folder / NOTEBOOK, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
                )
            _write_atomic(
                pending.folder / RECORD, json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n"
            )
            (pending.folder / STARTED).unlink(missing_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(pending.folder, target)
        except OSError as exc:
            raise StoreError(f"{target}: cannot store the run: {exc.strerror}") from None
        self.append_ledger(
            {
                "event": "end",
                "run_id": record.run_id,
                "runbook": record.slug,
                "status": record.status,
                "exit_code": record.exit_code,
                "at": record.finished_at,
                "duration_s": record.duration_s,
                "environment": record.environment,
                "operator": record.operator,
            }
        )
        return target

    def append_ledger(self, entry: dict[str, Any]) -> None:
        """Append one JSON line; a lock keeps concurrent runs' lines whole."""
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.ledger_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self, slug: str | None = None) -> list[RunRecord]:
        """Stored and abandoned runs, newest first; ``slug`` narrows to one runbook."""
        found = list(self._stored(slug)) + [r for r in self.abandoned() if slug in (None, r.slug)]
        return sorted(found, key=lambda r: (r.started_at, r.run_id), reverse=True)

    def by_slug(self) -> dict[str, list[RunRecord]]:
        """Every runbook's runs (stored and abandoned), newest first, read once."""
        grouped: dict[str, list[RunRecord]] = {}
        for record in self.records():
            grouped.setdefault(record.slug, []).append(record)
        return grouped

    def latest(self, slug: str) -> RunRecord | None:
        """The newest run of ``slug``, or None."""
        runs = self.records(slug)
        return runs[0] if runs else None

    def notebook(self, record: RunRecord) -> dict[str, Any] | None:
        """The executed notebook of a stored run, or None when it has none or it is unreadable."""
        if record.status == "abandoned":
            return None
        try:
            with open(self.root / record.slug / record.run_id / NOTEBOOK, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except (OSError, ValueError):
            return None
        return data

    def _stored(self, slug: str | None) -> Iterator[RunRecord]:
        if not self.root.is_dir():
            return
        if slug:
            folders = [str(self.root / slug)]
        else:
            folders = [e.path for e in os.scandir(self.root) if not e.name.startswith(".")]
        for folder in folders:
            try:
                runs = [e.path for e in os.scandir(folder) if e.is_dir()]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for run in runs:
                path = os.path.join(run, RECORD)
                try:
                    yield _read_record(path)
                except FileNotFoundError:
                    continue
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    raise StoreError(f"{path}: unreadable run record ({exc}); move it aside") from None

    def abandoned(self) -> list[RunRecord]:
        """Pending runs whose process is gone: reported, never silently lost."""
        pending_root = self.root / PENDING
        if not pending_root.is_dir():
            return []
        found = []
        for folder in pending_root.iterdir():
            try:
                started = json.loads((folder / STARTED).read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if _alive(started.get("pid"), started.get("pid_started")):
                continue
            found.append(
                RunRecord(
                    run_id=folder.name,
                    runbook=started["runbook"],
                    environment=started.get("environment"),
                    parameters=started.get("parameters", {}),
                    status="abandoned",
                    exit_code=EXIT_CODES["abandoned"],
                    started_at=started["started_at"],
                    finished_at=None,
                    duration_s=None,
                    operator=started.get("operator", {}),
                )
            )
        return found

    def discard(self, pending: PendingRun) -> None:
        shutil.rmtree(pending.folder, ignore_errors=True)


#: Records read from the store by file identity: a stored run is written once and never
#: changes, so a long-lived process (``runbook serve``) reads each one once. Callers must
#: not modify the records they get.
_RECORDS: Memo[tuple[str, int, int, int], RunRecord] = Memo(32768)


def _read_record(path: str) -> RunRecord:
    info = os.stat(path)
    identity = (path, info.st_ino, info.st_size, info.st_mtime_ns)
    record = _RECORDS.get(identity)
    if record is None:
        with open(path, encoding="utf-8") as handle:
            record = RunRecord.from_dict(json.load(handle))
        _RECORDS.put(identity, record)
    return record


def _ledger_facts(started: dict[str, Any]) -> dict[str, Any]:
    return {k: started.get(k) for k in ("started_at", "environment", "operator")}


def _process_start() -> float | None:
    import psutil

    try:
        return psutil.Process().create_time()
    except psutil.Error:
        return None


def _alive(pid: Any, started: Any) -> bool:
    import psutil

    if not isinstance(pid, int):
        return False
    try:
        process = psutil.Process(pid)
        return started is None or abs(process.create_time() - float(started)) < 1.0
    except psutil.Error:
        return False
