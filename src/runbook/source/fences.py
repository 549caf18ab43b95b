"""Where a notebook's code cells sit in its Markdown: the file line of each cell's fence.

jupytext does not keep line numbers, so each code cell is matched, in order, to the next
fenced block whose body is that cell's source (MyST options and magics allowed). Only
error paths need this, so the matching happens on first use.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

_FENCE = re.compile(r"^(`{3,}|~{3,})\s*\S")


class CellLines:
    """File lines of a notebook's code cells, matched to their fences on first use.

    Args:
        text: the whole Markdown file.
        cells: the notebook's cells, as read from ``text`` (front matter cell removed).
    """

    def __init__(self, text: str, cells: list[dict[str, Any]]) -> None:
        self._text = text
        self._cells = cells

    def fence(self, cell_index: int) -> int:
        """The line of the cell's opening fence; 0 when it could not be matched."""
        return self._lines.get(cell_index, (0, 0))[0]

    def in_cell(self, cell_index: int, line: int) -> int:
        """The file line of the cell's ``line`` (1-based); 0 when unknown."""
        first = self._lines.get(cell_index, (0, 0))[1]
        return first + line - 1 if first else 0

    @cached_property
    def _lines(self) -> dict[int, tuple[int, int]]:
        """``cell index -> (fence line, first source line)`` for every matched code cell."""
        blocks = fenced_blocks(self._text.splitlines())
        found: dict[int, tuple[int, int]] = {}
        position = 0
        for index, cell in enumerate(self._cells):
            if cell["cell_type"] != "code":
                continue
            source = cell["source"].strip("\n")
            while position < len(blocks) and not _holds(blocks[position][1], source):
                position += 1
            if position == len(blocks):
                continue
            fence_line, body = blocks[position]
            position += 1
            skipped = body[: len(body) - len(source)].count("\n") if body.endswith(source) else 0
            found[index] = (fence_line, fence_line + 1 + skipped)
        return found


def fenced_blocks(lines: list[str]) -> list[tuple[int, str]]:
    """``(opening line, body)`` of every fenced block that names a language."""
    blocks: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence = match.group(1)
        end = index + 1
        while end < len(lines) and not re.fullmatch(
            rf"{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[end]
        ):
            end += 1
        blocks.append((index + 1, "\n".join(lines[index + 1 : end]).strip("\n")))
        index = end + 1
    return blocks


def _holds(body: str, source: str) -> bool:
    """Whether a fenced block's body is this cell (allowing MyST options and magics)."""
    return body == source or body.endswith(f"\n{source}") or source.endswith(f"\n{body}")
