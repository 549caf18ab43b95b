"""Nothing from a run becomes active content in the site (DESIGN.md, "Security model").

A real kernel emits every XSS payload of ``test_outputs.XSS_PAYLOADS`` through every kind of
output (streams, HTML, Markdown, SVG, JSON, plain text, rich reprs, results, exception
messages), with more payloads in front matter and parameter values; a real strict build
publishes them. Then (a) the built HTML is parsed for active content and (b) every page is
opened in headless Chromium, where a payload that runs raises a flag or opens a dialog.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_outputs import XSS_PAYLOADS
from test_site import copy_fixture, runbook_cli

pytestmark = pytest.mark.kernel

FLAG = "window.__xss_flags.push('{}')"
FRONT = {
    "title": "XSS <img src=x onerror=\"window.__xss_flags.push('title')\"> check",
    "summary": "<script>window.__xss_flags.push('summary')</script> [x](javascript:alert('summary'))",
    "owner": "<b onmouseover=alert('owner')>team</b>",
    "tags": ["<svg onload=alert('tag')>"],
}
EMITTER = """
```python tags=["parameters"]
note = "plain"  # a value shown on the page
```

## Streams

```python name="streams"
import json, sys
payloads = json.load(open("payloads.json"))
for p in payloads:
    print(p)
    print(p, file=sys.stderr)
```

## Displays

```python name="displays"
from IPython.display import display
for i, p in enumerate(payloads):
    svg = p if p.lstrip().lower().startswith("<svg") else f"<svg>{p}</svg>"
    for bundle in ({"text/html": p, "text/plain": "html"}, {"text/markdown": p}, {"image/svg+xml": svg},
                   {"application/json": {p: [p]}}, {"text/plain": p}):
        display(bundle, raw=True)
```

## Rich reprs and results

```python name="reprs"
class Rich:
    def __init__(self, p): self.p = p
    def _repr_html_(self): return self.p
    def _repr_markdown_(self): return self.p
for p in payloads:
    display(Rich(p))
payloads[0] + payloads[2]
```

## Errors

```python name="errors" continue_on_error=true
raise RuntimeError(" ".join(payloads))
```
"""
FAILER = """
## Fail loudly

```python name="fail"
raise ValueError("<img src=x onerror=alert('failure')> <script>alert('failure')</script>")
```
"""


def runbook_md(front: dict, body: str) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body


run = runbook_cli


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_fixture(tmp_path_factory.mktemp("xss") / "handbook")
    (project / "payloads.json").write_text(json.dumps(XSS_PAYLOADS), "utf-8")
    (project / "runbooks" / "ops" / "xss.md").write_text(
        runbook_md({**FRONT, "owner": FRONT["owner"]}, EMITTER), "utf-8"
    )
    failer = {"title": "Failing <script>alert('t2')</script>", "summary": "fails", "owner": "ops"}
    (project / "runbooks" / "ops" / "xss-fail.md").write_text(runbook_md(failer, FAILER), "utf-8")
    note = "<script>window.__xss_flags.push('param')</script>"
    assert run(project, "exec", "xss", "-p", f"note={note}").returncode == 0
    assert run(project, "exec", "xss-fail").returncode == 1
    built = run(project, "build", "--strict")
    assert built.returncode == 0, built.stderr
    return project / "site"


class ActiveContent(HTMLParser):
    """Collects whatever in a page could run script and did not come from the theme.

    The theme's own markup is known: scripts loaded from its assets or holding its
    configuration (checked for payload markers instead), metadata and styles in the head,
    the search form. Everything else that is active is reported.
    """

    ACTIVE = {
        "script",
        "iframe",
        "frame",
        "object",
        "embed",
        "form",
        "base",
        "meta",
        "link",
        "style",
        "template",
    }
    HEAD_ONLY = {"meta", "link", "style"}
    URLS = {"href", "src", "xlink:href", "action", "formaction", "data", "poster", "background"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_head = False
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "head":
            self.in_head = True
        if tag == "script":
            self.in_script = True
        elif (
            tag in self.HEAD_ONLY
            and self.in_head
            or tag == "form"
            and "md-search__form" in (attributes.get("class") or "")
        ):
            pass
        elif tag in self.ACTIVE:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            text = "".join((value or "").split()).lower()
            if name.startswith("on") or name == "srcdoc":
                self.found.append(f"<{tag} {name}>")
            if name in self.URLS and text.startswith(("javascript:", "data:", "vbscript:")):
                self.found.append(f"<{tag} {name}={value}>")
            if name == "style" and "url(" in text:
                self.found.append(f"<{tag} style={value}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and ("alert(" in data or "__xss_flags" in data):
            self.found.append(f"<script>{data[:60]}")


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("index.html"))


def test_payloads_reached_the_pages_as_text(hostile_site: Path) -> None:
    html = (hostile_site / "runbooks/ops/xss/index.html").read_text("utf-8")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, inert
    assert "onerror=alert(1)" in html.replace("&#61;", "=")  # as text inside <pre>


def test_built_html_has_no_active_content_from_a_run(hostile_site: Path) -> None:
    for page in pages(hostile_site):
        parser = ActiveContent()
        parser.feed(page.read_text("utf-8"))
        assert parser.found == [], f"{page.relative_to(hostile_site)}: {parser.found[:5]}"


def test_no_payload_runs_in_a_real_browser(hostile_site: Path) -> None:
    from browser import blocked_requests, chromium_page, flags_raised, serve_site

    with serve_site(hostile_site) as base_url, chromium_page() as page:
        for path in pages(hostile_site):
            url = base_url + "/" + path.parent.relative_to(hostile_site).as_posix() + "/"
            page.goto(url.replace("/./", "/"))
            page.wait_for_load_state("load")
            assert flags_raised(page) == [], url
            assert [u for u in blocked_requests(page) if "evil" in u] == [], url
