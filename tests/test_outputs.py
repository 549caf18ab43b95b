"""Rendering cell outputs into a runbook page: what a reader sees, and what never runs.

Every fragment goes through the real python-markdown with the site's extensions and the
resulting page HTML is parsed with ``html.parser``, so the assertions are about the page a
browser would get, not about the fragment's text.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from html.parser import HTMLParser

import markdown
import pytest

from runbook.render.outputs import RenderedOutputs, render_outputs

ASSETS_DIR = "runbooks/health/disk-space.assets/20261129T171446.252Z-31a2e6"
ASSETS_LINK = "disk-space.assets/20261129T171446.252Z-31a2e6"
EXTENSIONS = ["md_in_html", "attr_list", "admonition", "pymdownx.details", "pymdownx.superfences"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"


# -- helpers -----------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, tag: str, class_: str | None = None) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and (class_ is None or class_ in n.classes)]

    def find(self, tag: str, class_: str | None = None) -> Node:
        found = self.find_all(tag, class_)
        assert found, f"no <{tag} class={class_!r}> in the page"
        return found[0]

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class TreeBuilder(HTMLParser):
    """A small DOM from html.parser: every start tag, with its (unescaped) attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root")
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def page_html(fragment: str) -> str:
    """The fragment placed in a page between two paragraphs, as python-markdown builds it."""
    return markdown.markdown(f"Before.\n\n{fragment}\nAfter.\n", extensions=EXTENSIONS)


def page(fragment: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page_html(fragment))
    builder.close()
    return builder.root


def render(*outputs: dict, fold_lines: int = 50) -> RenderedOutputs:
    return render_outputs(
        list(outputs), assets_dir=ASSETS_DIR, assets_link=ASSETS_LINK, fold_lines=fold_lines
    )


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def display(data: dict, kind: str = "display_data") -> dict:
    output = {"output_type": kind, "data": data, "metadata": {}}
    if kind == "execute_result":
        output["execution_count"] = 1
    return output


def error(ename: str, evalue: str, traceback: list[str]) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


# -- text --------------------------------------------------------------------------------


def test_stdout_is_shown_as_preformatted_text():
    root = page(render(stream("disk usage: 41%\n/var: ok\n")).markdown)

    pre = root.find("pre", "rb-stdout")
    assert "rb-output" in pre.classes
    assert pre.find("code").text() == "disk usage: 41%\n/var: ok"
    assert pre.parent.tag == "#root", "the block must be raw HTML, not wrapped in a paragraph"


def test_consecutive_stream_outputs_are_merged_and_stderr_is_distinct():
    rendered = render(stream("one\n"), stream("two\n"), stream("careful\n", "stderr"), stream("three\n"))
    root = page(rendered.markdown)

    blocks = [(pre.classes[-1], pre.text()) for pre in root.find_all("pre", "rb-output")]
    assert blocks == [("rb-stdout", "one\ntwo"), ("rb-stderr", "careful"), ("rb-stdout", "three")]


def test_stream_text_given_as_a_list_of_lines_is_joined():
    root = page(render(stream(["first\n", "second\n"])).markdown)  # type: ignore[arg-type]

    assert root.find("pre", "rb-stdout").text() == "first\nsecond"


def test_ansi_colour_and_hyperlink_codes_are_removed():
    text = "\x1b[1;31mFAILED\x1b[0m \x1b]8;;https://x.example\x1b\\link\x1b]8;;\x1b\\ \x1b[2Kdone\n"
    rendered = render(stream(text), error("E", "\x1b[33mbad\x1b[0m", ["\x1b[0;31mTraceback\x1b[0m here"]))
    root = page(rendered.markdown)

    assert root.find("pre", "rb-stdout").text() == "FAILED link done"
    assert root.find("p", "admonition-title").text() == "E: bad"
    assert root.find("pre", "rb-traceback").text() == "Traceback here"
    assert "\x1b" not in rendered.markdown and "[0m" not in rendered.markdown


