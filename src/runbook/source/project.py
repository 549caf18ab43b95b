"""The project: its runbooks and name resolution.

A project is what its MkDocs config file says (:mod:`runbook.source.config`): the root is
the config file's folder, and the plugin's settings say where runbooks, profiles and runs
live. Runbooks are the ``.md`` files under the runbooks folder at any depth, plus docs
pages with a ``jupyter:`` header; each is named by its slug (the file stem, unique in the
project) or by its path.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from runbook.errors import ProjectError, RunbookError
from runbook.memo import Memo
from runbook.source.config import CONFIG_FILES, Settings, load_settings
from runbook.source.model import Runbook

UNKNOWN_RUNBOOK = "unknown runbook '{name}'{hint}; `runbook list` shows them all"
CLASHING_SLUG = (
    "runbook name '{slug}' is ambiguous: {paths}; rename one of the files "
    "(the name keys its run history, so it must be unique)"
)


#: Parsed runbooks by parse-cache key (content hash), for processes that load them again.
_PARSED: Memo[str, Runbook] = Memo(8192)
#: Fewer runbooks to parse than this are parsed in this process: below it, starting worker
#: processes costs more than it saves (about 1 ms a runbook against tens of ms a worker).
PARALLEL_MIN = 200

_JUPYTER_HEADER = re.compile(r"^jupyter:", re.MULTILINE)


def _markdown_files(top: Path) -> list[tuple[Path, bool]]:
    """``.md`` files under ``top``, sorted, skipping hidden and ``_``-prefixed names, each
    with whether it is a symlink. Symlinked folders are not followed."""
    found: list[tuple[Path, bool]] = []
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return found
    folders = []
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir(follow_symlinks=False):
            folders.append(entry)
        elif entry.name.endswith(".md") and not entry.is_dir():
            found.append((Path(entry.path), entry.is_symlink()))
    for folder in folders:
        found += _markdown_files(Path(folder.path))
    return found


def _has_jupyter_header(path: Path) -> bool:
    """Whether a Markdown file's front matter has jupytext's ``jupyter:`` key."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError:
        return False
    if not head.startswith("---"):
        return False
    end = head.find("\n---", 3)
    return bool(_JUPYTER_HEADER.search(head[: end if end > 0 else len(head)]))


