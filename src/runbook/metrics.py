"""Metrics for Prometheus: where each runbook stands, per environment, as gauges.

Per runbook (``runbook``: its slug) and environment (``environment``: the profile a run
used, ``none`` for a run without one), from the run store:

- ``runbook_last_run_timestamp_seconds``: when the newest run started;
- ``runbook_last_run_duration_seconds``: how long it took;
- ``runbook_last_run_success``: 1 when it succeeded, else 0;
- ``runbook_last_success_timestamp_seconds``: when the newest successful run started
  (absent before the first success);
- ``runbook_schedule_interval_seconds``: the front matter's ``schedule`` (absent without
  one), so staleness is ``time() - runbook_last_success_timestamp_seconds >
  runbook_schedule_interval_seconds``, the rule ``runbook due`` applies;
- ``runbook_check_value{check, figure}``: each number a check of the newest run recorded;
- ``runbook_info{title, owner, url}``: always 1; ``url`` is the runbook's page in the site
  (under mkdocs.yml's ``site_url``), which the shipped alert rules link to.

Labels hold names only (slugs, profile names, check names, figure keys), never parameter
values. Three outputs: the text exposition format (stdout), a file for node_exporter's
textfile collector (written atomically), and a Pushgateway, pushed with push-add semantics
in one group per runbook and environment, so a push replaces that runbook's series only,
and a failed run, whose push carries no success, leaves the last success in place.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.errors import EXIT_STORE, RunbookError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from runbook.record.model import RunRecord
    from runbook.source.model import Runbook
    from runbook.source.project import Project
    from runbook.store import RunStore

JOB = "runbook"
NO_ENVIRONMENT = "none"
PUSH_FAILED = "{url}: metrics not pushed: {reason}; check the URL and that the Pushgateway is up"
WRITE_FAILED = "{path}: metrics not written: {reason}"


class MetricsError(RunbookError):
    """Metrics could not be pushed or written (exit 74, like a store out of reach)."""

    exit_code = EXIT_STORE


@dataclass(frozen=True)
class RunbookMetrics:
    """One runbook's figures in one environment.

    Attributes:
        slug: the runbook's slug (label ``runbook``).
        environment: the profile its runs used (label ``environment``).
        latest: the newest run there.
        last_success: the newest successful run there, or None.
        interval_s: the schedule in seconds, or None.
        title: the runbook's title; owner: its owner; url: its page in the site.
    """

    slug: str
    environment: str
    latest: RunRecord
    last_success: RunRecord | None
    interval_s: float | None
    title: str = ""
    owner: str = ""
    url: str = ""
    checks: list[tuple[str, str, float]] = field(default_factory=list)
    """``(check, figure, value)`` for each number a check of the newest run recorded."""

    @property
    def grouping_key(self) -> dict[str, str]:
        """The Pushgateway group these series are pushed into."""
        return {"runbook": self.slug, "environment": self.environment}


def gather(
    project: Project, store: RunStore | None = None, slugs: Iterable[str] | None = None
) -> list[RunbookMetrics]:
    """Every runbook's figures per environment it ran in, from the project's run store.

    Runbooks that cannot be parsed, and runs of runbooks no longer in the project, are left
    out. ``slugs`` narrows to some runbooks.
    """
    from runbook.ops import open_store

    store = store or open_store(project)
    wanted = set(slugs) if slugs is not None else None
    runs = store.by_slug()
    found: list[RunbookMetrics] = []
    for runbook in project.runbooks(on_error=lambda exc: None):
        if wanted is not None and runbook.slug not in wanted:
            continue
        url = page_url(project.page_path(runbook), project.settings.site_url)
        found += _per_environment(runbook, runs.get(runbook.slug, []), url)
    return found


def page_url(page_path: str, site_url: str | None) -> str:
    """A page's URL (directory URLs, MkDocs' default): under ``site_url`` when set, else from
    the site's root (``runbooks/db/backup.md`` -> ``runbooks/db/backup/``)."""
    stem = page_path[: -len(".md")] if page_path.endswith(".md") else page_path
    if stem == "index" or stem.endswith("/index"):
        stem = stem[: -len("index")]
    path = f"{stem}/" if stem and not stem.endswith("/") else stem
    return f"{site_url.rstrip('/')}/{path}" if site_url else path


def _per_environment(runbook: Runbook, records: list[RunRecord], url: str) -> list[RunbookMetrics]:
    """One :class:`RunbookMetrics` per environment in ``records`` (newest first).

    The last success is the last run that verified the runbook (:func:`~runbook.record.standing.verified`):
    a run whose steps all skipped is not one, as on the runbook's page.
    """
    from runbook.record.standing import verified

    newest: dict[str, RunRecord] = {}
    success: dict[str, RunRecord] = {}
    for record in records:
        environment = record.environment or NO_ENVIRONMENT
        newest.setdefault(environment, record)
        if verified(record):
            success.setdefault(environment, record)
    meta = runbook.meta
    return [
        RunbookMetrics(
            runbook.slug, environment, latest, success.get(environment), meta.schedule_s,
            title=meta.title, owner=meta.owner, url=url, checks=_check_values(latest),
        )
        for environment, latest in sorted(newest.items())
    ]  # fmt: skip


def _check_values(record: RunRecord) -> list[tuple[str, str, float]]:
    """The numbers (not booleans, not NaN) among the figures of a run's checks."""
    return [
        (check.name, str(figure), float(value))
        for check in record.checks
        for figure, value in check.data.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    ]


