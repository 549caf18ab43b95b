"""`runbook schedule`: Kubernetes CronJobs for scheduled runbooks, and the verify workflow.

Every CronJob printed is validated against the published Kubernetes schemas
(kubernetes-validate ships them; no network needed).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from runbook.schedule import NAME_MAX, cron_for, cronjob_name
from tests.conftest import Result, code, params_cell, runbook_md

REPO = Path(__file__).resolve().parent.parent
#: The oldest Kubernetes with CronJob ``timeZone`` (1.27) and the newest the package knows.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.latest_version())
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IMAGE = "registry.example.com/handbook:2026.11"
PROFILE = {"label": "Production", "parameters": {}}


def cronjobs(stdout: str) -> list[dict[str, Any]]:
    """The CronJobs of a `runbook schedule` output, each checked against the Kubernetes schemas."""
    documents = [doc for doc in yaml.safe_load_all(stdout) if doc is not None]
    for doc in documents:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
        name = doc["metadata"]["name"]
        assert DNS_1123.match(name) and len(name) <= NAME_MAX, name
    names = [doc["metadata"]["name"] for doc in documents]
    assert len(set(names)) == len(names), names
    return documents


def by_slug(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["annotations"]["runbook/slug"]: doc for doc in documents}


def container(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


def schedule(invoke: Callable[..., Result], project: Path, *args: str, **kwargs: Any) -> Result:
    return invoke(project, "schedule", "--image", IMAGE, "--env", "production", *args, **kwargs)


def scheduled_slugs(root: Path) -> set[str]:
    found = set()
    for path in (root / "runbooks").rglob("*.md"):
        front = yaml.safe_load(path.read_text("utf-8").split("---")[1])
        if front.get("schedule"):
            found.add(path.stem)
    return found


def test_the_handbook_schedules_its_read_only_runbooks_as_valid_cronjobs(
    invoke: Callable[..., Result],
) -> None:
    code_, out, err = schedule(invoke, REPO)
    assert code_ == 0, err
    jobs = by_slug(cronjobs(out))
    assert {"service-health", "disk-space", "backup-freshness", "incident-response"} <= set(jobs)
    # Mutating runbooks are left out, named in a comment and on stderr.
    assert "log-rotation" not in jobs
    assert "# log-rotation: not scheduled: mutating needs a confirmation" in out
    assert "Warning: log-rotation: not scheduled" in err
    for slug, job in jobs.items():
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert 0 < spec["startingDeadlineSeconds"] <= 3600
        assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
        assert spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert container(job)["image"] == IMAGE
        assert container(job)["args"] == ["exec", slug, "--env", "production"]
        assert job["metadata"]["labels"]["runbook/slug"] == slug
    health = jobs["service-health"]
    assert health["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 120 + 300  # timeout: 2m
    env = {e["name"]: e for e in container(health)["env"]}
    assert env["RUNBOOK_SECRET_PG_DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": "runbook-secrets",
        "key": "pg_dsn",
        "optional": True,
    }


def test_with_yes_every_scheduled_runbook_of_the_handbook_gets_a_cronjob(
    invoke: Callable[..., Result],
) -> None:
    code_, out, err = schedule(invoke, REPO, "--yes", "--namespace", "ops", "--secret", "handbook")
    assert code_ == 0, err
    jobs = by_slug(cronjobs(out))
    assert set(jobs) == scheduled_slugs(REPO)
    assert container(jobs["log-rotation"])["args"] == ["exec", "log-rotation", "--env", "production", "--yes"]
    assert container(jobs["disk-space"])["args"] == ["exec", "disk-space", "--env", "production"]
    assert {job["metadata"]["namespace"] for job in jobs.values()} == {"ops"}
    refs = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for job in jobs.values()
        for e in container(job).get("env", [])
        if "valueFrom" in e
    ]
    assert refs and set(refs) == {"handbook"}
    starts = {job["spec"]["schedule"].split()[1] for job in jobs.values()}
    assert len(starts) > 3, "runbooks are spread over the day"


@pytest.mark.parametrize(
    ("schedule_", "pattern", "noted"),
    [
        ("daily", r"^(\d+) (\d+) \* \* \*$", False),
        ("weekly", r"^(\d+) (\d+) \* \* [0-6]$", False),
        ("monthly", r"^(\d+) (\d+) ([1-9]|1\d|2[0-8]) \* \*$", False),
        ("quarterly", r"^(\d+) (\d+) ([1-9]|1\d|2[0-8]) (1,4,7,10|2,5,8,11|3,6,9,12) \*$", False),
        ("annually", r"^(\d+) (\d+) ([1-9]|1\d|2[0-8]) ([1-9]|1[0-2]) \*$", False),
        ("1h", r"^(\d+) \* \* \* \*$", False),
        ("6h", r"^(\d+) ([0-5]),(\d+),(\d+),(\d+) \* \* \*$", False),
        ("12h", r"^(\d+) (\d+),(\d+) \* \* \*$", False),
        ("5h", r"^(\d+) ([0-3]),(\d+),(\d+),(\d+),(\d+),(\d+) \* \* \*$", True),  # every 4h
        ("24h", r"^(\d+) (\d+) \* \* \*$", False),
        ("36h", r"^(\d+) (\d+) \* \* \*$", True),  # daily
        ("1d", r"^(\d+) (\d+) \* \* \*$", False),
        ("7d", r"^(\d+) (\d+) \* \* [0-6]$", False),
        ("3d", r"^(\d+) (\d+) \*/3 \* \*$", True),
        ("45d", r"^(\d+) (\d+) 1 \* \*$", True),
    ],
)
def test_each_schedule_kind_has_a_cron_expression(schedule_: str, pattern: str, noted: bool) -> None:
    for slug in ("disk-space", "a", "backup-freshness", "z" * 80):
        cron = cron_for(slug, schedule_)
        match = re.match(pattern, cron.expression)
        assert match, (slug, cron.expression)
        minute, hours = int(match.group(1)), cron.expression.split()[1]
        assert 0 <= minute < 60
        assert hours == "*" or all(0 <= int(h) < 24 for h in hours.split(","))
        assert (cron.note is not None) == noted, cron
        assert cron_for(slug, schedule_) == cron  # the same slug always gets the same time
    hours = cron_for("disk-space", "6h").expression.split()[1].split(",")
    assert [int(b) - int(a) for a, b in zip(hours, hours[1:], strict=False)] == [6, 6, 6]


def test_thirty_daily_runbooks_do_not_all_start_at_once() -> None:
    starts = {cron_for(f"check-{n}", "daily").expression for n in range(30)}
    assert len(starts) >= 25


def test_names_are_valid_unique_and_short(
    invoke: Callable[..., Result], make_project: Callable[..., Path]
) -> None:
    long = "Nightly_Verification_of_the_Primary_Database_Cluster_Backups_In_Region_EU"
    project = make_project(
        runbooks={
            f"a/{long}": runbook_md(schedule="daily"),
            "b/db_backup": runbook_md(schedule="daily"),
            "c/db-backup": runbook_md(schedule="weekly"),
        },
        environments={"production": PROFILE},
    )
    code_, out, err = schedule(invoke, project)
    assert code_ == 0, err
    jobs = by_slug(cronjobs(out))
    assert set(jobs) == {long, "db_backup", "db-backup"}
    assert jobs["db-backup"]["metadata"]["name"] == "runbook-db-backup"
    assert len(jobs[long]["metadata"]["name"]) <= NAME_MAX
    assert cronjob_name("db_backup") != cronjob_name("db-backup")


def test_secrets_are_referenced_by_name_and_never_hold_values(
    invoke: Callable[..., Result], make_project: Callable[..., Path]
) -> None:
    body = params_cell('api_token = ""  # secret: token of the status API\nregion = "eu"  # the region\n')
    body += code("print(region)", 'name="look"')
    project = make_project(
        runbooks={"status-api": runbook_md(body, schedule="1h")},
        environments={"production": {"parameters": {"api_token": "${STATUS_TOKEN}"}}},
    )
    env = {"STATUS_TOKEN": "tok-Very-Secret-42", "RUNBOOK_RUNS": "s3://handbook-runs/prod"}
    code_, out, err = schedule(invoke, project, "--secret", "status-secrets", env=env)
    assert code_ == 0, err
    assert "tok-Very-Secret-42" not in out + err
    (job,) = cronjobs(out)
    variables = {e["name"]: e for e in container(job)["env"]}
    assert variables["RUNBOOK_RUNS"] == {"name": "RUNBOOK_RUNS", "value": "s3://handbook-runs/prod"}
    assert variables["RUNBOOK_SECRET_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "status-secrets",
        "key": "api_token",
        "optional": True,
    }
    assert variables["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "status-secrets"
    assert "RUNBOOK_SECRET_REGION" not in variables
    assert all("value" not in e for name, e in variables.items() if name != "RUNBOOK_RUNS")
    assert job["spec"]["startingDeadlineSeconds"] == 1800  # half of one hour
    assert "activeDeadlineSeconds" not in job["spec"]["jobTemplate"]["spec"]  # no timeout


def test_gated_runbooks_are_left_out_unless_yes(
    invoke: Callable[..., Result], make_project: Callable[..., Path]
) -> None:
    project = make_project(
        runbooks={
            "reader": runbook_md(code("print(1)", 'name="read"'), schedule="daily"),
            "writer": runbook_md(code("print(2)", 'name="purge" effect="write"'), schedule="daily"),
            "restart": runbook_md(code("print(3)", 'name="go"'), schedule="weekly", risk="destructive"),
            "prod-only": runbook_md(schedule="daily", environments=["staging"]),
            "unscheduled": runbook_md(code("print(4)", 'name="x"')),
        },
        environments={"production": PROFILE, "staging": PROFILE},
    )
    code_, out, err = schedule(invoke, project)
    assert code_ == 0, err
    assert set(by_slug(cronjobs(out))) == {"reader"}
    assert "# writer: not scheduled: read-only but has write steps (purge) needs a confirmation" in out
    assert "# restart: not scheduled: destructive needs a confirmation" in out
    assert "# prod-only: not scheduled: not allowed in 'production'" in out
    code_, out, err = schedule(invoke, project, "--yes")
    assert code_ == 0, err
    jobs = by_slug(cronjobs(out))
    assert set(jobs) == {"reader", "writer", "restart"}
    assert container(jobs["writer"])["args"][-1] == "--yes"
    assert container(jobs["restart"])["args"][-1] == "--yes"
    assert "--yes" not in container(jobs["reader"])["args"]


def test_a_project_without_schedules_says_so(
    invoke: Callable[..., Result], make_project: Callable[..., Path]
) -> None:
    project = make_project(runbooks={"adhoc": runbook_md()}, environments={"production": PROFILE})
    code_, out, err = schedule(invoke, project)
    assert (code_, out) == (0, "")
    assert err.strip() == (
        "no runbook has a schedule: add `schedule: daily` (or weekly, ...) to a runbook's front matter"
    )


def test_an_unknown_profile_is_an_error(
    invoke: Callable[..., Result], make_project: Callable[..., Path]
) -> None:
    project = make_project(runbooks={"a": runbook_md(schedule="daily")}, environments={"staging": PROFILE})
    code_, out, err = schedule(invoke, project)
    assert code_ != 0 and out == ""
    assert "unknown environment 'production'" in err


def test_the_verify_workflow_calls_only_commands_that_exist() -> None:
    from runbook.cli import cli

    workflow = yaml.safe_load((REPO / ".github/workflows/verify.yml").read_text("utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "workflow_dispatch" in triggers and triggers["schedule"][0]["cron"]
    scripts = [step.get("run", "") for job in workflow["jobs"].values() for step in job.get("steps", [])]
    calls = [
        shlex.split(line.split("runbook ", 1)[1].split("|")[0].split("||")[0].replace("\\", ""))
        for script in scripts
        for line in script.splitlines()
        if "/runbook " in line or line.strip().startswith("runbook ")
    ]
    assert any(words[:2] == ["exec", "--due"] for words in calls), calls
    for words in calls:
        command = cli.commands[words[0]]
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        flags = [w.split("=")[0] for w in words[1:] if w.startswith("-")]
        assert set(flags) <= known, (words, known)
