"""Parameter values: ``-p`` coercion, ``-f`` files, environment profiles and their precedence.

Observed through ``runbook exec NAME --dry-run --json``, which resolves everything a run
needs and prints it without running or writing anything; errors are the one ``Error:``
line with exit code 2, and nothing is written.
"""

from __future__ import annotations

import json

import pytest
from conftest import code, error_line, files_under, params_cell, runbook_md

PARAMS = params_cell(
    """
    host = "db-1"  # replica to promote
    port = 5432  # TCP port
    ratio = 0.5
    force = False  # skip checks
    hosts = ["a", "b"]
    limits = {"cpu": 2}
    password = ""  # secret
    """
)
BODY = "## Parameters\n\n" + PARAMS + "\n## Check\n\n" + code("print(host, port)")


@pytest.fixture
def project(make_project):
    return make_project({"check": runbook_md(BODY), "other": runbook_md(code("print(1)"))})


@pytest.fixture
def dry_run(invoke):
    """``exec NAME --dry-run --json ARGS`` -> the parsed plan (asserts exit 0)."""

    def run(project, *args, name="check", env=None):
        exit_code, out, err = invoke(project, "exec", name, "--dry-run", "--json", *args, env=env)
        assert exit_code == 0, err
        return json.loads(out)

    return run


@pytest.fixture
def bad(invoke):
    """``exec NAME ARGS`` expected to fail with exit 2 and write nothing; the error line."""

    def run(project, *args, name="check", env=None):
        before = files_under(project)
        exit_code, out, err = invoke(project, "exec", name, *args, env=env)
        assert exit_code == 2, (out, err)
        assert not (project / "runs").exists()
        # Only the parse cache (.runbook/, git-ignored) may appear; no run, no ledger.
        assert {f for f in files_under(project) - before if not f.startswith(".runbook/")} == set()
        return error_line(err)

    return run


def test_defaults_apply_when_nothing_is_given(project, dry_run):
    plan = dry_run(project)

    assert plan["environment"] is None
    assert plan["parameters"] == {
        "host": "db-1",
        "port": 5432,
        "ratio": 0.5,
        "force": False,
        "hosts": ["a", "b"],
        "limits": {"cpu": 2},
        "password": "",
    }
    assert set(plan["sources"].values()) == {"default"}


@pytest.mark.parametrize(
    ("assignment", "name", "value"),
    [
        ("port=6543", "port", 6543),
        ("port= 7 ", "port", 7),
        ("ratio=2", "ratio", 2.0),
        ("ratio=1e-3", "ratio", 0.001),
        ("force=true", "force", True),
        ("force=yes", "force", True),
        ("force=1", "force", True),
        ("force=False", "force", False),
        ("force=off", "force", False),
        ("hosts=[x, y]", "hosts", ["x", "y"]),
        ('hosts=["db-1", "db-2"]', "hosts", ["db-1", "db-2"]),
        ("hosts=[]", "hosts", []),
        ("limits={cpu: 4, mem: 8}", "limits", {"cpu": 4, "mem": 8}),
        ("host=123", "host", "123"),
        ("host=true", "host", "true"),
        ("host=a=b", "host", "a=b"),
        ("host=", "host", ""),
    ],
)
def test_p_values_are_coerced_to_the_parameter_type(project, dry_run, assignment, name, value):
    plan = dry_run(project, "-p", assignment)

    assert plan["parameters"][name] == value
    assert type(plan["parameters"][name]) is type(value)
    assert plan["sources"][name] == "-p"


