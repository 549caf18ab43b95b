"""Site figures: build and render times of generated projects, as ratios.

Loaded by ``run.py`` (``--only site`` runs this group alone). What is measured
(DESIGN.md, "Scale and performance"):

1. ``runbook build`` of 1,000 runbooks against ``runbook build`` of 500: the build should
   grow linearly. Goal: at most 2.2x.
2. ``runbook build`` of 1,000 runbooks against a plain ``python -m mkdocs build`` of the
   same sources: the runbooks' own Markdown files as plain pages in the same folders (so
   the same nav sections), built with a config that has no runbook plugin. Twice: from a
   fresh clone (no ``.runbook/`` folder: every runbook parsed, every page rendered and
   converted, MkDocs and a forked worker converting, then MkDocs and a second forked
   worker building pages; goal at most 1.5x), and with warm caches (the build before left
   the parse, render and page caches: converted pages and their search entries; goal at
   most 1.2x). For the record, two more lines: a plain build of the
   rendered pages (written once by ``runbook render --out``) against the sources' (what
   the generated pages cost MkDocs over the hand-written ones), and ``runbook build`` with
   only its parse cache warm against the plain build of its rendered pages (the plugin's
   own cost).
   A third line builds the 1,000 runbooks from a fresh clone with ``runbook build
   --engine zensical`` (render the pages, then Zensical builds them) against the same
   plain ``mkdocs build`` of the sources; goal: faster than it (below 1.0x). For the
   record, a fourth line builds with Zensical and warm caches (Runbook's, and Zensical's
   own in ``.runbook/engines/zensical/.cache``), and a fifth builds the plain sources with
   ``python -m zensical build`` (no cache): Zensical's own speed against MkDocs', the floor
   under the third line. They are left out, with a note, when Zensical is not installed
   (``pip install -e '.[zensical]'``; ``make install`` has it).
   Every build figure comes from one interleaved series (500, 1,000, rendered, fresh,
   warm, zensical fresh, zensical warm, zensical sources, sources, 500, ...), after a
   warm-up build of a one-runbook project (it loads MkDocs, Material and the plugin from
   disk once). Before each build ``site/`` is removed; for the 500 and 1,000 lines every
   cache but the parse cache is emptied too (render, converted pages), and the parse
   cache (``.runbook/cache/parse``) is kept warm: a full rebuild on a working checkout.
3. Re-render after one runbook of 1,000 changes, against a full render, the way
   ``runbook serve`` does it: one long-lived process renders the site (``render_project``),
   and on every change renders it again. In one ``python -c`` process, after a first
   render and a first edit (which loads the parser, as a serve session's first edit
   does), each round times (a) a full render, ``render_project(project, use_cache=False)``,
   and (b) a render after appending a sentence to one runbook's prose. Both take a new
   ``Project`` (the plugin makes one per build), and both find runbooks parsed and run
   records read by earlier renders in memory, so the figure is the render cache's own
   saving. Goal: at most 0.1x.
   For the record, two more lines give the same comparison in a fresh process per render
   (``runbook render`` or ``runbook build`` after an edit): (a) with the render cache
   removed, (b) after the edit with the render cache warm on disk. The first line times
   the ``render_project`` call, the second the whole process. Here the edited runbook is
   parsed by a process that has not loaded the parser (jupytext) yet, a fixed cost of
   about 0.4 s that no cache removes; each process also counts the render-cache entries
   it wrote, i.e. the notebooks it rendered rather than took from the cache.

Builds of 1,000 runbooks take half a minute or more each on a small machine, so the builds
run ``--build-runs`` rounds (default 3; on a shared machine single builds vary by 10% or
more, so fewer rounds give a figure that moves with the neighbours' load) and the fresh
process renders ``--site-runs`` (default 3; the serve renders at least 5); the run prints
how many.

The projects are generated in ``bench/.work/site-N/`` once per benchmark run and reused by
every repetition: N runbooks in folders of 50 (``runbooks/area-XX/rb-XXXX.md``), each a
small realistic runbook (front matter, a parameters cell, three steps with prose and
code), with one run each in the store. The runs are not executed: one template runbook is
run for real with ``runbook exec`` in a scratch project, and its ``record.json`` and
``notebook.ipynb`` are cloned for every runbook (slug, path, title, code hash, run id,
times, cell sources and outputs rewritten), so the store format is exactly what exec
writes.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import shutil
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness import BIN, Group, Measurement, Variant, run, sample

WORK = Path(__file__).resolve().parent / ".work"
PYTHON = str(BIN / "python")
RUNBOOK = str(BIN / "runbook")
MIN_SITE_RUNS = 3
BUILD_RUNS = 3  # rounds of the 500 / 1,000 / plain builds: one to three minutes each on 2 CPUs
SMALL, LARGE = 500, 1000
PER_FOLDER = 50
TEMPLATE_INDEX = 9999  # the template's own tokens (rb-9999, svc-9999) never clash with a clone's
EDITED = 500  # the runbook whose prose is edited for the re-render figure

SCHEDULES = ("daily", "weekly", "daily", "monthly", "weekly")
OWNERS = ("platform-team", "data-team", "payments-team", "search-team", "identity-team")
AREAS = ("checkout", "search", "billing", "accounts", "ingest", "reporting", "messaging")

MKDOCS_YML = """\
site_name: Runbook site benchmark ({n} runbooks)
docs_dir: {docs_dir}
site_dir: {site_dir}

