"""Site builders other than the MkDocs plugin: ProperDocs and Zensical (``--engine``).

The renderer writes plain Markdown plus assets (:func:`runbook.ops.render_to`), so any
builder that reads ``mkdocs.yml`` can publish it. For an engine, the pages are staged in
``.runbook/engines/<engine>/docs`` and built from an engine config written beside them:
the project's own ``mkdocs.yml`` with ``docs_dir`` pointing at the staged pages, paths
made absolute, and the ``runbook`` plugin left out (the pages are already rendered).
Zensical wants ``docs_dir`` and ``site_dir`` inside the folder of its config file, so the
engine builds into the staging folder and the site is then moved to its ``site_dir``.

The engine runs as its own process (``python -m properdocs|zensical``): ProperDocs
re-aliases ``mkdocs.*`` imports, which must not happen inside this one.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from runbook.errors import EXIT_FAILED, RunbookError
from runbook.source.config import PLUGIN_NAME
from runbook.source.project import Project

log = logging.getLogger("runbook")

DEFAULT_ENGINE = "mkdocs"
NOT_INSTALLED = (
    "--engine {name}: {label} is not installed; install it with: pip install 'runbook-docs[{extra}]'"
)
ENGINE_FAILED = "{config}: {label} did not build the site (exit code {code}); its output is above"
STRICT_WARNINGS = "{config}: --strict: rendering the pages gave {count} warning(s), logged above; fix them"
BAD_PROJECT_CONFIG = "{path}: cannot be read for --engine {name}: {problem}"
#: Keys of ``mkdocs.yml`` that hold a path relative to the config file.
PATH_KEYS = ("hooks", "watch")


@dataclass(frozen=True)
class Engine:
    """A site builder that reads ``mkdocs.yml``."""

    name: str
    label: str
    module: str
    """The Python module that is the engine (``python -m <module>`` runs it)."""
    extra: str
    """The optional dependency group of ``runbook-docs`` that installs it."""


ENGINES = {
    "mkdocs": Engine("mkdocs", "MkDocs", "mkdocs", "mkdocs"),
    "properdocs": Engine("properdocs", "ProperDocs", "properdocs", "properdocs"),
    "zensical": Engine("zensical", "Zensical", "zensical", "zensical"),
}


class EngineMissing(RunbookError):
    """The engine asked for is not installed (bad usage: exit 2)."""


class EngineFailed(RunbookError):
    """The engine did not build the site."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Staging:
    """Where an engine's copy of the project lives: ``.runbook/engines/<engine>/``."""

    root: Path
    warnings: tuple[str, ...] = ()
    """What rendering warned about (logged); ``--strict`` fails on any."""

    @property
    def config_file(self) -> Path:
        return self.root / "mkdocs.yml"

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    @property
    def site_dir(self) -> Path:
        return self.root / "site"


def require(name: str) -> Engine:
    """The engine called ``name``, installed.

    Raises:
        EngineMissing: it is not installed; the message names the extra that installs it.
    """
    engine = ENGINES[name]
    if importlib.util.find_spec(engine.module) is None:
        raise EngineMissing(NOT_INSTALLED.format(name=name, label=engine.label, extra=engine.extra))
    return engine


def build_with(project: Project, engine: Engine, *, strict: bool, site_dir: Path | None = None) -> Path:
    """Render the project into staging and build it with ``engine``; the site's folder.

    Raises:
        EngineFailed: the engine exited with an error (with ``strict``, on a warning).
    """
    staging = stage(project, engine)
    if strict and staging.warnings:
        count = len(staging.warnings)
        raise EngineFailed(STRICT_WARNINGS.format(config=project.config_file.name, count=count))
    args = ["build", "-f", str(staging.config_file)]
    if strict:
        args.append("--strict")
    code = subprocess.call([sys.executable, "-m", engine.module, *args], cwd=staging.root)
    if code != 0:
        raise EngineFailed(
            ENGINE_FAILED.format(config=project.config_file.name, label=engine.label, code=code)
        )
    target = site_dir if site_dir is not None else _configured_site_dir(project)
    _publish(staging.site_dir, target)
    return target


def serve_with(project: Project, engine: Engine, dev_addr: str | None) -> int:
    """The engine's live preview of the staged pages, re-rendered when sources change.

    Ctrl-C (the way to stop it) reaches the engine too; this waits for it to end.

    Returns:
        The engine's exit code; 0 when stopped with Ctrl-C.
    """
    staging = stage(project, engine)
    args = ["serve", "-f", str(staging.config_file)]
    if dev_addr:
        args += ["-a", dev_addr]
    stop = threading.Event()
    watcher = threading.Thread(target=_rerender_on_change, args=(project, staging, stop), daemon=True)
    watcher.start()
    process = subprocess.Popen([sys.executable, "-m", engine.module, *args], cwd=staging.root)
    try:
        return process.wait()
    except KeyboardInterrupt:
        _stop_engine(process)
        return 0
    finally:
        stop.set()
        watcher.join(timeout=5)