def test_later_p_wins_and_others_keep_defaults(project, dry_run):
    plan = dry_run(project, "-p", "port=1", "-p", "port=2", "--param", "host=db-9")

    assert plan["parameters"]["port"] == 2
    assert plan["parameters"]["host"] == "db-9"
    assert plan["sources"]["ratio"] == "default"
    assert plan["command"] == "runbook exec check -p host=db-9 -p port=2"  # defaults go without saying


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("port=abc", "parameter 'port' (-p): expected an integer, got 'abc'"),
        ("port=1.5", "parameter 'port' (-p): expected an integer, got '1.5'"),
        ("ratio=fast", "parameter 'ratio' (-p): expected a number, got 'fast'"),
        ("force=maybe", "parameter 'force' (-p): expected true or false, got 'maybe'"),
        ("hosts=3", "parameter 'hosts' (-p): expected a list, e.g. [a, b], got '3'"),
        ("hosts=[a", "parameter 'hosts' (-p): expected a list, e.g. [a, b], got '[a'"),
        ("limits=[1]", "parameter 'limits' (-p): expected a mapping, e.g. {key: value}, got '[1]'"),
    ],
)
def test_bad_p_value_names_the_parameter(project, bad, assignment, message):
    assert bad(project, "-p", assignment) == f"Error: {message}"


def test_bad_secret_value_is_not_echoed(make_project, bad):
    project = make_project({"s": runbook_md(params_cell("pin = 1234  # secret"))})

    line = bad(project, "-p", "pin=98x76", name="s")

    assert line == "Error: parameter 'pin' (-p): expected an integer, got ••••••"


def test_unknown_key_lists_the_known_ones(project, bad):
    assert bad(project, "-p", "prot=1") == (
        "Error: unknown parameter 'prot' (-p) for check; "
        "known: host, port, ratio, force, hosts, limits, password; did you mean 'port'?"
    )
    assert bad(project, "-p", "zzz=1") == (
        "Error: unknown parameter 'zzz' (-p) for check; known: host, port, ratio, force, hosts, limits, password"
    )


def test_unknown_key_for_runbook_without_parameters(project, bad):
    assert bad(project, "-p", "x=1", name="other") == (
        "Error: unknown parameter 'x' (-p) for other; known: none: it has no parameters cell"
    )


@pytest.mark.parametrize("pair", ["port", "=5", " =5"])
def test_bad_p_syntax(project, bad, pair):
    assert bad(project, "-p", pair) == f"Error: -p {pair!r}: expected KEY=VALUE, e.g. -p replica=db-2"


# -- -f params.yml ------------------------------------------------------------------


def test_params_file_values_are_checked_and_p_wins(project, dry_run):
    (project / "values.yml").write_text("port: 7000\nhosts: [c]\nforce: true\nhost: from-file\n", "utf-8")

    plan = dry_run(project, "-f", "values.yml", "-p", "host=from-p")

    assert plan["parameters"]["port"] == 7000
    assert plan["parameters"]["hosts"] == ["c"]
    assert plan["parameters"]["force"] is True
    assert plan["parameters"]["host"] == "from-p"
    assert plan["sources"]["port"] == "-f values.yml"
    assert plan["sources"]["host"] == "-p"


def test_empty_params_file_changes_nothing(project, dry_run):
    (project / "empty.yml").write_text("", "utf-8")

    assert set(dry_run(project, "-f", "empty.yml")["sources"].values()) == {"default"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "-f values.yml: cannot read: No such file or directory"),
        ("- 1\n- 2\n", "-f values.yml: expected a mapping of parameter names to values"),
        ("port: [\n", "-f values.yml: not valid YAML at line 2"),
        (
            "prot: 1\n",
            "unknown parameter 'prot' (-f values.yml) for check; known: host, port, ratio, force, hosts, "
            "limits, password; did you mean 'port'?",
        ),
        ("port: [1]\n", "parameter 'port' (-f values.yml): expected an integer, got [1]"),
        ("port: 1.5\n", "parameter 'port' (-f values.yml): expected an integer, got 1.5"),
        ("force: maybe\n", "parameter 'force' (-f values.yml): expected true or false, got 'maybe'"),
        ("host: [a]\n", "parameter 'host' (-f values.yml): expected text, got ['a']"),
    ],
)
def test_bad_params_file(project, bad, content, message):
    if content is not None:
        (project / "values.yml").write_text(content, "utf-8")

    assert bad(project, "-f", "values.yml") == f"Error: {message}"


# -- environment profiles -------------------------------------------------------------

