"""Training that teaches: every support-level track has exercises whose self-check cell
checks the learner's cell before it, the answers shipped on the pages pass, a wrong
answer fails the page with a hint, and the game day breaks its own service and ends
healthy. Pages run for real (a kernel per page) in a copy of the project.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import copy_handbook, handbook_cli

REPO = Path(__file__).resolve().parents[1]
TRAINING = REPO / "docs" / "training"
CELL = re.compile(r'^```python name="([^"]+)"[^\n]*\n(.*?)^```', re.S | re.M)


def cells(page: Path) -> list[tuple[str, str]]:
    return CELL.findall(page.read_text("utf-8"))


run = handbook_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_handbook(tmp_path / "project")


@pytest.mark.parametrize("level", ["l1", "l2", "l3", "l4"])
def test_every_track_has_exercises_each_checked_by_the_next_cell(level: str) -> None:
    exercised = 0
    for page in sorted((TRAINING / level).glob("*.md")):
        names = [name for name, _ in cells(page)]
        for i, name in enumerate(names):
            if name.startswith("your-turn-"):
                assert names[i + 1] == name.replace("your-turn-", "self-check-"), f"{page.name}: {name}"
                exercised += 1
    assert exercised >= 2, f"docs/training/{level} has {exercised} exercises"


def test_the_l4_track_has_at_least_three_pages() -> None:
    assert len(list((TRAINING / "l4").glob("*.md"))) >= 3


WRONG = {
    "exercises-l1": ("l1/exercises-l1.md", "your-turn-1", 'failed_names = ["app port"]'),
    "exercises-l2": ("l2/exercises-l2.md", "your-turn-1", 'top2 = ["app.log", "worker.log"]'),
    "exercises-l3": ("l3/exercises-l3.md", "your-turn-1", 'days_left, action = 12, "page"'),
    "exercises-l4": ("l4/exercises-l4.md", "your-turn-2", 'def decide(ratios):\n    return "page"'),
}


@pytest.mark.kernel
@pytest.mark.parametrize("slug", sorted(WRONG))
def test_a_wrong_answer_fails_its_self_check_with_a_hint(project: Path, slug: str) -> None:
    rel, cell, wrong = WRONG[slug]
    page = project / "docs" / "training" / rel
    text = page.read_text("utf-8")
    answer = dict(cells(page))[cell]
    page.write_text(text.replace(answer, wrong + "\n", 1), "utf-8")

    done = run(project, "exec", slug)

    assert done.returncode == 1, done.stdout
    assert "not quite" in done.stdout
    assert f"failed at step '{cell.replace('your-turn-', 'self-check-')}'" in done.stdout


@pytest.mark.kernel
@pytest.mark.parametrize("slug", sorted(WRONG))
def test_the_shipped_answers_pass_and_show_the_expected_result(project: Path, slug: str) -> None:
    done = run(project, "exec", slug)

    assert done.returncode == 0, done.stdout
    assert "expected" in done.stdout and "correct" in done.stdout


@pytest.mark.kernel
def test_the_game_day_breaks_its_service_finds_the_cause_and_ends_healthy(project: Path) -> None:
    done = run(project, "exec", "game-day-full-log-volume")

    assert done.returncode == 0, done.stdout
    assert "fail: GET http://127.0.0.1:" in done.stdout and "503 Service Unavailable" in done.stdout
    assert "cause: debug.log fills the volume, written because log_level = debug" in done.stdout
    assert "2 checks: 2 pass, 0 warn, 0 fail" in done.stdout
    assert not any((project / ".runbook/work/game-day/logs").glob("debug.log"))