def _stop_engine(process: subprocess.Popen[bytes]) -> None:
    """Wait for an engine told to stop (it got the Ctrl-C too); end it if it lingers."""
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stage(project: Project, engine: Engine) -> Staging:
    """Write the rendered docs tree and the engine config to ``.runbook/engines/<engine>/``."""
    staging = Staging(project.work_dir / "engines" / engine.name)
    staging.root.mkdir(parents=True, exist_ok=True)
    hidden, warnings = _render_into(project, staging.docs_dir)
    raw = load_raw_config(project.config_file, engine)
    config = engine_config(raw, project.config_file.parent)
    if "nav" not in config:
        nav = titled_nav(staging.docs_dir, hidden, config.get("not_in_nav"))
        if nav is not None:
            config["nav"] = nav
    text = yaml.dump(config, Dumper=_TagDumper, sort_keys=False, allow_unicode=True)
    staging.config_file.write_text(text, "utf-8")
    return Staging(staging.root, tuple(warnings))


def engine_config(raw: dict[str, Any], project_root: Path) -> dict[str, Any]:
    """The project's config for an engine building the staged pages beside it.

    ``docs_dir`` and ``site_dir`` are the staging folder's, paths relative to the project
    (``INHERIT``, ``theme.custom_dir``, ``hooks``, ``watch``) are made absolute, and the
    ``runbook`` plugin is dropped: its pages are already rendered.
    """
    config = dict(raw)
    config["docs_dir"] = "docs"
    config["site_dir"] = "site"
    if isinstance(config.get("INHERIT"), str):
        config["INHERIT"] = str(project_root / config["INHERIT"])
    theme = config.get("theme")
    if isinstance(theme, dict) and isinstance(theme.get("custom_dir"), str):
        config["theme"] = {**theme, "custom_dir": str(project_root / theme["custom_dir"])}
    for key in PATH_KEYS:
        if isinstance(config.get(key), list):
            config[key] = [str(project_root / p) if isinstance(p, str) else p for p in config[key]]
    if "plugins" in config:
        config["plugins"] = _without_runbook(config["plugins"])
    return config


def titled_nav(docs: Path, hidden: set[str], not_in_nav: Any) -> list[Any] | None:
    """The navigation MkDocs would derive from ``docs``, with the section titles the
    plugin gives (``FAQ``, not ``Faq``); None when no section is renamed.

    Only a project without its own ``nav`` gets one: the pages in the order MkDocs sorts
    them (index first, folders after files), minus the generated pages kept out of the
    navigation and those ``not_in_nav`` names.
    """
    from mkdocs.utils import nest_paths
    from pathspec import GitIgnoreSpec

    from runbook.site.plugin import SECTION_TITLES

    patterns = GitIgnoreSpec.from_lines(not_in_nav.splitlines() if isinstance(not_in_nav, str) else [])
    pages = [p.relative_to(docs).as_posix() for p in docs.rglob("*.md")]
    shown = [p for p in pages if p not in hidden and not patterns.match_file(p)]
    nav: list[Any] = nest_paths(sorted(shown, key=_mkdocs_sort_key))
    return nav if _retitle(nav, SECTION_TITLES) else None


def _mkdocs_sort_key(path: str) -> tuple[Any, ...]:
    parts = PurePosixPath(path).parts
    return (parts[:-1], PurePosixPath(path).stem not in ("index", "README"), parts[-1])


def _retitle(nav: list[Any], titles: dict[str, str]) -> bool:
    """Rename sections in place; whether any was renamed."""
    renamed = False
    for position, item in enumerate(nav):
        if not isinstance(item, dict):
            continue
        ((title, children),) = item.items()
        renamed = _retitle(children, titles) or renamed
        if title in titles:
            nav[position] = {titles[title]: children}
            renamed = True
    return renamed


def load_raw_config(path: Path, engine: Engine) -> dict[str, Any]:
    """``mkdocs.yml`` as written, its tags (``!ENV``, ``!!python/name:``) kept for the engine.

    Raises:
        RunbookError: the file cannot be read or is not a mapping.
    """
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=_TagKeepingLoader)  # noqa: S506 (safe + tags)
    except (OSError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())
        raise RunbookError(BAD_PROJECT_CONFIG.format(path=path, name=engine.name, problem=problem)) from None
    if not isinstance(data, dict):
        raise RunbookError(
            BAD_PROJECT_CONFIG.format(path=path, name=engine.name, problem="expected a mapping of settings")
        )
    return data


# -- YAML that keeps the tags it does not know --------------------------------------------


@dataclass(frozen=True)
class _Tagged:
    tag: str
    value: Any
    kind: str


