"""The cells a runbook runs are the ones jupytext reads from its file.

The parse reads cells with jupytext but spares it the front matter it already read
(:mod:`runbook.source.cells`); the notebook it gets must be the one
``jupytext.reads(text, fmt="md")`` gives for the whole file, for the handbook's own
notebooks and for the front matter shapes jupytext reads in its own way.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jupytext
import pytest

from runbook.source.parse import parse_text

ROOT = Path(__file__).resolve().parent.parent
HANDBOOK = sorted(
    p
    for pattern in ("runbooks/**/*.md", "docs/training/**/*.md", "tests/fixtures/**/runbooks/**/*.md")
    for p in ROOT.glob(pattern)
)

FRONT = "---\ntitle: T\nsummary: S.\nowner: team\n"
KERNEL = "jupyter:\n  kernelspec:\n    name: python3\n    display_name: Python 3\n    language: python\n"
BODY = "\n## Step\n\n```python\nprint(1)\n```\n"
SHAPES = {
    "no jupyter block": FRONT + "---\n" + BODY,
    "jupyter block last": FRONT + KERNEL + "---\n" + BODY,
    "jupyter block first": "---\n" + KERNEL + "title: T\nsummary: S.\nowner: team\n---\n" + BODY,
    "jupytext options": FRONT
    + KERNEL
    + "  jupytext:\n    cell_metadata_filter: -all\n    main_language: python\n---\n"
    + BODY,
    "no blank line after the front matter": FRONT + "---\n## Step\n\n```python\nprint(1)\n```\n",
    "two blank lines after the front matter": FRONT + "---\n\n" + BODY,
    "rule after the front matter": FRONT + "---\n\n---\n" + BODY,
    "no newline at the end": FRONT + "---\n" + BODY.rstrip("\n"),
    "windows line ends": (FRONT + "---\n" + BODY).replace("\n", "\r\n"),
    "byte order mark": "\ufeff" + FRONT + "---\n" + BODY,
    "fence metadata and tags": FRONT
    + "---\n\n```python tags=[\"parameters\"]\nx = 1\n```\n\n"
    + "```python name=\"go\" effect=\"write\" timeout=5\nprint(x)\n```\n",
    "html comment region": FRONT + "---\n\n<!-- #region -->\nProse.\n<!-- #endregion -->\n" + BODY,
    "encoding-like line": "---\ntitle: \"Fix decoding: utf-8\"\nsummary: S.\nowner: team\n---\n" + BODY,
    "jupyter key inline": FRONT + "jupyter: {kernelspec: {name: python3, display_name: P, language: python}}\n---\n"
    + BODY,
}


def _as_parsed(nb: Any) -> dict[str, Any]:
    """What the parse keeps of a jupytext notebook: no header cell, ids of its own."""
    plain = copy.deepcopy(dict(nb))
    cells = [dict(c) for c in plain["cells"]]
    if cells and cells[0]["cell_type"] == "raw" and cells[0]["source"].startswith("---"):
        del cells[0]
    for cell in cells:
        cell.pop("id", None)
    return {"cells": cells, "metadata": plain["metadata"]}


def _parsed(text: str) -> dict[str, Any]:
    nb = parse_text(text, "runbooks/x.md", "x").notebook
    cells = []
    for cell in copy.deepcopy(nb["cells"]):
        cell.pop("id", None)
        meta = cell.get("metadata", {})
        meta.pop("runbook", None)
        cells.append(cell)
    metadata = dict(nb["metadata"])
    metadata.pop("kernelspec", None)
    return {"cells": cells, "metadata": metadata}


def _reference(text: str) -> dict[str, Any]:
    expected = _as_parsed(jupytext.reads(text, fmt="md"))
    expected["metadata"].pop("kernelspec", None)
    return expected


@pytest.mark.parametrize("path", HANDBOOK, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_handbook_notebooks_have_the_cells_jupytext_reads(path: Path) -> None:
    text = path.read_text("utf-8")

    assert _parsed(text) == _reference(text)


@pytest.mark.parametrize("shape", SHAPES)
def test_front_matter_shapes_give_the_cells_jupytext_reads(shape: str) -> None:
    text = SHAPES[shape]

    assert _parsed(text) == _reference(text)


def test_reading_cells_leaves_nbformat_validating() -> None:
    import nbformat
    from nbformat.v4 import new_code_cell

    parse_text(SHAPES["no jupyter block"], "runbooks/x.md", "x")

    with pytest.raises(nbformat.ValidationError):
        new_code_cell("x = 1", execution_count="not a number")
