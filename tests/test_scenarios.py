"""Scenario model, loaders and `eibench scenarios` over packs and the official files."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.scenarios import Scenario, load_scenarios, read_official, read_pack
from eibench.scenarios.official import parse_record


def record(**over):
    base = {
        "id": "t_defense_1", "title": "t", "language": "en", "scene_tag": "defense",
        "aggressor_profile": {"system_prompt": "### Background\nYou are Sam.",
                              "opening_line": "Fix it now."},
        "defender_profile": {"system_prompt": "### Background\nYou are Ana."},
        "initial_calibration": {"initial_anger": 70, "initial_trust": 20},
        "rub_goals": {"target_anger": 30, "target_trust": 50},
        "worst_case": {"worst_anger_min": 90, "worst_trust_min": 5, "reason": "r"},
    }
    for key, value in over.items():
        base[key] = value
    return base


def problems_of(rec, strict=True):
    scenario, problems = parse_record(rec, split="test", source="t", strict=strict, file="f.jsonl",
                                      line=3)
    return scenario, problems


def test_valid_record_roundtrips():
    s, problems = problems_of(record())
    assert problems == [] and isinstance(s, Scenario)
    assert s.scene.value == "defense" and s.opening_line == "Fix it now."
    again, _ = problems_of(s.to_record())
    assert again == s


@pytest.mark.parametrize("mutate, field, fragment", [
    (lambda r: r["rub_goals"].update(target_anger=95), "anchors.anger", "below failure"),
    (lambda r: r["initial_calibration"].update(initial_anger=10), "anchors.anger", "order"),
    (lambda r: r["initial_calibration"].update(initial_trust=101), "initial_calibration.initial_trust",
     "100"),
    (lambda r: r["rub_goals"].update(target_trust=52), "anchors.success.trust", "multiple of 5"),
    (lambda r: r["aggressor_profile"].update(system_prompt="  "), "aggressor_profile.system_prompt",
     "non-empty"),
    (lambda r: r["defender_profile"].pop("system_prompt"), "defender_profile.system_prompt", "missing"),
    (lambda r: r["aggressor_profile"].pop("opening_line"), "aggressor_profile.opening_line",
     "required"),
    (lambda r: r.update(scene_tag="romance"), "scene_tag", "support"),
])
def test_each_problem_names_scenario_and_field(mutate, field, fragment):
    rec = record()
    mutate(rec)
    s, problems = problems_of(rec)
    assert s is None
    assert any(p.field == field and fragment in p.message for p in problems), problems
    assert all(p.scenario_id == "t_defense_1" and p.line == 3 for p in problems)


def test_charm_must_not_have_opening_line():
    rec = record(scene_tag="charm")
    _, problems = problems_of(rec)
    assert any("charm" in p.message for p in problems)
    rec["aggressor_profile"].pop("opening_line")
    s, problems = problems_of(rec)
    assert s is not None and s.agent_opens


def test_lenient_mode_keeps_upstream_quirks_as_warnings():
    rec = record()
    rec["initial_calibration"]["initial_anger"] = 10  # start outside success..failure
    s, problems = problems_of(rec, strict=False)
    assert s is not None
    assert [p.severity for p in problems] == ["warning"]


def test_official_reads_all(official_dir):
    result = read_official(official_dir)
    assert len(result.scenarios) == 213 and not result.errors
    assert {s.language for s in result.scenarios} == {"zh"}
    charm = [s for s in result.scenarios if s.scene.value == "charm"]
    assert all(s.agent_opens and s.agent_first_message for s in charm)


def test_cli_stats_official(official_dir):
    out = CliRunner().invoke(cli, ["scenarios", "stats", "--official", str(official_dir), "--json"])
    assert out.exit_code == 0, out.output
    stats = json.loads(out.output)
    assert stats["splits"]["test"]["scenes"] == {"support": 51, "defense": 64, "repair": 52,
                                                 "charm": 46}
    assert stats["total"] == 213


def test_cli_validate_official_ok(official_dir):
    out = CliRunner().invoke(cli, ["scenarios", "validate", "--official", str(official_dir)])
    assert out.exit_code == 0, out.output
    assert "0 error(s)" in out.output


def test_cli_validate_corrupted_copy(official_dir, tmp_path):
    dest = tmp_path / "official"
    shutil.copytree(official_dir, dest)
    path = dest / "test" / "defense_final.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]                       # truncated line
    rec = json.loads(lines[4])                                       # anchor out of order
    rec["rub_goals"]["target_anger"] = rec["worst_case"]["worst_anger_min"] + 5
    lines[4] = json.dumps(rec, ensure_ascii=False)
    rec = json.loads(lines[6])                                       # missing persona
    del rec["aggressor_profile"]["system_prompt"]
    lines[6] = json.dumps(rec, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = CliRunner().invoke(cli, ["scenarios", "validate", "--official", str(dest), "--json"])
    assert out.exit_code == 1
    report = json.loads(out.output)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert {p["line"] for p in errors} == {3, 5, 7}
    assert any("malformed JSON" in p["message"] for p in errors)
    assert any(p["field"] == "anchors.anger" for p in errors)
    assert any(p["field"] == "aggressor_profile.system_prompt" for p in errors)
    assert report["scenarios"] == 213 - 3


def test_cli_validate_strict_fails_on_upstream_quirks(official_dir):
    out = CliRunner().invoke(cli, ["scenarios", "validate", "--official", str(official_dir),
                                   "--strict"])
    assert out.exit_code == 1


def test_shipped_packs_validate():
    out = CliRunner().invoke(cli, ["scenarios", "validate"])
    assert out.exit_code == 0, out.output


def test_starter_pack_has_two_per_scene():
    result = read_pack("starter", split="test")
    assert not result.errors
    scenes = sorted(s.scene.value for s in result.scenarios)
    assert scenes == sorted(["support", "defense", "repair", "charm"] * 2)
    assert {s.language for s in result.scenarios} == {"en"}


def test_balanced_limit():
    picked = load_scenarios(pack="starter", split="test", limit=4, balanced=True)
    assert sorted(s.scene.value for s in picked) == ["charm", "defense", "repair", "support"]


def test_cli_list_show(official_dir):
    runner = CliRunner()
    out = runner.invoke(cli, ["scenarios", "list", "--official", str(official_dir), "--scene",
                              "charm", "--json"])
    assert out.exit_code == 0
    items = json.loads(out.output)
    assert len(items) == 46
    out = runner.invoke(cli, ["scenarios", "show", items[0]["id"], "--official", str(official_dir),
                              "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["id"] == items[0]["id"]
    out = runner.invoke(cli, ["scenarios", "show", "nope", "--official", str(official_dir)])
    assert out.exit_code != 0 and "no scenario 'nope'" in out.output
