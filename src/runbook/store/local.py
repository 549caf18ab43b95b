"""Store stage: runs written atomically under a local folder (``runs/``).

```
runs/<slug>/<run_id>/record.json     the RunRecord
runs/<slug>/<run_id>/notebook.ipynb  the executed notebook
runs/ledger.jsonl                    one line per run start and end
runs/.pending/<run_id>/              a run in progress, outside the visible tree
```

A run is assembled in ``.pending`` and moved into place with one ``os.replace`` of its
folder, so no reader ever sees half a run; a run that cannot be stored leaves nothing.
A pending run whose process is gone is reported as ``abandoned``. A record that cannot be
read is skipped and named in :attr:`LocalRunStore.problems`, which the command line
prints as warnings and the site build counts as warnings.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runbook.errors import StoreError
from runbook.memo import Memo
from runbook.record.build import RunStart, abandoned_record
from runbook.record.model import RunRecord
from runbook.store import PendingRun, by_slug

log = logging.getLogger("runbook")

PENDING = ".pending"
RECORD = "record.json"
NOTEBOOK = "notebook.ipynb"
STARTED = "started.json"
LEDGER = "ledger.jsonl"

CANNOT_BEGIN = "{root}: the run store cannot be written ({reason}); nothing was run"
CANNOT_COMMIT = (
    "{target}: cannot store the run ({reason}); "
    "it ended as {status} (exit code {exit_code}), but nothing of it was kept"
)
UNREADABLE_RECORD = "{path}: unreadable run record ({reason}); skipped, move it aside"
UNREADABLE_PENDING = "{path}: unreadable pending run ({reason}); skipped, move it aside"
CANNOT_ADOPT = "{target}: cannot store the run ({reason})"
LEDGER_NOT_WRITTEN = (
    "{path}: the end of run {run_id} is not in the ledger ({reason}); the run itself is stored"
)


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: UTC timestamp plus a short random suffix."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%S}.{moment.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


class LocalRunStore:
    """The run store in a local folder (:class:`runbook.store.RunStore`).

    Attributes:
        root: the folder.
        location: the folder, as messages name the store.
        problems: one line per run a read skipped, naming its file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self.problems: list[str] = []

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER

    def begin(
        self, run_id: str, slug: str, started: RunStart, *, time_limit_s: float | None = None
    ) -> PendingRun:
        """Open a pending run and note its start in the ledger.

        Args:
            run_id: the run's id.
            slug: the runbook's slug.
            started: the facts known at the start.
            time_limit_s: the run's time limit, kept with the pending run.

        Raises:
            StoreError: the folder cannot be written; nothing is left behind.
        """
        folder = self._pending_folder(run_id)
        facts = started.to_dict()
        try:
            folder.mkdir(parents=True)
            _write_atomic(
                folder / STARTED,
                json.dumps(
                    {
                        **facts,
                        "pid": os.getpid(),
                        "pid_started": _process_start(),
                        "time_limit_s": time_limit_s,
                    }
                ),
            )
            self._append_ledger(
                {"event": "start", "run_id": run_id, "runbook": slug, **{k: facts[k] for k in _START_FACTS}}
            )
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise StoreError(CANNOT_BEGIN.format(root=_shown(self.root), reason=_reason(exc))) from None
        return PendingRun(run_id, slug, started)

    def commit(self, pending: PendingRun, record: RunRecord, notebook: dict[str, Any] | None) -> str:
        """Write the notebook and the record, then move the run to ``<slug>/<run_id>``.

        Raises:
            StoreError: the run cannot be stored; its pending folder is removed.
        """
        folder = self._pending_folder(pending.run_id)
        target = self.root / pending.slug / pending.run_id
        try:
            if notebook is not None:
                _write_atomic(folder / NOTEBOOK, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            _write_atomic(folder / RECORD, json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n")
            (folder / STARTED).unlink(missing_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, target)
        except OSError as exc:
            self.abandon(pending)
            with contextlib.suppress(OSError):
                target.parent.rmdir()  # only when this run would have been its first
            raise StoreError(
                CANNOT_COMMIT.format(
                    target=_shown(target),
                    reason=_reason(exc),
                    status=record.status,
                    exit_code=record.exit_code,
                )
            ) from None
        self._ledger_end(record)
        return str(target)

    def abandon(self, pending: PendingRun) -> None:
        """Remove a pending run that will not be committed, and whatever it had written."""
        shutil.rmtree(self._pending_folder(pending.run_id), ignore_errors=True)

    def adopt(self, record: RunRecord, notebook: dict[str, Any] | None) -> bool:
        """Store a run made elsewhere exactly as it is; False when this store has that run already.

        The run is assembled outside the visible tree and moved into place with one
        ``os.replace``, which never replaces a run folder that has files in it.

        Raises:
            StoreError: the folder cannot be written; nothing is left behind.
        """
        target = self.root / record.slug / record.run_id
        if (target / RECORD).exists():
            return False
        folder = self.root / PENDING / f".adopt-{record.run_id}-{os.getpid()}"
        shutil.rmtree(folder, ignore_errors=True)  # left by a process that died adopting
        try:
            folder.mkdir(parents=True)
            if notebook is not None:
                _write_atomic(folder / NOTEBOOK, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            _write_atomic(folder / RECORD, json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, target)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and (target / RECORD).exists():
                return False  # stored by someone else meanwhile
            raise StoreError(CANNOT_ADOPT.format(target=_shown(target), reason=_reason(exc))) from None
        self._ledger_end(record, event="adopted")
        return True

    def records(self, slug: str | None = None) -> list[RunRecord]:
        """Stored and abandoned runs, newest first; ``slug`` narrows to one runbook.

        An unreadable run is skipped and named in :attr:`problems`.
        """
        found = list(self._stored(slug)) + [r for r in self._abandoned() if slug in (None, r.slug)]
        return sorted(found, key=lambda r: (r.started_at, r.run_id), reverse=True)

    def by_slug(self) -> dict[str, list[RunRecord]]:
        """Every runbook's runs (stored and abandoned), newest first, read once."""
        return by_slug(self.records())

    def latest(self) -> dict[str, RunRecord]:
        """The newest run of each runbook that has one."""
        return {slug: runs[0] for slug, runs in self.by_slug().items()}

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

    def _pending_folder(self, run_id: str) -> Path:
        return self.root / PENDING / run_id

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)  # the adapters report them: a warning, or a page warning

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
                except (OSError, ValueError) as exc:
                    self._problem(UNREADABLE_RECORD.format(path=_shown(Path(path)), reason=_reason(exc)))

    def _abandoned(self) -> Iterator[RunRecord]:
        """Pending runs whose process is gone: reported, never silently lost."""
        pending_root = self.root / PENDING
        if not pending_root.is_dir():
            return
        for folder in pending_root.iterdir():
            path = folder / STARTED
            try:
                data = json.loads(path.read_text("utf-8"))
                if not isinstance(data, dict):
                    raise ValueError(f"expected an object, got {type(data).__name__}")
                if _alive(data.get("pid"), data.get("pid_started")):
                    continue
                yield abandoned_record(folder.name, RunStart.from_dict(data))
            except (FileNotFoundError, NotADirectoryError):
                continue  # a run being started or committed right now, or a stray file
            except (OSError, ValueError) as exc:
                self._problem(UNREADABLE_PENDING.format(path=_shown(path), reason=_reason(exc)))

    def _ledger_end(self, record: RunRecord, event: str = "end") -> None:
        """Note a stored run's end in the ledger; a failure to do so is a warning, the run is kept."""
        entry = {
            "event": event,
            "run_id": record.run_id,
            "runbook": record.slug,
            "status": record.status,
            "exit_code": record.exit_code,
            "at": record.finished_at,
            "duration_s": record.duration_s,
            "environment": record.environment,
            "operator": record.operator,
        }
        try:
            self._append_ledger(entry)
        except OSError as exc:
            log.warning(
                LEDGER_NOT_WRITTEN.format(
                    path=_shown(self.ledger_path), run_id=record.run_id, reason=_reason(exc)
                )
            )

    def _append_ledger(self, entry: dict[str, Any]) -> None:
        """Append one JSON line under a lock, so concurrent runs' lines stay whole.

        A last line torn by an earlier write cut short is ended first, so it never
        swallows this one; a line this call cannot write whole is taken back.
        """
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.ledger_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)


_START_FACTS = ("started_at", "environment", "operator")

#: Records read from the store by file identity: a stored run is written once and never
#: changes, so a long-lived process (``runbook serve``) reads each one once.
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


def _write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, then ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else as it is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def _process_start() -> float | None:
    import psutil

    try:
        return float(psutil.Process().create_time())
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