class _TagKeepingLoader(yaml.SafeLoader):
    """Safe loading; a tagged node (``!ENV x``, ``!!python/name:y``) is kept as written."""


class _TagDumper(yaml.SafeDumper):
    pass


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tagged:
    if isinstance(node, yaml.ScalarNode):
        return _Tagged(node.tag, loader.construct_scalar(node), "scalar")
    if isinstance(node, yaml.SequenceNode):
        return _Tagged(node.tag, loader.construct_sequence(node, deep=True), "sequence")
    assert isinstance(node, yaml.MappingNode)
    return _Tagged(node.tag, loader.construct_mapping(node, deep=True), "mapping")


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.Node:
    if data.kind == "scalar":
        return dumper.represent_scalar(data.tag, data.value)
    if data.kind == "sequence":
        return dumper.represent_sequence(data.tag, data.value)
    return dumper.represent_mapping(data.tag, data.value)


def _represent_text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """Multi-line strings (``not_in_nav``, ``exclude_docs``) as blocks, as people write them."""
    style = "|" if "\n" in data and data == data.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_TagKeepingLoader.add_multi_constructor("!", _construct_tagged)
_TagKeepingLoader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_tagged)
_TagDumper.add_representer(_Tagged, _represent_tagged)
_TagDumper.add_representer(str, _represent_text)


# -- staging ------------------------------------------------------------------------------


def _without_runbook(plugins: Any) -> Any:
    if isinstance(plugins, dict):
        return {name: options for name, options in plugins.items() if name != PLUGIN_NAME}
    if isinstance(plugins, list):
        return [p for p in plugins if not _is_runbook(p)]
    return plugins


def _is_runbook(entry: Any) -> bool:
    return entry == PLUGIN_NAME or (isinstance(entry, dict) and PLUGIN_NAME in entry)


def _render_into(project: Project, docs: Path) -> tuple[set[str], list[str]]:
    """Render the docs tree into ``docs``, leaving files that did not change untouched
    (an engine's live reload and incremental cache see only real changes).

    Returns:
        The generated pages kept out of the navigation (run pages), and the warnings.
    """
    from runbook import ops
    from runbook.render.site import site_files

    site = ops.render(project)
    for warning in site.warnings:
        log.warning(warning)
    _sync(site_files(site, project.docs_dir), docs)
    return set(site.hidden), list(site.warnings)


def _sync(files: dict[str, bytes | Path], target: Path) -> None:
    """Make ``target`` hold exactly ``files`` (content, or the file to copy, by relative
    path): write new and changed ones, delete the rest."""
    from runbook.render.cache import write_atomic

    if target.is_dir():
        for path in sorted(target.rglob("*"), reverse=True):
            rel = path.relative_to(target).as_posix()
            if path.is_file() and rel not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rel, content in files.items():
        old = target / rel
        new = content.read_bytes() if isinstance(content, Path) else content
        if not (old.is_file() and old.stat().st_size == len(new) and old.read_bytes() == new):
            write_atomic(old, new)  # a running engine never reads half a page


def _configured_site_dir(project: Project) -> Path:
    """The project's ``site_dir`` (default ``site``), relative to its config file."""
    raw = load_raw_config(project.config_file, ENGINES[DEFAULT_ENGINE])
    value = raw.get("site_dir", "site")
    return project.config_file.parent / (value if isinstance(value, str) else "site")


def _publish(built: Path, target: Path) -> None:
    """Make the built site ``target``: moved there when both are on one file system (the
    engine writes every file of its next build anew), copied otherwise."""
    if target.resolve() == built.resolve():
        return
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(built, target)
    except OSError:
        shutil.copytree(built, target)


def _sources_fingerprint(project: Project) -> tuple[tuple[str, int, int], ...]:
    """Path, size and mtime of every source file a render reads."""
    folders = [project.runbooks_dir, project.docs_dir, project.environments_dir, project.runs_dir]
    files: list[tuple[str, int, int]] = []
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                files.append((str(path), stat.st_size, stat.st_mtime_ns))
    config = project.config_file.stat()
    files.append((str(project.config_file), config.st_size, config.st_mtime_ns))
    return tuple(sorted(files))


def _rerender_on_change(
    project: Project, staging: Staging, stop: threading.Event, interval: float = 1.0
) -> None:
    """Poll the sources; re-render into staging when one changes (the engine reloads)."""
    seen = _sources_fingerprint(project)
    while not stop.wait(interval):
        now = _sources_fingerprint(project)
        if now == seen:
            continue
        seen = now
        _log_errors(lambda: _render_into_quietly(project, staging.docs_dir))


def _render_into_quietly(project: Project, docs: Path) -> None:
    _render_into(project, docs)


def _log_errors(action: Callable[[], None]) -> None:
    try:
        action()
    except RunbookError as exc:
        log.warning("%s", exc)
    except OSError as exc:
        log.warning("could not re-render: %s", exc)
