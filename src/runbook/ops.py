"""The operations both adapters call: the command line and the site build.

Standings, show, history, plan one, run one, run what is due, check, render, build and
serve. Each operation takes a :class:`~runbook.source.project.Project` and plain options and
returns plain values; formatting them is the caller's business. There is one due loop,
:func:`run_due`, behind ``runbook exec --due`` and ``runbook build --execute``, with one
rule: a runbook that needs a confirmation the batch cannot get, or that may not run in
the batch's environment, is skipped and reported, never run; the batch's exit code is
the worst outcome among the runbooks it tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STORE,
    EXIT_TERMINATED,
    EXIT_TIMED_OUT,
    EXIT_USAGE,
    RunbookError,
)

if TYPE_CHECKING:
    from runbook.record.model import RunRecord
    from runbook.record.standing import Standing
    from runbook.render.site import Site
    from runbook.run.execute import ExecOptions, Plan
    from runbook.source.lint import Finding
    from runbook.source.model import Runbook
    from runbook.source.project import Project
    from runbook.store import RunStore

log = logging.getLogger("runbook")

#: How bad an exit code is, for a batch's summary code: a stop beats a store fault beats
#: a timeout beats a failure beats bad input beats a refusal.
SEVERITY = (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    EXIT_FAILED,
    EXIT_TIMED_OUT,
    EXIT_STORE,
    EXIT_TERMINATED,
    EXIT_INTERRUPTED,
)
#: Exit codes that stop a batch: the operator or the scheduler asked it to stop.
STOPS = (EXIT_INTERRUPTED, EXIT_TERMINATED)

SKIP_CONFIRMATION = "{slug}: skipped, {why} needs a confirmation; pass --yes to run it"
SKIP_ENVIRONMENT = "{slug}: skipped, not allowed in '{env}' (its front matter allows: {allowed})"


def worst(codes: list[int]) -> int:
    """The worst of several exit codes (see :data:`SEVERITY`); 0 for none."""
    rank = {code: position for position, code in enumerate(SEVERITY)}
    return max(codes, key=lambda code: rank.get(code, rank[EXIT_FAILED]), default=EXIT_OK)


@dataclass
class Standings:
    """Every runbook's standing, and what could not be read on the way (one line each)."""

    items: list[Standing]
    warnings: list[str] = field(default_factory=list)


def open_store(project: Project) -> RunStore:
    """The project's run store."""
    from runbook.store import project_store

    return project_store(project)


def standings(project: Project, store: RunStore | None = None) -> Standings:
    """Where each runbook stands: its latest run, staleness, next due date.

    A runbook that cannot be parsed, a name two files share and a run the store could not
    read are left out and named in ``warnings``.
    """
    from runbook.record.standing import standing

    store = store or open_store(project)
    latest = store.latest()
    warnings = [
        f"runbook name '{slug}' is used by {', '.join(project.relative(p) for p in paths)}; rename one"
        for slug, paths in project.clashes().items()
    ]
    runbooks = project.runbooks(on_error=lambda exc: warnings.append(f"skipped {exc}"))
    warnings += store.problems
    items = [standing(rb, latest.get(rb.slug)) for rb in runbooks]
    return Standings(items, warnings)


@dataclass
class Shown:
    """``runbook show``: a runbook, its recent runs and the command that runs it."""

    runbook: Runbook
    runs: list[RunRecord]
    command: str
    warnings: list[str] = field(default_factory=list)


def show(project: Project, name: str, *, runs: int = 10) -> Shown:
    """A runbook by name, with its ``runs`` newest runs (and the runs the store skipped)."""
    from runbook.render.text import exec_command

    runbook = project.load(name)
    store = open_store(project)
    recent = store.records(runbook.slug)[:runs]
    return Shown(runbook, recent, exec_command(runbook), store.problems)


@dataclass
class History:
    """``runbook runs``: runs newest first, and the runs the store skipped (one line each)."""

    records: list[RunRecord]
    warnings: list[str] = field(default_factory=list)


def history(project: Project, name: str | None, limit: int) -> History:
    """The newest ``limit`` runs of ``name`` (a slug or path), or of every runbook."""
    slug = project.resolve(name)[0] if name else None
    store = open_store(project)
    return History(store.records(slug)[:limit], store.problems)


def plan_one(project: Project, name: str, options: ExecOptions) -> Plan:
    """What a run of ``name`` would do (``--dry-run``): nothing runs, nothing is written."""
    from runbook.run import execute

    return execute.plan(project, project.load(name, write_cache=False), options, confirm=False)


def run_one(
    project: Project, name: str, options: ExecOptions, observer_factory: Callable[[], Any]
) -> RunRecord:
    """Run the runbook ``name`` and store the run: ``runbook exec NAME``."""
    from runbook.run import execute

    return execute.exec_runbook(project, name, options, observer_factory)


