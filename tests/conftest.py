"""Shared fixtures: real projects on disk and the real ``runbook`` command line.

``make_project`` writes a project (``mkdocs.yml``, runbooks, environment profiles) under
``tmp_path``. ``run_cli`` runs ``python -m runbook`` as a subprocess in a project (needed
for anything that starts a kernel, times out or gets a signal); ``invoke`` runs the same
command line in-process with click's ``CliRunner`` for fast tests that start no kernel.
Both return ``(exit_code, stdout, stderr)``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

Result = tuple[int, str, str]

REPO = Path(__file__).resolve().parents[1]
#: What a copy of the example handbook needs to run and build: its config, sources,
#: profiles, overrides, alert rules and the demo service the local profile checks.
HANDBOOK = ("mkdocs.yml", "docs", "runbooks", "environments", "overrides", "deploy", "demo")

# A suite started in the background by a non-interactive shell (`cmd &`) inherits SIGINT
# ignored, and so would every `runbook exec` it starts: the tests that press Ctrl-C would
# wait for a run that never hears it. A handler here is reset to the default in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def runbook_md(body: str = "", **front: Any) -> str:
    """A runbook file: front matter (title/summary/owner filled in unless given) and body.

    ``front`` keys set to None are left out, so ``runbook_md(title=None)`` has no title.
    """
    meta: dict[str, Any] = {"title": "A runbook", "summary": "Does a thing.", "owner": "platform-team"}
    meta.update(front)
    meta = {k: v for k, v in meta.items() if v is not None}
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n{textwrap.dedent(body).lstrip()}"


def code(source: str, meta: str = "") -> str:
    """A fenced python cell, with jupytext fence metadata such as ``name="x" timeout=1``."""
    fence = f"```python {meta}".rstrip()
    return f"{fence}\n{textwrap.dedent(source).strip()}\n```\n"


def params_cell(source: str) -> str:
    """The cell tagged ``parameters``."""
    return code(source, 'tags=["parameters"]')


def write_project(
    root: Path, runbooks: dict[str, str] | None = None, environments: dict[str, Any] | None = None
) -> Path:
    """Write a project at ``root``: ``mkdocs.yml``, runbooks and environment profiles.

    ``runbooks`` maps a path under ``runbooks/`` (``.md`` added when missing) to the file's
    text. ``environments`` maps a profile name to a mapping (dumped as YAML) or to raw text.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "mkdocs.yml").write_text("site_name: Test handbook\ndocs_dir: docs\n", "utf-8")
    (root / "runbooks").mkdir()
    for rel, text in (runbooks or {}).items():
        path = root / "runbooks" / (rel if rel.endswith(".md") else f"{rel}.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    for env_name, profile in (environments or {}).items():
        folder = root / "environments"
        folder.mkdir(exist_ok=True)
        text = profile if isinstance(profile, str) else yaml.safe_dump(profile, sort_keys=False)
        (folder / f"{env_name}.yml").write_text(text, "utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_project(runbooks={...}, environments={...})`` -> a new project folder."""
    counter = iter(range(1000))

    def make(runbooks: dict[str, str] | None = None, environments: dict[str, Any] | None = None) -> Path:
        return write_project(tmp_path / f"project{next(counter)}", runbooks, environments)

    return make


def clean_env(extra: dict[str, str | None] | None) -> dict[str, str]:
    """This process's environment without RUNBOOK_SECRET_*, updated by ``extra`` (None unsets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_SECRET_")}
    env["COLUMNS"] = "250"  # wide tables: no folded cells in text assertions
    env["PYTHONFAULTHANDLER"] = "1"  # a hung process prints its stacks on SIGABRT (finish())
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli_in(
    project: Path, *args: str, env: dict[str, str | None] | None = None, timeout: float = 120
) -> Result:
    """Run ``python -m runbook ARGS`` in ``project``; stdin is not a terminal."""
    done = subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """``run_cli(project, "exec", "hello", env={...})`` -> (exit code, stdout, stderr)."""
    return run_cli_in


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """In-process CLI (click's CliRunner) in ``project``: for tests that start no kernel."""
    from click.testing import CliRunner

    from runbook.cli import cli

    for key in list(os.environ):
        if key.startswith("RUNBOOK_SECRET_"):
            monkeypatch.delenv(key)

    def call(project: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
        monkeypatch.chdir(project)
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return call


def error_line(stderr: str) -> str:
    """The one ``Error: ...`` line of a failed command; fails on a traceback or any other output."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def files_under(root: Path) -> set[str]:
    """Every file below ``root``, relative, for before/after comparisons."""
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def write_record(
    project: Path,
    slug: str,
    *,
    code_hash: str,
    status: str = "succeeded",
    started: datetime | None = None,
    environment: str | None = "local",
    user: str = "alice",
    suffix: str = "abc123",
) -> dict[str, Any]:
    """Store a finished run by hand, in the documented ``runs/<slug>/<run_id>/record.json`` format."""
    started = started or datetime.now(timezone.utc) - timedelta(minutes=5)
    finished = started + timedelta(seconds=2)

    def iso(moment: datetime) -> str:
        return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    run_id = f"{started:%Y%m%dT%H%M%S}.{started.microsecond // 1000:03d}Z-{suffix}"
    exit_code = {"succeeded": 0, "failed": 1, "timed_out": 124, "interrupted": 130}[status]
    record = {
        "schema": 1,
        "run_id": run_id,
        "runbook": {
            "slug": slug,
            "path": f"runbooks/{slug}.md",
            "title": slug,
            "code_hash": code_hash,
            "commit": None,
        },
        "environment": environment,
        "parameters": {},
        "status": status,
        "exit_code": exit_code,
        "started_at": iso(started),
        "finished_at": iso(finished),
        "duration_s": 2.0,
        "operator": {"user": user, "host": "ops-box"},
        "steps": [
            {
                "name": "check",
                "status": "succeeded" if status == "succeeded" else status,
                "started_at": iso(started),
                "duration_s": 1.0,
                "effect": "read",
            }
        ],
        "failure": None
        if status == "succeeded"
        else {"step_index": 0, "step_name": "check", "exception": "ValueError", "message": "boom"},
        "approved_by": None,
        "checks": [],
        "tool": {"runbook": "0.1.0"},
        "redactions": 0,
    }
    folder = project / "runs" / slug / run_id
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(record, indent=2), "utf-8")
    return record


@pytest.fixture
def show_json(invoke: Callable[..., Result]) -> Callable[[Path, str], dict[str, Any]]:
    """``runbook show NAME --json`` parsed; fails if the command fails."""

    def show(project: Path, name: str) -> dict[str, Any]:
        code_, out, err = invoke(project, "show", name, "--json")
        assert code_ == 0, err
        return json.loads(out)

    return show


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """``process.communicate(timeout)``; if it does not exit in time, it is made to print
    where each of its threads is (faulthandler, on SIGABRT) and the test fails with that."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        try:
            _, stacks = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stacks = process.communicate()
        pytest.fail(f"{process.args} did not exit within {timeout} s; its threads:\n{stacks[-8000:]}")


def copy_handbook(project: Path) -> Path:
    """A copy of the repository's example handbook at ``project`` (created), for tests that
    run or build it without touching the checkout."""
    project.mkdir(parents=True, exist_ok=True)
    for name in HANDBOOK:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    return project


def handbook_cli(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m runbook ARGS`` in ``project`` without the caller's ``RUNBOOK_*`` and
    ``PG_*`` variables; stdout and stderr as one text, since a run's live output goes to
    stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "PG_"))}
    return subprocess.run(
        [sys.executable, "-m", "runbook", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
