"""Every alert has a runbook: ``alerts:`` front matter, ``runbook check --alerts``, and the
alerts on runbook pages and the alerts index.

Each test writes a real project and real Prometheus rule files under ``tmp_path`` and runs
the real CLI (or the real render), asserting the exact findings and what the pages show.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from conftest import Result, runbook_md

from runbook.site.inputs import render_project
from runbook.source.project import Project

REPO = Path(__file__).parents[1]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
NO_RUNBOOK = "has no runbook: add it to a runbook's 'alerts:' front matter or give it a runbook_url"

RULES = """\
groups:
  - name: backups
    rules:
      - record: job:up:sum
        expr: sum(up)
      - alert: BackupOld
        expr: backup_age_seconds > 93600
        labels:
          severity: critical
      - alert: DiskFull
        expr: disk_free_ratio < 0.05
      - alert: HealthDown
        expr: up == 0
        labels:
          severity: page
        annotations:
          runbook_url: https://handbook.example.com/runbooks/health/
      - alert: Moved
        expr: up == 0
        annotations:
          summary: moved away
          runbook_url: https://handbook.example.com/runbooks/old-name/
      - alert: Elsewhere
        expr: up == 0
        annotations:
          runbook_url: https://wiki.example.com/backups
      - alert: Relative
        expr: up == 0
        annotations:
          runbook_url: /runbooks/db/backup/
      - alert: Templated
        expr: up == 0
        annotations:
          runbook_url: "{{ $labels.url }}"
