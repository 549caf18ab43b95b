"""Per-host values in environment profiles: ``hosts.<host>.parameters`` and
``hosts.<host>.runbooks.<slug>``, selected with ``--host``, ``-p host=`` or the machine's
own name; one-line errors naming the file and key; and the shipped profiles.

Observed through ``runbook exec NAME --dry-run --json`` (everything a run resolves, with
where each value came from), and one real run.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import yaml
from conftest import code, params_cell, runbook_md

from runbook.run import environments

REPO = Path(__file__).resolve().parents[1]

PORTS = runbook_md(
    "## Parameters\n\n"
    + params_cell(
        """
        allowlist = []  # ports allowed to listen
        paths = ["/"]   # file systems to check
        """
    )
    + "\n## Check\n\n"
    + code("print('allowed:', sorted(allowlist))")
)
PROFILE = {
    "label": "Production",
    "production": True,
    "parameters": {"allowlist": [22, 8000, 9100], "paths": ["/"]},
    "runbooks": {"ports": {"paths": ["/", "/var/log"]}},
    "hosts": {
        "web-1": {"parameters": {"allowlist": [22, 80, 443, 9100, 9113]}},
        "db-1": {
            "parameters": {"allowlist": [22, 5432, 9100, 9187]},
            "runbooks": {"ports": {"paths": ["/", "/var/lib/postgresql"]}},
        },
    },
}


@pytest.fixture
def project(make_project):
    return make_project({"ports": PORTS}, {"production": PROFILE})


def plan(invoke, project, *args):
    exit_code, out, err = invoke(
        project, "exec", "ports", "--env", "production", "--dry-run", "--json", *args
    )
    assert exit_code == 0, err
    return json.loads(out)


def test_a_host_gets_its_own_values_over_the_profiles(project, invoke):
    shared = plan(invoke, project)
    web = plan(invoke, project, "--host", "web-1")
    db = plan(invoke, project, "--host", "db-1")

    assert shared["parameters"] == {"allowlist": [22, 8000, 9100], "paths": ["/", "/var/log"]}
    assert web["parameters"] == {"allowlist": [22, 80, 443, 9100, 9113], "paths": ["/", "/var/log"]}
    assert web["sources"]["allowlist"] == "environments/production.yml hosts.web-1"
    assert web["sources"]["paths"] == "environments/production.yml"
    # hosts.<h>.runbooks.<slug> wins over hosts.<h>.parameters and the profile's runbooks.<slug>
    assert db["parameters"] == {"allowlist": [22, 5432, 9100, 9187], "paths": ["/", "/var/lib/postgresql"]}


def test_p_host_selects_a_host_and_p_still_wins(project, invoke):
    selected = plan(invoke, project, "-p", "host=web-1")
    overridden = plan(invoke, project, "-p", "host=web-1", "-p", "allowlist=[22]")

    assert selected["parameters"]["allowlist"] == [22, 80, 443, 9100, 9113]
    assert "host" not in selected["parameters"]
    assert overridden["parameters"]["allowlist"] == [22]


def test_an_unknown_host_stops_before_anything_runs(project, invoke):
    exit_code, out, err = invoke(project, "exec", "ports", "--env", "production", "--host", "web-9")

    assert (exit_code, out) == (2, "")
    assert err.strip() == (
        "Error: environments/production.yml: unknown host 'web-9' (hosts: db-1, web-1); "
        "name one of them, or add it under 'hosts:'"
    )
    assert not (project / "runs").exists()


def test_a_host_for_a_profile_without_hosts_is_an_error(make_project, invoke):
    project = make_project({"ports": PORTS}, {"staging": {"label": "Staging"}})

    exit_code, _, err = invoke(project, "exec", "ports", "--env", "staging", "--host", "web-1", "--dry-run")

    assert exit_code == 2
    assert "environments/staging.yml: no 'hosts:' map, so host 'web-1' selects nothing" in err


def test_a_runbook_with_its_own_host_parameter_keeps_it(make_project, invoke):
    body = runbook_md(
        "## Parameters\n\n" + params_cell('host = "db-1"  # replica\nallowlist = []') + code("print(host)")
    )
    project = make_project({"replica": body}, {"production": PROFILE})

    exit_code, out, err = invoke(
        project, "exec", "replica", "--env", "production", "--dry-run", "--json", "-p", "host=db-2"
    )
    listed = json.loads(
        invoke(project, "exec", "replica", "--env", "production", "--dry-run", "--json", "-p", "host=db-1")[1]
    )

    assert exit_code == 0, err
    assert json.loads(out)["parameters"] == {"host": "db-2", "allowlist": [22, 8000, 9100]}
    assert listed["parameters"] == {"host": "db-1", "allowlist": [22, 5432, 9100, 9187]}


def test_the_machine_running_it_gets_its_own_values_by_default(make_project, invoke):
    here = socket.gethostname().split(".")[0]
    profile = {
        "label": "P",
        "parameters": {"allowlist": [22]},
        "hosts": {here: {"parameters": {"allowlist": [2222]}}},
    }
    project = make_project({"ports": PORTS}, {"production": profile})

    assert plan(invoke, project)["parameters"]["allowlist"] == [2222]


@pytest.mark.parametrize(
    ("hosts", "line"),
    [
        ("hosts: [web-1]", "'hosts': expected a mapping of host names to {parameters, runbooks}"),
        ("hosts:\n  web-1: [22]", "'hosts.web-1': expected a mapping with parameters, runbooks"),
        (
            "hosts:\n  web-1:\n    params: {}",
            "'hosts.web-1': unknown key 'params' (known: parameters, runbooks)",
        ),
        (
            "hosts:\n  web-1:\n    parameters: [22]",
            "'hosts.web-1.parameters': expected a mapping of parameter names to values",
        ),
        (
            "hosts:\n  web-1:\n    runbooks:\n      ports: [22]",
            "'hosts.web-1.runbooks': expected a mapping of runbook slugs to parameter mappings",
        ),
    ],
)
def test_a_malformed_hosts_map_is_one_line_naming_the_file_and_key(make_project, invoke, hosts, line):
    project = make_project({"ports": PORTS}, {"production": "label: P\n" + hosts + "\n"})

    exit_code, _, err = invoke(project, "exec", "ports", "--env", "production", "--dry-run")

    assert exit_code == 2
    assert err.strip() == f"Error: environments/production.yml: {line}"


@pytest.mark.kernel
def test_a_real_run_uses_the_hosts_values(project, run_cli):
    exit_code, out, err = run_cli(project, "exec", "ports", "--env", "production", "--host", "db-1", "--json")

    assert exit_code == 0, err
    record = json.loads(out)
    assert record["parameters"]["allowlist"] == [22, 5432, 9100, 9187]
    assert "allowed: [22, 5432, 9100, 9187]" in err + out


def test_the_shipped_profiles_load_and_production_names_its_hosts():
    env_dir = REPO / "environments"
    loaded = {name: environments.load(env_dir, name) for name in environments.available(env_dir)}
    production = loaded["production"]

    assert {"web-1", "app-1", "app-2", "db-1", "tools-1"} <= set(production.hosts)
    web = production.host_values_for("web-1", "listening-ports", {"allowlist"})
    db = production.host_values_for("db-1", "listening-ports", {"allowlist"})
    assert 443 in web["allowlist"] and 5432 not in web["allowlist"]
    assert 5432 in db["allowlist"] and 443 not in db["allowlist"]


def test_configuration_page_shows_the_real_production_profile():
    page = (REPO / "docs/operations/configuration.md").read_text("utf-8")
    shipped = (REPO / "environments/production.yml").read_text("utf-8")
    blocks = re.findall(r"```yaml title=\"environments/production.yml\"\n(.*?)```", page, flags=re.S)

    assert blocks, 'configuration.md has no ```yaml title="environments/production.yml" block'
    assert blocks[0] == shipped
    assert yaml.safe_load(blocks[0])["hosts"]
