"""The campaign file: the shipped one is valid; broken ones name file, key and problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.campaign import default_campaign_path, load_campaign
from bot.errors import CampaignError

SHIPPED = default_campaign_path().read_text(encoding="utf-8")


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped campaign with one piece of text replaced, written to a file."""
    assert old in SHIPPED, old
    path = tmp_path / "broken.toml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert str(path) in str(caught.value)
    return [str(p) for p in caught.value.problems]


def test_shipped_campaign_is_valid() -> None:
    campaign = load_campaign()
    assert campaign.campaign.id == "viken-2021"
    assert len(campaign.municipalities) == 51
    assert [m.id for m in campaign.meetings] == ["info", "youth", "others"]
    assert 10 <= len(campaign.survey.questions) <= 14


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, 'id = "info"\n', 'id = "info"\ncolour = "red"\n')
    assert problems(path) == ["meetings[0].colour: unknown key (not part of the campaign format)"]


def test_show_if_naming_a_later_question_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, 'show_if = { question = "category"', 'show_if = { question = "ideas"')
    [problem] = problems(path)
    assert problem.startswith("survey.questions[2].show_if.question: ")
    assert "'ideas'" in problem and "a later question" in problem


def test_show_if_naming_an_unknown_question_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, 'show_if = { question = "category"', 'show_if = { question = "nope"')
    [problem] = problems(path)
    assert problem.startswith("survey.questions[2].show_if.question: ")
    assert "'nope'" in problem and "no question" in problem


def test_show_if_with_a_value_the_question_cannot_have_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, 'any_of = ["young"]', 'any_of = ["teen"]')
    [problem] = problems(path)
    assert problem.startswith("survey.questions[2].show_if.any_of: ") and "'teen'" in problem


def test_language_table_without_default_language_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, 'audience = { nb = "Ungdom", ', "audience = { ")
    assert problems(path) == ["meetings[1].audience: missing the default language 'nb'"]


def test_undeclared_language_is_rejected(tmp_path: Path) -> None:
    path = broken(
        tmp_path, 'audience = { nb = "Ungdom", ', 'audience = { nb = "Ungdom", de = "x", '
    )
    assert problems(path) == [
        "meetings[1].audience.de: language 'de' is not declared in campaign.languages"
    ]


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = broken(tmp_path, "date = 2021-06-10", 'date = "next thursday"')
    [problem] = problems(path)
    assert problem.startswith("meetings[1].date: ")


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    path = broken(tmp_path, 'timezone = "Europe/Oslo"\n', "")
    assert problems(path) == ["campaign.timezone: required key is missing"]


def test_unknown_time_zone_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, 'timezone = "Europe/Oslo"', 'timezone = "Europe/Atlantis"')
    [problem] = problems(path)
    assert problem.startswith("campaign.timezone: ") and "Europe/Atlantis" in problem


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[campaign]\nid = "x\n', encoding="utf-8")
    [problem] = problems(path)
    assert "not valid TOML" in problem and "line 2" in problem


def test_multi_max_choices_beyond_options_is_rejected(tmp_path: Path) -> None:
    path = broken(tmp_path, "max_choices = 3", "max_choices = 30")
    [problem] = problems(path)
    assert problem.startswith("survey.questions[5]: ") and "max_choices" in problem


def test_missing_file_is_reported(tmp_path: Path) -> None:
    assert "cannot read" in problems(tmp_path / "absent.toml")[0]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handlers", *args], capture_output=True, text=True, timeout=60
    )


def test_check_campaign_accepts_the_shipped_campaign() -> None:
    result = run_cli("check-campaign", str(default_campaign_path()))
    assert result.returncode == 0, result.stderr
    assert "ok (3 meetings, 12 questions" in result.stdout


def test_check_campaign_rejects_a_broken_file_with_exit_1(tmp_path: Path) -> None:
    path = broken(tmp_path, 'id = "info"\n', 'id = "info"\ncolour = "red"\n')
    result = run_cli("check-campaign", str(path))
    assert result.returncode == 1
    assert f"{path}: meetings[0].colour: unknown key" in result.stderr
