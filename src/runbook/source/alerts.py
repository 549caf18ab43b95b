"""Prometheus rule files, read for their alerts: which runbook each alert leads to.

A rule file is ``groups: [{name, rules: [{alert, expr, labels, annotations}]}]``; recording
rules (``record:``) are skipped. Each alert keeps its file line, its ``severity`` label and
its ``runbook_url`` annotation (with that line), so :func:`check_alerts` can report, as
``file:line: message`` findings, an alert no runbook answers, a ``runbook_url`` that is not
a runbook page, and a runbook naming an alert no rule defines. The site reads the same
files (the plugin's ``alert_rules`` option) for the severity and the alerts index.

Every file is read through :mod:`runbook.source.bounded_yaml`; a file that cannot be
read, is not YAML or is not shaped like a rule file is one problem, and its alerts are
left out.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from runbook.errors import InputTooLarge, Problem
from runbook.source import bounded_yaml
from runbook.source.bounded_yaml import YamlDocument

NO_RUNBOOK = (
    "alert '{alert}' has no runbook: add it to a runbook's 'alerts:' front matter or give it a runbook_url"
)
NOT_A_PAGE = "alert '{alert}': runbook_url '{url}' is not a runbook page ({why})"
UNDEFINED_ALERT = "'alerts': no rule defines alert '{alert}' (rule files: {files})"
NOT_UNDER_SITE = "it is not under site_url {site_url}"
NO_SITE_URL = "mkdocs.yml has no site_url to resolve an absolute URL against"
NO_SUCH_PAGE = "no runbook's page is at {path}"
CANNOT_READ = "cannot read: {reason}"
NOT_UTF8 = "not UTF-8 text (byte {byte}); save it as UTF-8"
NOT_YAML = "not valid YAML{where}: {problem}"
BAD_SHAPE = (
    "{what}; a Prometheus rule file is 'groups: [{{name, rules: [{{alert, expr, labels, annotations}}]}}]'"
)
NO_RULE_FILES = "{pattern}: no such rule file"
_TEMPLATE_FALLBACK = re.compile(r"\{\{-?\s*else\s*-?\}\}\s*([^\s{}]+)\s*\{\{-?\s*end\s*-?\}\}\s*$")


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule of a rule file."""

    name: str
    file: str
    """The rule file, relative to the project when inside it."""
    line: int
    """The line of the rule's ``alert:`` key."""
    severity: str | None = None
    runbook_url: str | None = None
    url_line: int = 0
    """The line of the ``runbook_url`` annotation (0 without one)."""

    @property
    def templated(self) -> bool:
        """A ``runbook_url`` built by Prometheus' templates at alert time: not checkable here."""
        return self.runbook_url is not None and "{{" in self.runbook_url

    @property
    def page_url(self) -> str | None:
        """The URL to check against the site: the ``runbook_url`` itself, or a template's
        fallback (``{{ with query ... }}...{{ else }}/runbooks/x/{{ end }}``); None when
        only Prometheus can tell."""
        if not self.templated:
            return self.runbook_url
        fallback = _TEMPLATE_FALLBACK.search(self.runbook_url or "")
        return fallback.group(1) if fallback else None


@dataclass(frozen=True)
class RuleFiles:
    """The alerts of some rule files, and the problems that kept any of them out."""

    files: tuple[str, ...]
    alerts: tuple[AlertRule, ...]
    problems: tuple[Problem, ...] = ()


def read_rule_files(paths: Iterable[Path], root: Path) -> RuleFiles:
    """Read each rule file's alerts, collecting one problem per file that cannot be used.

    Args:
        paths: the rule files.
        root: the project root; files inside it are named relative to it.
    """
    files, alerts, problems = [], [], []
    for path in paths:
        rel = _display(path, root)
        files.append(rel)
        found, problem = _read_rules(path, rel)
        alerts += found
        if problem is not None:
            problems.append(problem)
    return RuleFiles(tuple(files), tuple(alerts), tuple(problems))


def expand_patterns(patterns: Sequence[str], root: Path) -> tuple[list[Path], list[str]]:
    """Rule files named by glob patterns relative to ``root``; the patterns that matched none."""
    paths: list[Path] = []
    unmatched = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(root / pattern), recursive=True))
        if not matches:
            unmatched.append(NO_RULE_FILES.format(pattern=pattern))
        paths += [Path(m) for m in matches if Path(m) not in paths]
    return paths, unmatched


def _display(path: Path, root: Path) -> str:
    absolute = path.absolute()
    for base in (root.absolute(), root.resolve()):
        if absolute.is_relative_to(base):
            return absolute.relative_to(base).as_posix()
    return str(path)


def _read_rules(path: Path, rel: str) -> tuple[list[AlertRule], Problem | None]:
    try:
        data = bounded_yaml.read_limited(path, rel)
        document = bounded_yaml.compose(data.decode("utf-8"), rel)
    except OSError as exc:
        return [], Problem(rel, CANNOT_READ.format(reason=exc.strerror or exc))
    except InputTooLarge as exc:
        return [], exc.problems[0]
    except UnicodeDecodeError as exc:
        return [], Problem(rel, NOT_UTF8.format(byte=exc.start))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        where = f" (line {line})" if line else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return [], Problem(rel, NOT_YAML.format(where=where, problem=problem), line)
    return _alerts_of(document, rel)