def registry(items: Iterable[RunbookMetrics]) -> CollectorRegistry:
    """A registry of its own holding the series of ``items``."""
    from prometheus_client import CollectorRegistry, Gauge

    from runbook.record.standing import parse_time

    reg = CollectorRegistry(auto_describe=False)
    keys = ["runbook", "environment"]

    def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, [*keys, *extra], registry=reg)

    last_run = gauge("runbook_last_run_timestamp_seconds", "When the newest run started (Unix time).")
    duration = gauge("runbook_last_run_duration_seconds", "How long the newest run took.")
    success = gauge("runbook_last_run_success", "1 when the newest run succeeded, else 0.")
    last_ok = gauge("runbook_last_success_timestamp_seconds", "When the newest successful run started.")
    interval = gauge("runbook_schedule_interval_seconds", "How often a successful run is due (schedule).")
    checks = gauge("runbook_check_value", "A number a check of the newest run recorded.", ("check", "figure"))
    info = gauge(
        "runbook_info", "The runbook's title, owner and page URL; always 1.", ("title", "owner", "url")
    )
    for item in items:
        labels = (item.slug, item.environment)
        last_run.labels(*labels).set(parse_time(item.latest.started_at).timestamp())
        if item.latest.duration_s is not None:
            duration.labels(*labels).set(item.latest.duration_s)
        success.labels(*labels).set(1 if item.latest.status == "succeeded" else 0)
        if item.last_success is not None:
            last_ok.labels(*labels).set(parse_time(item.last_success.started_at).timestamp())
        if item.interval_s:
            interval.labels(*labels).set(item.interval_s)
        for check, figure, value in item.checks:
            checks.labels(*labels, check, figure).set(value)
        info.labels(*labels, item.title, item.owner, item.url).set(1)
    return reg


def exposition(items: Iterable[RunbookMetrics]) -> str:
    """The text exposition format, as a scrape or ``runbook metrics`` shows it."""
    from prometheus_client import generate_latest

    return generate_latest(registry(items)).decode("utf-8")


def write_textfile(items: Iterable[RunbookMetrics], path: Path) -> None:
    """Write the series for node_exporter's textfile collector: a temporary file in the same
    folder, then ``os.replace``, so the collector never reads half a file.

    Raises:
        MetricsError: the file cannot be written.
    """
    from prometheus_client import write_to_textfile

    try:
        write_to_textfile(os.fspath(path), registry(items))
    except OSError as exc:
        raise MetricsError(WRITE_FAILED.format(path=path, reason=exc.strerror or exc)) from None


def push(items: Iterable[RunbookMetrics], url: str, *, timeout_s: float = 10.0) -> int:
    """Push-add each runbook's series to the Pushgateway at ``url``, one group per runbook
    and environment (job ``runbook``); how many groups were pushed.

    Raises:
        MetricsError: the Pushgateway cannot be reached or refused a push; the message
            names the URL without credentials.
    """
    from prometheus_client import pushadd_to_gateway

    from runbook.checks._support import redact_url

    count = 0
    for item in items:
        try:
            pushadd_to_gateway(url, JOB, registry([item]), item.grouping_key, timeout_s)
        except (OSError, ValueError) as exc:
            reason = str(getattr(exc, "reason", None) or exc)
            raise MetricsError(PUSH_FAILED.format(url=redact_url(url), reason=reason)) from None
        count += 1
    return count


@dataclass
class Exported:
    """What ``runbook metrics`` did: the text it shows, or where it wrote or pushed."""

    text: str = ""
    series_of: int = 0
    """How many runbook-and-environment pairs the metrics cover."""
    written: Path | None = None
    pushed_to: str | None = None


def export(
    project: Project,
    names: Iterable[str] = (),
    *,
    textfile: Path | None = None,
    pushgateway: str | None = None,
) -> Exported:
    """``runbook metrics``: the series of ``names`` (slugs or paths; every runbook without),
    written to ``textfile``, pushed to ``pushgateway``, or else as text.

    Raises:
        ProjectError: an unknown runbook name.
        MetricsError: the file cannot be written or the Pushgateway cannot take the push.
    """
    from runbook.checks._support import redact_url

    slugs = [project.resolve(name)[0] for name in names] or None
    items = gather(project, slugs=slugs)
    done = Exported(series_of=len(items))
    if textfile is not None:
        write_textfile(items, textfile)
        done.written = textfile
    if pushgateway is not None:
        push(items, pushgateway)
        done.pushed_to = redact_url(pushgateway)
    if textfile is None and pushgateway is None:
        done.text = exposition(items)
    return done


def push_after_run(project: Project, record: RunRecord, *, warn: Callable[[str], None] | None = None) -> None:
    """Push a run's runbook series when its profile names a Pushgateway (``metrics:
    {pushgateway: URL}``). Never raises: a push that fails is one line passed to ``warn``
    (a warning on stderr by default), and the run's result stands."""
    import logging

    from runbook.run import environments

    report = warn or logging.getLogger("runbook").warning
    if record.environment is None:
        return
    try:
        profile = environments.load(project.environments_dir, record.environment)
        url = profile.pushgateway()
        if url is None:
            return
        items = [m for m in gather(project, slugs=[record.slug]) if m.environment == record.environment]
        push(items, url)
    except RunbookError as exc:
        report(f"{record.slug}: {exc}; the run's result stands")
    except Exception as exc:  # noqa: BLE001 - a push must never change a run's result
        report(f"{record.slug}: metrics not pushed: {type(exc).__name__}: {exc}; the run's result stands")
