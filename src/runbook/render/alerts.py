"""Which alerts lead to which runbook page, and the alerts index (``runbooks/alerts.md``).

An alert leads to a runbook when the runbook's front matter names it (``alerts:``) or when
the alert's ``runbook_url`` is the runbook's page. Severity comes from the rule files the
site reads (the plugin's ``alert_rules``); without them a page lists the names alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runbook.record.standing import Standing
from runbook.render.pages import ALERTS_INDEX, STATE_LABELS, link, state_class
from runbook.render.templates import Templates
from runbook.source.alerts import AlertRule, url_page
from runbook.source.model import Runbook

__all__ = ["ALERTS_INDEX", "AlertMap", "PageAlert", "alerts_index", "index_rows", "map_alerts", "page_alerts"]


@dataclass(frozen=True)
class PageAlert:
    """An alert as a runbook page lists it."""

    name: str
    severity: str | None


@dataclass(frozen=True)
class AlertMap:
    """The alerts of a site: by runbook, and every alert the rule files define."""

    by_slug: Mapping[str, tuple[PageAlert, ...]]
    rules: tuple[AlertRule, ...]


def _page_url(page: str) -> str:
    from runbook.metrics import page_url

    return page_url(page, None)


def map_alerts(
    runbooks: Sequence[Runbook], pages: Mapping[str, str], rules: Sequence[AlertRule], site_url: str | None
) -> AlertMap:
    """The alerts leading to each runbook, in name order, with their severity when known."""
    severity: dict[str, str] = {}
    for rule in rules:
        if rule.severity and rule.name not in severity:
            severity[rule.name] = rule.severity
    slug_by_url = {_page_url(pages[rb.slug]): rb.slug for rb in runbooks}
    names: dict[str, set[str]] = {rb.slug: set(rb.meta.alerts) for rb in runbooks}
    for rule in rules:
        if rule.page_url:
            page, _ = url_page(rule.page_url, site_url)
            if page in slug_by_url:
                names[slug_by_url[page]].add(rule.name)
    by_slug = {
        slug: tuple(PageAlert(name, severity.get(name)) for name in sorted(found))
        for slug, found in names.items()
        if found
    }
    return AlertMap(by_slug, tuple(rules))


def page_alerts(alerts: Sequence[PageAlert]) -> list[dict[str, str | None]]:
    """A runbook page's alerts, as its template shows them."""
    return [{"name": a.name, "severity": a.severity} for a in alerts]


def index_rows(
    alerts: AlertMap, standings: Mapping[str, Standing], pages: Mapping[str, str]
) -> list[list[object]]:
    """The alerts index's rows as JSON-able facts (what the render cache keys on): alert,
    severity, and the runbook it leads to (page, state, title), or None and whether its
    ``runbook_url`` is a template (``templated``), a link elsewhere (``elsewhere``) or
    missing (``none``)."""
    severity: dict[str, str | None] = {}
    linked: dict[str, str] = {}  # alerts with a runbook_url that leads to no page here
    for rule in alerts.rules:
        severity.setdefault(rule.name, rule.severity)
        if rule.runbook_url:
            linked[rule.name] = "templated" if rule.templated else "elsewhere"
    leads: dict[str, list[str]] = {name: [] for name in severity}
    for slug, found in alerts.by_slug.items():
        for alert in found:
            leads.setdefault(alert.name, []).append(slug)
    rows: list[list[object]] = []
    for name in sorted(leads, key=str.lower):
        slugs = sorted(leads[name], key=lambda s: standings[s].runbook.meta.title.lower())
        for slug in slugs:
            meta = standings[slug].runbook.meta
            rows.append([name, severity.get(name), pages[slug], standings[slug].state, meta.title])
        if not slugs:
            rows.append([name, severity.get(name), None, None, linked.get(name, "none")])
    return rows


def alerts_index(rows: list[list[object]], templates: Templates) -> str:
    """``runbooks/alerts.md``: every alert, its severity, the runbook it leads to and its status."""
    shown = []
    for name, severity, page, state, title in rows:
        shown.append(
            {
                "name": name,
                "severity": severity,
                "title": title if page else None,
                "link": link(ALERTS_INDEX, str(page)) if page else None,
                "unmatched": None if page else title,
                "state": STATE_LABELS.get(str(state), str(state)) if state else None,
                "state_class": state_class(str(state)) if state else None,
            }
        )
    return templates.markdown("alerts.md.j2", rows=shown)
