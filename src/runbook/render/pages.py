"""The runbook page and the run page.

A runbook page is the runbook itself (its prose and code) with each step's outputs from
the latest run, under a card that says whether it works: status, when it was last
verified and by whom, owner, risk, schedule, next due date, the command to run it. A run
page holds one run's record and outputs; run pages stay out of the navigation.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from runbook.record.model import SECRET_MASK, CheckResult, RunRecord
from runbook.record.standing import SKIPPED, Standing, run_state
from runbook.render.outputs import relative_paths, render_outputs
from runbook.render.templates import Templates
from runbook.render.text import Commands, duration, html_text, iso_utc, md_text, value_text
from runbook.render.trends import trend_rows
from runbook.source.model import Runbook

FOLD_LINES = 50
#: Code cells longer than this are folded behind a "Show code" summary; outputs stay open.
CODE_FOLD_LINES = 25
HISTORY = 10
#: How a step's status reads.
STEP_LABELS = {"timed_out": "timed out"}
#: How a run's or a runbook's state reads: a run whose steps all skipped says so.
STATE_LABELS = {**STEP_LABELS, "never run": "never run", SKIPPED: "skipped — verified nothing"}
#: A Markdown H1 (ATX) on the first line of a runbook's prose.
_H1 = re.compile(r"\A\s*#[ \t]+(?P<title>[^\n]*?)[ \t]*#*[ \t]*(?:\n|\Z)")
#: The alerts index: every alert and the runbook it leads to.
ALERTS_INDEX = "runbooks/alerts.md"


def state_class(state: str) -> str:
    """A CSS-safe modifier for a status: ``never-run``, ``timed-out`` ..."""
    return re.sub(r"[^a-z]+", "-", state.lower()).strip("-")


def link(from_page: str, to_page: str) -> str:
    """A relative Markdown link between two docs-relative paths.

    What ``posixpath.relpath`` gives for them, without its look at the working directory
    (tens of thousands of links per render).
    """
    start = [part for part in posixpath.dirname(from_page).split("/") if part]
    target = [part for part in to_page.split("/") if part]
    common = 0
    for here, there in zip(start, target, strict=False):
        if here != there:
            break
        common += 1
    return "/".join([".."] * (len(start) - common) + target[common:]) or "."


def run_page_path(slug: str, run_id: str) -> str:
    return f"runs/{slug}/{run_id}.md"


def run_assets_dir(slug: str, run_id: str) -> str:
    return f"runs/{slug}/{run_id}/assets"


@dataclass
class Rendered:
    """A page's Markdown and the asset files it links to."""

    markdown: str
    assets: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class FaqLink:
    question: str
    page: str
    anchor: str


