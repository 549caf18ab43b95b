"""Notifications on a change of state, sent with Apprise to the URLs a profile's ``notify:`` lists.

A run sends one message when its runbook's state changes in that environment: it failed
(or timed out) after a success, or as the runbook's first run there (a change from "never
run"); or it succeeded after a failure (recovered). A repeated failure, a repeated success
and an interrupted run send nothing. A batch (``runbook exec --due``) also sends one message
per runbook it finds stale; it remembers which stale success it reported in
``.runbook/notify/stale.json``, so the next batch stays quiet until a newer run goes stale.

Messages hold the runbook's title and slug, the environment, the status, the failing step
and its error (records hold masked values; the run's secret values are masked once more),
and the link to the run's page. A notification that cannot be delivered never changes the
run's result: it is one warning line on stderr and an entry in the record's
``notifications`` (the URL's scheme, never the URL: it holds tokens).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.record.model import Notification, RunRecord

if TYPE_CHECKING:
    from runbook.record.standing import Standing
    from runbook.run.environments import Environment
    from runbook.run.redact import Redactor
    from runbook.store import RunStore

log = logging.getLogger("runbook")

#: Statuses that settle a runbook's state; an interrupted or abandoned run says nothing.
VERDICTS = ("succeeded", "failed", "timed_out")
FAILING = ("failed", "timed_out")
#: Seconds to connect to, and to wait for, a notification service.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
STALE_FILE = "notify/stale.json"

NO_APPRISE = "{profile}: 'notify' needs apprise: pip install 'runbook-docs[notify]'; no notification sent"
UNDELIVERED = "notification to {scheme}:// not delivered ({reason}); the run's result stands"
TITLES = {
    "failed": "{title} failed in {env}",
    "recovered": "{title} recovered in {env}",
    "stale": "{title} is stale in {env}",
}


def change(previous: RunRecord | None, record: RunRecord) -> str | None:
    """The event a new run makes of its runbook's state: ``failed``, ``recovered`` or None.

    Args:
        previous: the runbook's latest run in that environment that ended with a verdict
            (:data:`VERDICTS`), or None when it never ran there.
        record: the new run.
    """
    if record.status in FAILING and (previous is None or previous.status not in FAILING):
        return "failed"
    if record.status == "succeeded" and previous is not None and previous.status in FAILING:
        return "recovered"
    return None


def previous_verdict(store: RunStore, slug: str, environment: str | None) -> RunRecord | None:
    """The newest run of ``slug`` in ``environment`` that ended with a verdict, or None."""
    for record in store.records(slug):
        if record.environment == environment and record.status in VERDICTS:
            return record
    return None


def run_link(record: RunRecord, site_url: str | None) -> str:
    """The run page's URL: ``site_url`` joined with its path; the path alone without one."""
    from runbook.render.pages import run_page_path

    path = run_page_path(record.slug, record.run_id).removesuffix(".md") + "/"
    return f"{site_url.rstrip('/')}/{path}" if site_url else path


def message(
    event: str, record: RunRecord, site_url: str | None, mask: Callable[[str], str]
) -> tuple[str, str]:
    """The title and body of a message about ``record``; every text passed through ``mask``."""
    facts = record.runbook
    env = record.environment or "no environment"
    lines = [
        f"Runbook: {facts.title or facts.slug} ({facts.slug})",
        f"Environment: {env}",
    ]
    if event == "stale":
        lines.append(f"Status: stale (last success {record.started_at})")
    else:
        lines.append(f"Status: {record.status.replace('_', ' ')} (exit {record.exit_code})")
    failure = record.failure
    if failure is not None and event != "stale":
        lines.append(f"Step: {failure.step_name or 'before the first step'}")
        lines.append(f"Error: {failure.exception}: {failure.message}")
    lines.append(f"Run: {run_link(record, site_url)}")
    title = TITLES[event].format(title=facts.title or facts.slug, env=env)
    return mask(title), mask("\n".join(lines))


def send(urls: Iterable[str], event: str, title: str, body: str) -> tuple[Notification, ...]:
    """Send one message to each URL; what became of each (never raises for a delivery).

    Raises:
        ImportError: apprise is not installed.
    """
    import apprise

    results = []
    for url in urls:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        results.append(_send_one(apprise, url, scheme, event, title, body))
    return tuple(results)


