"""The outputs of one code cell, rendered as a safe fragment of a MkDocs page.

Everything an output carries is untrusted (DESIGN.md, "Security model"): text is escaped,
HTML and SVG go through an nh3 allowlist, images become asset files. The fragment is made of
raw HTML blocks, each starting at the beginning of a line and separated by blank lines, so
python-markdown stores them as they are and never reads Markdown inside them, and of
Markdown image lines for the asset files.

The HTML of each block comes from the autoescaped macros of ``partials/outputs.html.j2``.
Pure functions: the caller writes :attr:`RenderedOutputs.assets` where it writes the page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import markdown  # type: ignore[import-untyped,unused-ignore]
import nh3
from markupsafe import Markup

from runbook.checks.result import MIME_TYPE
from runbook.render.templates import Templates, package_templates
from runbook.render.text import FENCE_ENTITIES

#: Results of ``runbook.checks``: shown as a status table with the site's own badges.
CHECK_MIME = MIME_TYPE
CHECK_STATUSES = {"pass": "succeeded", "warn": "stale", "fail": "failed"}

#: Richest first: the first of these an output carries is the one shown.
MIME_PREFERENCE = (
    CHECK_MIME,
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "text/html",
    "text/markdown",
    "application/json",
    "text/plain",
)

_IMAGE_FORMATS = {
    "image/png": ("PNG", ".png", (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ("JPEG", ".jpg", (b"\xff\xd8\xff",)),
}

_BAD_IMAGE = "Output image {number} could not be shown: {problem}."

# -- text ---------------------------------------------------------------------------------

# CSI (colours, cursor moves), OSC (titles, hyperlinks) and the two-character escapes.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
# Control characters other than tab and newline. Python-markdown marks its own placeholders
# with STX/ETX, so none of these may pass through.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _joined(value: Any) -> str:
    """Notebook text, stored either as one string or as a list of lines."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return value if isinstance(value, str) else str(value)


def _terminal_line(line: str) -> str:
    """One line as a terminal leaves it: ``\\r`` returns to the start, ``\\b`` steps back."""
    cells: list[str] = []
    cursor = 0
    for char in line:
        if char == "\r":
            cursor = 0
        elif char == "\b":
            cursor = max(cursor - 1, 0)
        elif cursor < len(cells):
            cells[cursor] = char
            cursor += 1
        else:
            cells.append(char)
            cursor += 1
    return "".join(cells)


def terminal_text(text: str) -> str:
    """Text as a terminal would show it: ANSI codes removed, progress-bar overwrites applied.

    Args:
        text: Raw stream or traceback text.

    Returns:
        The text with escape sequences and other control characters removed, and every line
        in the last state ``\\r`` and ``\\b`` left it in. Trailing newlines are dropped.
    """
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    lines = (_terminal_line(line) for line in text.split("\n"))
    return _CONTROLS.sub("", "\n".join(lines)).rstrip("\n")


#: Absolute paths of installed packages, of the ``runbook`` package's source tree and of
#: the standard library, shortened to the path inside the package (or ``pythonX.Y/``).
_PATH_PREFIXES = (
    (re.compile(r"(?<![\w./-])/(?:[^\s/:'\"]+/)*?(?:site|dist)-packages/"), ""),
    (re.compile(r"(?<![\w./-])/(?:[^\s/:'\"]+/)*?src/(runbook/)"), r"\1"),
    (re.compile(r"(?<![\w./-])/(?:[^\s/:'\"]+/)*?lib/(python3\.\d+/)"), r"\1"),
)


def relative_paths(text: str, roots: Sequence[str] = ()) -> str:
    """``text`` (a traceback, an error message) with the absolute paths of the machine that
    ran it shortened: installed packages and the ``runbook`` source tree to the path inside
    the package (``runbook/checks/result.py``), files under a folder of ``roots`` (the
    project) to the path relative to it."""
    for pattern, replacement in _PATH_PREFIXES:
        text = pattern.sub(replacement, text)
    for root in roots:
        text = re.sub(rf"(?<![\w./-]){re.escape(root.rstrip('/'))}/", "", text)
    return text