LOCAL = {
    "label": "This machine",
    "production": False,
    "parameters": {"host": "localhost", "unrelated": "ignored by runbooks that do not declare it"},
    "runbooks": {"check": {"port": 15432}},
}


def test_local_profile_is_the_default(make_project, dry_run):
    project = make_project(
        {"check": runbook_md(BODY)}, environments={"local": LOCAL, "staging": {"label": "Staging"}}
    )

    plan = dry_run(project)

    assert plan["environment"] == "local"
    assert plan["parameters"]["host"] == "localhost"
    assert plan["parameters"]["port"] == 15432
    assert plan["sources"]["host"] == "environments/local.yml"
    assert plan["sources"]["ratio"] == "default"


def test_per_runbook_values_win_over_shared_ones_and_only_apply_to_that_runbook(make_project, dry_run):
    profile = {
        "parameters": {"port": 1, "host": "shared"},
        "runbooks": {"check": {"port": 2}, "other": {"port": 3}},
    }
    project = make_project({"check": runbook_md(BODY)}, environments={"staging": profile})

    plan = dry_run(project, "--env", "staging")

    assert plan["environment"] == "staging"
    assert (plan["parameters"]["port"], plan["parameters"]["host"]) == (2, "shared")


def test_precedence_default_profile_file_p(make_project, dry_run):
    profile = {"parameters": {"port": 1, "ratio": 1.5, "host": "env"}}
    project = make_project({"check": runbook_md(BODY)}, environments={"local": profile})
    (project / "values.yml").write_text("port: 2\nratio: 2.5\n", "utf-8")

    plan = dry_run(project, "-f", "values.yml", "-p", "port=3")

    assert plan["parameters"]["host"] == "env"
    assert plan["parameters"]["ratio"] == 2.5
    assert plan["parameters"]["port"] == 3
    assert plan["parameters"]["force"] is False


def test_profile_values_expand_environment_variables(make_project, dry_run):
    profile = {
        "parameters": {
            "host": "${DB_HOST}.internal",
            "port": "${DB_PORT:-6000}",
        }
    }
    project = make_project({"check": runbook_md(BODY)}, environments={"staging": profile})

    plan = dry_run(project, "--env", "staging", env={"DB_HOST": "db-7", "DB_PORT": None})
    with_port = dry_run(project, "--env", "staging", env={"DB_HOST": "db-7", "DB_PORT": "6001"})

    assert plan["parameters"]["host"] == "db-7.internal"
    assert plan["parameters"]["port"] == 6000  # the default text, coerced to int
    assert with_port["parameters"]["port"] == 6001


def test_unset_variable_without_default_is_an_error(make_project, bad):
    project = make_project(
        {"check": runbook_md(BODY)}, environments={"staging": {"parameters": {"host": "${DB_HOST}"}}}
    )

    assert bad(project, "--env", "staging", env={"DB_HOST": None}) == (
        "Error: environments/staging.yml: parameters.host references ${DB_HOST}, which is not set; "
        "export DB_HOST or give a default as ${DB_HOST:-value}"
    )


def test_profile_value_of_wrong_type_names_the_profile(make_project, bad):
    project = make_project(
        {"check": runbook_md(BODY)}, environments={"local": {"runbooks": {"check": {"port": "many"}}}}
    )

    assert bad(project) == "Error: parameter 'port' (environments/local.yml): expected an integer, got 'many'"


def test_profile_value_for_undeclared_runbook_parameter_is_refused(make_project, bad):
    project = make_project(
        {"check": runbook_md(BODY)}, environments={"local": {"runbooks": {"check": {"prot": 1}}}}
    )

    line = bad(project)

    assert line.startswith(
        "Error: unknown parameter 'prot' (environments/local.yml) for check; known: host, port"
    )


def test_unknown_env_lists_the_known_ones(make_project, bad):
    project = make_project({"check": runbook_md(BODY)}, environments={"local": {}, "staging": {}})

    assert bad(project, "--env", "prod") == "Error: unknown environment 'prod' (known: local, staging)"
    assert (
        bad(project, "--env", "../mkdocs") == "Error: unknown environment '../mkdocs' (known: local, staging)"
    )


