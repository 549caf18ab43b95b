"""``runbook check``'s library side: every malformed source gives its exact finding.

Each test writes a real project under ``tmp_path`` (``mkdocs.yml``, runbooks, a training
page, environment profiles, the FAQ), breaks one thing and asserts what
``check_project(Project(root))`` reports: path, line and message, as the CLI prints them.
No kernel is started.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runbook.errors import ProjectError
from runbook.source.lint import Finding, check_project
from runbook.source.project import Project

SECRET_HINT = (
    "move it to an environment variable and reference it as ${VAR}, or mark the parameter '# secret'"
)
KNOWN_FRONT_KEYS = "title, summary, owner, tags, kind, level, risk, schedule, timeout, environments, objectives, prerequisites, alerts"
KNOWN_PROFILE_KEYS = "label, production, parameters, runbooks, notify, metrics, hosts"

# Secret-shaped values are assembled at run time, so that no scanner flags this file.
AWS_KEY = "AKIA" + "ZQ3DN4WXKJ7RBL2M"
GITHUB_TOKEN = "ghp_" + "x7K2m9P4q8R1t6V3w5Y0z2A4b6C8d0E2f4G6"
SLACK_TOKEN = "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
PRIVATE_KEY = "-----BEGIN " + "RSA PRIVATE KEY-----"
RANDOM_TOKEN = "tok_" + "9fK2LmQ8xR4vZ7nB1cW6yT3h"


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


CLEAN = {
    "mkdocs.yml": "site_name: Test handbook\ndocs_dir: docs\n",
    "runbooks/db/backup.md": dedent(
        """
        ---
        title: Back up the database
        summary: Dumps the database to a file.
        owner: platform-team
        risk: mutating
        schedule: daily
        environments: [local, staging]
        ---

        # Back up the database

        ```python tags=["parameters"]
        db_host = "localhost"  # database host
        db_password = ""  # secret: the database password
        ```

        ## Dump

        ```python name="dump" effect="write" timeout=60
        import os
        password = os.environ["PG_PASSWORD"]
        secret_name = "db-credentials"
        cache_key = "users-by-email-v2"
        checksum = "d41d8cd98f00b204e9800998ecf8427e"
        print("password:", "*" * len(password), db_host, secret_name, cache_key, checksum)
        ```
        """
    ),
    "docs/training/intro.md": dedent(
        """
        ---
        title: Reading a runbook
        summary: Where the parameters and steps are.
        owner: support
        kind: training
        level: L1
        jupyter:
          kernelspec:
            name: python3
            display_name: Python 3
            language: python
        ---

        ```python
        print("public DNS is at 8.8.8.8")
        ```
        """
    ),
    "docs/index.md": '# Handbook\n\nA plain page: `password = "not-checked"` is not a notebook.\n',
    "environments/local.yml": "label: Local machine\nproduction: false\nparameters:\n  db_host: localhost\n",
    "environments/staging.yml": dedent(
        """
        label: Staging
        production: false
        parameters:
          db_host: db.staging.internal
          db_password: ${PG_PASSWORD}
          api_token: ${API_TOKEN:-}
        """
    ),
    "docs/faq/general.yml": dedent(
        """
        title: General
        entries:
          - question: How do I back up the database?
            answer: Run the backup runbook.
            tags: [backup]
            runbooks: [backup]
        """
    ),
}


def make(tmp_path: Path, files: dict[str, str | bytes | None] | None = None) -> Path:
    """The clean project with ``files`` written over it (None removes a file)."""
    root = tmp_path / "project"
    for rel, content in {**CLEAN, **(files or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.unlink(missing_ok=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")
    return root


def check(root: Path, paths: list[Path] | None = None) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.message) for f in check_project(Project(root), paths)]


def notebook(front: str, body: str = "") -> str:
    """A runbook with the given front matter lines (line 2 on) and body."""
    return f"---\n{dedent(front)}---\n\n{dedent(body)}"


FRONT = "title: T\nsummary: S.\nowner: team\n"  # lines 2-4; the closing --- is line 5
CELL = '```python name="check"\nprint(1)\n```\n'  # from line 7


def test_a_clean_project_has_no_findings(tmp_path):
    assert check(make(tmp_path)) == []


def test_findings_are_sorted_by_path_and_line(tmp_path):
    root = make(tmp_path, {"runbooks/b.md": notebook("title: T\n"), "runbooks/a.md": ""})

    findings = check_project(Project(root))

    assert findings == sorted(findings)
    assert findings[0] == Finding(
        "runbooks/a.md", 0, "the file is empty; start it with front matter (title, summary, owner)"
    )
    assert [(f.path, f.line) for f in findings] == [
        ("runbooks/a.md", 0),
        ("runbooks/b.md", 1),
        ("runbooks/b.md", 1),
    ]


# -- one broken notebook: path runbooks/broken.md -------------------------------------

NOTEBOOK_CASES = [
    pytest.param(
        "---\ntitle: T\nsummary: S.\nowner: team: platform\n---\n\n" + CELL,
        [(4, "front matter is not valid YAML at line 4: mapping values are not allowed here")],
        id="malformed-yaml-front-matter",
    ),
    pytest.param(
        "# Back up\n\n" + CELL,
        [(1, "no front matter: start the file with a '---' block holding title, summary and owner")],
        id="no-front-matter",
    ),
    pytest.param(
        "---\ntitle: T\nsummary: S.\n\n# Back up\n",
        [(1, "front matter is not closed: add a '---' line after it")],
        id="unclosed-front-matter",
    ),
    pytest.param(
        "---\n---\n\n" + CELL,
        [(1, "front matter is empty: add title, summary and owner")],
        id="empty-front-matter",
    ),
    pytest.param(
        "---\n- title\n- summary\n---\n",
        [(1, "front matter: expected a mapping of keys, got list")],
        id="front-matter-not-a-mapping",
    ),
    pytest.param(
        "", [(0, "the file is empty; start it with front matter (title, summary, owner)")], id="empty-file"
    ),
    pytest.param(
        "\n  \n",
        [(0, "the file is empty; start it with front matter (title, summary, owner)")],
        id="blank-file",
    ),
    pytest.param(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        [(0, "this is a binary file, not a Markdown runbook")],
        id="binary-file",
    ),
    pytest.param(
        b"---\ntitle: caf\xe9\n---\n", [(0, "not UTF-8 text (byte 14); save it as UTF-8")], id="not-utf8"
    ),
    pytest.param(
        notebook("summary: S.\nowner: team\n", CELL),
        [(1, "missing required key 'title'")],
        id="missing-title",
    ),
    pytest.param(
        notebook("title: T\nowner: team\n", CELL),
        [(1, "missing required key 'summary'")],
        id="missing-summary",
    ),
    pytest.param(
        notebook("title: T\nsummary: S.\n", CELL), [(1, "missing required key 'owner'")], id="missing-owner"
    ),
    pytest.param(
        notebook("title: T\nsummary: ''\nowner: 42\n", CELL),
        [
            (3, "'summary': expected a non-empty string, got ''"),
            (4, "'owner': expected a non-empty string, got 42"),
        ],
        id="empty-summary-and-numeric-owner",
    ),
    pytest.param(
        notebook(FRONT + "colour: red\n", CELL),
        [(5, f"unknown front matter key 'colour' (known: {KNOWN_FRONT_KEYS})")],
        id="unknown-key",
    ),
    pytest.param(
        notebook(FRONT + "kind: tutorial\n", CELL),
        [(5, "'kind': expected runbook, training, doc, got 'tutorial'")],
        id="bad-kind",
    ),
    pytest.param(
        notebook(FRONT + "risk: yolo\n", CELL),
        [(5, "'risk': expected read-only, mutating, destructive, got 'yolo'")],
        id="bad-risk",
    ),
    pytest.param(
        notebook(FRONT + "kind: training\nlevel: L9\n", CELL),
        [(6, "'level': expected L1, L2, L3, L4, got 'L9'")],
        id="bad-level",
    ),
    pytest.param(
        notebook(FRONT + "schedule: sometimes\n", CELL),
        [
            (
                5,
                "'schedule': expected daily, weekly, monthly, quarterly, annually or <N>h/<N>d, got 'sometimes'",
            )
        ],
        id="bad-schedule",
    ),
    pytest.param(
        notebook(FRONT + "timeout: soon\n", CELL),
        [(5, "'timeout': expected seconds or a duration like 90s, 10m, 2h, got 'soon'")],
        id="bad-timeout",
    ),
    pytest.param(
        notebook(FRONT + "kind: training\n", CELL),
        [(1, "'level': training pages need a level (L1, L2, L3, L4)")],
        id="training-without-level",
    ),
    pytest.param(
        notebook(FRONT + "tags:\n  db: yes\n", CELL),
        [(5, "'tags': expected a list of text items, got {'db': True}")],
        id="bad-tags-type",
    ),
    pytest.param(
        notebook(
            FRONT + "environments:\n  - local\n  - prod\n  - staging\n",
            CELL,
        ),
        [
            (
                7,
                "'environments': unknown environment 'prod' (known: local, staging); add environments/prod.yml or fix the name",
            )
        ],
        id="environments-names-a-missing-profile",
    ),
    pytest.param(
        notebook(FRONT + "environments: qa\n", CELL),
        [
            (
                5,
                "'environments': unknown environment 'qa' (known: local, staging); add environments/qa.yml or fix the name",
            )
        ],
        id="environments-as-one-word",
    ),
    pytest.param(
        notebook(
            FRONT,
            """
            ```python tags=["parameters"]
            host = "db"
            port = compute_port()
            ```
            """,
        ),
        [
            (
                9,
                "parameters cell line 2: 'port' must be a literal value (a string, number, boolean, list or dict); compute derived values in a later cell",
            )
        ],
        id="non-literal-parameter",
    ),
    pytest.param(
        notebook(FRONT, '```python tags=["parameters"]\nhost = "db"\nif host:\n    pass\n```\n'),
        [(9, "parameters cell line 2: expected 'name = value' assignments only, got 'if host: pass'")],
        id="statement-in-parameters",
    ),
    pytest.param(
        notebook(FRONT, '```python tags=["parameters"]\nhost = "db\n```\n'),
        [(8, "parameters cell line 1: unterminated string literal (detected at line 1)")],
        id="parameters-syntax-error",
    ),
    pytest.param(
        notebook(
            FRONT,
            """
            ```python tags=["parameters"]
            host = "db"
            ```

            ```python tags=["parameters"]
            port = 5432
            ```
            """,
        ),
        [(11, "2 cells are tagged 'parameters'; keep one")],
        id="two-parameters-cells",
    ),
    pytest.param(
        notebook(FRONT, '# Steps\n\n```python name="Restore DB"\nprint(1)\n```\n'),
        [(9, "step 1: name='Restore DB' is not a step name; use lower-case letters, digits and dashes")],
        id="bad-step-name",
    ),
    pytest.param(
        notebook(FRONT, CELL + "\n```bash\necho hi\n```\n\n" + CELL),
        [(15, "two steps are named 'check'; step names must be unique")],
        id="duplicate-step-names",
    ),
    pytest.param(
        notebook(FRONT, CELL + '\n```python name="wipe" effect="delete"\nprint(2)\n```\n'),
        [(11, "step 2 (wipe): effect='delete'; expected read or write")],
        id="bad-effect",
    ),
    pytest.param(
        notebook(FRONT, '```python name="wait" timeout="soon"\nprint(1)\n```\n'),
        [(7, "step 1 (wait): timeout='soon'; expected seconds or a duration like 30s, 5m")],
        id="bad-step-timeout",
    ),
    pytest.param(
        notebook(
            FRONT,
            '```text\nnot a cell\n```\n\n```python name="probe" continue_on_error="sometimes"\nprint(1)\n```\n',
        ),
        [(11, "step 1 (probe): continue_on_error='sometimes'; expected true or false")],
        id="bad-continue-on-error",
    ),
]


@pytest.mark.parametrize(("content", "expected"), NOTEBOOK_CASES)
def test_a_broken_runbook_gives_its_exact_findings(tmp_path, content, expected):
    root = make(tmp_path, {"runbooks/broken.md": content})

    assert check(root) == [("runbooks/broken.md", line, message) for line, message in expected]


def test_every_front_matter_problem_is_reported_on_its_own_line(tmp_path):
    text = (
        "---\ntitle: ''\nowner: 3\ncolour: red\nrisk: yolo\nschedule: sometimes\ntimeout: soon\n---\n\n"
        + CELL
    )
    root = make(tmp_path, {"runbooks/db/broken.md": text})

    assert check(root) == [
        ("runbooks/db/broken.md", 1, "missing required key 'summary'"),
        ("runbooks/db/broken.md", 2, "'title': expected a non-empty string, got ''"),
        ("runbooks/db/broken.md", 3, "'owner': expected a non-empty string, got 3"),
        ("runbooks/db/broken.md", 4, f"unknown front matter key 'colour' (known: {KNOWN_FRONT_KEYS})"),
        ("runbooks/db/broken.md", 5, "'risk': expected read-only, mutating, destructive, got 'yolo'"),
        (
            "runbooks/db/broken.md",
            6,
            "'schedule': expected daily, weekly, monthly, quarterly, annually or <N>h/<N>d, got 'sometimes'",
        ),
        (
            "runbooks/db/broken.md",
            7,
            "'timeout': expected seconds or a duration like 90s, 10m, 2h, got 'soon'",
        ),
    ]


def test_a_docs_notebook_is_checked_like_a_runbook(tmp_path):
    text = CLEAN["docs/training/intro.md"].replace("level: L1\n", "")
    root = make(tmp_path, {"docs/training/intro.md": text})

    assert check(root) == [
        ("docs/training/intro.md", 1, "'level': training pages need a level (L1, L2, L3, L4)")
    ]


def test_environments_are_checked_even_when_other_keys_are_wrong(tmp_path):
    root = make(
        tmp_path,
        {
            "environments/staging.yml": None,
            "runbooks/broken.md": notebook(FRONT + "risk: yolo\nenvironments: [staging]\n", CELL),
        },
    )

    assert check(root) == [
        ("runbooks/broken.md", 5, "'risk': expected read-only, mutating, destructive, got 'yolo'"),
        (
            "runbooks/broken.md",
            6,
            "'environments': unknown environment 'staging' (known: local); add environments/staging.yml or fix the name",
        ),
        (
            "runbooks/db/backup.md",
            7,
            "'environments': unknown environment 'staging' (known: local); add environments/staging.yml or fix the name",
        ),
    ]


def test_environments_without_any_profile(tmp_path):
    root = make(tmp_path, {"environments/local.yml": None, "environments/staging.yml": None})

    assert check(root) == [
        (
            "runbooks/db/backup.md",
            7,
            "'environments': unknown environment 'local' (known: none); add environments/local.yml or fix the name",
        ),
        (
            "runbooks/db/backup.md",
            7,
            "'environments': unknown environment 'staging' (known: none); add environments/staging.yml or fix the name",
        ),
    ]


# -- environment profiles ---------------------------------------------------------------

PROFILE_CASES = [
    pytest.param(
        "label: Production\nproduction: true\nparameters: [db_host\n",
        [(4, "not valid YAML at line 4: expected ',' or ']', but got '<stream end>'")],
        id="bad-yaml",
    ),
    pytest.param(
        "label: Production\ncolour: red\nproduction: true\n",
        [(2, f"unknown key 'colour' (known: {KNOWN_PROFILE_KEYS})")],
        id="unknown-key",
    ),
    pytest.param(
        "label: Production\nproduction: maybe\n",
        [(2, "'production': expected true or false, got 'maybe'")],
        id="production-maybe",
    ),
    pytest.param(
        "label: Production\nparameters:\n  - db_host\nrunbooks: [backup]\nextra: 1\n",
        [
            (2, "'parameters': expected a mapping of parameter names to values"),
            (4, "'runbooks': expected a mapping of runbook slugs to parameter mappings"),
            (5, f"unknown key 'extra' (known: {KNOWN_PROFILE_KEYS})"),
        ],
        id="several-problems",
    ),
    pytest.param(
        "- label\n- production\n",
        [(1, f"expected a mapping with {KNOWN_PROFILE_KEYS}")],
        id="not-a-mapping",
    ),
    pytest.param(b"label: Prod\xff\n", [(0, "not UTF-8 text (byte 11); save it as UTF-8")], id="not-utf8"),
]


@pytest.mark.parametrize(("content", "expected"), PROFILE_CASES)
def test_a_broken_profile_gives_its_exact_findings(tmp_path, content, expected):
    root = make(tmp_path, {"environments/production.yml": content})

    assert check(root) == [("environments/production.yml", line, message) for line, message in expected]


def test_a_profile_named_unusably(tmp_path):
    root = make(tmp_path, {"environments/my profile.yml": "label: Mine\n"})

    assert check(root) == [
        (
            "environments/my profile.yml",
            0,
            "'my profile' cannot be used as an environment name; rename the file with letters, digits, '.', '_' and '-'",
        )
    ]


# -- FAQ --------------------------------------------------------------------------------

FAQ_CASES = [
    pytest.param(
        "title: Databases\nentries:\n  - question: [unclosed\n",
        [(4, "not valid YAML: expected ',' or ']', but got '<stream end>'")],
        id="bad-yaml",
    ),
    pytest.param(
        "entries:\n  - question: Where are the backups?\n    answer: In the bucket.\n",
        [(1, "'title' is required")],
        id="missing-title",
    ),
    pytest.param(
        "title: Databases\nentries:\n  - question: Where?\n    answer: Here.\n  - question: Who owns it?\n    tags: [db]\n",
        [(5, "entry 2: 'answer' is required text")],
        id="entry-missing-answer",
    ),
    pytest.param(
        "title: Databases\nentries:\n  - question: Where?\n    answer: Here.\n    link: https://example.com\n",
        [(5, "entry 1: unknown key 'link' (known: question, answer, tags, runbooks)")],
        id="entry-unknown-key",
    ),
    pytest.param(
        "title: Databases\nentries:\n  - question: Where?\n    answer: Here.\n    tags: [errors, 502]\n",
        [(5, "entry 1: 'tags' must be a list of words")],
        id="entry-tags-not-words",
    ),
    pytest.param(
        "title: Databases\ncolour: red\nentries: []\n",
        [
            (2, "unknown key 'colour' (known: title, description, entries)"),
            (3, "'entries' must be a non-empty list"),
        ],
        id="unknown-key-and-no-entries",
    ),
    pytest.param(
        "title: Databases\nentries:\n  - Where are the backups?\n",
        [(3, "entry 1: expected a mapping with question and answer")],
        id="entry-not-a-mapping",
    ),
    pytest.param(
        dedent(
            """
            title: Databases
            entries:
              - question: How do I restore?
                answer: Restore from the latest backup.
                runbooks:
                  - backup
                  - restore-db
            """
        ),
        [
            (
                7,
                "entry 1 ('How do I restore?') names runbook 'restore-db', which does not exist; fix the slug or remove it",
            )
        ],
        id="names-a-missing-runbook",
    ),
]


@pytest.mark.parametrize(("content", "expected"), FAQ_CASES)
def test_a_broken_faq_file_gives_its_exact_findings(tmp_path, content, expected):
    root = make(tmp_path, {"docs/faq/databases.yml": content})

    assert check(root) == [("docs/faq/databases.yml", line, message) for line, message in expected]


def test_an_unreadable_faq_file_does_not_hide_the_others(tmp_path):
    root = make(
        tmp_path,
        {
            "docs/faq/broken.yml": b"title: caf\xe9\n",
            "docs/faq/general.yml": CLEAN["docs/faq/general.yml"].replace("[backup]\n", "[backup, nope]\n"),
        },
    )

    assert check(root) == [
        ("docs/faq/broken.yml", 0, "not UTF-8 text (byte 10); save it as UTF-8"),
        (
            "docs/faq/general.yml",
            6,
            "entry 1 ('How do I back up the database?') names runbook 'nope', which does not exist; fix the slug or remove it",
        ),
    ]


# -- names and paths --------------------------------------------------------------------


def test_clashing_slugs_are_reported_on_every_file(tmp_path):
    root = make(tmp_path, {"runbooks/old/backup.md": notebook(FRONT, CELL)})

    message = (
        "runbook name 'backup' is ambiguous: runbooks/db/backup.md, runbooks/old/backup.md; "
        "rename one of the files (the name keys its run history, so it must be unique)"
    )
    assert check(root) == [("runbooks/db/backup.md", 0, message), ("runbooks/old/backup.md", 0, message)]


def test_a_symlink_out_of_the_project_is_reported(tmp_path):
    outside = tmp_path / "elsewhere.md"
    outside.write_text(notebook(FRONT, CELL), "utf-8")
    root = make(tmp_path)
    (root / "runbooks" / "linked.md").symlink_to(outside)
    (root / "environments" / "shared.yml").symlink_to(tmp_path / "shared.yml")
    (root / "runbooks" / "inside.md").symlink_to(root / "runbooks" / "db" / "backup.md")

    assert check(root) == [
        (
            "environments/shared.yml",
            0,
            f"symbolic link to {tmp_path / 'shared.yml'}, outside the project; move the file into the project or remove the link",
        ),
        (
            "runbooks/linked.md",
            0,
            f"symbolic link to {outside}, outside the project; move the file into the project or remove the link",
        ),
    ]


# -- secrets ----------------------------------------------------------------------------


def secret(kind: str) -> str:
    return f"hard-coded secret ({kind}): {SECRET_HINT}"


SECRET_CASES = [
    pytest.param(
        "runbooks/broken.md",
        notebook(
            FRONT,
            f'```python name="s3"\nimport boto3\nclient = boto3.client("s3", aws_access_key_id="{AWS_KEY}")\n```\n',
        ),
        [(9, secret("AWS Access Key"))],
        id="aws-key-in-a-code-cell",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(
            FRONT,
            f'```python name="ssh"\nKEY = """\n{PRIVATE_KEY}\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2TvpIMpEtVFZgSBQm4iIk\n"""\n```\n',
        ),
        [(9, secret("Private Key"))],
        id="private-key-block",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(
            FRONT, f'```python name="gh"\nheaders = {{"Authorization": "Bearer {GITHUB_TOKEN}"}}\n```\n'
        ),
        [(8, secret("GitHub Token"))],
        id="github-token",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(FRONT, f"Post with `{SLACK_TOKEN}` to the channel.\n\n" + CELL),
        [(7, secret("Slack Token"))],
        id="slack-token-in-prose",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(FRONT, '```python name="dsn"\ndsn = "postgres://app:Hunter2isBack@db.internal/app"\n```\n'),
        [(8, secret("Basic Auth Credentials"))],
        id="basic-auth-url",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(
            FRONT, f'```python tags=["parameters"]\napi_token = "{RANDOM_TOKEN}"  # the monitoring API\n```\n'
        ),
        [(8, secret("Secret Keyword"))],
        id="high-entropy-api-token",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(FRONT, '```python tags=["parameters"]\ndb_password = "Tr0ub4dor&3"  # secret\n```\n'),
        [
            (
                8,
                "hard-coded secret (Secret Keyword): a '# secret' parameter's default is stored in git; leave it empty and pass the value at run time (-p, or ${VAR} in a profile)",
            )
        ],
        id="secret-parameter-with-a-default",
    ),
    pytest.param(
        "environments/production.yml",
        "label: Production\nproduction: true\nparameters:\n  db_host: db.internal\n  db_password: Tr0ub4dor&3\n",
        [(5, secret("Secret Keyword"))],
        id="password-literal-in-a-profile",
    ),
    pytest.param(
        "environments/production.yml",
        f"label: Production\nproduction: true\nrunbooks:\n  backup:\n    api_token: {RANDOM_TOKEN[4:]}\n",
        [(5, secret("Secret Keyword"))],
        id="high-entropy-token-in-a-profile",
    ),
    pytest.param(
        "environments/production.yml",
        f"label: Production\nparameters:\n  tls_key: |\n    {PRIVATE_KEY}\n    MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2TvpIMpEtVFZgSBQm4iIk\n",
        [(4, secret("Private Key"))],
        id="private-key-in-a-profile",
    ),
    pytest.param(
        "docs/faq/databases.yml",
        f"title: Databases\nentries:\n  - question: What is the read-only key?\n    answer: It is {AWS_KEY}.\n",
        [(4, secret("AWS Access Key"))],
        id="aws-key-in-the-faq",
    ),
    pytest.param(
        "runbooks/broken.md",
        notebook(FRONT + f"tags: [{GITHUB_TOKEN}]\n", CELL),
        [(5, secret("GitHub Token"))],
        id="token-in-front-matter",
    ),
]


@pytest.mark.parametrize(("path", "content", "expected"), SECRET_CASES)
def test_a_hard_coded_secret_is_found(tmp_path, path, content, expected):
    root = make(tmp_path, {path: content})

    assert check(root) == [(path, line, message) for line, message in expected]


NOT_SECRETS = [
    pytest.param(
        '```python tags=["parameters"]\ndb_password = ""  # secret\napi_token = \'\'  # secret: the API token\n```\n',
        id="empty-secret-parameters",
    ),
    pytest.param(
        '```python tags=["parameters"]\ndb_password = "changeme"  # secret\napi_key = "<your-api-key>"\ntoken = "xxxxxxxx"\n```\n',
        id="placeholders",
    ),
    pytest.param(
        '```python name="env"\nimport os\npassword = os.environ["PG_PASSWORD"]\ntoken = os.getenv("API_TOKEN")\napi_key = "${API_KEY}"\n```\n',
        id="references",
    ),
    pytest.param(
        '```python name="names"\nsecret_name = "db-credentials"\ntoken_file = "/run/secrets/api-token"\nkey_id = "AKIDEXAMPLE1234567890abcdef"\n'
        'cache_key = "users-by-email-v2"\nsort_key = "created_at"\n```\n',
        id="names-that-refer-to-secrets",
    ),
    pytest.param(
        '```python name="ordinary"\nimport hashlib\ncommit = "3b47ff1c0a9d8e7f6b5a4c3d2e1f0a9b8c7d6e5f"\nprint(hashlib.sha256(b"x").hexdigest())\n'
        'resolver = "8.8.8.8"\nurl = "https://example.com/api/v1/status?token=${TOKEN}"\nprint("password:", "*" * 8)\n```\n',
        id="ordinary-code",
    ),
    pytest.param(
        f'```python name="fixture"\nfixture_password = "Tr0ub4dor&3"  # pragma: allowlist secret\n# pragma: allowlist nextline secret\nclient = "{AWS_KEY}"\n```\n',
        id="allowlist-pragma",
    ),
]


@pytest.mark.parametrize("body", NOT_SECRETS)
def test_what_is_not_a_hard_coded_secret(tmp_path, body):
    root = make(tmp_path, {"runbooks/fine.md": notebook(FRONT, body)})

    assert check(root) == []


def test_references_and_placeholders_in_a_profile_are_not_secrets(tmp_path):
    profile = dedent(
        """
        label: Production
        production: true
        parameters:
          db_password: ${PG_PASSWORD}
          api_token: "${API_TOKEN:-}"
          smtp_password: ""
          admin_password: changeme
          db_dsn: postgres://app:${PG_PASSWORD}@db.internal/app
          signing_key_path: /etc/app/signing.key
        """
    )
    root = make(tmp_path, {"environments/production.yml": profile})

    assert check(root) == []


# -- paths= -----------------------------------------------------------------------------


def broken_everywhere(tmp_path: Path) -> Path:
    return make(
        tmp_path,
        {
            "runbooks/db/broken.md": notebook(FRONT + "risk: yolo\n", CELL),
            "runbooks/net/broken-too.md": notebook("title: T\n", CELL),
            "environments/production.yml": "production: maybe\n",
            "docs/faq/general.yml": "entries: []\n",
        },
    )


def test_paths_limit_the_check_to_those_files(tmp_path, monkeypatch):
    root = broken_everywhere(tmp_path)
    monkeypatch.chdir(root)

    assert check(root, [Path("runbooks/db/broken.md"), Path("environments/production.yml")]) == [
        ("environments/production.yml", 1, "'production': expected true or false, got 'maybe'"),
        ("runbooks/db/broken.md", 5, "'risk': expected read-only, mutating, destructive, got 'yolo'"),
    ]
    assert check(root, [root / "docs/faq/general.yml"]) == [
        ("docs/faq/general.yml", 1, "'entries' must be a non-empty list"),
        ("docs/faq/general.yml", 1, "'title' is required"),
    ]


def test_a_folder_path_checks_the_files_under_it(tmp_path, monkeypatch):
    root = broken_everywhere(tmp_path)
    monkeypatch.chdir(root / "runbooks")

    assert check(root, [Path("net")]) == [
        ("runbooks/net/broken-too.md", 1, "missing required key 'owner'"),
        ("runbooks/net/broken-too.md", 1, "missing required key 'summary'"),
    ]
    assert [f[0] for f in check(root, [Path(".")])] == ["runbooks/db/broken.md"] + [
        "runbooks/net/broken-too.md"
    ] * 2
    assert len(check(root, [root])) == 6


def test_paths_that_are_not_sources_are_skipped(tmp_path):
    root = broken_everywhere(tmp_path)
    (root / "docs" / "extra.yml").write_text("not: [valid\n", "utf-8")

    assert check(root, [root / "docs/index.md", root / "mkdocs.yml", root / "docs/extra.yml"]) == []
    assert check(root, []) == []


def test_paths_report_clashes_and_symlinks_of_the_given_files_only(tmp_path):
    outside = tmp_path / "elsewhere.md"
    outside.write_text(notebook(FRONT, CELL), "utf-8")
    root = make(tmp_path, {"runbooks/old/backup.md": notebook(FRONT, CELL)})
    (root / "runbooks" / "linked.md").symlink_to(outside)

    assert check(root, [root / "runbooks/old/backup.md", root / "runbooks/linked.md"]) == [
        (
            "runbooks/linked.md",
            0,
            f"symbolic link to {outside}, outside the project; move the file into the project or remove the link",
        ),
        (
            "runbooks/old/backup.md",
            0,
            "runbook name 'backup' is ambiguous: runbooks/db/backup.md, runbooks/old/backup.md; "
            "rename one of the files (the name keys its run history, so it must be unique)",
        ),
    ]


def test_a_missing_path_or_one_outside_the_project_is_bad_usage(tmp_path):
    root = make(tmp_path)

    with pytest.raises(ProjectError) as missing:
        check_project(Project(root), [root / "runbooks/nope.md"])
    with pytest.raises(ProjectError) as outside:
        check_project(Project(root), [tmp_path])

    assert str(missing.value) == f"{root / 'runbooks/nope.md'}: no such file or folder"
    assert str(outside.value) == f"{tmp_path}: outside the project at {root}; check files inside it"


def test_every_message_is_one_line(tmp_path):
    root = broken_everywhere(tmp_path)
    for case in NOTEBOOK_CASES:
        content = case.values[0]
        path = root / "runbooks" / f"case-{case.id}.md"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")

    findings = check_project(Project(root))

    assert len(findings) > len(NOTEBOOK_CASES)
    assert [f for f in findings if "\n" in f.message or not f.message.strip()] == []


# -- the command line ---------------------------------------------------------------------


def test_runbook_check_command_prints_file_line_message_and_exits_1(tmp_path, invoke):
    root = make(tmp_path, {"runbooks/ops/broken.md": notebook(FRONT.replace("owner: team\n", ""), CELL)})

    exit_code, out, err = invoke(root, "check")

    assert exit_code == 1
    assert out == "runbooks/ops/broken.md:1: missing required key 'owner'\n"
    assert err == "checked 3 notebooks, 2 profiles and 1 FAQ file: 1 problem found\n"


def test_runbook_check_command_says_what_it_checked_on_a_clean_project(tmp_path, invoke):
    assert invoke(make(tmp_path), "check") == (
        0,
        "",
        "checked 2 notebooks, 2 profiles and 1 FAQ file: no problems\n",
    )


def test_runbook_check_command_refuses_a_path_outside_the_project(tmp_path, invoke):
    root = make(tmp_path)

    exit_code, _, err = invoke(root, "check", "/etc/hostname")

    assert exit_code == 2
    assert err.startswith("Error: ")