@dataclass
class Batch:
    """What a due loop did: the runs, what it skipped and why, what it could not run."""

    due: list[str] = field(default_factory=list)
    records: list[RunRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, RunbookError]] = field(default_factory=list)
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        """The worst outcome among the runbooks it tried (skipped ones do not count)."""
        return worst([r.exit_code for r in self.records] + [e.exit_code for _, e in self.errors])

    @property
    def failed(self) -> list[str]:
        """Runbooks that ran and did not succeed, or could not be run."""
        return [r.slug for r in self.records if r.status != "succeeded"] + [s for s, _ in self.errors]

    def summary(self) -> str:
        """One line: ``3 due: 1 succeeded, 1 failed, 1 skipped (needs confirmation)``."""
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.status] = counts.get(record.status, 0) + 1
        parts = [f"{n} {status.replace('_', ' ')}" for status, n in counts.items()]
        if self.errors:
            parts.append(f"{len(self.errors)} not run (errors)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({', '.join(slug for slug, _ in self.skipped)})")
        if self.stopped:
            parts.append("stopped before the rest")
        return f"{len(self.due)} due: {', '.join(parts) or 'nothing to do'}"


def run_due(
    project: Project,
    options: ExecOptions,
    observer_factory: Callable[[], Any],
    *,
    report: Callable[[str], None] = log.warning,
    dry_run: Callable[[Plan], None] | None = None,
) -> Batch:
    """Run every runbook that is due, one after another: ``exec --due``, ``build --execute``.

    A runbook that needs a confirmation (its risk, its write steps) is skipped unless
    ``options.assume_yes`` or ``options.confirm`` can give one; one whose front matter
    does not allow the batch's environment is skipped too. Each skip and each error is
    passed to ``report`` as one line. Ctrl-C and SIGTERM stop the batch. With
    ``dry_run``, each due runbook's plan is passed to it and nothing runs.
    """
    from runbook.run import execute

    batch = Batch()
    current = standings(project)
    for warning in current.warnings:
        report(f"Warning: {warning}")
    environment = options.environment or project.settings.default_environment
    due = [item.runbook for item in current.items if item.due]
    batch.due = [runbook.slug for runbook in due]
    report(f"{len(due)} due: {', '.join(batch.due) or 'nothing'}")
    for runbook in due:
        skip = _skip_reason(runbook, options, environment)
        if skip is not None:
            batch.skipped.append((runbook.slug, skip))
            report(skip)
            continue
        try:
            if dry_run is not None:
                dry_run(execute.plan(project, runbook, options, confirm=False))
                continue
            record = execute.exec_runbook(project, runbook.slug, options, observer_factory)
        except RunbookError as exc:
            batch.errors.append((runbook.slug, exc))
            report(f"Error: {runbook.slug}: not run: {exc}")
            if exc.exit_code in STOPS:
                batch.stopped = True
                break
            continue
        batch.records.append(record)
        if record.exit_code in STOPS:
            batch.stopped = True
            break
    return batch


def _skip_reason(runbook: Runbook, options: ExecOptions, environment: str | None) -> str | None:
    """Why a batch must not run ``runbook``, or None."""
    from runbook.run.execute import needs_confirmation

    allowed = runbook.meta.environments
    if allowed is not None and environment not in allowed:
        return SKIP_ENVIRONMENT.format(
            slug=runbook.slug, env=environment or "no environment", allowed=", ".join(allowed)
        )
    why = needs_confirmation(runbook)
    if why and not options.assume_yes and options.confirm is None:
        return SKIP_CONFIRMATION.format(slug=runbook.slug, why=why)
    return None


def check(project: Project, paths: list[Path] | None = None) -> list[Finding]:
    """Lint the project's sources (``runbook check``); every finding, sorted by file and line."""
    from runbook.source.lint import check_project

    return check_project(project, paths)


def render(project: Project) -> Site:
    """Every generated page and asset of the site, and its warnings, as values."""
    from runbook.site.inputs import render_project

    return render_project(project)


def render_to(project: Project, out: Path) -> int:
    """Write the complete docs tree, rendered, to ``out``: ``runbook render --out``.

    Returns:
        The number of generated files written.
    """
    from runbook.render.site import write_site

    site = render(project)
    for warning in site.warnings:
        log.warning(warning)
    return len(write_site(site, out, project.docs_dir))


def build(project: Project, *, strict: bool, site_dir: Path | None = None) -> Path:
    """Render and build the site with MkDocs; the folder it was built into."""
    from runbook.site.build import build_site

    return build_site(project, strict=strict, site_dir=site_dir)


def serve(project: Project, dev_addr: str | None) -> None:
    """Live preview with MkDocs: rebuilds when runbooks, runs, profiles or docs change."""
    from runbook.site.build import serve_site

    serve_site(project, dev_addr)