def _send_one(apprise: Any, url: str, scheme: str, event: str, title: str, body: str) -> Notification:
    service = apprise.Apprise.instantiate(url)
    if not service:
        return Notification(event, scheme, False, "not an Apprise URL this version knows")
    service.socket_connect_timeout = CONNECT_TIMEOUT_S
    service.socket_read_timeout = READ_TIMEOUT_S
    sender = apprise.Apprise()
    sender.add(service)
    entries: list[str] = []
    quiet = logging.getLogger("apprise")
    was_disabled, quiet.disabled = quiet.disabled, True  # its lines come back as our one warning
    try:
        kind = apprise.NotifyType.SUCCESS if event == "recovered" else apprise.NotifyType.FAILURE
        delivered = bool(
            sender.notify(
                body=body,
                title=title,
                notify_type=kind,
                log_callback=lambda entry, _plugin: entries.append(str(entry.message)),
            )
        )
    except Exception as exc:  # a service's fault never reaches the run
        delivered, entries = False, [f"{type(exc).__name__}: {exc}"]
    finally:
        quiet.disabled = was_disabled
    reason = None if delivered else _reason(entries, url)
    return Notification(event, scheme, delivered, reason)


def _reason(entries: list[str], url: str) -> str:
    """Why a message was not delivered: Apprise's last line, the URL masked out of it."""
    line = entries[-1].rstrip(".") if entries else "no reason given"
    return line.replace(url, f"{url.split('://', 1)[0]}://…")


def notify(
    environment: Environment, event: str, record: RunRecord, site_url: str | None, mask: Callable[[str], str]
) -> tuple[Notification, ...]:
    """Send the message about ``event`` to the profile's URLs; each undelivered one is a warning.

    Returns:
        What became of each URL; empty when apprise is missing (one warning says so).
    """
    from runbook.errors import RunbookError

    title, body = message(event, record, site_url, mask)
    try:
        results = send(environment.notify_urls(), event, title, body)
    except RunbookError as exc:  # a ${VAR} that is not set
        log.warning(f"{exc}; no notification sent")
        return ()
    except ImportError:
        log.warning(NO_APPRISE.format(profile=environment.path))
        return ()
    for result in results:
        if not result.ok:
            log.warning(UNDELIVERED.format(scheme=result.scheme, reason=mask(result.error or "")))
    return results


@dataclass
class RunNotifier:
    """Notifies a run's change of state; made before the run (it reads the previous verdict)."""

    environment: Environment
    previous: RunRecord | None
    site_url: str | None

    @classmethod
    def prepare(
        cls, environment: Environment | None, store: RunStore, slug: str, site_url: str | None
    ) -> RunNotifier | None:
        """A notifier when the profile has ``notify:``, else None (and nothing is read)."""
        if environment is None or not environment.notify:
            return None
        try:
            previous = previous_verdict(store, slug, environment.name)
        except Exception:  # the store's own fault shows when the run is stored
            log.debug("reading the previous run for notifications failed", exc_info=True)
            return None
        return cls(environment, previous, site_url)

    def after(self, record: RunRecord, redactor: Redactor) -> RunRecord:
        """``record``, with the notifications its change of state sent (none when it changed nothing)."""
        event = change(self.previous, record)
        if event is None:
            return record
        try:
            results = notify(self.environment, event, record, self.site_url, redactor.text)
        except Exception as exc:  # a message is never worth a run
            log.warning(UNDELIVERED.format(scheme="*", reason=redactor.text(str(exc))))
            return record
        return replace(record, notifications=record.notifications + results) if results else record


def notify_stale(
    environment: Environment | None, items: Iterable[Standing], work_dir: Path, site_url: str | None
) -> None:
    """One message per runbook a batch finds stale, once per staleness (see the module)."""
    if environment is None or not environment.notify:
        return
    memory_file = work_dir / STALE_FILE
    memory = _read_memory(memory_file)
    sent = False
    for item in items:
        latest = item.latest
        key = f"{environment.name}/{item.runbook.slug}"
        if item.state != "stale" or latest is None or memory.get(key) == latest.run_id:
            continue
        notify(environment, "stale", latest, site_url, lambda text: text)
        memory[key] = latest.run_id
        sent = True
    if sent:
        _write_memory(memory_file, memory)


def _read_memory(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_memory(path: Path, memory: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memory, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, path)
    except OSError:
        log.debug("cannot remember the stale runbooks notified", exc_info=True)