"""


def project_with_alerts(root: Path, *, config: str = "", backup_alerts: object = None) -> Path:
    """A project with a backup runbook naming alerts, a health runbook naming none, and RULES."""
    root.mkdir(parents=True)
    (root / "mkdocs.yml").write_text(
        f"site_name: Test handbook\nsite_url: https://handbook.example.com/\n{config}", "utf-8"
    )
    alerts = ["BackupOld", "NoSuchAlert"] if backup_alerts is None else backup_alerts
    write(root / "runbooks/db/backup.md", runbook_md("Dumps it.\n", title="Back up", alerts=alerts))
    write(root / "runbooks/health.md", runbook_md("Checks it.\n", title="Health"))
    write(root / "rules/alerts.yml", RULES)
    return root


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if text in line)


# -- runbook check --alerts --------------------------------------------------------------


def test_check_alerts_reports_each_alert_problem_at_its_line(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    project = project_with_alerts(tmp_path / "handbook")
    rules, backup = project / "rules/alerts.yml", project / "runbooks/db/backup.md"

    exit_code, out, err = invoke(project, "check", "--alerts", "rules/alerts.yml")

    assert exit_code == 1
    assert out.splitlines() == [
        f"rules/alerts.yml:{line_of(rules, 'alert: DiskFull')}: alert 'DiskFull' {NO_RUNBOOK}",
        f"rules/alerts.yml:{line_of(rules, 'runbooks/old-name/')}: alert 'Moved': runbook_url "
        "'https://handbook.example.com/runbooks/old-name/' is not a runbook page "
        "(no runbook's page is at runbooks/old-name/)",
        f"rules/alerts.yml:{line_of(rules, 'wiki.example.com')}: alert 'Elsewhere': runbook_url "
        "'https://wiki.example.com/backups' is not a runbook page "
        "(it is not under site_url https://handbook.example.com/)",
        f"runbooks/db/backup.md:{line_of(backup, 'NoSuchAlert')}: "
        "'alerts': no rule defines alert 'NoSuchAlert' (rule files: rules/alerts.yml)",
    ]
    assert err.endswith(" and the alerts of 1 rule file: 4 problems found\n")


def test_check_without_alerts_says_nothing_about_alerts(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    project = project_with_alerts(tmp_path / "handbook")

    exit_code, out, err = invoke(project, "check")

    assert (exit_code, out) == (0, "")
    assert err.endswith(": no problems\n") and "alert" not in err


def test_a_rule_file_that_cannot_be_used_is_one_finding(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    project = project_with_alerts(tmp_path / "handbook", backup_alerts=["BackupOld"])
    write(project / "rules/broken.yml", "groups:\n  - name: x\n    rules: [alert: Oops\n")
    write(project / "rules/shape.yml", "groups:\n  - name: x\n    rules: nope\n")

    exit_code, out, _ = invoke(
        project,
        "check",
        "--alerts",
        "rules/alerts.yml",
        "rules/broken.yml",
        "rules/shape.yml",
        "rules/gone.yml",
    )

    assert exit_code == 1
    findings = [line for line in out.splitlines() if not line.startswith("rules/alerts.yml")]
    assert findings == [
        "rules/broken.yml:4: not valid YAML (line 4): expected ',' or ']', but got '<stream end>'",
        "rules/gone.yml:0: cannot read: No such file or directory",
        "rules/shape.yml:2: group 1: expected a mapping with a 'rules' list; a Prometheus rule file is "
        "'groups: [{name, rules: [{alert, expr, labels, annotations}]}]'",
    ]


def test_a_promtool_test_file_beside_the_rules_is_not_a_finding(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    """``check --alerts rules/*.yml`` also matches the rules' promtool unit tests: they have
    no alerts of their own, and are not reported as malformed rule files."""
    project = project_with_alerts(tmp_path / "handbook", backup_alerts=["BackupOld"])
    write(project / "rules/alerts.test.yml", "rule_files: [alerts.yml]\ntests:\n  - interval: 1m\n")

    _, with_tests, _ = invoke(project, "check", "--alerts", "rules/alerts.yml", "rules/alerts.test.yml")
    _, alone, _ = invoke(project, "check", "--alerts", "rules/alerts.yml")

    assert with_tests == alone
    assert "alerts.test.yml" not in with_tests


def test_the_shipped_rules_need_no_front_matter(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    """RunbookStale and RunbookFailing link to the runbook that fired: a template, not checked."""
    project = project_with_alerts(tmp_path / "handbook", backup_alerts=["RunbookStale"])
    shutil.copy(REPO / "deploy/prometheus/runbook-rules.yml", project / "rules/runbook-rules.yml")

    exit_code, out, err = invoke(project, "check", "--alerts", "rules/runbook-rules.yml")

    assert (exit_code, out) == (0, "")
    assert err.endswith(" and the alerts of 1 rule file: no problems\n")


def test_alerts_front_matter_must_be_a_list_of_names(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    project = project_with_alerts(tmp_path / "handbook", backup_alerts={"BackupOld": "critical"})
    backup = project / "runbooks/db/backup.md"

    exit_code, out, _ = invoke(project, "check")

    assert exit_code == 1
    assert out == (
        f"runbooks/db/backup.md:{line_of(backup, 'alerts:')}: "
        "'alerts': expected a list of text items, got {'BackupOld': 'critical'}\n"
    )


def test_show_and_list_name_the_alerts(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    project = project_with_alerts(tmp_path / "handbook")

    shown = json.loads(invoke(project, "show", "backup", "--json")[1])
    listed = {row["slug"]: row["alerts"] for row in json.loads(invoke(project, "list", "--json")[1])}

    assert shown["meta"]["alerts"] == ["BackupOld", "NoSuchAlert"]
    assert listed == {"backup": ["BackupOld", "NoSuchAlert"], "health": []}
    assert "alerts        BackupOld, NoSuchAlert" in invoke(project, "show", "backup")[1]


# -- pages -------------------------------------------------------------------------------

CONFIGURED = "plugins:\n  - runbook:\n      alert_rules: [rules/*.yml]\n"


def rendered(project: Path, invoke: Callable[..., Result], out: Path) -> Path:
    exit_code, _, err = invoke(project, "render", "--out", str(out))
    assert exit_code == 0, err
    return out


def test_a_runbook_page_lists_its_alerts_with_severity_and_the_index_lists_every_alert(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    project = project_with_alerts(tmp_path / "handbook", config=CONFIGURED, backup_alerts=["BackupOld"])

    out = rendered(project, invoke, tmp_path / "out")

    backup = (out / "runbooks/db/backup.md").read_text("utf-8")
    assert (
        textwrap.dedent("""\
        !!! warning "Alerts that lead here"

            - BackupOld (severity: critical)
            - Relative

            All alerts and their runbooks: [Alerts](../alerts.md).
        """)
        in backup
    )
    assert "- HealthDown (severity: page)" in (out / "runbooks/health.md").read_text("utf-8")
    index = (out / "runbooks/alerts.md").read_text("utf-8")
    never = '<span class="rb-badge rb-badge--never-run">never run</span>'
    rows = [line for line in index.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == [
        "| Alert | Severity | Runbook | Status |",
        f"| BackupOld | critical | [Back up](db/backup.md) | {never} |",
        "| DiskFull | - | none: give it a runbook | - |",
        "| Elsewhere | - | none here: its `runbook_url` is not a runbook page | - |",
        f"| HealthDown | page | [Health](health.md) | {never} |",
        "| Moved | - | none here: its `runbook_url` is not a runbook page | - |",
        f"| Relative | - | [Back up](db/backup.md) | {never} |",
        "| Templated | - | the runbook its `runbook_url` names when it fires | - |",
    ]


def test_without_rule_files_a_page_lists_the_names_it_declares(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    project = project_with_alerts(tmp_path / "handbook", backup_alerts=["BackupOld"])

    out = rendered(project, invoke, tmp_path / "out")

    assert "    - BackupOld\n" in (out / "runbooks/db/backup.md").read_text("utf-8")
    assert "Alerts that lead here" not in (out / "runbooks/health.md").read_text("utf-8")
    assert "| BackupOld | - | [Back up](db/backup.md) |" in (out / "runbooks/alerts.md").read_text("utf-8")


def test_no_alerts_anywhere_makes_no_alerts_index(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    project = project_with_alerts(tmp_path / "handbook", backup_alerts=[])

    out = rendered(project, invoke, tmp_path / "out")

    assert not (out / "runbooks/alerts.md").exists()
    assert "Alerts that lead here" not in (out / "runbooks/db/backup.md").read_text("utf-8")


def test_the_render_cache_renders_a_page_again_when_its_alerts_change(tmp_path: Path) -> None:
    project = project_with_alerts(tmp_path / "handbook", config=CONFIGURED, backup_alerts=["BackupOld"])
    page = "runbooks/db/backup.md"
    first = render_project(Project(project), now=NOW).pages[page]

    rules = project / "rules/alerts.yml"
    rules.write_text(RULES.replace("severity: critical", "severity: warning"), "utf-8")
    severity_changed = render_project(Project(project), now=NOW).pages[page]
    write(project / page, runbook_md("Dumps it.\n", title="Back up", alerts=["DiskFull"]))
    renamed = render_project(Project(project), now=NOW).pages[page]

    assert "- BackupOld (severity: critical)" in first
    assert "- BackupOld (severity: warning)" in severity_changed
    assert "- DiskFull\n" in renamed and "BackupOld" not in renamed


def test_check_alerts_without_rule_files_is_a_usage_error(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    project = project_with_alerts(tmp_path / "handbook")

    exit_code, out, err = invoke(project, "check", "--alerts")

    assert (exit_code, out) == (2, "")
    assert err.splitlines()[-1] == (
        "Error: --alerts needs Prometheus rule files, e.g. deploy/prometheus/runbook-rules.yml"
    )


FALLBACK_RULES = """\
groups:
  - name: looked-up
    rules:
      - alert: HealthSlow
        expr: up == 0
        labels:
          severity: ticket
        annotations:
          runbook_url: >-
            {{ with query "runbook_info{runbook=\\"health\\"}" }}{{ . | first | label "url" }}{{ else }}/runbooks/health/{{ end }}
      - alert: GoneAway
        expr: up == 0
        annotations:
          runbook_url: '{{ with query "runbook_info" }}{{ . | first | label "url" }}{{ else }}/runbooks/gone/{{ end }}'
"""


def test_a_templated_runbook_url_is_checked_and_linked_by_its_fallback_path(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    """The shipped rules read the page from runbook_info at alert time and fall back to the
    page's path: the fallback is what the check verifies and the site links."""
    project = project_with_alerts(tmp_path / "handbook", config=CONFIGURED, backup_alerts=["BackupOld"])
    write(project / "rules/alerts.yml", FALLBACK_RULES)

    exit_code, out, _ = invoke(project, "check", "--alerts", "rules/alerts.yml")
    site = rendered(project, invoke, tmp_path / "out")

    assert exit_code == 1
    assert out.splitlines() == [
        "rules/alerts.yml:14: alert 'GoneAway': runbook_url '/runbooks/gone/' is not a runbook page "
        "(no runbook's page is at runbooks/gone/)",
        "runbooks/db/backup.md:6: 'alerts': no rule defines alert 'BackupOld' (rule files: rules/alerts.yml)",
    ]
    assert "- HealthSlow (severity: ticket)" in (site / "runbooks/health.md").read_text("utf-8")
