"""MkDocs hook: a page's own search entry may weigh less than the sections under it.

Material's search gives every entry of a page (the page itself and one per heading) the
page's ``search: boost``, and ranks a page's own entry well above its sections. On an FAQ
category page that entry is the category title ("Running runbooks"): it outscored the
question typed in full ("How do I run a runbook?") and Material folded every question
under "N more on this page". Front matter ``search: article_boost: N`` sets the boost of
the page's own entry alone, after Material has written ``search/search_index.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

# Page URL (the location of its own search entry) -> boost; kept across `serve` rebuilds,
# where Material re-indexes only the pages that changed.
_article_boosts: dict[str, float] = {}


def on_page_context(context: Any, page: Any, config: Any, nav: Any) -> Any:
    search = page.meta.get("search")
    boost = search.get("article_boost") if isinstance(search, dict) else None
    if isinstance(boost, (int, float)) and not isinstance(boost, bool):
        _article_boosts[page.url] = float(boost)
    else:
        _article_boosts.pop(page.url, None)
    return context


@event_priority(-100)  # after Material's search plugin has written the index
def on_post_build(config: Any) -> None:
    path = Path(config.site_dir) / "search" / "search_index.json"
    if not _article_boosts or not path.is_file():
        return
    index = json.loads(path.read_text("utf-8"))
    for entry in index.get("docs", []):
        boost = _article_boosts.get(entry.get("location"))
        if boost is not None:
            entry["boost"] = boost
    path.write_text(json.dumps(index, separators=(",", ":")), "utf-8")