def _fence(source: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", source)), default=0)
    return "`" * max(3, longest + 1)


def front_matter(**values: Any) -> str:
    """YAML front matter for a generated page, every text HTML-escaped.

    MkDocs themes put page titles (and Material its tags) into the HTML without escaping,
    so a title from a runbook must arrive as HTML text, not markup.
    """
    escaped = {
        k: [html_text(i) for i in v] if isinstance(v, list) else html_text(v) for k, v in values.items() if v
    }
    return "\n".join(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in escaped.items())


def _run_facts(
    record: RunRecord, runbook: Runbook, page: str, templates: Templates, roots: Sequence[str] = ()
) -> dict[str, Any]:
    failure = record.failure
    secret = {p.name for p in runbook.parameters if p.secret}
    state = run_state(record)
    return {
        "run_id": record.run_id,
        "status": STATE_LABELS.get(state, state),
        "status_class": state_class(state),
        "started_iso": iso_utc(record.started_at),
        "started_html": when_html(templates, record.started_at),
        "took": duration(record.duration_s),
        "user": record.operator.get("user", "unknown"),
        "host": record.operator.get("host", "unknown"),
        "environment": record.environment or "no environment",
        "exit_code": record.exit_code,
        "commit": record.runbook.commit,
        "approved_by": " ".join(f"{v}" for v in (record.approved_by or {}).values()),
        "parameters": [
            (k, SECRET_MASK if k in secret else value_text(v)) for k, v in record.parameters.items()
        ],
        "failure": {
            "step": failure.step_name,
            "text": relative_paths(f"{failure.exception}: {failure.message}", roots),
        }
        if failure
        else None,
        "link": link(page, run_page_path(record.slug, record.run_id)),
        "checks": _checks_summary(record.checks),
        "steps": [
            {
                "name": s.name,
                "status": STEP_LABELS.get(s.status, s.status),
                "status_class": state_class(s.status),
                "reason": s.reason or "",
                "started_iso": iso_utc(s.started_at) if s.started_at else "-",
                "took": duration(s.duration_s),
            }
            for s in record.steps
        ],
    }


def _checks_summary(checks: tuple[CheckResult, ...]) -> str:
    """``5 checks: 4 pass, 1 warn`` (empty when the run displayed none)."""
    if not checks:
        return ""
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail")}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"{len(checks)} check{'s' if len(checks) != 1 else ''}: {shown}"


def when_html(templates: Templates, moment: datetime | str) -> str:
    """A UTC time as ``<time>`` (the ``when`` partial); the site's script adds how long ago."""
    return str(templates.html("page", "when", iso_utc(moment)))


def _cells_by_step(nb: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not nb:
        return {}
    return {
        cell["metadata"]["runbook"]["step"]: cell
        for cell in nb.get("cells", [])
        if cell.get("cell_type") == "code" and (cell.get("metadata", {}).get("runbook") or {}).get("step")
    }


def _step_outputs(
    cell: dict[str, Any] | None,
    record: RunRecord | None,
    page: str,
    tags: tuple[str, ...],
    templates: Templates,
    roots: Sequence[str] = (),
) -> Rendered:
    if cell is None or record is None or "hide-output" in tags:
        return Rendered("")
    assets_dir = run_assets_dir(record.slug, record.run_id)
    rendered = render_outputs(
        cell.get("outputs", []),
        assets_dir=assets_dir,
        assets_link=link(page, assets_dir + "/x")[: -len("/x")],
        fold_lines=FOLD_LINES,
        templates=templates,
        path_roots=roots,
    )
    markdown = rendered.markdown
    if markdown and "no-search" in tags:
        markdown = str(templates.html("page", "unsearched", Markup(markdown)))
    return Rendered(markdown, dict(rendered.assets))


def _step_meta(step: Any, result: Any, templates: Templates) -> str:
    """The step's header: status badge, name, why it skipped, when it ran and took, whether it writes."""
    status = result.status if result else "not run"
    ran = result is not None and bool(result.started_at)
    return str(
        templates.html(
            "page",
            "step_meta",
            step.name,
            state_class(status),
            STEP_LABELS.get(status, status),
            iso_utc(result.started_at) if ran else None,
            duration(result.duration_s) if ran else None,
            step.effect == "write",
            result.reason if result else None,
        )
    )


def _stop_note(record: RunRecord | None, step_name: str, templates: Templates) -> str:
    """The reason a step stopped without an error output (timeout, interruption)."""
    failure = record.failure if record else None
    result = next((s for s in record.steps if s.name == step_name), None) if record else None
    if not failure or failure.step_name != step_name or not result or result.status == "failed":
        return ""
    return str(templates.html("page", "stop_note", failure.exception, failure.message))


def split_title(markdown: str) -> tuple[str | None, str]:
    """The H1 a runbook's prose opens with (its Markdown text) and the prose without it."""
    match = _H1.match(markdown)
    if match is None or not match.group("title"):
        return None, markdown
    return match.group("title"), markdown[match.end() :]


def code_block(source: str, templates: Templates) -> str:
    """A code cell as a fenced block; a long one folded behind a "Show code" summary
    (pymdownx.details), the way Jupyter Book folds input, so its outputs come sooner."""
    fence = _fence(source)
    code = f"{fence}python\n{source}\n{fence}"
    lines = source.count("\n") + 1
    if lines <= CODE_FOLD_LINES:
        return code
    return templates.markdown("partials/folded_code.md.j2", lines=lines, code=code)


def notebook_body(
    runbook: Runbook,
    record: RunRecord | None,
    run_nb: dict[str, Any] | None,
    page: str,
    templates: Templates,
    roots: Sequence[str] = (),
) -> Rendered:
    """The runbook's prose and code, each step followed by its outputs from ``record``.

    The H1 the prose opens with is left out: the page shows it as its own title.
    """
    steps = {s.cell_index: s for s in runbook.steps}
    run_cells = _cells_by_step(run_nb)
    blocks: list[str] = []
    assets: dict[str, bytes] = {}
    for index, cell in enumerate(runbook.notebook["cells"]):
        source = cell["source"]
        if cell["cell_type"] == "markdown":
            blocks.append(split_title(source)[1] if index == 0 else source)
            continue
        if cell["cell_type"] != "code":
            continue
        step = steps.get(index)
        code = code_block(source, templates)
        if step is None:  # the parameters cell
            blocks += [str(templates.html("page", "parameters_title")), code]
            continue
        result = next((s for s in record.steps if s.name == step.name), None) if record else None
        blocks.append(_step_meta(step, result, templates))
        if "hide-input" not in step.tags:
            blocks.append(code)
        outputs = _step_outputs(run_cells.get(step.name), record, page, step.tags, templates, roots)
        if outputs.markdown:
            blocks.append(outputs.markdown)
        assets.update(outputs.assets)
        note = _stop_note(record, step.name, templates)
        if note:
            blocks.append(note)
    return Rendered("\n\n".join(b.strip("\n") for b in blocks if b.strip()), assets)


def page_title(runbook: Runbook) -> str:
    """The page's H1 as Markdown: the one the prose opens with, else the escaped title."""
    cells = runbook.notebook["cells"]
    first = cells[0] if cells else None
    own = split_title(first["source"])[0] if first and first["cell_type"] == "markdown" else None
    return own if own is not None else md_text(runbook.meta.title)


def runbook_page(
    runbook: Runbook,
    page: str,
    standing: Standing,
    history: list[RunRecord],
    run_nb: dict[str, Any] | None,
    faq: list[FaqLink],
    templates: Templates,
    alerts: Sequence[Mapping[str, str | None]] = (),
    commands: Commands | None = None,
    *,
    runs: Sequence[RunRecord] = (),
    intro: str = "",
    roots: Sequence[str] = (),
) -> Rendered:
    """The page of one runbook (or notebook page of the docs).

    Args:
        runbook, page, standing, history, run_nb, faq, templates: the runbook, its page,
            where it stands, its recent runs (newest first), the newest run's notebook, the
            FAQ entries that link to it, the templates.
        alerts: the alerts that lead to it (``name``, ``severity``), in the order shown.
        commands: writes the Run it command (the shortest, when it knows the profiles).
        runs: its runs for the trend charts, newest first (default: ``history``).
        intro: Markdown placed before the status card (a training page's objectives).
        roots: folders whose absolute paths tracebacks show relative to them.
    """
    meta = runbook.meta
    latest, verified = standing.latest, standing.last_verified
    body = notebook_body(runbook, latest, run_nb, page, templates, roots)
    markdown = templates.markdown(
        "runbook.md.j2",
        front_matter=front_matter(title=meta.title, description=meta.summary, tags=list(meta.tags)),
        heading=page_title(runbook),
        summary=meta.summary,
        intro=intro,
        training=meta.kind == "training",
        state_class=state_class(standing.state),
        state_label=STATE_LABELS.get(standing.state, standing.state),
        latest=_run_facts(latest, runbook, page, templates, roots) if latest else None,
        verified=_run_facts(verified, runbook, page, templates, roots) if verified else None,
        latest_verified=latest is not None and latest is verified,
        changed=standing.changed,
        owner=meta.owner,
        risk=meta.risk,
        schedule=meta.schedule or "none",
        due_now=standing.due,
        next_due=when_html(templates, standing.next_due) if standing.next_due else None,
        command=(commands or Commands()).command(
            runbook, latest.parameters if latest else None, latest.environment if latest else None
        ),
        faq=[{"question": f.question, "link": link(page, f.page) + "#" + f.anchor} for f in faq],
        alerts=list(alerts),
        alerts_index=link(page, ALERTS_INDEX),
        body=body.markdown,
        trends=trend_rows(runs or history, templates),
        history=[_run_facts(r, runbook, page, templates, roots) for r in history],
    )
    return Rendered(markdown, body.assets)


def run_page(
    runbook: Runbook,
    record: RunRecord,
    run_nb: dict[str, Any] | None,
    runbook_page_path: str,
    templates: Templates,
    commands: Commands | None = None,
    roots: Sequence[str] = (),
) -> Rendered:
    """The page of one run: its record, steps and outputs. Kept out of the navigation."""
    page = run_page_path(record.slug, record.run_id)
    cells = _cells_by_step(run_nb)
    outputs, assets = [], {}
    for step in record.steps:
        rendered = _step_outputs(cells.get(step.name), record, page, (), templates, roots)
        note = _stop_note(record, step.name, templates)
        if rendered.markdown or note:
            outputs.append(
                {"name": step.name, "markdown": "\n\n".join(p for p in (rendered.markdown, note) if p)}
            )
        assets.update(rendered.assets)
    markdown = templates.markdown(
        "run.md.j2",
        front_matter=front_matter(
            title=f"{runbook.meta.title}: run {record.run_id}",
            description=f"{record.status} run of {runbook.slug}",
            # Run pages are not in the navigation; without its sidebar a page stays small
            # and its build cost does not grow with the number of runbooks.
            hide=["navigation"],
        ),
        title=runbook.meta.title,
        run=_run_facts(record, runbook, page, templates, roots),
        runbook_link=link(page, runbook_page_path),
        command=(commands or Commands()).command(runbook, record.parameters, record.environment),
        outputs=outputs,
    )
    return Rendered(markdown, assets)