def test_carriage_return_progress_keeps_the_last_state_of_each_line():
    bars = "  0%|     | 0/3\r 33%|#    | 1/3\r100%|#####| 3/3\nabcdef\rXY\nwindows\r\nend"
    root = page(render(stream(bars[:20]), stream(bars[20:])).markdown)

    assert root.find("pre", "rb-stdout").text() == "100%|#####| 3/3\nXYcdef\nwindows\nend"


def test_text_plain_result_is_shown_as_a_result():
    root = page(render(display({"text/plain": "42"}, "execute_result")).markdown)

    pre = root.find("pre", "rb-result")
    assert pre.text() == "42" and "rb-output" in pre.classes


def test_output_text_is_never_read_as_markdown():
    text = "# not a heading\n**not bold** [x](https://x.example) <b>no</b>\n```\nnot a fence\n```\n    not code\n"
    root = page(render(stream(text), display({"text/plain": text})).markdown)

    for pre in root.find_all("pre", "rb-output"):
        assert pre.text() == text.rstrip("\n")
    assert not root.find_all("h1") and not root.find_all("strong") and not root.find_all("b")
    assert not root.find_all("a") and len(root.find_all("pre")) == 2


def test_json_is_pretty_printed_and_escaped():
    root = page(render(display({"application/json": {"disk": "/var", "used": [41, "<b>"]}})).markdown)

    pre = root.find("pre", "rb-json")
    assert pre.text() == '{\n  "disk": "/var",\n  "used": [\n    41,\n    "<b>"\n  ]\n}'
    assert not root.find_all("b")


# -- rich outputs ------------------------------------------------------------------------

PANDAS_HTML = """<div>
<style scoped>
    .dataframe tbody tr th:only-of-type { vertical-align: middle; }
    .dataframe thead th { text-align: right; }
</style>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;">
      <th></th>
      <th>mount</th>
      <th>used</th>
    </tr>
  </thead>
  <tbody>
    <tr>
      <th>0</th>
      <td>/var</td>
      <td>41%</td>
    </tr>
    <tr>
      <th>1</th>
      <td>/home</td>
      <td>87%</td>
    </tr>
  </tbody>
</table>
</div>"""


def test_pandas_dataframe_html_renders_as_a_table_without_its_style():
    rendered = render(display({"text/html": PANDAS_HTML, "text/plain": "  mount used\n0 /var 41%"}))
    root = page(rendered.markdown)

    wrapper = root.find("div", "rb-html")
    assert "rb-output" in wrapper.classes
    table = wrapper.find("table", "dataframe")
    cells = [[c.text() for c in row.walk() if c.tag in ("th", "td")] for row in table.find_all("tr")]
    assert cells == [["", "mount", "used"], ["0", "/var", "41%"], ["1", "/home", "87%"]]
    assert not root.find_all("style") and "vertical-align" not in rendered.markdown
    assert all("style" not in n.attrs for n in root.walk())


def test_html_links_keep_web_targets_and_get_a_safe_rel():
    html = (
        '<p><a href="https://grafana.example/d/1">dash</a> <a href="mailto:ops@example.com">mail</a>'
        ' <a href="ftp://x.example/f">ftp</a> <img src="https://x.example/a.png" alt="chart"></p>'
    )
    root = page(render(display({"text/html": html})).markdown)

    links = {a.text(): a.attrs for a in root.find("div", "rb-html").find_all("a")}
    assert links["dash"] == {"href": "https://grafana.example/d/1", "rel": "noopener noreferrer nofollow"}
    assert links["mail"]["href"] == "mailto:ops@example.com"
    assert "href" not in links["ftp"]
    assert root.find("img").attrs == {"src": "https://x.example/a.png", "alt": "chart"}


def test_html_cannot_borrow_the_site_s_own_classes():
    html = '<div class="admonition success md-banner rb-badge note">Fake: all good</div>'
    root = page(render(display({"text/html": html})).markdown)

    inner = root.find("div", "rb-html").find("div")
    assert inner.classes == ["success", "note"] and inner.text() == "Fake: all good"


