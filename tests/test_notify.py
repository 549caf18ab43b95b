"""Notifications on a change of state: a profile's ``notify:`` Apprise URLs hear of a run that
fails after a success (or first), recovers after a failure, or that a batch finds stale.

A real HTTP server on 127.0.0.1 is the JSON webhook (``json://127.0.0.1:PORT/hook``); the
runs are real ``runbook exec`` runs with a real kernel.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import code, params_cell, runbook_md

from runbook.errors import EnvironmentProfileError

SECRET = "s3cr3t-token-value"
ENV = {"RUNBOOK_SECRET_TOKEN": SECRET}


def body_of(*cells: str) -> str:
    return "\n".join(cells)


PROBE = runbook_md(
    body_of(
        params_cell('token = ""  # secret'),
        code(
            """
            import os
            if os.path.exists("BROKEN"):
                raise RuntimeError(f"login refused for {token}")
            print("fine")
            """,
            'name="probe"',
        ),
    ),
    title="Probe the API",
)


@pytest.fixture
def webhook():
    """A JSON webhook on 127.0.0.1: its URL for Apprise, and the bodies it received."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length).decode("utf-8")
            received.append({"raw": raw, **json.loads(raw)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def notify_project(make_project, url: str, runbook: str = PROBE, site_url: str | None = None):
    profile = {"label": "Local", "notify": ["${HOOK_URL}"]}
    root = make_project({"probe": runbook}, {"local": profile})
    if site_url:
        (root / "mkdocs.yml").write_text(
            f"site_name: Test handbook\ndocs_dir: docs\nsite_url: {site_url}\n", "utf-8"
        )
    return root, {**ENV, "HOOK_URL": url}


def records(root):
    found = [json.loads(p.read_text("utf-8")) for p in root.glob("runs/probe/*/record.json")]
    return sorted(found, key=lambda r: r["run_id"])


@pytest.mark.kernel
def test_a_first_failure_sends_one_message_with_step_error_and_link_but_no_secret(
    make_project, run_cli, webhook
):
    url, received = webhook
    root, env = notify_project(make_project, url, site_url="https://handbook.example.org/")
    (root / "BROKEN").write_text("", "utf-8")

    exit_code, _, err = run_cli(root, "exec", "probe", env=env)

    assert exit_code == 1, err
    assert len(received) == 1
    message = received[0]
    run_id = records(root)[0]["run_id"]
    assert message["title"] == "Probe the API failed in local"
    assert "Runbook: Probe the API (probe)" in message["message"]
    assert "Environment: local" in message["message"]
    assert "Status: failed (exit 1)" in message["message"]
    assert "Step: probe" in message["message"]
    assert "Error: RuntimeError: login refused for ••••••" in message["message"]
    assert f"Run: https://handbook.example.org/runs/probe/{run_id}/" in message["message"]
    assert SECRET not in message["raw"]
    assert records(root)[0]["notifications"] == [
        {"event": "failed", "scheme": "json", "ok": True, "error": None}
    ]


@pytest.mark.kernel
def test_a_repeated_failure_sends_nothing_new_and_a_recovery_sends_one(make_project, run_cli, webhook):
    url, received = webhook
    root, env = notify_project(make_project, url)
    (root / "BROKEN").write_text("", "utf-8")

    assert run_cli(root, "exec", "probe", env=env)[0] == 1
    assert run_cli(root, "exec", "probe", env=env)[0] == 1
    assert len(received) == 1
    (root / "BROKEN").unlink()
    assert run_cli(root, "exec", "probe", env=env)[0] == 0
    assert run_cli(root, "exec", "probe", env=env)[0] == 0

    titles = [m["title"] for m in received]
    assert titles == ["Probe the API failed in local", "Probe the API recovered in local"]
    assert "Status: succeeded (exit 0)" in received[1]["message"]
    run_id = records(root)[2]["run_id"]
    assert f"Run: runs/probe/{run_id}/" in received[1]["message"]  # no site_url: the page's path
    assert ["notifications" in r for r in records(root)] == [True, False, True, False]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.kernel
def test_an_undeliverable_message_leaves_the_run_its_exit_code_and_is_noted(make_project, run_cli):
    root, env = notify_project(make_project, f"json://127.0.0.1:{free_port()}/hook")
    (root / "BROKEN").write_text("", "utf-8")

    exit_code, _, err = run_cli(root, "exec", "probe", env=env)

    assert exit_code == 1, err
    warnings = [line for line in err.splitlines() if "not delivered" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("Warning: notification to json:// not delivered (")
    assert "the run's result stands" in warnings[0]
    (noted,) = records(root)[0]["notifications"]
    assert noted["event"] == "failed" and noted["scheme"] == "json" and noted["ok"] is False
    assert noted["error"]
    assert "127.0.0.1:" not in json.dumps(records(root)[0]["notifications"]).replace("127.0.0.1.", "")


@pytest.mark.kernel
def test_a_batch_reports_a_stale_runbook_once(make_project, run_cli, webhook):
    url, received = webhook
    stale = PROBE.replace("title: Probe the API", "title: Probe the API\nschedule: daily\nrisk: mutating")
    root, env = notify_project(make_project, url, runbook=stale)
    assert run_cli(root, "exec", "probe", "--yes", env=env)[0] == 0
    assert received == []  # a first success changes nothing worth a message
    (path,) = root.glob("runs/probe/*/record.json")
    record = json.loads(path.read_text("utf-8"))
    record["started_at"] = "2026-01-01T00:00:00.000Z"
    path.write_text(json.dumps(record), "utf-8")

    first = run_cli(root, "exec", "--due", env=env)
    second = run_cli(root, "exec", "--due", env=env)

    assert "probe: skipped, mutating needs a confirmation" in first[2]
    assert [m["title"] for m in received] == ["Probe the API is stale in local"]
    assert "Status: stale (last success 2026-01-01T00:00:00.000Z)" in received[0]["message"]
    assert second[0] == 0, second[2]


def test_a_profile_notify_must_be_a_list_of_urls(make_project):
    from runbook.run import environments

    root = make_project({}, {"local": "label: Local\nnotify: slack://token\n"})

    with pytest.raises(EnvironmentProfileError) as caught:
        environments.load(root / "environments", "local")

    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (2, "notify")
    assert "'notify': expected a list of Apprise URLs" in str(caught.value)


def test_without_apprise_one_warning_says_what_to_install(make_project, monkeypatch, caplog):
    from runbook import notify
    from runbook.record.model import RunbookFacts, RunRecord
    from runbook.run import environments

    root = make_project({}, {"local": {"label": "Local", "notify": ["json://127.0.0.1:9/hook"]}})
    profile = environments.load(root / "environments", "local")
    record = RunRecord(
        "r1",
        RunbookFacts("probe", "runbooks/probe.md", "Probe"),
        "local",
        {},
        "failed",
        1,
        "2026-11-30T00:00:00.000Z",
        None,
        None,
        {},
    )
    monkeypatch.setitem(sys.modules, "apprise", None)

    assert notify.notify(profile, "failed", record, None, str) == ()

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "environments/local.yml: 'notify' needs apprise: "
        "pip install 'runbook-docs[notify]'; no notification sent"
    ]
