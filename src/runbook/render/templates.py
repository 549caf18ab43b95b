"""The Jinja2 environment for page templates.

Templates are looked up first in the project's ``overrides/runbook/`` folder, then in the
package's ``templates/``: a team restyles a page by copying one file. Markdown templates
use ``StrictUndefined``; user text goes through the ``md`` (Markdown) or ``h`` (HTML) filter.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from runbook.render.text import html_text, md_text

OVERRIDES = "overrides/runbook"


@lru_cache(maxsize=8)
def environment(project_root: str | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if project_root is not None:
        loaders.append(jinja2.FileSystemLoader(str(Path(project_root) / OVERRIDES)))
    loaders.append(jinja2.PackageLoader("runbook", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown templates: escaping is explicit, per context
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    env.filters["md"] = md_text
    env.filters["h"] = html_text
    return env


def render(name: str, project_root: str | None = None, **context: Any) -> str:
    """Render template ``name`` with ``context``."""
    return environment(project_root).get_template(name).render(**context)