def test_markdown_output_is_converted_and_sanitized():
    text = "# Disk report\n\n*All* mounts are **fine**.\n\n| mount | used |\n|---|---|\n| /var | 41% |\n"
    root = page(render(display({"text/markdown": text, "text/plain": "report"})).markdown)

    wrapper = root.find("div", "rb-markdown")
    assert wrapper.find("h1").text() == "Disk report"
    assert wrapper.find("strong").text() == "fine" and wrapper.find("em").text() == "All"
    assert [td.text() for td in wrapper.find_all("td")] == ["/var", "41%"]


SVG = """<?xml version="1.0" encoding="utf-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="120pt" height="80pt" viewBox="0 0 120 80" version="1.1">
 <metadata>created by a plotting library</metadata>
 <defs>
  <style type="text/css">*{stroke-linecap: butt}</style>
  <linearGradient id="fade" x1="0" y1="0" x2="1" y2="0" gradientUnits="objectBoundingBox">
   <stop offset="0" stop-color="#2a9d8f"/><stop offset="1" style="stop-color: #e76f51; stop-opacity: 0.5"/>
  </linearGradient>
  <clipPath id="plot-area"><rect x="10" y="10" width="100" height="60"/></clipPath>
 </defs>
 <g id="axes" clip-path="url(#plot-area)">
  <rect x="10" y="10" width="100" height="60" fill="url(#fade)"/>
  <path d="M 10 70 L 60 20 L 110 40" style="fill: none; stroke: #264653; stroke-width: 1.5"/>
  <polyline points="10,70 60,20" stroke="black"/>
  <text x="60" y="78" text-anchor="middle" font-size="8">load<tspan dy="-2">avg</tspan></text>
 </g>
</svg>"""


def test_svg_is_inlined_with_its_geometry_and_case_sensitive_names():
    rendered = render(display({"image/svg+xml": SVG, "text/plain": "<Figure>"}))
    root = page(rendered.markdown)

    svg = root.find("div", "rb-svg").find("svg")
    assert 'viewBox="0 0 120 80"' in rendered.markdown and "<linearGradient " in rendered.markdown
    assert svg.attrs == {"width": "120pt", "height": "80pt", "viewbox": "0 0 120 80"}
    assert svg.find("path").attrs["style"] == "fill:none;stroke:#264653;stroke-width:1.5"
    assert svg.find("polyline").attrs["points"] == "10,70 60,20"
    assert svg.find("text").text() == "loadavg"
    assert "created by" not in rendered.markdown and "stroke-linecap" not in rendered.markdown
    assert rendered.assets == {}


def test_svg_ids_are_prefixed_and_local_references_follow_them():
    root = page(render(display({"image/svg+xml": SVG})).markdown)

    gradient_id = root.find("lineargradient").attrs["id"]
    clip_id = root.find("clippath").attrs["id"]
    assert gradient_id.endswith("-fade") and gradient_id != "fade"
    assert root.find("rect").attrs == {"x": "10", "y": "10", "width": "100", "height": "60"}
    assert root.find("g").attrs["clip-path"] == f"url(#{clip_id})"
    assert root.find_all("rect")[1].attrs["fill"] == f"url(#{gradient_id})"


def test_png_and_jpeg_become_asset_files_linked_from_the_page():
    rendered = render(
        stream("before\n"),
        display({"image/png": b64(PNG) + "\n", "text/plain": "<Figure>"}),
        display({"image/jpeg": b64(JPEG)}),
    )
    root = page(rendered.markdown)

    png_name = f"output-1-{hashlib.sha256(PNG).hexdigest()[:16]}.png"
    jpeg_name = f"output-2-{hashlib.sha256(JPEG).hexdigest()[:16]}.jpg"
    assert rendered.assets == {f"{ASSETS_DIR}/{png_name}": PNG, f"{ASSETS_DIR}/{jpeg_name}": JPEG}
    images = [img.attrs for img in root.find_all("img")]
    assert images == [
        {"alt": "Output image 1", "class": "rb-output-image", "src": f"{ASSETS_LINK}/{png_name}"},
        {"alt": "Output image 2", "class": "rb-output-image", "src": f"{ASSETS_LINK}/{jpeg_name}"},
    ]