def test_unknown_env_without_any_profile(project, bad):
    assert (
        bad(project, "--env", "prod")
        == "Error: unknown environment 'prod' (known: none; add environments/prod.yml)"
    )


def test_malformed_profile_reports_every_problem(make_project, bad):
    text = "label: Bad\nprod: true\nproduction: maybe\nparameters: [1]\n"
    project = make_project({"check": runbook_md(BODY)}, environments={"bad": text})

    assert bad(project, "--env", "bad") == (
        "Error: environments/bad.yml: unknown key 'prod' "
        "(known: label, production, parameters, runbooks, notify, metrics, hosts); "
        "'production': expected true or false, got 'maybe'; "
        "'parameters': expected a mapping of parameter names to values"
    )


def test_profile_that_is_not_yaml(make_project, bad):
    project = make_project({"check": runbook_md(BODY)}, environments={"bad": "parameters: [\n"})

    assert bad(project, "--env", "bad").startswith("Error: environments/bad.yml: not valid YAML at line 2")


# -- secrets and time limits ----------------------------------------------------------


def test_secret_values_are_masked_in_the_plan(make_project, invoke):
    project = make_project(
        {"check": runbook_md(BODY)}, environments={"staging": {"parameters": {"password": "${DB_PASSWORD}"}}}
    )

    exit_code, out, err = invoke(
        project,
        "exec",
        "check",
        "--dry-run",
        "--json",
        "--env",
        "staging",
        env={"DB_PASSWORD": "pa55-from-env"},
    )
    text_code, text_out, _ = invoke(project, "exec", "check", "--dry-run", "-p", "password=pa55-from-p")

    assert exit_code == 0, err
    plan = json.loads(out)
    assert plan["parameters"]["password"] == "••••••"
    assert plan["sources"]["password"] == "environments/staging.yml"
    assert "pa55" not in out + err
    assert "password=" not in plan["command"]
    assert text_code == 0
    assert "pa55-from-p" not in text_out


def test_secret_from_runbook_secret_variable(project, dry_run):
    plan = dry_run(project, env={"RUNBOOK_SECRET_PASSWORD": "from-the-environment"})

    assert plan["parameters"]["password"] == "••••••"
    assert plan["sources"]["password"] == "environment variable"


@pytest.mark.parametrize(
    ("option", "seconds"), [("90", 90), ("90s", 90), ("10m", 600), ("2h", 7200), ("1.5m", 90)]
)
def test_timeout_option_is_parsed(project, dry_run, option, seconds):
    assert dry_run(project, "--timeout", option)["timeout_s"] == seconds


def test_front_matter_timeout_is_the_default_limit(make_project, dry_run):
    project = make_project({"check": runbook_md(BODY, timeout="5m")})

    assert dry_run(project)["timeout_s"] == 300
    assert dry_run(project, "--timeout", "30s")["timeout_s"] == 30


@pytest.mark.parametrize("option", ["soon", "0", "-5s", "10x"])
def test_bad_timeout_option(project, bad, option):
    assert (
        bad(project, "--timeout", option)
        == f"Error: --timeout {option!r}: expected seconds or a duration like 90s, 10m, 2h"
    )


def test_dry_run_text_shows_values_sources_and_steps(make_project, invoke):
    project = make_project({"check": runbook_md(BODY)}, environments={"local": LOCAL})

    exit_code, out, err = invoke(project, "exec", "check", "--dry-run", "-p", "force=yes", "--timeout", "90s")

    assert exit_code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert out.splitlines()[0] == "Dry run of check in local: nothing runs, nothing is written"
    assert ["host", '"localhost"', "environments/local.yml"] in lines
    assert ["port", "15432", "environments/local.yml"] in lines
    assert ["force", "true", "-p"] in lines
    assert ["ratio", "0.5", "default"] in lines
    assert ["1", "check", "read"] in lines
    assert "time limit: 90s" in out
