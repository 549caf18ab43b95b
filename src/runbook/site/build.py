"""``runbook build`` and ``runbook serve``: the site, built by the engine asked for.

With MkDocs (the default) the ``runbook`` plugin renders the pages during the build
(:mod:`runbook.site.plugin`) and ``serve`` is MkDocs' live preview. ProperDocs and
Zensical build the rendered pages staged beside an engine config
(:mod:`runbook.site.engines`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.errors import EXIT_FAILED, RunbookError
from runbook.source.project import Project


class BuildFailed(RunbookError):
    """MkDocs did not build the site."""

    exit_code = EXIT_FAILED


def build_site(
    project: Project, *, strict: bool, site_dir: Path | None = None, engine: str = "mkdocs"
) -> Path:
    """Render and build the site with ``engine``; the folder it was built into.

    Raises:
        BuildFailed: MkDocs aborted (with ``strict``, on any warning).
        EngineMissing: the engine is not installed.
        EngineFailed: ProperDocs or Zensical did not build the site.
    """
    if engine != "mkdocs":
        from runbook.site.engines import build_with, require

        return build_with(project, require(engine), strict=strict, site_dir=site_dir)
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    options: dict[str, Any] = {"strict": strict}
    if site_dir is not None:
        options["site_dir"] = str(site_dir)
    try:
        config = load_config(config_file=str(project.config_file), **options)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            build(config)
        finally:
            config.plugins.on_shutdown()
    except MkDocsException as exc:
        raise BuildFailed(f"{project.config_file.name}: the site did not build: {exc}") from None
    return Path(config.site_dir)


def serve_site(project: Project, dev_addr: str | None, engine: str = "mkdocs") -> int:
    """The engine's live preview; the exit code to leave with.

    With MkDocs the plugin watches runbooks and runs; with another engine the staged
    pages are rendered again when a source changes.
    """
    if engine != "mkdocs":
        from runbook.site.engines import require, serve_with

        return serve_with(project, require(engine), dev_addr)
    from mkdocs.commands.serve import serve

    options: dict[str, Any] = {}
    if dev_addr:
        options["dev_addr"] = dev_addr
    serve(config_file=str(project.config_file), **options)
    return 0