def test_asset_names_are_deterministic_and_follow_the_content():
    first = render(display({"image/png": b64(PNG)}), display({"image/png": b64(PNG + b"x")}))
    again = render(display({"image/png": b64(PNG)}), display({"image/png": b64(PNG + b"x")}))

    assert first == again
    assert len(set(first.assets)) == 2


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("not base64 at all!", "the PNG data is not valid base64"),
        (b64(b"<svg onload=alert(1)>"), "the data is not a PNG image"),
    ],
)
def test_broken_image_data_gives_a_note_instead_of_an_asset(data, problem):
    rendered = render(display({"image/png": data}))
    root = page(rendered.markdown)

    assert rendered.assets == {}
    assert root.find("p", "rb-note").text() == f"Output image 1 could not be shown: {problem}."
    assert not root.find_all("img")


RICHEST_FIRST = [
    ("image/png", b64(PNG), ("img", None)),
    ("image/jpeg", b64(JPEG), ("img", None)),
    ("image/svg+xml", "<svg><rect/></svg>", ("div", "rb-svg")),
    ("text/html", "<b>html</b>", ("div", "rb-html")),
    ("text/markdown", "*md*", ("div", "rb-markdown")),
    ("application/json", {"a": 1}, ("pre", "rb-json")),
    ("text/plain", "plain", ("pre", "rb-result")),
]


@pytest.mark.parametrize("richest", range(len(RICHEST_FIRST)), ids=[m for m, _, _ in RICHEST_FIRST])
def test_the_richest_known_mime_type_wins(richest):
    bundle = {mime: value for mime, value, _ in RICHEST_FIRST[richest:]}
    tag, css_class = RICHEST_FIRST[richest][2]

    root = page(render(display(bundle)).markdown)

    assert root.find(tag, css_class)
    shown = [n for n in root.walk() if "rb-output" in n.classes or "rb-output-image" in n.classes]
    assert len(shown) == 1


def test_unknown_types_fall_back_to_text_plain_or_are_skipped():
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}}

    assert (
        page(render(display({**widget, "text/plain": "IntProgress(value=3)"})).markdown)
        .find("pre", "rb-result")
        .text()
        == "IntProgress(value=3)"
    )
    assert render(display(widget)) == RenderedOutputs(markdown="", assets={}, searchable=True)


def test_no_outputs_render_nothing():
    assert render() == RenderedOutputs(markdown="", assets={}, searchable=True)
    assert render(stream("")).markdown == ""


# -- errors ------------------------------------------------------------------------------


def test_error_is_a_failure_admonition_with_the_traceback():
    traceback = [
        "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
        "\x1b[0;31mFileNotFoundError\x1b[0m                         Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[3], line 1\x1b[0m\n----> 1 open('/nope')",
    ]
    root = page(render(error("FileNotFoundError", "[Errno 2] No such file: '/nope'", traceback)).markdown)

    box = root.find("div", "rb-error")
    assert box.classes == ["admonition", "failure", "rb-error"] and box.parent.tag == "#root"
    assert box.find("p", "admonition-title").text() == "FileNotFoundError: [Errno 2] No such file: '/nope'"
    assert box.find("pre", "rb-traceback").find("code").text().splitlines()[1:] == [
        "FileNotFoundError                         Traceback (most recent call last)",
        "Cell In[3], line 1",
        "----> 1 open('/nope')",
    ]