def _shape(rel: str, document: YamlDocument, what: str, *path: str | int) -> Problem:
    return Problem(rel, BAD_SHAPE.format(what=what), document.line(*path) or 1)


def _alerts_of(document: YamlDocument, rel: str) -> tuple[list[AlertRule], Problem | None]:
    data = document.data
    if isinstance(data, dict) and "groups" not in data and {"rule_files", "tests"} <= set(data):
        return [], None  # a promtool unit-test file beside the rules: no alerts of its own
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        return [], _shape(rel, document, "expected a 'groups' list", "groups")
    alerts: list[AlertRule] = []
    for g, group in enumerate(data["groups"], start=1):
        if not isinstance(group, dict) or not isinstance(group.get("rules", []), list):
            return [], _shape(
                rel, document, f"group {g}: expected a mapping with a 'rules' list", "groups", g
            )
        for r, rule in enumerate(group.get("rules") or [], start=1):
            where = ("groups", g, "rules", r)
            if not isinstance(rule, dict):
                return [], _shape(rel, document, f"group {g}, rule {r}: expected a mapping", *where)
            if "alert" not in rule:
                continue  # a recording rule
            name, labels, notes = rule["alert"], rule.get("labels") or {}, rule.get("annotations") or {}
            if not isinstance(name, str) or not isinstance(labels, dict) or not isinstance(notes, dict):
                what = f"group {g}, rule {r}: expected 'alert' text and 'labels'/'annotations' mappings"
                return [], _shape(rel, document, what, *where)
            url = notes.get("runbook_url")
            alerts.append(
                AlertRule(
                    name=name,
                    file=rel,
                    line=document.line(*where, "alert") or 1,
                    severity=str(labels["severity"]) if labels.get("severity") is not None else None,
                    runbook_url=str(url).strip() if url is not None else None,
                    url_line=(document.line(*where, "annotations", "runbook_url") or 0) if url else 0,
                )
            )
    return alerts, None


def url_page(url: str, site_url: str | None) -> tuple[str | None, str]:
    """The site path (``runbooks/db/backup/``) a ``runbook_url`` names, or None and why not.

    An absolute URL must lie under ``site_url``; any other URL is a path from the site's root.
    """
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if not site_url:
            return None, NO_SITE_URL
        base = site_url if site_url.endswith("/") else site_url + "/"
        bare = parts._replace(query="", fragment="").geturl()
        if not (bare + "/").startswith(base):
            return None, NOT_UNDER_SITE.format(site_url=base)
        path = bare[len(base) :]
    else:
        path = parts.path
        base_path = urlsplit(site_url).path if site_url else "/"
        if path.startswith(base_path) and base_path != "/":
            path = path[len(base_path) :]
    return _page_form(path.lstrip("/")), ""


def _page_form(path: str) -> str:
    """A site path as a page's: ``runbooks/x``, ``runbooks/x/index.html`` and
    ``runbooks/x.md`` all as ``runbooks/x/``."""
    for suffix in ("index.html", ".html", ".md"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if path.endswith("/index"):
        path = path[: -len("index")]
    return path if not path or path.endswith("/") else path + "/"


def alert_findings(
    rules: RuleFiles,
    named: Sequence[tuple[str, int, str]],
    page_urls: set[str],
    site_url: str | None,
) -> Iterator[Problem]:
    """Every alert without a runbook, every ``runbook_url`` that is not a runbook page, and
    every runbook naming an alert no rule defines.

    Args:
        rules: the rule files read.
        named: every alert a runbook's ``alerts:`` names: the runbook's file, the line
            of the name, the name.
        page_urls: the site paths of the runbooks' pages (``runbooks/db/backup/``).
        site_url: mkdocs.yml's ``site_url``.
    """
    yield from rules.problems
    answered = {name for _, _, name in named}
    for alert in rules.alerts:
        if alert.runbook_url is None:
            if alert.name not in answered:
                yield Problem(alert.file, NO_RUNBOOK.format(alert=alert.name), alert.line)
        elif alert.page_url is not None:
            page, why = url_page(alert.page_url, site_url)
            if page is not None and page not in page_urls:
                why = NO_SUCH_PAGE.format(path=page or "/")
            if page is None or page not in page_urls:
                message = NOT_A_PAGE.format(alert=alert.name, url=alert.page_url, why=why)
                yield Problem(alert.file, message, alert.url_line or alert.line)
    if rules.problems:
        return  # an unreadable file may define the alerts the runbooks name
    defined = {alert.name for alert in rules.alerts}
    files = ", ".join(rules.files)
    for rel, line, name in named:
        if name not in defined:
            yield Problem(rel, UNDEFINED_ALERT.format(alert=name, files=files), line)
