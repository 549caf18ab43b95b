"""The project's configuration: MkDocs' own config file and the ``runbook`` plugin's block.

A project is defined by ``mkdocs.yml`` (or ``mkdocs.yaml``), read with MkDocs' YAML
loader, so ``!ENV``, ``INHERIT`` and ``docs_dir`` mean what they mean to MkDocs.
Runbook's settings are the options of the ``runbook`` plugin, declared below with
MkDocs ``config_options``; the command line and the plugin both turn them into one
:class:`Settings` value.

The command line reads only what it needs (``docs_dir`` and the plugin's block) and
validates that, so ``runbook exec`` works on a machine where the site's theme or other
plugins are not installed; ``runbook build`` hands the same file to MkDocs whole. MkDocs'
config modules are imported only when a config is read (:func:`load_settings`), so
finding the project (:func:`find_config`) costs no import.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from runbook.errors import ProjectError

CONFIG_FILES = ("mkdocs.yml", "mkdocs.yaml")
PLUGIN_NAME = "runbook"
#: Overrides the ``runs`` setting for one command.
RUNS_VARIABLE = "RUNBOOK_RUNS"
#: The plugin's options (:class:`~runbook.source.plugin_config.RunbookPluginConfig`).
PLUGIN_OPTIONS = (
    "enabled",
    "runbooks",
    "environments",
    "runs",
    "storage_options",
    "environment",
    "alert_rules",
)
DEFAULT_ENVIRONMENT = "local"

NO_PROJECT = (
    "no Runbook project here: no mkdocs.yml or mkdocs.yaml in {cwd} or any folder above it; "
    "run inside a project or pass -f/--config-file"
)
NO_CONFIG_FILE = "{path}: no such config file; pass the path of a mkdocs.yml with -f/--config-file"
BAD_CONFIG = "{path}: {problem}"
UNKNOWN_OPTION = "{path}: '{key}': unknown option, ignored; see README (Configuration) for the options"

log = logging.getLogger("runbook")


@dataclass(frozen=True)
class Settings:
    """Where a project's parts live, resolved from its config file."""

    config_file: Path
    docs_dir: Path
    runbooks_dir: Path
    environments_dir: Path
    runs: str
    """The run store: an absolute folder, or an object-store URL."""
    default_environment: str | None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    site_url: str | None = None
    """MkDocs' ``site_url`` (ending in ``/``): where the site is published, when it says."""
    alert_rules: tuple[str, ...] = ()
    """Prometheus rule files the site reads, as glob patterns relative to the config file."""

    @property
    def root(self) -> Path:
        """The folder of the config file: the project's root."""
        return self.config_file.parent

    @classmethod
    def from_plugin(
        cls, config_file: Path, docs_dir: Path, plugin: Mapping[str, Any], site_url: str | None = None
    ) -> Settings:
        """Settings from the plugin's validated options (:class:`RunbookPluginConfig`, as
        MkDocs hands it to the plugin, or its values as the command line read them)."""
        root = config_file.parent
        override = os.environ.get(RUNS_VARIABLE)
        environments_dir = root / plugin["environments"]
        default = plugin["environment"]
        if default is None and (environments_dir / f"{DEFAULT_ENVIRONMENT}.yml").is_file():
            default = DEFAULT_ENVIRONMENT
        runs = store_location(override, Path.cwd()) if override else store_location(plugin["runs"], root)
        return cls(
            config_file=config_file,
            docs_dir=docs_dir,
            runbooks_dir=root / plugin["runbooks"],
            environments_dir=environments_dir,
            runs=runs,
            default_environment=default,
            storage_options=dict(plugin["storage_options"]),
            enabled=bool(plugin["enabled"]),
            site_url=site_url or None,
            alert_rules=tuple(plugin["alert_rules"]),
        )


def is_url(location: str) -> bool:
    """Whether a run store location is a URL (``s3://...``) rather than a folder."""
    return "://" in location


def store_location(value: str, base: Path) -> str:
    """A run store location as settings hold it: a URL as is, a folder made absolute."""
    return value if is_url(value) else str(base / value)