def test_long_traceback_is_folded_but_the_error_stays_visible():
    rendered = render(error("RuntimeError", "boom", [f"frame {i}" for i in range(80)]))
    root = page(rendered.markdown)

    title = root.find("p", "admonition-title")
    assert title.text() == "RuntimeError: boom"
    assert not any(a.tag == "details" for a in title.ancestors())
    details = root.find("pre", "rb-traceback").parent
    assert details.tag == "details" and "data-search-exclude" in details.attrs
    assert rendered.searchable


# -- long output -------------------------------------------------------------------------


def test_long_output_is_folded_and_kept_out_of_search():
    text = "".join(f"line {i}\n" for i in range(51))
    rendered = render(stream(text))
    root = page(rendered.markdown)

    details = root.find("details", "rb-long")
    assert "data-search-exclude" in details.attrs and "open" not in details.attrs
    assert details.find("summary").text() == "Output: 51 lines"
    assert details.find("pre", "rb-stdout").text() == text.rstrip("\n")
    assert rendered.searchable is False


def test_short_output_stays_searchable():
    rendered = render(stream("".join(f"line {i}\n" for i in range(50))))
    root = page(rendered.markdown)

    assert not root.find_all("details")
    assert rendered.searchable is True
    assert not any("data-search-exclude" in node.attrs for node in root.walk())


def test_only_the_long_outputs_of_a_cell_are_folded():
    long_json = {"items": list(range(10))}
    rendered = render(stream("short\n"), display({"application/json": long_json}), fold_lines=5)
    root = page(rendered.markdown)

    assert root.find("pre", "rb-stdout").parent.tag == "#root"
    assert root.find("pre", "rb-json").parent.tag == "details"
    assert rendered.searchable is True


def test_html_tables_fold_by_the_length_of_their_text_form():
    rows = "".join(f"<tr><td>{i}</td></tr>" for i in range(60))
    plain = "\n".join(str(i) for i in range(60))
    rendered = render(display({"text/html": f"<table>{rows}</table>", "text/plain": plain}))

    details = page(rendered.markdown).find("details", "rb-long")
    assert details.find("summary").text() == "Output: 60 lines"
    assert len(details.find_all("td")) == 60


# -- untrusted output never becomes active content ------------------------------------------

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>x</details>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="  JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="https://ok.example" onclick="alert(1)" onmouseover="alert(1)">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">go</button>'
    "<input onfocus=alert(1) autofocus></form>",
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><script xlink:href="data:,alert(1)"></script></svg>',
    '<svg><use href="data:image/svg+xml;base64,PHN2ZyBpZD0ieCI+PC9zdmc+#x"/></svg>',
    '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="javascript:alert(1)"/></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text x="1" y="9">x</text></a></svg>',
    '<svg><image href="javascript:alert(1)"/></svg>',
    '<svg><animate attributeName="href" values="javascript:alert(1)"/><set attributeName="onclick" to="alert(1)"/></svg>',
    '<svg><foreignObject><iframe src="javascript:alert(1)"></iframe></foreignObject></svg>',
    '<svg><rect style="fill:url(javascript:alert(1))" width="1" height="1"/></svg>',
    '<svg><rect fill="url(https://evil.example/x.svg#p)" width="1" height="1"/></svg>',
    "[x](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    '<div markdown="1">[x](javascript:alert(1))</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<p title="</pre><script>alert(1)</script>">x</p>',
    "```\n</code></pre><script>alert(1)</script>\n```",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<template><script>alert(1)</script></template>",
    "<img src=x onerror=alert(1)//",
]

ACTIVE_ELEMENTS = {
    "script", "iframe", "frame", "object", "embed", "form", "base", "meta", "link", "style",
    "input", "button", "use", "foreignobject", "image", "animate", "set", "template",
}  # fmt: skip
URL_ATTRIBUTES = {
    "href",
    "src",
    "xlink:href",
    "action",
    "formaction",
    "data",
    "srcdoc",
    "poster",
    "background",
}


