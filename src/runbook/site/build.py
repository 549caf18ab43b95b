"""``runbook build``, ``runbook render`` and ``runbook serve``: the site adapters' entry points.

``build`` can first execute the notebooks whose latest run is missing, failed, stale or
older than their code (``--execute``), then renders and builds the site with MkDocs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, RunbookError
from runbook.source.project import CONFIG_FILE, Project

log = logging.getLogger("runbook")


class BuildFailed(RunbookError):
    """The site did not build, or notebooks failed while executing for it."""

    exit_code = EXIT_FAILED


@dataclass
class Execution:
    """What ``--execute`` did: the runs, and what it skipped and why."""

    records: list[Any] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [r.slug for r in self.records if r.status != "succeeded"]


def execute_due(
    project: Project,
    options: Any,
    observer_factory: Callable[[], Any],
    *,
    report: Callable[[str], None] = log.info,
) -> Execution:
    """Run every notebook that is due, in turn; gated ones only with ``--yes``.

    A runbook that needs confirmation (mutating, destructive, or with write steps) is
    skipped and listed unless ``options.assume_yes``. Ctrl-C and SIGTERM stop the loop.
    """
    from runbook.run import execute
    from runbook.record.standing import standing
    from runbook.store import open_store

    runs = open_store(project.runs_dir).by_slug()
    done = Execution()
    runbooks = project.runbooks(on_error=lambda exc: done.refused.append(("?", str(exc))))
    for item in (standing(rb, next(iter(runs.get(rb.slug, ())), None)) for rb in runbooks):
        if not item.due:
            continue
        slug = item.runbook.slug
        why = execute.needs_confirmation(item.runbook)
        if why and not options.assume_yes:
            done.skipped.append((slug, why))
            report(f"skipped {slug}: {why}; pass --yes to run it")
            continue
        try:
            record = execute.exec_runbook(project, slug, options, observer_factory)
        except RunbookError as exc:
            done.refused.append((slug, str(exc)))
            report(f"not run {slug}: {exc}")
            continue
        done.records.append(record)
        if record.exit_code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            break
    return done


def render_to(project: Project, out: Path) -> int:
    """Write the complete docs tree, rendered, to ``out``; the number of files written."""
    from runbook.render.site import write_site
    from runbook.site.inputs import render_project

    site = render_project(project)
    for warning in site.warnings:
        log.warning(warning)
    return len(write_site(site, out, project.docs_dir))


def build_site(project: Project, *, strict: bool, site_dir: Path | None = None) -> Path:
    """Render and build the site with MkDocs; the folder it was built into.

    Raises:
        BuildFailed: MkDocs aborted (with ``strict``, on any warning).
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    options: dict[str, Any] = {"strict": strict}
    if site_dir is not None:
        options["site_dir"] = str(site_dir)
    try:
        config = load_config(config_file=str(project.root / CONFIG_FILE), **options)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            build(config)
        finally:
            config.plugins.on_shutdown()
    except MkDocsException as exc:
        raise BuildFailed(f"{CONFIG_FILE}: the site did not build: {exc}") from None
    return Path(config.site_dir)


def serve_site(project: Project, dev_addr: str | None) -> None:
    """``mkdocs serve`` with live reload; the plugin watches runbooks and runs."""
    from mkdocs.commands.serve import serve

    options: dict[str, Any] = {}
    if dev_addr:
        options["dev_addr"] = dev_addr
    serve(config_file=str(project.root / CONFIG_FILE), **options)