def find_config(start: Path | None = None) -> Path:
    """The nearest ``mkdocs.yml`` or ``mkdocs.yaml`` upward from ``start`` (the working directory).

    Raises:
        ProjectError: there is none.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_FILES:
            if (folder / name).is_file():
                return folder / name
    raise ProjectError(NO_PROJECT.format(cwd=here))


def load_settings(
    config_file: Path | None = None, start: Path | None = None, *, write_cache: bool = True
) -> Settings:
    """Read the project's settings from ``config_file``, or from the one found upward of ``start``.

    What MkDocs' loader makes of the file is cached (:mod:`runbook.source.config_cache`), so
    an unchanged config costs no MkDocs import; ``write_cache=False`` leaves the disk
    untouched (``--dry-run``).

    Raises:
        ProjectError: no config file, or one MkDocs cannot read, or a bad ``runbook`` option
            (every problem named with its key).
    """
    from runbook.source import config_cache

    if config_file is not None and not config_file.is_file():
        raise ProjectError(NO_CONFIG_FILE.format(path=config_file))
    path = (config_file or find_config(start)).resolve()
    entry_key = config_cache.key(path)
    values = config_cache.read(path.parent, entry_key) if entry_key else None
    if values is None:
        values = _read_config(path)
        if entry_key and write_cache:
            config_cache.write(path.parent, entry_key, values)
    for warning in values["warnings"]:
        log.warning(warning)
    return Settings.from_plugin(path, Path(values["docs_dir"]), values["plugin"], values.get("site_url"))


def _read_config(path: Path) -> dict[str, Any]:
    """``docs_dir``, the plugin's validated options and the warnings, read with MkDocs' loader.

    Raises:
        ProjectError: see :func:`load_settings`.
    """
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.exceptions import ConfigurationError
    from mkdocs.utils.yaml import get_yaml_loader, yaml_load

    from runbook.source.plugin_config import ProjectConfig, RunbookPluginConfig

    project = ProjectConfig(config_file_path=str(path))
    try:
        with path.open("rb") as handle:
            loader = get_yaml_loader(config=cast("MkDocsConfig", project))  # for !relative
            data = yaml_load(handle, loader=loader)
    except (OSError, ConfigurationError) as exc:
        raise ProjectError(BAD_CONFIG.format(path=path, problem=_one_line(exc))) from None
    if not isinstance(data, dict):
        raise ProjectError(BAD_CONFIG.format(path=path, problem="expected a mapping of settings"))
    project.load_dict({k: v for k, v in data.items() if k in ("docs_dir", "plugins", "site_url")})
    _raise_for(path, project.validate()[0], "")
    plugin = RunbookPluginConfig(config_file_path=str(path))
    plugin.load_dict(plugin_options(project.plugins, path))
    errors, warnings = plugin.validate()
    unknown = [UNKNOWN_OPTION.format(path=path, key=f"plugins.{PLUGIN_NAME}.{key}") for key, _ in warnings]
    if errors:
        for line in unknown:
            log.warning(line)
    _raise_for(path, errors, f"plugins.{PLUGIN_NAME}.")
    return {
        "docs_dir": str(project.docs_dir),
        "site_url": project.site_url,
        "plugin": {key: plugin[key] for key in PLUGIN_OPTIONS},
        "warnings": unknown,
    }


def plugin_options(plugins: Any, path: Path) -> dict[str, Any]:
    """The ``runbook`` plugin's options from mkdocs.yml's ``plugins`` (a list or a mapping)."""
    entries: list[Any] = list(plugins.items()) if isinstance(plugins, dict) else list(plugins or [])
    for entry in entries:
        name, options = (entry, {}) if isinstance(entry, str) else _pair(entry)
        if name == PLUGIN_NAME:
            if options is None:
                return {}
            if not isinstance(options, dict):
                raise ProjectError(
                    BAD_CONFIG.format(
                        path=path, problem=f"plugins.{PLUGIN_NAME}: expected a mapping of options"
                    )
                )
            return options
    return {}


def _pair(entry: Any) -> tuple[Any, Any]:
    if isinstance(entry, tuple):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry.items()))
    return None, None


def _raise_for(path: Path, errors: list[tuple[str, Exception]], prefix: str) -> None:
    if errors:
        problems = "; ".join(f"'{prefix}{key}': {_one_line(error)}" for key, error in errors)
        raise ProjectError(BAD_CONFIG.format(path=path, problem=problems))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
