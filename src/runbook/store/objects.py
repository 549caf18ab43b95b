"""Store stage: runs on object storage (S3, GCS, Azure), through fsspec.

```
<prefix>/<slug>/<run_id>/notebook.ipynb  written first
<prefix>/<slug>/<run_id>/record.json     written last: the commit marker
<prefix>/.pending/<run_id>.json          a run in progress: written at begin, removed at commit
```

Object stores have no rename and no append, so a run is its own objects and readers only
see runs whose record exists: a notebook without its record (a commit cut short) is
invisible. Nothing is appended to a shared file: the history is the runs themselves.

**Two writers never overwrite each other.** Run ids carry the time to the millisecond and
24 random bits, so two runs collide only when they start in the same millisecond and
draw the same bits (about one chance in 16 million per such pair). The record is written
only after checking that none exists, and with a create-only put (S3's
``If-None-Match: *``, which AWS, MinIO and R2 honour): a run id already taken fails the
commit, never overwrites. Residual race: on a store that ignores that header, two
commits of the same run id between the check and the put could both land (last one
wins); the notebook, written before the record, is not guarded at all.

**Abandoned runs.** A pending marker holds the host, its boot time, the pid and its start
time, ``started_at`` and the run's time limit. A marker without a record is reported as
an ``abandoned`` run when:

- it was written on this machine (same host name and boot time) and its process
  (pid and start time) is gone; or
- it was written elsewhere and ``started_at + time limit (24 h without one) + 15 min``
  has passed on this machine's clock (the grace covers the commit itself and clock skew).

A marker whose run has a record is ignored (its removal was lost).

**Reading.** One listing (``find``, 1,000 keys a request on S3) gives every object with
its ETag; records and notebooks are read through :class:`~runbook.store.cache.ObjectCache`,
so a second read fetches only new objects; :meth:`ObjectRunStore.latest` reads only each
runbook's newest record. An object that is not a valid record is skipped and named in
:attr:`ObjectRunStore.problems`. A store that cannot be read raises :class:`StoreError`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from runbook.errors import StoreError
from runbook.memo import Memo
from runbook.record.build import RunStart, abandoned_record
from runbook.record.model import RunRecord
from runbook.store import PendingRun, by_slug
from runbook.store.cache import ObjectCache, identity
from runbook.store.local import NOTEBOOK, RECORD, _alive, _process_start
from runbook.store.remote import open_filesystem, scheme, scrub, shown_url

log = logging.getLogger("runbook")

PENDING = ".pending"
#: How long past its time limit another machine's run may still be committing.
GRACE_S = 15 * 60
#: The time limit assumed for a run that has none.
DEFAULT_LIMIT_S = 24 * 3600

CANNOT_BEGIN = "{location}: the run store cannot be written ({reason}); nothing was run"
CANNOT_COMMIT = "{target}: cannot store the run ({reason}); it ended as {status} (exit code {exit_code})"
RUN_ID_TAKEN = "a run with id {run_id} is already stored there"
CANNOT_READ = (
    "{location}: cannot read the run store ({reason}); check the network and the store's credentials"
)
UNREADABLE_RECORD = "{path}: unreadable run record ({reason}); skipped, move it aside"
UNREADABLE_PENDING = "{path}: unreadable pending run ({reason}); skipped, move it aside"

#: Parsed records by (location, key, identity): a long-lived process parses each once.
_RECORDS: Memo[tuple[str, str, str], RunRecord] = Memo(32768)


class ObjectStoreError(StoreError):
    """The object store cannot be read or written; ``reason`` says why (scrubbed of secrets)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class _Runs:
    """What a listing holds, by kind: record keys per slug, pending markers, committed ids."""

    records: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    committed: set[str] = field(default_factory=set)


