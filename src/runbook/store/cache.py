"""A local read-through cache of a shared store's objects, by object identity.

A stored run is written once and never changes, so its record and notebook can be kept on
this machine under ``.runbook/cache/store/<store>/`` and read from there as long as the
store's listing shows the same object: the same path with the same ETag (or generation,
or size and modification time, whatever the store's listing gives). A second read of the
history then fetches only the runs that are new. The cache is never the source of truth:
an entry is only used for an object the listing just showed, and a failure to read or
write it only costs a download.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Listing fields that name an object's version, most specific first.
IDENTITY_FIELDS = ("ETag", "etag", "generation", "md5Hash", "content_md5", "version_id")
#: Listing fields of modification time, when a store gives no version.
MTIME_FIELDS = ("LastModified", "last_modified", "mtime", "updated", "created")


def identity(info: Mapping[str, Any]) -> str | None:
    """What names this version of an object in a listing entry, or None when nothing does."""
    size = info.get("size", info.get("Size"))
    for name in IDENTITY_FIELDS:
        value = info.get(name)
        if value:
            return f"{name}={value};size={size}"
    for name in MTIME_FIELDS:
        value = info.get(name)
        if value:
            return f"{name}={value};size={size}"
    return None


class ObjectCache:
    """Objects' bytes by path and identity, in a folder (one per store location).

    Attributes:
        folder: where the entries live.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _entry(self, path: str, version: str) -> Path:
        digest = hashlib.sha256(f"{path}\0{version}".encode()).hexdigest()
        return self.folder / digest[:2] / digest

    def get(self, path: str, version: str | None) -> bytes | None:
        """The bytes kept for ``path`` at ``version``, or None."""
        if version is None:
            return None
        try:
            return self._entry(path, version).read_bytes()
        except OSError:
            return None

    def put(self, path: str, version: str | None, data: bytes) -> None:
        """Keep ``data`` for ``path`` at ``version``; a failure to write only costs speed."""
        if version is None:
            return
        entry = self._entry(path, version)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, entry)
        except OSError:
            tmp.unlink(missing_ok=True)

    def prune(self, present: Iterable[tuple[str, str | None]]) -> None:
        """Drop the entries of objects that are no longer in the store (a full listing's objects)."""
        keep = {self._entry(path, version).name for path, version in present if version is not None}
        try:
            shards = [e for e in os.scandir(self.folder) if e.is_dir()]
        except OSError:
            return
        for shard in shards:
            for entry in os.scandir(shard.path):
                if entry.name not in keep and not entry.name.startswith("."):
                    Path(entry.path).unlink(missing_ok=True)
