"""A render cache: a notebook's pages are rendered again only when something they show changed.

The key covers everything a runbook page and its run pages depend on: the runbook's
source, its recent runs (ids and statuses: a stored run never changes), its standing
(state, next due date, changed code), the FAQ entries that point to it, the digest of the
page templates' content (the package's own and the project's overrides,
:class:`runbook.render.templates.Templates`) and the renderer's version (relative times are
computed in the browser, so the clock is not part of it). Entries live under
``.runbook/cache/render``; asset files are stored once by content hash. A process that
renders again (``runbook serve``) keeps the entries it used in memory as well.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from runbook import __version__, prune
from runbook.memo import Memo

#: Bump when the rendered Markdown changes for the same inputs.
RENDER_VERSION = "4"

Entry = tuple[dict[str, str], dict[str, bytes]]
#: Entries by (cache folder, key): a key names its content, so memory is never stale.
_MEMORY: Memo[tuple[str, str], Entry] = Memo(8192)


def key(*parts: Any) -> str:
    """A stable hash of JSON-able parts."""
    data = json.dumps([RENDER_VERSION, __version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class RenderCache:
    """Rendered pages and assets by key, on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()  # keys asked for or stored, for prune_unused

    def _entry(self, entry_key: str) -> Path:
        return self.folder / entry_key[:2] / f"{entry_key}.json"

    def _blob(self, digest: str) -> Path:
        return self.folder / "blobs" / digest[:2] / digest

    def get(self, entry_key: str) -> Entry | None:
        """The pages and assets stored under ``entry_key``, or None."""
        self.used.add(entry_key)
        memory_key = (str(self.folder), entry_key)
        entry = _MEMORY.get(memory_key)
        if entry is not None:
            return entry
        try:
            data = json.loads(self._entry(entry_key).read_text("utf-8"))
            assets = {path: self._blob(digest).read_bytes() for path, digest in data["assets"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        entry = data["pages"], assets
        _MEMORY.put(memory_key, entry)
        return entry

    def contains(self, entry_key: str) -> bool:
        """Whether an entry is stored under ``entry_key`` (it is not read)."""
        return _MEMORY.get((str(self.folder), entry_key)) is not None or self._entry(entry_key).is_file()

    def put(self, entry_key: str, pages: dict[str, str], assets: dict[str, bytes]) -> None:
        """Store pages and assets; a failure to write only costs speed."""
        self.used.add(entry_key)
        _MEMORY.put((str(self.folder), entry_key), (pages, assets))
        try:
            digests = {}
            for path, blob in assets.items():
                digest = hashlib.sha256(blob).hexdigest()
                target = self._blob(digest)
                if not target.exists():
                    write_atomic(target, blob)
                digests[path] = digest
            entry = json.dumps({"pages": pages, "assets": digests}).encode("utf-8")
            write_atomic(self._entry(entry_key), entry)
        except OSError:
            pass

    def prune_unused(self) -> int:
        """After a full render: remove old entries and blobs it did not use (at most
        daily, see :mod:`runbook.prune`); the number of files removed."""
        if not prune.due(self.folder):
            return 0
        names = {f"{k}.json" for k in self.used}
        for entry_key in self.used:
            try:
                names.update(json.loads(self._entry(entry_key).read_text("utf-8"))["assets"].values())
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return prune.prune(self.folder, names.__contains__)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it (readers never see
    half a file). Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