theme:
  name: material
  features:
    - navigation.instant
    - navigation.sections
    - navigation.prune
    - navigation.indexes
    - navigation.top
    - content.code.copy
    - search.highlight
    - search.suggest

plugins:
{plugins}

# Run pages are published but kept out of the navigation.
not_in_nav: |
  /runs/

validation:
  links:
    not_found: warn
    anchors: warn
    absolute_links: warn
    unrecognized_links: warn

markdown_extensions:
  - admonition
  - attr_list
  - md_in_html
  - tables
  - toc:
      permalink: true
  - pymdownx.details
  - pymdownx.highlight
  - pymdownx.inlinehilite
  - pymdownx.superfences
"""

INDEX_MD = """\
# Runbook site benchmark

A generated handbook of {n} runbooks in folders of {per}, each with one recorded run.
The dashboard is at [runbooks](runbooks/index.md).
"""


def runbook_text(i: int) -> str:
    """A small realistic runbook; everything specific to ``i`` is in tokens the clone rewrites."""
    service = f"svc-{i:04d}"
    area = AREAS[i % len(AREAS)]
    return textwrap.dedent(
        f"""\
        ---
        title: Service {i:04d} health
        summary: Endpoint, latency and error budget of {service} ({area}), against its thresholds.
        owner: {OWNERS[i % len(OWNERS)]}
        tags: [health, {area}]
        risk: read-only
        schedule: {SCHEDULES[i % len(SCHEDULES)]}
        timeout: 2m
        ---

        Checks that `{service}`, one of the {area} services, answers on its endpoint within
        its latency budget and has error budget left. It only reads: it resolves the
        endpoint, samples latencies and compares them with the thresholds below. Run it
        after a deploy of {service}, and whenever its on-call channel reports slow pages.

        ## Parameters

        ```python tags=["parameters"]
        service = "{service}"  # the service to check, as named in the service catalogue
        warn_ms = 250          # warn when the p95 latency is above this many milliseconds
        fail_ms = 800          # fail the run when the p95 latency is above this
        samples = 20           # how many requests to time
        ```

        ## Resolve the endpoint

        Finds the address the service answers on, the way the load balancer routes to it.
        If this step fails the service is not registered: check the catalogue entry for
        `{service}` and the deploy log of its last release before going further.

        ```python
        endpoint = f"https://{{service}}.internal.example:8443/health"
        region = ["eu-west-1", "us-east-1", "ap-south-1"][sum(map(ord, service)) % 3]
        print(f"service:  {{service}}")
        print(f"endpoint: {{endpoint}}")
        print(f"region:   {{region}}")
        ```

        ## Sample the latency

        Times a few requests to the health endpoint and keeps the 50th and 95th percentile.
        The figures are simulated here, from the service name, so the benchmark needs no
        network; a real runbook would time real requests with a short timeout each.

        ```python
        import random

        rng = random.Random(service)
        latencies = sorted(rng.uniform(20, 300) for _ in range(samples))
        p50 = latencies[len(latencies) // 2]
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(f"{{samples}} requests: p50 {{p50:.0f}} ms, p95 {{p95:.0f}} ms")
        ```

        ## Compare with the thresholds

        Fails the run when the p95 latency is above `fail_ms` and warns above `warn_ms`.
        When it fails, look at the service's dashboard for a recent deploy or a saturated
        dependency, and page the owning team if the error budget is below a tenth.

        ```python
        status = "FAIL" if p95 > fail_ms else "WARN" if p95 > warn_ms else "ok"
        print(f"p95 {{p95:.0f}} ms against warn {{warn_ms}} ms, fail {{fail_ms}} ms: {{status}}")
        assert status != "FAIL", f"{{service}}: p95 latency {{p95:.0f}} ms is over {{fail_ms}} ms"
        ```
        """
    )


def _tokens(i: int) -> dict[str, str]:
    """What differs between the template run and the clone for runbook ``i``."""
    return {
        f"rb-{TEMPLATE_INDEX:04d}": f"rb-{i:04d}",
        f"svc-{TEMPLATE_INDEX:04d}": f"svc-{i:04d}",
        f"Service {TEMPLATE_INDEX:04d}": f"Service {i:04d}",
        f"area-{TEMPLATE_INDEX // PER_FOLDER:02d}/": f"area-{i // PER_FOLDER:02d}/",
    }


def _replace(text: str, tokens: dict[str, str]) -> str:
    for old, new in tokens.items():
        text = text.replace(old, new)
    return text


def runbook_rel(i: int) -> str:
    return f"runbooks/area-{i // PER_FOLDER:02d}/rb-{i:04d}.md"


# -- the template run ----------------------------------------------------------------------


def template_run() -> tuple[dict[str, Any], dict[str, Any]]:
    """The record and notebook of one real ``runbook exec`` of the template runbook."""
    root = WORK / "site-template"
    shutil.rmtree(root, ignore_errors=True)
    path = root / runbook_rel(TEMPLATE_INDEX)
    path.parent.mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(INDEX_MD.format(n=1, per=PER_FOLDER), "utf-8")
    (root / "mkdocs.yml").write_text(
        MKDOCS_YML.format(n=1, docs_dir="docs", site_dir="site", plugins="  - search\n  - runbook"), "utf-8"
    )
    path.write_text(runbook_text(TEMPLATE_INDEX), "utf-8")
    run([RUNBOOK, "exec", f"rb-{TEMPLATE_INDEX:04d}"], root)
    (folder,) = (root / "runs" / f"rb-{TEMPLATE_INDEX:04d}").iterdir()
    record = json.loads((folder / "record.json").read_text("utf-8"))
    notebook = json.loads((folder / "notebook.ipynb").read_text("utf-8"))
    if record["status"] != "succeeded":
        raise RuntimeError(f"the template run did not succeed: {record['status']} in {folder}")
    return record, notebook


# -- generated projects ----------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def clone_run(
    i: int, runbook: Any, template_record: dict[str, Any], template_nb: dict[str, Any], now: datetime
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The run id, record and notebook of runbook ``i``'s one run, cloned from the template."""
    tokens = _tokens(i)
    record = json.loads(_replace(json.dumps(template_record), tokens))
    notebook = json.loads(_replace(json.dumps(template_nb), tokens))
    # Runs spread over the last three days, so some daily runbooks are overdue.
    started = now - timedelta(hours=i % 72, minutes=(i * 7) % 60, seconds=(i * 13) % 60)
    shift = started - _parse_iso(template_record["started_at"])
    run_id = (
        f"{started:%Y%m%dT%H%M%S}.{started.microsecond // 1000:03d}Z-"
        + hashlib.sha256(str(i).encode()).hexdigest()[:6]
    )
    record["run_id"] = run_id
    record["runbook"].update(slug=runbook.slug, path=runbook.path, title=runbook.meta.title)
    record["runbook"]["code_hash"] = runbook.code_hash
    record["started_at"] = _iso(started)
    record["finished_at"] = _iso(_parse_iso(template_record["finished_at"]) + shift)
    for step in record["steps"]:
        if step.get("started_at"):
            step["started_at"] = _iso(_parse_iso(step["started_at"]) + shift)
    # The notebook's cells are the runbook's own (prose and code), with the template run's
    # execution metadata and outputs; the injected-parameters cell stays where exec put it.
    own = iter(copy.deepcopy(runbook.notebook["cells"]))
    for cell in notebook["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        source = next(own)
        if source["cell_type"] != cell["cell_type"]:
            raise RuntimeError(f"rb-{i:04d}: cells differ from the template run's")
        cell["source"] = source["source"]
    if next(own, None) is not None:
        raise RuntimeError(f"rb-{i:04d}: more cells than the template run")
    return run_id, record, notebook


def generate(n: int, template_record: dict[str, Any], template_nb: dict[str, Any], now: datetime) -> Path:
    """Project ``bench/.work/site-N``: config, docs, runbooks, one run each, parse cache warm."""
    from runbook.source.project import Project

    root = WORK / f"site-{n}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "docs").mkdir(parents=True)
    (root / "mkdocs.yml").write_text(
        MKDOCS_YML.format(n=n, docs_dir="docs", site_dir="site", plugins="  - search\n  - runbook"), "utf-8"
    )
    (root / "docs" / "index.md").write_text(INDEX_MD.format(n=n, per=PER_FOLDER), "utf-8")
    for i in range(n):
        path = root / runbook_rel(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(runbook_text(i), "utf-8")
    runbooks = Project(root).runbooks()  # parses each one, and fills the parse cache
    if len(runbooks) != n:
        raise RuntimeError(f"{root}: {len(runbooks)} runbooks parsed, expected {n}")
    ledger = []
    for runbook in runbooks:
        i = int(runbook.slug.removeprefix("rb-"))
        run_id, record, notebook = clone_run(i, runbook, template_record, template_nb, now)
        folder = root / "runs" / runbook.slug / run_id
        folder.mkdir(parents=True)
        (folder / "notebook.ipynb").write_text(
            json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", "utf-8"
        )
        (folder / "record.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")
        facts = {k: record[k] for k in ("started_at", "environment", "operator")}
        ledger.append({"event": "start", "run_id": run_id, "runbook": runbook.slug, **facts})
        ledger.append(
            {
                "event": "end",
                "run_id": run_id,
                "runbook": runbook.slug,
                "status": record["status"],
                "exit_code": record["exit_code"],
                "at": record["finished_at"],
                "duration_s": record["duration_s"],
                "environment": record["environment"],
                "operator": record["operator"],
            }
        )
    ledger.sort(key=lambda e: e.get("started_at") or e.get("at"))
    (root / "runs" / "ledger.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ledger), "utf-8")
    return root


def source_config(root: Path) -> str:
    """The runbooks' own Markdown as plain pages, in the same folders (so the same nav
    sections), and a config building them without the plugin: what ``mkdocs build`` of
    the handbook's sources would cost if they were not notebooks."""
    docs = root / "source-docs"
    shutil.rmtree(docs, ignore_errors=True)
    shutil.copytree(root / "docs", docs)
    shutil.copytree(root / "runbooks", docs / "runbooks")
    return plain_config(root, "source")


def fresh_clone(root: Path) -> None:
    """Before a build: as a fresh clone is, no ``site/`` and no ``.runbook/`` (no cache)."""
    shutil.rmtree(root / "site", ignore_errors=True)
    shutil.rmtree(root / ".runbook", ignore_errors=True)


def warm_caches(root: Path) -> None:
    """Before a build: no ``site/``; every cache as the build before left it."""
    shutil.rmtree(root / "site", ignore_errors=True)


def static_config(root: Path) -> str:
    """The rendered docs tree of ``root`` and a config building it without the plugin."""
    shutil.rmtree(root / "static-docs", ignore_errors=True)
    run([RUNBOOK, "render", "--out", "static-docs"], root)
    return plain_config(root, "static")


def plain_config(root: Path, kind: str, site_dir: str | None = None) -> str:
    """``mkdocs-KIND.yml``: ``KIND-docs`` built into ``site-KIND`` (or ``site_dir``)
    without the plugin."""
    name = f"mkdocs-{kind}.yml" if site_dir is None else f"mkdocs-{kind}-{site_dir}.yml"
    site_dir = site_dir or f"site-{kind}"
    (root / name).write_text(
        MKDOCS_YML.format(n=LARGE, docs_dir=f"{kind}-docs", site_dir=site_dir, plugins="  - search"),
        "utf-8",
    )
    return name


# -- cache and site handling -----------------------------------------------------------------


def clear_render_cache(root: Path) -> None:
    """Empty ``.runbook/cache`` but for the parse cache (``parse/``): rendered and converted
    pages go."""
    cache = root / ".runbook" / "cache"
    if cache.is_dir():
        for entry in cache.iterdir():
            if entry.name != "parse":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def clean_build(root: Path, site_dir: str = "site") -> None:
    """Before a build: no ``site/``, no render cache; the parse cache is kept."""
    shutil.rmtree(root / site_dir, ignore_errors=True)
    clear_render_cache(root)


RENDER_CODE = """\
import os, time
from pathlib import Path
from runbook.source.project import Project
from runbook.site.inputs import render_project
project = Project(Path.cwd())
wall, start = time.time(), time.perf_counter()
site = render_project(project)
took = time.perf_counter() - start
rendered = 0  # render-cache entries written by this call: notebooks rendered, not cached
for folder, dirs, files in os.walk(".runbook/cache/render"):
    dirs[:] = [d for d in dirs if d != "blobs"]
    paths = [os.path.join(folder, f) for f in files if f.endswith(".json")]
    rendered += sum(1 for p in paths if os.stat(p).st_mtime >= wall)
print(f"{took:.4f} seconds, {len(site.pages)} pages, {rendered} rendered")
"""

# One serve session: every render in the same process, as `runbook serve` renders on each
# change. Prints one line per round: full render seconds, render-after-edit seconds.
SERVE_CODE = """\
import sys, time
from pathlib import Path
from runbook.source.project import Project
from runbook.site.inputs import render_project
root, edited, rounds = Path.cwd(), Path(sys.argv[1]), int(sys.argv[2])
original = edited.read_text("utf-8")
def edit(n):
    with edited.open("a", encoding="utf-8") as handle:
        handle.write(f"\\nOne more sentence of prose, edit number {n}.\\n")
def timed(**options):
    start = time.perf_counter()
    render_project(Project(root), **options)
    return time.perf_counter() - start
try:
    render_project(Project(root))  # the session's first build
    edit(0)
    render_project(Project(root))  # its first edit, which loads the parser
    for n in range(1, rounds + 1):
        full = timed(use_cache=False)
        edit(n)
        print(f"{full:.4f} {timed():.4f}")
finally:
    edited.write_text(original, "utf-8")
"""


def render_command() -> list[str]:
    """A fresh process that renders the site and prints how long ``render_project`` took."""
    return [PYTHON, "-c", RENDER_CODE]


def _rendered_counts(variant: Variant) -> list[int]:
    return [int(out.strip().splitlines()[-1].split()[-2]) for out in variant.outputs]


def serve_renders(root: Path, edited: Path, rounds: int) -> tuple[Variant, Variant]:
    """Full renders and renders after an edit, interleaved in one serve-like process."""
    argv = [PYTHON, "-c", SERVE_CODE, str(edited), str(rounds)]
    _, stdout = run(argv, root)
    pairs = [tuple(map(float, line.split())) for line in stdout.strip().splitlines()]
    full = Variant("full render", argv, root, samples=[p[0] for p in pairs])
    incremental = Variant("render after edit", argv, root, samples=[p[1] for p in pairs])
    return incremental, full


def zensical_installed() -> bool:
    """Whether this Python can run ``--engine zensical`` (the ``zensical`` extra)."""
    return importlib.util.find_spec("zensical") is not None


def measure_site(runs: int = MIN_SITE_RUNS, build_runs: int = BUILD_RUNS) -> Group:
    """Generate the projects, then time the builds and the renders."""
    now = datetime.now(timezone.utc)
    print("site: one template run with runbook exec ...", file=sys.stderr)
    template_record, template_nb = template_run()
    roots = {}
    for n in (SMALL, LARGE):
        print(f"site: generating bench/.work/site-{n} ...", file=sys.stderr)
        roots[n] = generate(n, template_record, template_nb, now)
    large = roots[LARGE]
    print(f"site: rendering the static pages of site-{LARGE} once ...", file=sys.stderr)
    static_yml = static_config(large)
    source_yml = source_config(large)

    print("site: warm-up build of the one-runbook template project ...", file=sys.stderr)
    run([RUNBOOK, "build"], WORK / "site-template")
    build_small = Variant(
        f"build {SMALL}", [RUNBOOK, "build"], roots[SMALL], lambda: clean_build(roots[SMALL])
    )
    build_large = Variant(f"build {LARGE}", [RUNBOOK, "build"], large, lambda: clean_build(large))
    static_large = Variant(
        f"mkdocs build {LARGE}",
        [PYTHON, "-m", "mkdocs", "build", "-q", "-f", static_yml],
        large,
        lambda: clean_build(large, "site-static"),
    )
    fresh_large = Variant(f"build {LARGE} fresh clone", [RUNBOOK, "build"], large, lambda: fresh_clone(large))
    warm_large = Variant(f"build {LARGE} warm caches", [RUNBOOK, "build"], large, lambda: warm_caches(large))
    zensical_large = Variant(
        f"build {LARGE} --engine zensical fresh clone",
        [RUNBOOK, "build", "--engine", "zensical"],
        large,
        lambda: fresh_clone(large),
    )
    zensical_warm = Variant(
        f"build {LARGE} --engine zensical warm caches",
        [RUNBOOK, "build", "--engine", "zensical"],
        large,
        lambda: warm_caches(large),
    )
    zensical_source = Variant(
        f"zensical build {LARGE} sources",
        [PYTHON, "-m", "zensical", "build", "-f", plain_config(large, "source", site_dir="site-zensical")],
        large,
        lambda: [shutil.rmtree(large / d, ignore_errors=True) for d in (".cache", "site-zensical")],
    )
    source_large = Variant(
        f"mkdocs build {LARGE} sources",
        [PYTHON, "-m", "mkdocs", "build", "-q", "-f", source_yml],
        large,
        lambda: shutil.rmtree(large / "site-source", ignore_errors=True),
    )
    print(
        f"site: builds, {SMALL} / {LARGE} / plain mkdocs of the rendered pages / {LARGE} from a fresh "
        f"clone / {LARGE} with warm caches / plain mkdocs of the sources, interleaved",
        file=sys.stderr,
    )
    builds = [build_small, build_large, static_large, fresh_large, warm_large, source_large]
    engines_note = (
        "--engine zensical: from a fresh clone (no .runbook/, so no Zensical cache either) and with "
        "warm caches; Zensical's own process included"
    )
    if zensical_installed():
        builds[-1:-1] = [zensical_large, zensical_warm, zensical_source]
    else:
        engines_note = "--engine zensical: not measured, Zensical is not installed (make install)"
    sample(builds, build_runs, warm_up=False)
    zensical_lines = (
        [
            Measurement(
                f"build {LARGE} --engine zensical vs plain sources", zensical_large, source_large, 1.0
            ),
            Measurement("  same, warm caches", zensical_warm, source_large, None),
            Measurement("  plain zensical of the sources vs mkdocs", zensical_source, source_large, None),
        ]
        if zensical_large.samples
        else []
    )

    edited = large / runbook_rel(EDITED)
    serve_rounds = max(runs, 5)
    print(f"site: render_project of {LARGE} in one process, {serve_rounds} rounds", file=sys.stderr)
    serve_edit, serve_full = serve_renders(large, edited, serve_rounds)

    original = edited.read_text("utf-8")
    edits = iter(range(1, 1000))

    def edit_one() -> None:
        # The render before (the full one, or the warm-up's) left the render cache warm.
        with edited.open("a", encoding="utf-8") as handle:
            handle.write(f"\nOne more sentence of prose, edit number {next(edits)}.\n")

    full = Variant("full render", render_command(), large, lambda: clear_render_cache(large), inner=True)
    incremental = Variant("render after edit", render_command(), large, edit_one, inner=True)
    print(f"site: render_project of {LARGE} in fresh processes, full / after an edit", file=sys.stderr)
    try:
        sample([full, incremental], runs)
    finally:
        edited.write_text(original, "utf-8")

    pages = full.outputs[0].strip().splitlines()[-1].split()[2]
    counts = _rendered_counts(incremental)
    return Group(
        "site",
        [
            Measurement(f"build {LARGE} runbooks vs {SMALL}", build_large, build_small, 2.2),
            Measurement(f"build {LARGE}, fresh clone, vs plain sources", fresh_large, source_large, 1.5),
            Measurement(f"build {LARGE}, warm caches, vs plain sources", warm_large, source_large, 1.2),
            *zensical_lines,
            Measurement("  plain mkdocs: rendered pages vs sources", static_large, source_large, None),
            Measurement(f"build {LARGE} vs plain rendered pages", build_large, static_large, None),
            Measurement(f"re-render 1 of {LARGE} edited (serve)", serve_edit, serve_full, 0.1),
            Measurement(
                "  same, fresh process",
                incremental.inner_variant("render after edit"),
                full.inner_variant("full render"),
                None,
            ),
            Measurement("  same, whole process", incremental, full, None),
        ],
        [
            f"generated {SMALL} and {LARGE} runbooks with 1 run each in bench/.work/site-N "
            f"({pages} pages for {LARGE}), reused by every repetition",
            f"builds: medians of {build_runs} interleaved runs each, after one warm-up build of a "
            f"one-runbook project; before each: site/ removed; build {SMALL}/{LARGE}: render "
            "and page caches removed, parse cache (.runbook/cache/parse) warm; fresh clone: no .runbook/ at "
            "all; warm caches: parse, render and page caches as the build before left them; samples (s): "
            + "; ".join(f"{v.label} {', '.join(f'{x:.1f}' for x in v.samples)}" for v in builds),
            "CPU seconds (user + system, workers included; steadier than wall-clock time on a busy "
            "machine), medians: "
            + "; ".join(f"{v.label} {v.cpu_median:.1f}" for v in builds)
            + f"; ratios against the sources' build: fresh clone "
            f"{fresh_large.cpu_median / source_large.cpu_median:.2f}x, warm caches "
            f"{warm_large.cpu_median / source_large.cpu_median:.2f}x, rendered pages "
            f"{static_large.cpu_median / source_large.cpu_median:.2f}x"
            + (
                f", --engine zensical {zensical_large.cpu_median / source_large.cpu_median:.2f}x fresh, "
                f"{zensical_warm.cpu_median / source_large.cpu_median:.2f}x warm, plain zensical of the "
                f"sources {zensical_source.cpu_median / source_large.cpu_median:.2f}x"
                if zensical_large.cpu_samples
                else ""
            ),
            engines_note,
            "plain mkdocs of sources: the runbooks' own Markdown files as pages in the same folders "
            "(the same nav sections) with docs/, built by `python -m mkdocs build` with plugins "
            "[search] only; of the rendered pages: the Markdown written once by `runbook render "
            "--out`, built the same way",
            f"re-render (serve): medians of {serve_rounds} interleaved rounds in one process after a "
            "first render and a first edit; full = render_project(use_cache=False); after edit = a "
            f"sentence appended to {runbook_rel(EDITED)}; samples (s): full "
            f"{', '.join(f'{x:.3f}' for x in serve_full.samples)}; after edit "
            f"{', '.join(f'{x:.3f}' for x in serve_edit.samples)}",
            f"re-render (fresh process): render_project(Project(root)) in a new python -c, medians of "
            f"{runs} interleaved runs after one warm-up; parse cache warm in both; full = render "
            "cache removed; after edit = render cache warm from the render before, notebooks "
            f"rendered again per run: {', '.join(map(str, counts))}; first line times the call "
            "(the edited runbook's parse loads jupytext), second the whole process",
        ],
    )