def as_outputs(kind: str, payload: str) -> list[dict]:
    """``payload`` emitted through one output type."""
    if kind in ("stdout", "stderr"):
        return [stream(payload, kind)]
    if kind == "text/plain":
        return [display({"text/plain": payload}, "execute_result")]
    if kind == "application/json":
        return [display({"application/json": {payload: [payload, {"html": payload}]}})]
    if kind == "image/svg+xml":
        document = payload if payload.lstrip().lower().startswith("<svg") else f"<svg>{payload}</svg>"
        return [display({"image/svg+xml": document})]
    if kind == "error":
        return [error(payload, payload, [payload, f"\x1b[31m{payload}\x1b[0m"])]
    return [display({kind: payload, "text/plain": "fallback"})]


def assert_inert(html: str) -> None:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    for node in builder.root.walk():
        assert node.tag not in ACTIVE_ELEMENTS, f"<{node.tag}> in {html!r}"
        for name, value in node.attrs.items():
            assert not name.startswith("on"), f"{name}= in {html!r}"
            assert name != "srcdoc", html
            target = "".join((value or "").split()).lower()
            if name in URL_ATTRIBUTES:
                assert not target.startswith(("javascript:", "data:", "vbscript:")), f"{name}={value!r}"
            if name == "style":
                assert "url(" not in target, f"style={value!r}"


KINDS = [
    "stdout",
    "stderr",
    "text/plain",
    "text/html",
    "text/markdown",
    "application/json",
    "image/svg+xml",
    "error",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("payload", XSS_PAYLOADS, ids=range(len(XSS_PAYLOADS)))
def test_untrusted_output_cannot_put_active_content_in_the_page(payload, kind):
    rendered = render(*as_outputs(kind, payload))

    assert_inert(page_html(rendered.markdown))
    assert "Before." in page_html(rendered.markdown) and "<p>After.</p>" in page_html(rendered.markdown)


def test_the_safety_check_catches_what_it_looks_for():
    for unsafe in [
        "<script>x</script>",
        '<img src="x" onerror="y">',
        '<a href=" JAVA\nSCRIPT:x">a</a>',
        '<svg><use xlink:href="data:x"/></svg>',
        '<div style="background: URL(x)">a</div>',
        '<iframe srcdoc="x"></iframe>',
    ]:
        with pytest.raises(AssertionError):
            assert_inert(unsafe)


@pytest.mark.parametrize("kind", ["stdout", "stderr", "text/plain"])
@pytest.mark.parametrize("text", ["[x](javascript:alert(1))", "<img src=x onerror=alert(1)>"])
def test_markup_in_output_text_appears_as_literal_text(kind, text):
    root = page(render(*as_outputs(kind, text)).markdown)

    assert root.find("pre", "rb-output").text() == text
    assert not root.find_all("a") and not root.find_all("img")


def test_html_in_an_error_message_appears_as_literal_text():
    root = page(render(error("<b>Bad</b>", "<img src=x onerror=alert(1)>", ["<script>x</script>"])).markdown)

    assert root.find("p", "admonition-title").text() == "<b>Bad</b>: <img src=x onerror=alert(1)>"
    assert root.find("pre", "rb-traceback").text() == "<script>x</script>"
    assert not root.find_all("b") and not root.find_all("img") and not root.find_all("script")


def test_check_results_render_as_a_status_table_with_badges():
    results = [
        {"name": "api health", "status": "pass", "detail": "200 in 12 ms", "data": {}},
        {"name": "<b>disk</b>", "status": "fail", "detail": "/ is 97% used <script>alert(1)</script>"},
    ]
    rendered = render(
        display({"application/vnd.runbook.check+json": results, "text/html": "<p>fallback</p>"})
    )
    html = page_html(rendered.markdown)

    assert 'class="rb-output rb-checks"' in html
    assert '<span class="rb-badge rb-badge--succeeded">pass</span>' in html
    assert '<span class="rb-badge rb-badge--failed">fail</span>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "fallback" not in html
