"""`runbook check` names a runbook whose every step skips in some profile: it cannot fail there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Result, code, params_cell, runbook_md

GUARDED = runbook_md(
    params_cell('pg_dsn = ""  # the database; empty: no PostgreSQL here')
    + code(
        """
        import os
        enabled = bool(pg_dsn)
        if not enabled:
            print("skipped: no PostgreSQL in this profile")
        else:
            assert os.environ.get("PGHOST") is not None, "no PGHOST"
        """,
        'name="connect"',
    )
    + code(
        """
        if enabled:
            display(pg_dsn)
        else:
            print("skipped")
        """,
        'name="report"',
    )
)
PROFILES = {
    "local": {"label": "Local", "parameters": {"pg_dsn": ""}},
    "production": {"label": "Production", "production": True, "parameters": {"pg_dsn": "${PG_DSN}"}},
    "staging": {"label": "Staging", "runbooks": {"db-check": {"pg_dsn": "postgresql://db.staging/app"}}},
}


def test_check_names_the_profile_in_which_every_step_skips(
    make_project: Callable[..., Path], invoke: Callable[..., Result]
) -> None:
    project = make_project(runbooks={"db-check": GUARDED}, environments=PROFILES)

    exit_code, out, _ = invoke(project, "check")

    assert exit_code == 1
    assert out.splitlines() == [
        "runbooks/db-check.md:0: in profile 'local' every step skips (pg_dsn = ''): the runbook checks "
        "nothing there and cannot fail; give the profile a real target for it, or leave 'local' out of its "
        "'environments'"
    ]


def test_a_profile_left_out_of_environments_or_a_step_that_checks_anyway_is_not_reported(
    make_project: Callable[..., Path], invoke: Callable[..., Result]
) -> None:
    limited = GUARDED.replace("owner: platform-team\n", "owner: platform-team\nenvironments: [production, staging]\n")
    checks_anyway = GUARDED.replace('print("skipped")\n```', 'print("skipped")\ndisplay("disk")\n```')
    project = make_project(runbooks={"db-check": limited, "other/db-check-2": checks_anyway}, environments=PROFILES)

    exit_code, out, _ = invoke(project, "check")

    assert (exit_code, out) == (0, "")
