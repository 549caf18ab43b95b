"""The renderer's own HTML blocks, kept out of Python-Markdown's way.

A rendered runbook page carries blocks of HTML the renderer wrote (the status card, each
step's header, each text output): on lines of their own, already escaped or sanitized,
and meant to reach the page as they are. Python-Markdown would pass them through too,
but only after two HTML parsers have read them (MkDocs' anchor collector and the raw
HTML stash, in ``md_in_html``'s slower form): on the pages of 1,000 runbooks with a run
each, about a quarter of the time their conversion takes.

So the plugin swaps each such block for a paragraph holding a token before the page is
converted, and the token's paragraph for the block after, exactly where Python-Markdown's
own stash would have put it; the ids in the blocks are added to the page's anchors, as
MkDocs' collector would. A block is taken only when nothing can read it as Markdown: it
starts a line after a blank line (or the page), ends a line before one, is a
``<pre class="rb-...">`` or a ``<div class="...rb-..." ... markdown="0">`` with no other
``div`` in it, and is not inside a ``<details>`` or a ``markdown="1"`` div. When a token
does not come back as its own paragraph (a fenced code block that quotes such a block,
say), the page is converted again from its Markdown as written.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

_BLOCK = (
    r"(?:\A|(?<=\n\n))"
    r'(?P<block><pre class="rb-[^"\n]*">(?:(?!</pre>).)*</pre>'
    r'|<div class="[^"\n]*\brb-[^"\n]*"[^>\n]*\smarkdown="0"[^>\n]*>(?:(?!</?div\b).)*</div>)'
    r"(?=\n\n|\n?\Z)"
)
#: A block, or where an HTML element opens or closes whose content Python-Markdown
#: passes through or parses on its own (a long output's ``<details>``, a ``markdown="1"``
#: div): blocks in one are left in place.
_SCAN = re.compile(
    _BLOCK + r'|(?P<open><details\b|<div\b[^>\n]*\smarkdown="1")|(?P<close></details>|^</div>$)', re.S | re.M
)
_ID = re.compile(r'<[a-zA-Z][^>]*?\sid="([^"]*)"')
#: Unique to this process: no page's text holds it.
_TOKEN = f"RBHTMLBLOCK{secrets.token_hex(8)}N"


@dataclass
class Stashed:
    """A page's Markdown with its blocks swapped for tokens, and the blocks."""

    original: str
    markdown: str
    blocks: list[str] = field(default_factory=list)


def stash(markdown: str) -> Stashed:
    """Swap the renderer's HTML blocks in ``markdown`` for tokens."""
    blocks: list[str] = []
    if "rb-" not in markdown:
        return Stashed(markdown, markdown, blocks)
    pieces: list[str] = []
    depth = done = 0
    for match in _SCAN.finditer(markdown):
        if match.group("open"):
            depth += 1
        elif match.group("close"):
            depth = max(0, depth - 1)
        elif depth == 0:
            pieces += (markdown[done : match.start()], f"{_TOKEN}{len(blocks)}X")
            blocks.append(match.group("block"))
            done = match.end()
    pieces.append(markdown[done:])
    swapped = "".join(pieces)
    return Stashed(markdown, swapped, blocks)


def restore(page: Any, stashed: Stashed, config: Any, files: Any) -> str:
    """The converted page's HTML with the blocks back in place of their tokens, the
    blocks' ids among the page's anchors; ``page.content`` is set to it."""
    content: str = page.content
    if stashed.blocks:
        pieces = content.split(f"<p>{_TOKEN}")
        restored = [pieces[0]]  # then block, newline, rest for each token
        for piece in pieces[1:]:
            number, marker, rest = piece.partition("X</p>")
            if not (marker and number.isdigit() and int(number) < len(stashed.blocks)):
                break
            restored += (stashed.blocks[int(number)], "\n" if rest else "", rest)  # as Python-Markdown
        content = "".join(restored)
        if len(restored) != 3 * len(stashed.blocks) + 1 or _TOKEN in content:
            page.markdown = stashed.original  # a token landed somewhere else: convert as written
            page.render(config, files)
            return str(page.content)
        if page.present_anchor_ids is not None:
            for block in stashed.blocks:
                page.present_anchor_ids.update(html.unescape(value) for value in _ID.findall(block))
    page.markdown = stashed.original
    page.content = content
    return content