def _plain(text: str) -> str:
    """Text that is not terminal output (HTML, Markdown): line ends unified, controls dropped."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _line_count(text: str) -> int:
    return len(text.splitlines())


# -- sanitizing ---------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col"}
    | {"p", "div", "span", "br", "hr", "b", "strong", "i", "em", "u", "s", "small", "sub", "sup"}
    | {"code", "pre", "kbd", "blockquote", "ul", "ol", "li", "dl", "dt", "dd"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "a", "img"}
)
_HTML_ATTRIBUTES = {
    "*": {"class", "title", "colspan", "rowspan", "align"},
    "a": {"href"},
    "img": {"src", "alt"},
}
# Removed together with their content rather than unwrapped to text.
_HTML_DROPPED = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "embed", "textarea"}
    | {"select", "title", "svg", "math", "head"}
)
_HTML_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_PREFIXES = {"href": ("http://", "https://", "mailto:"), "src": ("http://", "https://")}
_LINK_REL = "noopener noreferrer nofollow"

_SVG_TAGS = frozenset(
    {"svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan"}
    | {"title", "desc", "defs", "linearGradient", "radialGradient", "stop", "clipPath", "marker"}
    | {"pattern"}
)
_SVG_PRESENTATION = frozenset(
    {"fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity"}
    | {"stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset"}
    | {"stroke-miterlimit", "opacity", "color", "visibility", "display", "clip-rule"}
    | {"font-family", "font-size", "font-weight", "font-style", "font-variant", "text-anchor"}
    | {"dominant-baseline", "alignment-baseline", "baseline-shift", "letter-spacing"}
    | {"word-spacing", "text-decoration", "stop-color", "stop-opacity", "paint-order"}
    | {"shape-rendering", "text-rendering", "vector-effect", "white-space"}
)
_SVG_ATTRIBUTES = {
    "*": _SVG_PRESENTATION
    | {"id", "class", "style", "transform", "clip-path", "marker-start", "marker-mid", "marker-end"}
    | {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr"}
    | {"width", "height", "d", "points", "pathLength", "dx", "dy", "rotate"}
    | {"textLength", "lengthAdjust", "offset", "viewBox", "preserveAspectRatio"}
    | {"gradientUnits", "gradientTransform", "spreadMethod", "clipPathUnits"}
    | {"markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient"}
    | {"patternUnits", "patternContentUnits", "patternTransform"},
}
_SVG_DROPPED = frozenset({"script", "style", "foreignObject", "metadata", "noscript", "iframe"})
# A paint or clip reference to an element of the same SVG, with an optional fallback colour.
_LOCAL_REFERENCE = re.compile(r"""\s*url\(\s*(['"]?)#([\w.:-]+)\1\s*\)\s*([#\w]*)\s*""")
_STYLE_VALUE = re.compile(r"""[-+#%.,'"()\w\s]*""")
# Class names of the site's own components: an output may not dress up as a status badge.
_RESERVED_CLASS = re.compile(r"(?:md|rb|admonition|tabbed)(?:-|$)")

AttributeFilter = Callable[[str, str, str], str | None]


def _one_line(value: str) -> str:
    """Attribute values on one line, so no line of the fragment starts inside an attribute."""
    return re.sub(r"\s", " ", value)


def _allowed_classes(value: str) -> str | None:
    kept = [name for name in value.split() if not _RESERVED_CLASS.match(name.lower())]
    return " ".join(kept) or None


def _html_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Second line of defence after nh3's own checks: absolute URLs only, no reserved classes."""
    value = _one_line(value)
    if attribute in _URL_PREFIXES:
        return value if value.strip().lower().startswith(_URL_PREFIXES[attribute]) else None
    if attribute == "class":
        return _allowed_classes(value)
    return value


def sanitize_html(fragment: str) -> str:
    """HTML from an output, reduced to tables, text formatting, links and plain images.

    Args:
        fragment: Untrusted HTML.

    Returns:
        HTML with no script, no event handler, no style, and links and images limited to
        ``http``/``https`` (and ``mailto`` for links), ready to embed in a raw HTML block.
    """
    cleaned = nh3.clean(
        _plain(fragment),
        tags=set(_HTML_TAGS),
        clean_content_tags=set(_HTML_DROPPED),
        attributes=_HTML_ATTRIBUTES,
        attribute_filter=_html_attribute,
        url_schemes=set(_HTML_URL_SCHEMES),
        link_rel=_LINK_REL,
        strip_comments=True,
    )
    return cleaned.translate(FENCE_ENTITIES)


def _svg_id(prefix: str, value: str) -> str:
    return prefix + re.sub(r"[^\w.-]", "_", value)


def _svg_reference(prefix: str, value: str) -> str | None:
    """``url(#id)`` rewritten to the prefixed id; ``None`` for any other ``url(...)``."""
    match = _LOCAL_REFERENCE.fullmatch(value)
    if match is None:
        return None
    fallback = f" {match.group(3)}" if match.group(3) else ""
    return f"url(#{_svg_id(prefix, match.group(2))}){fallback}"


def _svg_style(value: str) -> str | None:
    """Inline style reduced to presentation properties with plain values (no ``url()``)."""
    kept = []
    for declaration in value.split(";"):
        name, colon, setting = declaration.partition(":")
        name, setting = name.strip().lower(), setting.strip()
        if (
            colon
            and name in _SVG_PRESENTATION
            and _STYLE_VALUE.fullmatch(setting)
            and "url" not in setting.lower()
            and "expression" not in setting.lower()
        ):
            kept.append(f"{name}:{setting}")
    return ";".join(kept) or None


def _svg_attribute_filter(prefix: str) -> AttributeFilter:
    """The attribute filter for one SVG: ids get ``prefix`` so they cannot clash with the page."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        value = _one_line(value)
        if "\\" in value or "/*" in value:
            return None
        if attribute == "id":
            return _svg_id(prefix, value)
        if attribute == "class":
            return _allowed_classes(value)
        if attribute == "style":
            return _svg_style(value)
        if "url" in value.lower():
            return _svg_reference(prefix, value)
        return value

    return keep


def sanitize_svg(document: str, *, id_prefix: str) -> str:
    """An SVG image from an output, reduced to shapes, text, gradients, clips and markers.

    Args:
        document: Untrusted SVG (an ``<?xml ...?>`` prolog and a DOCTYPE are dropped).
        id_prefix: Put before every ``id`` and local ``url(#...)`` reference, so ids from
            different outputs, and from the page itself, cannot collide.

    Returns:
        Inline SVG with no script, event handler, link, ``use``, ``foreignObject``, external
        reference or ``url()`` in a style.
    """
    cleaned = nh3.clean(
        _plain(document),
        tags=set(_SVG_TAGS),
        clean_content_tags=set(_SVG_DROPPED),
        attributes=_SVG_ATTRIBUTES,
        attribute_filter=_svg_attribute_filter(id_prefix),
        url_schemes=set(),
        link_rel=None,
        strip_comments=True,
    )
    return cleaned.translate(FENCE_ENTITIES)


def _markdown_html(text: str) -> str:
    """Markdown from an output converted to HTML; the caller still has to sanitize it."""
    converted: str = markdown.markdown(
        _plain(text), extensions=["tables", "fenced_code"], output_format="html"
    )
    return converted


# -- blocks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedOutputs:
    """The outputs of one code cell, ready to be placed in a page.

    Attributes:
        markdown: Markdown and raw HTML to place at the top level of a MkDocs page (not
            indented, not inside a list), ``''`` when the cell has no outputs.
        assets: Asset files to write: path relative to the docs root -> content.
        searchable: ``False`` when every output was folded out of the search index.
    """

    markdown: str
    assets: dict[str, bytes]
    searchable: bool


@dataclass(frozen=True)
class _Block:
    """One output, rendered: raw HTML or Markdown, and the asset files it links to."""

    body: str
    searchable: bool = True
    assets: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class _Place:
    """Where asset files go and how the page links to them, the folding threshold, and the
    templates the blocks are rendered with."""

    assets_dir: str
    assets_link: str
    fold_lines: int
    templates: Templates
    path_roots: Sequence[str] = ()

    def html(self, macro: str, /, *args: Any) -> Markup:
        """A block's HTML, from the ``outputs`` partial."""
        return self.templates.html("outputs", macro, *args)


def _text_block(body: Markup, line_count: int, place: _Place) -> _Block:
    if line_count > place.fold_lines:
        return _Block(str(place.html("folded", body, line_count)), searchable=False)
    return _Block(str(body))


def _stream_block(output: Mapping[str, Any], place: _Place) -> _Block | None:
    text = terminal_text(_joined(output.get("text", "")))
    if not text:
        return None
    stream = "rb-stderr" if output.get("name") == "stderr" else "rb-stdout"
    return _text_block(place.html("pre", text, f"rb-output {stream}"), _line_count(text), place)


def _error_block(output: Mapping[str, Any], place: _Place) -> _Block:
    """A failure admonition; a long traceback is folded, the title stays visible and indexed."""
    ename = terminal_text(str(output.get("ename", "Error")))
    evalue = relative_paths(terminal_text(str(output.get("evalue", ""))), place.path_roots)
    title = f"{ename}: {evalue}" if evalue else ename
    traceback = terminal_text("\n".join(_joined(line) for line in output.get("traceback", [])))
    traceback = relative_paths(traceback, place.path_roots)
    shown: Markup | None = None
    if traceback:
        shown = place.html("pre", traceback, "rb-traceback")
        lines = _line_count(traceback)
        shown = place.html("folded", shown, lines) if lines > place.fold_lines else shown
    return _Block(str(place.html("error", title, shown)))


def _image_block(mime: str, data: Any, index: int, number: int, place: _Place) -> _Block:
    """A PNG or JPEG written as an asset file and shown with a Markdown image."""
    label, extension, signatures = _IMAGE_FORMATS[mime]
    try:
        content = base64.b64decode(re.sub(r"\s", "", _joined(data)), validate=True)
    except (binascii.Error, ValueError):
        return _image_problem(number, f"the {label} data is not valid base64", place)
    if not content.startswith(signatures):
        return _image_problem(number, f"the data is not a {label} image", place)
    name = f"output-{index}-{hashlib.sha256(content).hexdigest()[:16]}{extension}"
    link = quote(f"{place.assets_link}/{name}")
    body = f"![Output image {number}]({link}){{ .rb-output-image }}"
    return _Block(body, assets={f"{place.assets_dir}/{name}": content})


def _image_problem(number: int, problem: str, place: _Place) -> _Block:
    return _Block(str(place.html("note", _BAD_IMAGE.format(number=number, problem=problem))))


def _svg_block(data: Any, index: int, place: _Place) -> _Block | None:
    document = _joined(data)
    digest = hashlib.sha256(f"{place.assets_dir}\0{index}\0{document}".encode()).hexdigest()[:10]
    svg = sanitize_svg(document, id_prefix=f"rb-{digest}-")
    return _Block(str(place.html("fragment", "svg", Markup(svg)))) if svg.strip() else None


def _data_block(output: Mapping[str, Any], index: int, image_number: int, place: _Place) -> _Block | None:
    """A display_data or execute_result, shown in its richest known MIME type."""
    data = output.get("data") or {}
    mime = next((m for m in MIME_PREFERENCE if m in data), None)
    if mime is None:
        return None
    value = data[mime]
    if mime in _IMAGE_FORMATS:
        return _image_block(mime, value, index, image_number, place)
    if mime == "image/svg+xml":
        return _svg_block(value, index, place)
    if mime == CHECK_MIME:
        return _checks_block(value, place)
    plain_lines = _line_count(terminal_text(_joined(data["text/plain"]))) if "text/plain" in data else None
    if mime == "text/html":
        body = place.html("fragment", "html", Markup(sanitize_html(_joined(value))))
        return _text_block(body, plain_lines or _line_count(_plain(_joined(value))), place)
    if mime == "text/markdown":
        converted = Markup(sanitize_html(_markdown_html(_joined(value))))
        body = place.html("fragment", "markdown", converted)
        return _text_block(body, _line_count(_plain(_joined(value))), place)
    if mime == "application/json":
        text = _CONTROLS.sub("", json.dumps(value, indent=2, ensure_ascii=False, default=str))
        return _text_block(place.html("pre", text, "rb-output rb-json"), _line_count(text), place)
    text = terminal_text(_joined(value))
    if not text:
        return None
    return _text_block(place.html("pre", text, "rb-output rb-result"), _line_count(text), place)


def _checks_block(value: Any, place: _Place) -> _Block | None:
    """A table of check results: status badge, check, detail; every value escaped."""
    items = value if isinstance(value, list) else [value]
    rows = [
        {
            "badge": CHECK_STATUSES.get(str(item.get("status", "unknown")), "never-run"),
            "status": str(item.get("status", "unknown")),
            "name": str(item.get("name", "")),
            "detail": str(item.get("detail", "")),
        }
        for item in items
        if isinstance(item, dict)
    ]
    return _Block(str(place.html("checks", rows))) if rows else None


def _merged_streams(outputs: list[dict[str, Any]]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Outputs with runs of the same stream joined into one; each with its first index."""
    pending: tuple[int, str, list[str]] | None = None
    for index, output in enumerate(outputs):
        if output.get("output_type") == "stream":
            name = str(output.get("name", "stdout"))
            if pending is not None and pending[1] == name:
                pending[2].append(_joined(output.get("text", "")))
                continue
            if pending is not None:
                yield pending[0], {"output_type": "stream", "name": pending[1], "text": "".join(pending[2])}
            pending = (index, name, [_joined(output.get("text", ""))])
            continue
        if pending is not None:
            yield pending[0], {"output_type": "stream", "name": pending[1], "text": "".join(pending[2])}
            pending = None
        yield index, output
    if pending is not None:
        yield pending[0], {"output_type": "stream", "name": pending[1], "text": "".join(pending[2])}


def _is_image(output: Mapping[str, Any]) -> bool:
    data = output.get("data") or {}
    return next((m for m in MIME_PREFERENCE if m in data), None) in _IMAGE_FORMATS


def render_outputs(
    outputs: list[dict[str, Any]],
    *,
    assets_dir: str,
    assets_link: str,
    fold_lines: int = 50,
    templates: Templates | None = None,
    path_roots: Sequence[str] = (),
) -> RenderedOutputs:
    """Render the outputs of one code cell as a fragment of a MkDocs page.

    Args:
        outputs: nbformat v4 output dicts (``stream``, ``display_data``, ``execute_result``,
            ``error``) of one code cell.
        assets_dir: Folder for image files, relative to the docs root, e.g.
            ``runbooks/health/disk-space.assets/20261129T171446.252Z-31a2e6``.
        assets_link: The same folder relative to the page's Markdown source, e.g.
            ``disk-space.assets/20261129T171446.252Z-31a2e6``.
        fold_lines: Output longer than this many lines is folded into a closed
            ``<details>`` kept out of the search index.
        templates: The templates of the render (default: the package's own).
        path_roots: Folders (the project's root) whose absolute paths a traceback shows
            relative to them; installed packages are always shown by their path inside the
            package (:func:`relative_paths`).

    Returns:
        The fragment, the asset files it links to (named by output index and content hash,
        so the same run always gives the same names), and whether any of it is searchable.
    """
    place = _Place(
        assets_dir.rstrip("/"),
        assets_link.rstrip("/"),
        fold_lines,
        templates or package_templates(),
        tuple(path_roots),
    )
    blocks: list[_Block] = []
    image_number = 0
    for index, output in _merged_streams(outputs):
        kind = output.get("output_type")
        block: _Block | None = None
        if kind == "stream":
            block = _stream_block(output, place)
        elif kind == "error":
            block = _error_block(output, place)
        elif kind in ("display_data", "execute_result"):
            if _is_image(output):
                image_number += 1
            block = _data_block(output, index, image_number, place)
        if block is not None:
            blocks.append(block)
    if not blocks:
        return RenderedOutputs(markdown="", assets={}, searchable=True)
    return RenderedOutputs(
        markdown="\n\n".join(block.body for block in blocks) + "\n",
        assets={path: content for block in blocks for path, content in block.assets.items()},
        searchable=any(block.searchable for block in blocks),
    )