class Project:
    """A Runbook project on disk.

    ``Project(root)`` reads the config file in ``root``; :meth:`discover` finds it upward
    (or takes ``-f``), and :meth:`from_settings` takes settings MkDocs already validated.
    """

    def __init__(self, root: Path, settings: Settings | None = None) -> None:
        if settings is None:
            config = next((root / n for n in CONFIG_FILES if (root / n).is_file()), None)
            if config is None:
                raise ProjectError(f"{root}: no mkdocs.yml or mkdocs.yaml here")
            settings = load_settings(config)
        self.settings = settings
        self.root = settings.root
        #: Parse-cache keys of the runbooks loaded so far, for :meth:`prune_parse_cache`.
        self.loaded_keys: set[str] = set()
        #: False when nothing may be written to the project's caches (``--dry-run``).
        self.write_cache = True

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    @classmethod
    def discover(
        cls, start: Path | None = None, config_file: Path | None = None, *, write_cache: bool = True
    ) -> Project:
        """The project of ``config_file``, or of the config found upward of ``start`` (the
        working directory)."""
        project = cls.from_settings(load_settings(config_file, start, write_cache=write_cache))
        project.write_cache = write_cache
        return project

    @classmethod
    def from_settings(cls, settings: Settings) -> Project:
        return cls(settings.root, settings)

    @property
    def config_file(self) -> Path:
        return self.settings.config_file

    @property
    def runbooks_dir(self) -> Path:
        return self.settings.runbooks_dir

    @property
    def runs(self) -> str:
        """Where runs are stored: an absolute folder, or an object-store URL."""
        return self.settings.runs

    @property
    def runs_dir(self) -> Path | None:
        """The run store's folder, or None when runs live in an object store."""
        from runbook.source.config import is_url

        return None if is_url(self.runs) else Path(self.runs)

    @property
    def work_dir(self) -> Path:
        """``.runbook/``: caches and runs kept until they can be shared (never in git)."""
        return self.root / ".runbook"

    @property
    def environments_dir(self) -> Path:
        return self.settings.environments_dir

    @property
    def docs_dir(self) -> Path:
        """MkDocs' ``docs_dir``, as MkDocs resolves it."""
        return self.settings.docs_dir

    @property
    def _runbooks_label(self) -> str:
        """The runbooks folder as messages name it."""
        folder = self.runbooks_dir
        return self.relative(folder) if self.contains(folder) else str(folder)

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes."""
        text, prefix = str(path), self._root_prefix
        if text.startswith(prefix):  # the common case, without pathlib's cost
            return text[len(prefix) :].replace(os.sep, "/")
        return path.relative_to(self.root).as_posix()

    @cached_property
    def _root_prefix(self) -> str:
        return os.path.join(str(self.root), "")

    def contains(self, path: Path) -> bool:
        """Whether ``path``, with symlinks resolved, stays inside the project."""
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return True

    def _inside(self, path: Path, is_link: bool) -> bool:
        """:meth:`contains` for a file found by walking a folder inside the project
        (symlinked folders are not followed), resolving only what is a link."""
        return not is_link or self.contains(path)

    @cached_property
    def sources(self) -> dict[str, list[Path]]:
        """Every notebook file by slug (a list, so clashes can be reported).

        Notebooks are the ``.md`` files under ``runbooks/`` and the ``.md`` files under the
        docs folder whose front matter carries jupytext's ``jupyter:`` header.
        """
        found: dict[str, list[Path]] = {}
        top_inside = self.contains(self.runbooks_dir)
        for path, is_link in _markdown_files(self.runbooks_dir) if top_inside else []:
            if self._inside(path, is_link):
                found.setdefault(path.stem, []).append(path)
        for path, is_link in _markdown_files(self.docs_dir) if self.contains(self.docs_dir) else []:
            if self._inside(path, is_link) and _has_jupyter_header(path):
                found.setdefault(path.stem, []).append(path)
        return found

    def page_path(self, runbook: Runbook) -> str:
        """Where a notebook's page lives in the site, relative to the docs root.

        Runbooks keep their place under ``runbooks/``; notebook pages in the docs folder
        replace their own source page.
        """
        docs = self._docs_prefix
        return runbook.path[len(docs) :] if runbook.path.startswith(docs) else runbook.path

    @cached_property
    def _docs_prefix(self) -> str:
        return self.relative(self.docs_dir) + "/"

    def clashes(self) -> dict[str, list[Path]]:
        """Slugs shared by more than one file."""
        return {slug: paths for slug, paths in self.sources.items() if len(paths) > 1}

    def resolve(self, name: str) -> tuple[str, Path]:
        """The slug and file of a runbook named by slug or by path.

        Raises:
            ProjectError: unknown name (with the closest slugs), an ambiguous slug, or a
                path outside the project.
        """
        if name.endswith(".md") or "/" in name or os.sep in name:
            return self._resolve_path(name)
        paths = self.sources.get(name)
        if not paths:
            close = difflib.get_close_matches(name, list(self.sources), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ProjectError(UNKNOWN_RUNBOOK.format(name=name, hint=hint))
        if len(paths) > 1:
            listed = ", ".join(self.relative(p) for p in paths)
            raise ProjectError(CLASHING_SLUG.format(slug=name, paths=listed))
        return name, paths[0]

    def _resolve_path(self, name: str) -> tuple[str, Path]:
        candidate = Path(name)
        if not candidate.is_absolute():
            candidate = Path.cwd() / candidate
        if not self.contains(candidate):
            raise ProjectError(
                f"{name}: outside the project at {self.root}; runbooks live under {self._runbooks_label}/"
            )
        if not candidate.is_file():
            raise ProjectError(UNKNOWN_RUNBOOK.format(name=name, hint=" (no such file)"))
        resolved = candidate.resolve()
        for slug, paths in self.sources.items():
            if any(p.resolve() == resolved for p in paths):
                if len(paths) > 1:
                    listed = ", ".join(self.relative(p) for p in paths)
                    raise ProjectError(CLASHING_SLUG.format(slug=slug, paths=listed))
                return slug, paths[0]
        raise ProjectError(
            f"{name}: not a runbook; runbooks are the .md files under {self._runbooks_label}/ "
            "and docs pages with a jupyter: header"
        )

    def load(self, name: str, *, write_cache: bool | None = None) -> Runbook:
        """Parse the runbook named ``name`` (slug or path)."""
        slug, path = self.resolve(name)
        return self.load_path(slug, path, write_cache=write_cache)

    def load_path(self, slug: str, path: Path, *, write_cache: bool | None = None) -> Runbook:
        """Parse one runbook file, reusing a cached parse of identical content.

        The cache (``.runbook/cache/parse``) is keyed on the file's content, so an edit is
        never served stale; ``write_cache=False`` (default: the project's
        :attr:`write_cache`) leaves the disk untouched (``--dry-run``).
        A process that loads the same content again (``runbook serve``) gets it from
        memory.
        """
        from runbook.source.parse import PARSER_VERSION, parse_text, read_text

        rel = self.relative(path)
        text = read_text(path, rel)
        key = _parse_key(slug, rel, text, PARSER_VERSION)
        self.loaded_keys.add(key)
        runbook = _PARSED.get(key) or self._cache_get(key)
        if runbook is None:
            runbook = parse_text(text, rel, slug)
            if self.write_cache if write_cache is None else write_cache:
                self._cache_put(key, runbook)
        _PARSED.put(key, runbook)
        return runbook

    def runbooks(self, on_error: Callable[[RunbookError], None] | None = None) -> list[Runbook]:
        """Every runbook with a unique slug, parsed, in slug order.

        Args:
            on_error: called with each runbook's parse error, which then is skipped;
                without it, the first error is raised.
        """
        unique = [(slug, paths[0]) for slug, paths in sorted(self.sources.items()) if len(paths) == 1]
        self._parse_in_parallel(unique)
        found = []
        for slug, path in unique:
            try:
                found.append(self.load_path(slug, path))
            except RunbookError as exc:
                if on_error is None:
                    raise
                on_error(exc)
        return found

    def _parse_in_parallel(self, sources: list[tuple[str, Path]]) -> None:
        """Parse the runbooks that neither memory nor the parse cache holds in worker
        processes, one a core, when there are enough of them to pay for the workers.

        Only fills the caches :meth:`load_path` reads (each worker writes the parse-cache
        entries of its runbooks): a runbook a worker could not parse is left to
        :meth:`load_path`, so its error is raised and located as in a serial parse.
        Workers are forked, so only from a process with no other thread (a thread holding
        a lock at the fork would leave it held in the worker); elsewhere this does nothing.
        """
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if cores < 2 or len(sources) < PARALLEL_MIN or threading.active_count() > 1:
            return
        from runbook.source.parse import PARSER_VERSION, read_text

        missing = []
        for slug, path in sources:
            rel = self.relative(path)
            try:
                text = read_text(path, rel)
            except RunbookError:
                continue  # load_path reports it
            key = _parse_key(slug, rel, text, PARSER_VERSION)
            if _PARSED.get(key) is None and not self._cache_path(key).is_file():
                missing.append((slug, rel, text, self._cache_path(key) if self.write_cache else None))
        if len(missing) < PARALLEL_MIN:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        from runbook.source.cells import import_jupytext

        import_jupytext()  # loaded once, before the fork, not by each worker

        workers = min(cores, len(missing) // (PARALLEL_MIN // 2))
        chunk = max(1, len(missing) // (workers * 4))
        context = multiprocessing.get_context("fork")
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                parsed = pool.map(_parse_quietly, missing, chunksize=chunk)
                for (slug, rel, text, _), runbook in zip(missing, parsed, strict=True):
                    if runbook is not None:
                        _PARSED.put(_parse_key(slug, rel, text, PARSER_VERSION), runbook)
        except (OSError, BrokenProcessPool):
            pass  # no workers (a process limit, a worker killed): load_path parses the rest

    def prune_parse_cache(self) -> int:
        """After loading every runbook: remove old parse-cache entries none of them used
        (at most daily, see :mod:`runbook.prune`); the number removed."""
        from runbook import prune

        folder = self.work_dir / "cache" / "parse"
        if not prune.due(folder):
            return 0
        names = {f"{k}.json" for k in self.loaded_keys}
        return prune.prune(folder, names.__contains__)

    def _cache_path(self, key: str) -> Path:
        return self.work_dir / "cache" / "parse" / f"{key}.json"

    def _cache_get(self, key: str) -> Runbook | None:
        try:
            return Runbook.from_dict(json.loads(self._cache_path(key).read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _cache_put(self, key: str, runbook: Runbook) -> None:
        _write_cache_entry(self._cache_path(key), runbook)


def _parse_key(slug: str, rel: str, text: str, parser_version: str) -> str:
    """The parse cache's key: the parser, the runbook's name and place, its content."""
    return hashlib.sha256(f"{parser_version}\0{slug}\0{rel}\0{text}".encode()).hexdigest()


def _parse_quietly(source: tuple[str, str, str, Path | None]) -> Runbook | None:
    """A worker's parse of ``(slug, rel, text, parse-cache file or None)``, written to the
    cache; None when it fails (the parent parses that one again, and reports it)."""
    from runbook.source.parse import parse_text

    slug, rel, text, target = source
    try:
        runbook = parse_text(text, rel, slug)
    except Exception:  # noqa: BLE001  (reported by the parent's own parse)
        return None
    if target is not None:
        _write_cache_entry(target, runbook)
    return runbook


def _write_cache_entry(target: Path, runbook: Runbook) -> None:
    """Write a parse-cache entry atomically; a read-only checkout still works, only slower."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_cache_entry(runbook)), "utf-8")
        os.replace(tmp, target)
    except OSError:
        pass


def _cache_entry(runbook: Runbook) -> dict[str, Any]:
    """:meth:`Runbook.to_dict`, without copying the notebook (``asdict`` copies every cell
    of it, the slowest part of writing a parse-cache entry)."""
    entry = dataclasses.asdict(dataclasses.replace(runbook, notebook={}))
    entry["notebook"] = runbook.notebook
    return entry
