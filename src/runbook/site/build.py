"""``runbook build`` and ``runbook serve``: MkDocs run on the project's own config file.

The ``runbook`` plugin renders the pages during the build (:mod:`runbook.site.plugin`);
``serve`` is MkDocs' live preview.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runbook.errors import EXIT_FAILED, RunbookError
from runbook.source.project import Project


class BuildFailed(RunbookError):
    """MkDocs did not build the site."""

    exit_code = EXIT_FAILED


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
        config = load_config(config_file=str(project.config_file), **options)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            build(config)
        finally:
            config.plugins.on_shutdown()
    except MkDocsException as exc:
        raise BuildFailed(f"{project.config_file.name}: the site did not build: {exc}") from None
    return Path(config.site_dir)


def serve_site(project: Project, dev_addr: str | None) -> None:
    """``mkdocs serve`` with live reload; the plugin watches runbooks and runs."""
    from mkdocs.commands.serve import serve

    options: dict[str, Any] = {}
    if dev_addr:
        options["dev_addr"] = dev_addr
    serve(config_file=str(project.config_file), **options)
