"""The MkDocs plugin ``runbook``: publishes the rendered runbooks, runs, FAQ and training.

It adds every page the renderer produces with ``File.generated`` (nothing is written into
the docs folder), replaces notebook pages of the docs with their rendered version, keeps
run pages out of the navigation and the FAQ's YAML out of the site, and under
``mkdocs serve`` watches the runbooks, the run store, the profiles, the FAQ and the alert
rule files. Problems (a FAQ entry naming a missing runbook, a malformed runbook, a rule
file that cannot be read) are logged as warnings, so a ``--strict`` build fails on them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel

from runbook.errors import RunbookError
from runbook.source.plugin_config import RunbookPluginConfig

log = logging.getLogger("mkdocs.plugins.runbook")
#: Titles MkDocs would derive from folder names, as they should read.
SECTION_TITLES = {"Faq": "FAQ"}


class RunbookPlugin(BasePlugin[RunbookPluginConfig]):
    supports_multiple_instances = False

    def __init__(self) -> None:
        self.project: Any = None

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        if not self.config.enabled:
            return config
        from runbook.source.config import Settings
        from runbook.source.project import Project

        settings = Settings.from_plugin(
            Path(config.config_file_path), Path(config.docs_dir), self.config, config.site_url
        )
        self.project = Project.from_settings(settings)
        return config

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files | None:
        if not self.config.enabled or self.project is None:
            return files
        from runbook import ops

        try:
            site = ops.render(self.project)
        except RunbookError as exc:
            raise PluginError(str(exc)) from None
        for warning in site.warnings:
            log.warning(warning)
        for path in site.replaced | set(site.pages) | set(site.assets):
            existing = files.get_file_from_path(path)
            if existing is not None:
                files.remove(existing)
        for path, markdown in site.pages.items():
            inclusion = InclusionLevel.NOT_IN_NAV if path in site.hidden else InclusionLevel.UNDEFINED
            files.append(File.generated(config, path, content=markdown, inclusion=inclusion))
        for path, data in site.assets.items():
            files.append(File.generated(config, path, content=data))
        return files

    def on_nav(self, nav: Any, /, *, config: MkDocsConfig, files: Files) -> Any:
        """Name the generated sections as people write them ("FAQ", not "Faq")."""
        from mkdocs.structure.nav import Section

        for item in nav.items:
            if isinstance(item, Section) and item.title in SECTION_TITLES:
                item.title = SECTION_TITLES[item.title]
        return nav

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        if self.project is None:
            return server
        project = self.project
        for folder in (project.runbooks_dir, project.runs_dir, project.environments_dir):
            if folder is not None and folder.is_dir():
                server.watch(str(folder))
        from runbook.source.alerts import expand_patterns

        for rules in expand_patterns(project.settings.alert_rules, project.root)[0]:
            server.watch(str(rules))
        return server
