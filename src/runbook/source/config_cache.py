"""What MkDocs' loader made of a config file, kept so the next command need not import it.

Reading mkdocs.yml through MkDocs' loader imports its config layer (theme, Jinja2, Babel,
Markdown): about a tenth of a second, more than the rest of finding a project, and paid
by every ``runbook exec`` at 3 a.m. The result depends only on the text of the config
file and the files it ``INHERIT``\\ s, the values of the variables its ``!ENV`` tags name,
and the versions of MkDocs and Runbook, so it is cached under that key in
``.runbook/cache/settings.json``. A key that names its content is never stale; a config
that does not validate is never cached, so its errors are always reported afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from runbook import __version__

CACHE_FILE = ".runbook/cache/settings.json"
#: What the cached values hold; raised when they gain a setting (2: ``site_url``, 3: the
#: plugin's ``alert_rules``), so an entry written without it is not read as if the config
#: had none.
FORMAT = 3
_INHERIT = re.compile(rb"^INHERIT:\s*['\"]?([^'\"#\r\n]+?)['\"]?\s*(?:#.*)?$", re.MULTILINE)
_ENV_TAG = re.compile(rb"!ENV\s+(\[[^\]]*\]|[^\s,#\]]+)")
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def key(path: Path) -> str | None:
    """The cache key of the config at ``path`` (absolute); None when a file cannot be read."""
    import mkdocs  # its package root holds only the version

    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{mkdocs.__version__}\0".encode())
    seen: set[str] = set()
    current: str | None = str(path)
    while current is not None and current not in seen:
        seen.add(current)
        try:
            with open(current, "rb") as handle:
                text = handle.read()
        except OSError:
            return None
        digest.update(current.encode() + b"\0" + text + b"\0")
        for tag in _ENV_TAG.finditer(text):
            for name in _NAME.findall(tag.group(1)):
                value = os.environ.get(name.decode())
                digest.update(name + b"=" + (b"\1" if value is None else value.encode()) + b"\0")
        inherit = _INHERIT.search(text)
        current = (
            os.path.normpath(os.path.join(os.path.dirname(current), inherit.group(1).decode().strip()))
            if inherit
            else None
        )
    return digest.hexdigest()


def read(root: Path, entry_key: str) -> dict[str, Any] | None:
    """The cached values for ``entry_key``, or None."""
    try:
        with open(root / CACHE_FILE, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != entry_key:
        return None
    values = data.get("values")
    return values if isinstance(values, dict) else None


def write(root: Path, entry_key: str, values: dict[str, Any]) -> None:
    """Keep ``values`` under ``entry_key``; a failure only costs the next command time."""
    target = root / CACHE_FILE
    try:
        text = json.dumps({"key": entry_key, "values": values})
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        pass  # a read-only checkout, or options JSON cannot hold: read the config each time