class ObjectRunStore:
    """The run store under an object-store URL (:class:`runbook.store.RunStore`).

    Attributes:
        location: the URL, as messages show it (no credentials).
        problems: one line per object a read skipped, naming it.
    """

    def __init__(
        self, url: str, storage_options: Mapping[str, Any] | None = None, cache_dir: Path | None = None
    ) -> None:
        self.location = shown_url(url)
        self.problems: list[str] = []
        self._options = dict(storage_options or {})
        self._scheme = scheme(url)
        self.fs, self.root = open_filesystem(url, self._options)
        digest = hashlib.sha256(self.location.encode()).hexdigest()[:16]
        self._cache = ObjectCache(cache_dir / digest) if cache_dir is not None else None
        self._listed: dict[str, Mapping[str, Any]] = {}

    # writing

    def begin(
        self, run_id: str, slug: str, started: RunStart, *, time_limit_s: float | None = None
    ) -> PendingRun:
        """Write the run's pending marker.

        Raises:
            StoreError: the store cannot be written; nothing was run.
        """
        import psutil

        marker = {
            **started.to_dict(),
            "run_id": run_id,
            "host": socket.gethostname(),
            "boot_time": psutil.boot_time(),
            "pid": os.getpid(),
            "pid_started": _process_start(),
            "time_limit_s": time_limit_s,
        }
        try:
            self.fs.pipe_file(self._pending_key(run_id), _json(marker))
        except Exception as exc:  # any SDK failure: the store cannot be written
            log.debug("begin failed", exc_info=True)
            reason = self._why(exc)
            raise ObjectStoreError(
                CANNOT_BEGIN.format(location=self.location, reason=reason), reason
            ) from None
        return PendingRun(run_id, slug, started)

    def commit(self, pending: PendingRun, record: RunRecord, notebook: dict[str, Any] | None) -> str:
        """Write the notebook, then the record (create-only), then remove the pending marker.

        Raises:
            StoreError: the run cannot be stored (the store is out of reach, or the run id
                is taken); the message says how the run ended.
        """
        target = f"{self.location}/{pending.slug}/{pending.run_id}"
        try:
            stored = self._write_run(pending.slug, record, notebook)
        except Exception as exc:
            log.debug("commit failed", exc_info=True)
            reason = self._why(exc)
        else:
            if stored:
                self._remove_marker(pending.run_id)
                return target
            reason = RUN_ID_TAKEN.format(run_id=record.run_id)
        raise ObjectStoreError(
            CANNOT_COMMIT.format(
                target=target, reason=reason, status=record.status, exit_code=record.exit_code
            ),
            reason,
        )

    def abandon(self, pending: PendingRun) -> None:
        """Remove a pending run's marker (when the store can be reached)."""
        self._remove_marker(pending.run_id)

    def adopt(self, record: RunRecord, notebook: dict[str, Any] | None) -> bool:
        """Store a run made elsewhere exactly as it is, record last; False when it is here already.

        Raises:
            StoreError: the store cannot be written.
        """
        try:
            stored = self._write_run(record.slug, record, notebook)
        except Exception as exc:
            log.debug("adopt failed", exc_info=True)
            reason = self._why(exc)
            target = f"{self.location}/{record.slug}/{record.run_id}"
            raise ObjectStoreError(
                CANNOT_COMMIT.format(
                    target=target, reason=reason, status=record.status, exit_code=record.exit_code
                ),
                reason,
            ) from None
        if stored:
            self._remove_marker(record.run_id)  # an earlier attempt's marker, if any
        return stored

    # reading

    def records(self, slug: str | None = None) -> list[RunRecord]:
        """Stored and abandoned runs, newest first; ``slug`` narrows to one runbook.

        Raises:
            StoreError: the store cannot be listed or read.
        """
        listing = {**self._list(slug), **self._list(PENDING)} if slug else self._list()
        runs = _sorted_out(self.root, listing)
        stored = list(self._read_records(k for items in runs.records.values() for _, k in items).values())
        abandoned = [r for r in self._abandoned(runs) if slug in (None, r.slug)]
        if slug is None and self._cache is not None:
            self._cache.prune((key, identity(info)) for key, info in listing.items())
        return sorted(stored + abandoned, key=lambda r: (r.started_at, r.run_id), reverse=True)

    def by_slug(self) -> dict[str, list[RunRecord]]:
        """Every runbook's runs (stored and abandoned), newest first, read once."""
        return by_slug(self.records())

    def latest(self) -> dict[str, RunRecord]:
        """The newest run of each runbook: one listing, then only each runbook's newest record."""
        runs = _sorted_out(self.root, self._list())
        queues = {
            slug: sorted((key for _, key in items), reverse=True) for slug, items in runs.records.items()
        }
        found: dict[str, RunRecord] = {}
        while queues:  # an unreadable newest record: the one before it, in the next round
            heads = {queue.pop(0): slug for slug, queue in queues.items()}
            read = self._read_records(heads)
            for record in read.values():
                found.setdefault(record.slug, record)
            done = {heads[key] for key in read}
            queues = {s: q for s, q in queues.items() if q and s not in done}
        for record in self._abandoned(runs):
            newest = found.get(record.slug)
            if newest is None or (record.started_at, record.run_id) > (newest.started_at, newest.run_id):
                found[record.slug] = record
        return found

    def notebook(self, record: RunRecord) -> dict[str, Any] | None:
        """The executed notebook of a stored run, or None when it has none or it is unreadable."""
        if record.status == "abandoned":
            return None
        key = f"{self.root}/{record.slug}/{record.run_id}/{NOTEBOOK}"
        if self._listed and key not in self._listed:
            return None
        try:
            data = self._objects([key]).get(key)
        except StoreError as exc:
            self._problem(str(exc))
            return None
        try:
            notebook = json.loads(data) if data is not None else None
        except ValueError:
            return None
        return notebook if isinstance(notebook, dict) else None

    # internals

    def _write_run(self, slug: str, record: RunRecord, notebook: dict[str, Any] | None) -> bool:
        """Write a run's objects, the record last and create-only; False when the record exists."""
        folder = f"{self.root}/{slug}/{record.run_id}"
        record_key = f"{folder}/{RECORD}"
        self.fs.invalidate_cache(folder)
        if self.fs.exists(record_key):
            return False
        if notebook is not None:
            self.fs.pipe_file(f"{folder}/{NOTEBOOK}", _json(notebook, indent=1))
        return self._put_new(record_key, _json(record.to_dict(), indent=2))

    def _put_new(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist (``If-None-Match: *``); False if it does."""
        try:
            self.fs.pipe_file(key, data, mode="create")
        except FileExistsError:
            return False
        except TypeError:  # a filesystem without create-only writes: the check above stands
            self.fs.pipe_file(key, data)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:  # a store that refuses the condition header
                raise
            self.fs.pipe_file(key, data)
        return True

    def _remove_marker(self, run_id: str) -> None:
        """Remove a pending marker; one left behind is ignored by readers once the record exists."""
        try:
            self.fs.rm_file(self._pending_key(run_id))
        except FileNotFoundError:
            pass
        except Exception:
            log.debug("pending marker of %s not removed", run_id, exc_info=True)

    def _pending_key(self, run_id: str) -> str:
        return f"{self.root}/{PENDING}/{run_id}.json"

    def _list(self, under: str | None = None) -> dict[str, Mapping[str, Any]]:
        """Every object below the root (or ``under`` it), with its listing entry."""
        path = f"{self.root}/{under}" if under else self.root
        try:
            found = self.fs.find(path, detail=True)
        except Exception as exc:
            log.debug("listing failed", exc_info=True)
            raise self._unreadable(exc) from None
        listing = {str(k): v for k, v in found.items() if v.get("type", "file") == "file"}
        self._listed.update(listing)
        return listing

    def _read_records(self, keys: Iterable[str]) -> dict[str, RunRecord]:
        """The records at ``keys``: from memory, the cache or the store; unreadable ones named."""
        found: dict[str, RunRecord] = {}
        wanted: list[str] = []
        for key in keys:
            memo = _RECORDS.get((self.location, key, identity(self._listed.get(key, {})) or ""))
            if memo is not None:
                found[key] = memo
            else:
                wanted.append(key)
        for key, data in self._objects(wanted).items():
            try:
                record = RunRecord.from_dict(json.loads(data))
            except ValueError as exc:
                self._problem(UNREADABLE_RECORD.format(path=self._shown(key), reason=scrub(exc)))
                continue
            version = identity(self._listed.get(key, {}))
            if version is not None:
                _RECORDS.put((self.location, key, version), record)
            found[key] = record
        return found

    def _objects(self, keys: list[str]) -> dict[str, bytes]:
        """The bytes of each of ``keys``, from the cache when it holds this version, else fetched."""
        found: dict[str, bytes] = {}
        fetch: list[str] = []
        for key in keys:
            cached = self._cache.get(key, identity(self._listed.get(key, {}))) if self._cache else None
            if cached is None:
                fetch.append(key)
            else:
                found[key] = cached
        if not fetch:
            return found
        try:
            fetched = self.fs.cat(fetch, on_error="return")
        except Exception as exc:
            raise self._unreadable(exc) from None
        for key, value in fetched.items():
            if isinstance(value, FileNotFoundError):
                continue  # removed since the listing
            if isinstance(value, BaseException):
                raise self._unreadable(value)
            found[key] = bytes(value)
            if self._cache is not None:
                self._cache.put(key, identity(self._listed.get(key, {})), found[key])
        return found

    def _abandoned(self, runs: _Runs) -> list[RunRecord]:
        """Pending markers without a record whose run is over (see the module's rule)."""
        keys = {key: run_id for run_id, key in runs.pending.items() if run_id not in runs.committed}
        found = []
        now = datetime.now(timezone.utc)
        for key, data in self._objects(list(keys)).items():
            try:
                marker = json.loads(data)
                start = RunStart.from_dict(marker)
                if not _is_over(marker, start, now):
                    continue
            except ValueError as exc:
                self._problem(UNREADABLE_PENDING.format(path=self._shown(key), reason=scrub(exc)))
                continue
            found.append(abandoned_record(keys[key], start))
        return found

    def _unreadable(self, exc: BaseException) -> ObjectStoreError:
        log.debug("read failed", exc_info=exc)
        reason = self._why(exc)
        return ObjectStoreError(CANNOT_READ.format(location=self.location, reason=reason), reason)

    def _shown(self, key: str) -> str:
        return f"{self._scheme}://{key}"

    def _why(self, exc: BaseException) -> str:
        return scrub(exc, self._options)

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def _sorted_out(root: str, listing: Mapping[str, Any]) -> _Runs:
    """The records and pending markers of a listing; other objects (notebooks, strays) left out."""
    runs = _Runs()
    prefix = f"{root}/"
    for key in listing:
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix) :].split("/")
        if len(parts) == 2 and parts[0] == PENDING and parts[1].endswith(".json"):
            runs.pending[parts[1][: -len(".json")]] = key
        elif len(parts) == 3 and parts[2] == RECORD and not parts[0].startswith("."):
            runs.records.setdefault(parts[0], []).append((parts[1], key))
            runs.committed.add(parts[1])
    return runs


def _is_over(marker: Any, start: RunStart, now: datetime) -> bool:
    """Whether a pending run's process is gone (this machine) or past its time (elsewhere)."""
    import psutil

    if not isinstance(marker, dict):
        raise ValueError(f"expected an object, got {type(marker).__name__}")
    boot = marker.get("boot_time")
    here = marker.get("host") == socket.gethostname() and isinstance(boot, (int, float))
    if here and isinstance(boot, (int, float)) and abs(boot - psutil.boot_time()) < 2.0:
        return not _alive(marker.get("pid"), marker.get("pid_started"))
    limit = marker.get("time_limit_s")
    limit_s = float(limit) if isinstance(limit, (int, float)) and limit > 0 else DEFAULT_LIMIT_S
    return now > start.started_at + timedelta(seconds=limit_s + GRACE_S)


def _json(data: Any, indent: int | None = None) -> bytes:
    return (json.dumps(data, indent=indent, ensure_ascii=False) + "\n").encode("utf-8")


__all__ = ["ObjectRunStore", "ObjectStoreError"]
