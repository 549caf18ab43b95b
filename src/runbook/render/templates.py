"""The page templates of one render, read once and fingerprinted by their content.

Templates are looked up first in the project's ``overrides/runbook/`` folder, then in the
package's ``templates/``: a team restyles a page by copying one file. :meth:`Templates.load`
reads every template of that search path, so the digest it computes names exactly the
text the pages are rendered from: an upgrade of the package that keeps file times, or an
edited override, still gives a new digest, and the render cache keys on it.

Markdown templates (``*.md.j2``) use ``StrictUndefined`` and explicit escaping: user text
goes through the ``md`` (Markdown) or ``h`` (HTML) filter. HTML partials
(``partials/*.html.j2``), the fragments a page embeds (badges, times, step headers, output
blocks), are macros rendered with autoescape on; their ``inert`` filter escapes output
text so no Markdown processor reads it as syntax either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from runbook.errors import RunbookError
from runbook.render.text import html_text, inert_html, md_text

OVERRIDES = "overrides/runbook"
#: The package's own templates.
PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_HTML_SUFFIX = ".html.j2"


@dataclass(frozen=True)
class Templates:
    """Every template of a search path, by name; the first folder that has a name wins.

    Attributes:
        digest: SHA-256 of every template's name and text: what the render cache keys on.
        sources: template text by name (``runbook.md.j2``, ``partials/page.html.j2``).
    """

    digest: str
    sources: dict[str, str] = field(compare=False, hash=False, repr=False)
    _macros: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def load(cls, folders: Iterable[Path]) -> Templates:
        """Read the templates of ``folders``, in lookup order (missing folders are skipped).

        Raises:
            RunbookError: a template that is not readable UTF-8 text, naming the file.
        """
        sources: dict[str, str] = {}
        for folder in folders:
            for path in sorted(folder.rglob("*.j2")) if folder.is_dir() else ():
                sources.setdefault(path.relative_to(folder).as_posix(), _read(path))
        digest = hashlib.sha256()
        for name in sorted(sources):
            digest.update(f"{name}\0{sources[name]}\0".encode())
        return cls(digest.hexdigest(), sources)

    def markdown(self, name: str, **context: Any) -> str:
        """Render the Markdown template ``name`` with ``context``."""
        return _environment(self).get_template(name).render(**context)

    def html(self, partial: str, macro: str, /, *args: Any, **kwargs: Any) -> Markup:
        """Call ``macro`` of ``partials/<partial>.html.j2``: an autoescaped HTML fragment."""
        found = self._macros.get((partial, macro))
        if found is None:
            template = _environment(self).get_template(f"partials/{partial}{_HTML_SUFFIX}")
            found = self._macros[partial, macro] = getattr(template.module, macro)
        result: Markup = found(*args, **kwargs)
        return result


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookError(f"{path}: cannot read this template ({exc}); save it as UTF-8 text") from None


@lru_cache(maxsize=1)
def package_templates() -> Templates:
    """The package's templates alone, for fragments rendered outside a site render."""
    return Templates.load([PACKAGE_TEMPLATES])


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(_HTML_SUFFIX)


def _inert(value: Any) -> Markup:
    return Markup(inert_html(str(value)))


@lru_cache(maxsize=8)
def _environment(templates: Templates) -> jinja2.Environment:
    """One compiled environment per distinct set of templates (by digest)."""
    env = jinja2.Environment(
        loader=jinja2.DictLoader(templates.sources),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,  # HTML partials only; Markdown escapes explicitly, per context
        keep_trailing_newline=True,
        trim_blocks=False,
        auto_reload=False,
    )
    env.filters["md"] = md_text
    env.filters["h"] = html_text
    env.filters["inert"] = _inert
    return env
