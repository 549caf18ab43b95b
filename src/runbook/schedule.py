"""Kubernetes CronJobs for scheduled runbooks: ``runbook schedule``.

Each runbook with a ``schedule`` becomes one ``batch/v1`` ``CronJob`` that runs
``runbook exec <slug> --env <profile>`` in the handbook's image. The CronJobs are plain
dicts; :func:`to_yaml` writes them as one multi-document YAML stream.

Cron expressions are in UTC (``timeZone: Etc/UTC``). Runbooks are spread over the day by
a hash of their slug, so thirty daily runbooks do not all start at midnight; the same slug
always gets the same minute, hour, weekday and day. How each schedule maps to cron:

==================  ============================================================
``daily``           ``M H * * *``
``weekly``          ``M H * * W``
``monthly``         ``M H D * *`` (D in 1..28, so every month has it)
``quarterly``       ``M H D m,m+3,m+6,m+9 *``
``annually``        ``M H D m *``
``<N>h``            every N hours (hours listed) when N divides 24; otherwise every
                    K hours, K the largest divisor of 24 below N; 24h and more as
                    ``<N/24>d``, rounded down
``<N>d``            ``1d`` daily, ``7d`` weekly; else ``M H */N * *`` (days 1, 1+N, ...
                    of each month: never more than N days apart, closer at a month's
                    end); more than 31 days: monthly
==================  ============================================================

An approximation never runs less often than the schedule, so the schedule alone never
makes a runbook stale; each CronJob with one says so in a comment. Calendar schedules
follow the calendar: after a 31-day month a ``monthly`` runbook (due every 30 days) shows
as stale for up to a day before its run.

Runbooks that need a confirmation (``risk`` other than ``read-only``, or write steps)
are left out, with a comment saying why, unless ``assume_yes``: then their command
carries ``--yes``. Runbooks whose ``environments`` do not allow the profile are left out
too. Secret parameters come from one Kubernetes Secret (key = parameter name) as the
``RUNBOOK_SECRET_<NAME>`` variables ``runbook exec`` reads; values never appear here.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from runbook.source.model import Runbook

#: CronJob names: the Job controller appends 11 characters to make Job names.
NAME_MAX = 52
LABEL_MAX = 63
#: Kubernetes waits this long for a start it missed before skipping that run.
STARTING_DEADLINE_MAX_S = 3600
#: Beyond the runbook's own ``timeout``: kernel start and storing the run, so the run
#: times out and records itself before Kubernetes stops the pod.
ACTIVE_DEADLINE_MARGIN_S = 300
DEFAULT_SECRET = "runbook-secrets"
#: Object-store credentials taken from the same Secret (optional keys) for ``s3://`` stores.
S3_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

SKIP_CONFIRMATION = (
    "{slug}: not scheduled: {why} needs a confirmation; "
    "`runbook schedule --yes` schedules it to run with --yes"
)
SKIP_ENVIRONMENT = "{slug}: not scheduled: not allowed in '{env}' (its front matter allows: {allowed})"
NOTHING_SCHEDULED = (
    "no runbook has a schedule: add `schedule: daily` (or weekly, ...) to a runbook's front matter"
)
NOTHING_LEFT = "no CronJob to print: every scheduled runbook was left out ({count}); see the lines above"

_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_CALENDAR = ("daily", "weekly", "monthly", "quarterly", "annually")
_EVERY = re.compile(r"^(\d+)([hd])$")
_INVALID = re.compile(r"[^a-z0-9-]+")
_LABEL_INVALID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Cron:
    """A cron expression for a schedule, what it means, and any approximation made."""

    expression: str
    meaning: str
    note: str | None = None


@dataclass(frozen=True)
class ScheduleOptions:
    """What ``runbook schedule`` was asked for.

    Attributes:
        image: the container image with the handbook and ``runbook`` (its entrypoint).
        environment: the profile the runs use (``--env``).
        secret: the Kubernetes Secret holding secret parameters, by parameter name.
        namespace: the namespace for the CronJobs, or None for the one kubectl uses.
        assume_yes: schedule runbooks that need a confirmation, with ``--yes``.
        runs: the run store URL to pass as ``RUNBOOK_RUNS``, or None (a folder store).
    """

    image: str
    environment: str
    secret: str = DEFAULT_SECRET
    namespace: str | None = None
    assume_yes: bool = False
    runs: str | None = None


@dataclass
class Schedule:
    """The CronJobs to print, and the scheduled runbooks left out (one line each)."""

    cronjobs: list[dict[str, Any]] = field(default_factory=list)
    comments: list[list[str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    scheduled: int = 0
    warnings: list[str] = field(default_factory=list)


def _hash(slug: str) -> int:
    return int.from_bytes(hashlib.sha256(slug.encode("utf-8")).digest()[:8], "big")


def cron_for(slug: str, schedule: str) -> Cron:
    """The cron expression (UTC) for a runbook's ``schedule``, spread by its slug.

    Raises:
        ValueError: ``schedule`` is not a known schedule.
    """
    text = schedule.strip().lower()
    spread = _hash(slug)
    minute, hour = spread % 60, (spread // 60) % 24
    weekday, day, month = (spread // 1440) % 7, 1 + (spread // 10080) % 28, (spread // 282240) % 12
    at = f"{hour:02d}:{minute:02d} UTC"
    if text in _CALENDAR:
        return _calendar(text, minute, hour, weekday, day, month, at)
    match = _EVERY.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(schedule)
    count, unit = int(match.group(1)), match.group(2)
    if unit == "h":
        return _hours(count, minute, hour, weekday, day, month, at)
    return _days(count, minute, hour, weekday, day, month, at)


def _calendar(text: str, minute: int, hour: int, weekday: int, day: int, month: int, at: str) -> Cron:
    if text == "daily":
        return Cron(f"{minute} {hour} * * *", f"daily at {at}")
    if text == "weekly":
        return Cron(f"{minute} {hour} * * {weekday}", f"weekly on {_WEEKDAYS[weekday]} at {at}")
    if text == "monthly":
        return Cron(f"{minute} {hour} {day} * *", f"monthly on day {day} at {at}")
    if text == "quarterly":
        months = ",".join(str(1 + month % 3 + 3 * q) for q in range(4))
        return Cron(f"{minute} {hour} {day} {months} *", f"quarterly on day {day} of months {months} at {at}")
    return Cron(f"{minute} {hour} {day} {month + 1} *", f"annually on day {day} of month {month + 1} at {at}")


def _hours(count: int, minute: int, hour: int, weekday: int, day: int, month: int, at: str) -> Cron:
    if count >= 24:
        days = _days(count // 24, minute, hour, weekday, day, month, at)
        if count % 24 == 0:
            return days
        return Cron(days.expression, days.meaning, f"{count}h is not whole days: runs {days.meaning}")
    step = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= count)
    hours = ",".join(str(h) for h in range(hour % step, 24, step))
    expression = f"{minute} * * * *" if step == 1 else f"{minute} {hours} * * *"
    meaning = f"every {step} hour{'s' if step > 1 else ''} at minute {minute}"
    note = None if step == count else f"{count}h does not divide a day: runs {meaning}, more often"
    return Cron(expression, meaning, note)


def _days(count: int, minute: int, hour: int, weekday: int, day: int, month: int, at: str) -> Cron:
    if count == 1:
        return _calendar("daily", minute, hour, weekday, day, month, at)
    if count == 7:
        return _calendar("weekly", minute, hour, weekday, day, month, at)
    if count > 31:
        monthly = Cron(f"{minute} {hour} 1 * *", f"monthly on day 1 at {at}")
        return Cron(
            monthly.expression, monthly.meaning, f"cron cannot count {count} days: runs {monthly.meaning}"
        )
    days = "day 1" if count >= 31 else f"days 1, {1 + count}, ..."
    meaning = f"on {days} of each month at {at}"
    note = (
        f"cron cannot count {count} days across months: runs {meaning} (never more than {count} days apart)"
    )
    return Cron(f"{minute} {hour} */{count} * *", meaning, note)


def cronjob_name(slug: str) -> str:
    """A valid CronJob name for ``slug``: DNS-1123, at most :data:`NAME_MAX` characters.

    Names that had to change beyond lower-casing end in a short hash of the slug, so two
    slugs that sanitize alike still get different names.
    """
    cleaned = _INVALID.sub("-", slug.lower()).strip("-")
    name = f"runbook-{cleaned}" if cleaned else "runbook"
    if cleaned == slug and len(name) <= NAME_MAX:
        return name
    suffix = hashlib.sha256(slug.encode("utf-8")).hexdigest()[:6]
    return f"{name[: NAME_MAX - len(suffix) - 1].rstrip('-')}-{suffix}"


def label_value(text: str) -> str:
    """``text`` as a valid label value (63 characters, alphanumeric at both ends)."""
    return _LABEL_INVALID.sub("-", text)[:LABEL_MAX].strip("-._")


def starting_deadline_s(schedule_s: float) -> int:
    """How late a missed start may still happen: half the interval, at most an hour."""
    return int(min(STARTING_DEADLINE_MAX_S, schedule_s // 2))


def build(runbooks: list[Runbook], options: ScheduleOptions) -> Schedule:
    """The CronJobs for every runbook with a ``schedule``, and the ones left out.

    ``runbooks`` come in slug order or any order; the CronJobs follow slug order.
    """
    from runbook.run.execute import needs_confirmation

    found = Schedule()
    names: set[str] = set()
    for runbook in sorted(runbooks, key=lambda rb: rb.slug):
        if not runbook.meta.schedule or not runbook.meta.schedule_s:
            continue
        found.scheduled += 1
        allowed = runbook.meta.environments
        why = needs_confirmation(runbook)
        if allowed is not None and options.environment not in allowed:
            found.skipped.append(
                SKIP_ENVIRONMENT.format(
                    slug=runbook.slug, env=options.environment, allowed=", ".join(allowed)
                )
            )
            continue
        if why and not options.assume_yes:
            found.skipped.append(SKIP_CONFIRMATION.format(slug=runbook.slug, why=why))
            continue
        name = cronjob_name(runbook.slug)
        if name in names:  # only when a cleaned slug and a hashed one meet
            name = cronjob_name(f"{runbook.slug}-")
        names.add(name)
        cron = cron_for(runbook.slug, runbook.meta.schedule)
        found.cronjobs.append(cronjob(runbook, name, cron, options, confirmed=bool(why)))
        found.comments.append(_comments(runbook, cron))
    return found


def _comments(runbook: Runbook, cron: Cron) -> list[str]:
    lines = [f"{runbook.slug} ({runbook.path}): schedule {runbook.meta.schedule}, {cron.meaning}"]
    if cron.note:
        lines.append(f"note: {cron.note}")
    return lines


def cronjob(
    runbook: Runbook, name: str, cron: Cron, options: ScheduleOptions, *, confirmed: bool
) -> dict[str, Any]:
    """One ``batch/v1`` CronJob that runs ``runbook`` in ``options.environment``."""
    labels = {
        "app.kubernetes.io/name": "runbook",
        "app.kubernetes.io/component": "scheduled-run",
        "runbook/slug": label_value(runbook.slug),
    }
    metadata: dict[str, Any] = {
        "name": name,
        "labels": labels,
        "annotations": {
            "runbook/slug": runbook.slug,
            "runbook/path": runbook.path,
            "runbook/schedule": str(runbook.meta.schedule),
            "runbook/environment": options.environment,
        },
    }
    if options.namespace:
        metadata["namespace"] = options.namespace
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,  # a failed run is a result, recorded in the store, not retried
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True},
                "containers": [_container(runbook, options, confirmed=confirmed)],
            },
        },
    }
    if runbook.meta.timeout_s:
        job_spec["activeDeadlineSeconds"] = math.ceil(runbook.meta.timeout_s) + ACTIVE_DEADLINE_MARGIN_S
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata,
        "spec": {
            "schedule": cron.expression,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": starting_deadline_s(runbook.meta.schedule_s or 0),
            "jobTemplate": {"metadata": {"labels": dict(labels)}, "spec": job_spec},
        },
    }


def _container(runbook: Runbook, options: ScheduleOptions, *, confirmed: bool) -> dict[str, Any]:
    from runbook.run.execute import SECRET_ENV

    args = ["exec", runbook.slug, "--env", options.environment]
    if confirmed:
        args.append("--yes")
    env: list[dict[str, Any]] = []
    if options.runs:
        env.append({"name": "RUNBOOK_RUNS", "value": options.runs})
        if options.runs.startswith("s3://"):
            env += [_from_secret(key, key, options.secret) for key in S3_CREDENTIALS]
    env += [
        _from_secret(SECRET_ENV.format(name=p.name.upper()), p.name, options.secret)
        for p in runbook.parameters
        if p.secret
    ]
    container: dict[str, Any] = {"name": "runbook", "image": options.image, "args": args}
    if env:
        container["env"] = env
    return container


def _from_secret(variable: str, key: str, secret: str) -> dict[str, Any]:
    """A variable from a Secret's key; optional, so a missing key leaves the profile's value."""
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}


def to_yaml(found: Schedule, header: list[str]) -> str:
    """The CronJobs as one YAML stream: ``header`` and the skips as comments, then one
    document per CronJob, each after a comment naming its runbook and schedule."""
    import yaml

    lines = [f"# {line}" for line in header + found.skipped]
    documents = []
    for job, comments in zip(found.cronjobs, found.comments, strict=True):
        text = yaml.safe_dump(job, sort_keys=False, allow_unicode=True, width=1000)
        documents.append("".join(f"# {line}\n" for line in comments) + text)
    head = "\n".join(lines) + "\n" if lines else ""
    return head + "---\n" + "---\n".join(documents) if documents else head
