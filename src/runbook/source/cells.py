"""Reading a runbook's cells with jupytext, without paying for what the parse already did.

``jupytext.reads(text, fmt="md")`` costs about 3 ms a file, and little of it is reading
cells: it guesses the format by running a Markdown parser over the whole file (MyST or
not?), reads the front matter with pure-Python YAML up to three times (for the format, for
the notebook's metadata), and builds every cell with nbformat's constructors, each of
which validates its cell against the notebook JSON schema. The parse stage has already
read the front matter (with libyaml) and decided the format, so :func:`read_cells`

- names the format (``md:markdown`` or ``md:myst``), so nothing is guessed;
- hands jupytext a front matter holding only the block jupytext itself reads (the lines
  of the ``jupyter:`` key), since the rest becomes a raw cell that the parse drops;
- skips the per-cell schema check while jupytext builds the cells: the cells come from
  jupytext's own constructors, and nbformat validates the whole notebook when papermill
  writes it.

The notebook is the one ``jupytext.reads`` gives for the whole text (the tests compare
them on every fixture); any front matter whose shape jupytext would read another way (a
byte-order mark, HTML comments, an encoding line, a ``jupyter:`` key that is not a block)
is handed to jupytext whole.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The lines jupytext's header reader treats specially (``jupytext.header``).
_HEADER = re.compile(r"^---\s*$")
_JUPYTER = re.compile(r"^jupyter\s*:\s*$")
_JUPYTER_KEY = re.compile(r"^jupyter\s*:")
_INDENTED = re.compile(r"^\s")
_ENCODING = re.compile(r"^[ \t\f]*.*?coding[:=][ \t]*([-_.a-zA-Z0-9]+)")

_NO_VALIDATION = threading.Lock()
_skipping = 0
_ORIGINAL: list[Any] = [None]  # nbformat's own validate, while it is swapped out


#: jupytext modules its package imports for Jupyter's contents manager (tornado, a server
#: when installed): a third of its import time, and never used by a parse.
_SERVER_MODULES = ("jupytext.sync_contentsmanager", "jupytext.async_contentsmanager")
_IMPORTING = threading.Lock()


def import_jupytext() -> Any:
    """jupytext, imported without its contents-manager modules.

    Its package imports them under ``try: ... except ImportError`` (they are optional);
    a ``None`` in ``sys.modules`` makes those imports fail fast, and is taken out again
    afterwards, so a later explicit import of them still works (``jupytext``'s own names
    for them stay placeholders that raise the ImportError; nothing here uses them).
    """
    import sys

    with _IMPORTING:  # one thread imports it; the others wait for the whole module
        if "jupytext" in sys.modules:
            return sys.modules["jupytext"]
        blocked = [name for name in _SERVER_MODULES if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]
        try:
            import jupytext  # heavy: imported only when a runbook is really parsed
        finally:
            for name in blocked:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
        return jupytext


def read_cells(text: str, fmt: str) -> Any:
    """The notebook jupytext reads from ``text`` in format ``fmt`` (``md`` or ``md:myst``).

    Raises:
        Exception: whatever jupytext raises for malformed cells.
    """
    jupytext = import_jupytext()
    lean = _lean_text(text) if fmt == "md" else None
    with _cells_unvalidated():
        if lean is None:
            return jupytext.reads(text, fmt="md:myst" if fmt == "md:myst" else "md:markdown")
        return jupytext.reads(lean, fmt="md:markdown")


def _lean_text(text: str) -> str | None:
    """``text`` with its front matter cut to the ``jupyter:`` block; None when jupytext
    might read that front matter another way than the parse did."""
    kept = text.splitlines(keepends=True)
    lines = text.splitlines()
    if not lines or not _HEADER.match(lines[0]):
        return None
    end = next((i for i in range(1, len(lines)) if _HEADER.match(lines[i])), None)
    if end is None:
        return None
    head = lines[1:end]
    if any(line.lstrip().startswith("<!--") for line in head) or any(_ENCODING.match(x) for x in head[:1]):
        return None
    block = _jupyter_block(head)
    if block is None:
        return None
    # The leading blank line: jupytext takes it into the header, which then is never empty
    # (so it still becomes the raw cell the parse drops), and only reads the front matter
    # as YAML for the format when the text starts with "---".
    return "".join(["\n---\n", *(f"{line}\n" for line in block), *kept[end:]])


def _jupyter_block(head: list[str]) -> list[str] | None:
    """The front matter lines jupytext reads as notebook metadata (``jupyter:`` and the
    lines under it), as ``jupytext.header`` picks them; None for a ``jupyter:`` key with
    its value on the same line, which jupytext does not read as metadata."""
    block: list[str] = []
    inside = False
    for line in head:
        if _JUPYTER.match(line):
            inside = True
        elif _JUPYTER_KEY.match(line):
            return None
        elif line and not _INDENTED.match(line):
            inside = False
        if inside:
            block.append(line)
    return block


@contextmanager
def _cells_unvalidated() -> Iterator[None]:
    """nbformat's per-cell schema check off while jupytext builds a notebook.

    ``nbformat.v4.nbbase.validate`` checks each new cell against the JSON schema with
    jsonschema, half the cost of reading a small runbook. Swapped for a no-op under a lock,
    with a count, so overlapping reads restore it once, after the last.
    """
    import nbformat.v4.nbbase as nbbase

    global _skipping
    with _NO_VALIDATION:
        if _skipping == 0:
            _ORIGINAL[0] = nbbase.validate
            nbbase.validate = _no_validation
        _skipping += 1
    try:
        yield
    finally:
        with _NO_VALIDATION:
            _skipping -= 1
            if _skipping == 0:
                nbbase.validate = _ORIGINAL[0]


def _no_validation(node: Any, ref: str | None = None) -> None:
    """Stands in for ``nbformat.v4.nbbase.validate`` while jupytext builds cells."""
