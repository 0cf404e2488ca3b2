"""Quality gates: each catches a planted problem, names file, line, id and field; stats coverage."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.scenarios import read_pack
from eibench.scenarios.loaders import PACKS_DIR
from eibench.scenarios.quality import (
    LENGTH_BOUNDS,
    opening_line_findings,
    persona_length,
    user_name,
    validate_packs,
)
from eibench.scenarios.taxonomy import AGENT_SECTIONS, THEMES, USER_SECTIONS

STARTER_DEFENSE = PACKS_DIR / "starter" / "test" / "defense.jsonl"


def base_record() -> dict:
    """A clean English defense record (the starter pack's first), with explicit anchors."""
    rec = json.loads(STARTER_DEFENSE.read_text(encoding="utf-8").splitlines()[0])
    rec["id"] = "q_defense_1"
    rec["initial_calibration"] = {"initial_anger": 70, "initial_trust": 20}
    rec["rub_goals"] = {"target_anger": 30, "target_trust": 50}
    rec["worst_case"] = {"worst_anger_min": 90, "worst_trust_min": 5, "reason": "r"}
    return rec


_ZH_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def zh_text(rng: random.Random, n: int) -> str:
    out = []
    while len(out) < n:
        out.extend(rng.choice(_ZH_CHARS) for _ in range(rng.randint(8, 20)))
        out.append("，" if rng.random() < 0.6 else "。")
    return "".join(out[:n]) + "。"


def zh_record(rng: random.Random | None = None) -> dict:
    """A synthetic Chinese support record that passes every gate."""
    rng = rng or random.Random(7)
    user = "\n\n".join(f"### {h}\n" + ("你叫陈明远，三十二岁。" if i == 0 else "")
                       + zh_text(rng, 120) for i, h in enumerate(USER_SECTIONS["zh"]))
    agent = "\n\n".join(f"### {h}\n" + zh_text(rng, 60) for h in AGENT_SECTIONS["zh"])
    return {
        "id": "q_zh_support_1", "title": "t", "language": "zh", "scene_tag": "support",
        "theme": "grief", "modifiers": {"relationship": "family", "place": "home",
                                        "intensity": "upset", "personality": "traditional"},
        "aggressor_profile": {"system_prompt": user,
                              "opening_line": "我真的撑不住了，你能不能听我说几句？"},
        "defender_profile": {"system_prompt": agent},
        "initial_calibration": {"initial_anger": 80, "initial_trust": 30},
        "rub_goals": {"target_anger": 40, "target_trust": 75},
        "worst_case": {"worst_anger_min": 95, "worst_trust_min": 10, "reason": "r"},
    }


def write_pack(root: Path, records: dict[tuple[str, str], list[dict]]) -> Path:
    for (split, scene), recs in records.items():
        path = root / split / f"{scene}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs),
                        encoding="utf-8")
    return root


def check(tmp_path: Path, rec: dict, scene: str = "defense"):
    """Validate a pack holding a clean, unrelated record on line 1 and ``rec`` on line 2.

    ``rec`` is an English defense record or a Chinese support record.
    """
    if rec.get("language") == "zh":
        filler = zh_record(random.Random(12))
    else:
        filler = base_record()
        filler["aggressor_profile"]["system_prompt"] = synthetic_persona_en(random.Random(11))
    filler["id"] = "filler"
    root = write_pack(tmp_path / "pk", {("test", scene): [filler, rec]})
    return validate_packs([str(root)], reference=[])


_EN_WORDS = ["harbour", "window", "ledger", "violin", "orchard", "cement", "lantern", "copper",
             "tunnel", "meadow", "pepper", "saddle", "quarry", "ribbon", "anchor", "thimble",
             "walnut", "glacier", "parcel", "biscuit", "falcon", "marble", "hammock", "pencil",
             "kettle", "timber", "velvet", "compass", "lobster", "garnet", "canyon", "pillow"]


def synthetic_persona_en(rng: random.Random) -> str:
    """A synthetic English user persona of about 300 words, unlike any shipped one."""
    parts = []
    for i, heading in enumerate(USER_SECTIONS["en"]):
        words = [rng.choice(_EN_WORDS) for _ in range(48)]
        lead = "You are Odile Marchetti, 44. " if i == 0 else ""
        parts.append(f"### {heading}\n{lead}" + " ".join(words) + ".")
    return "\n\n".join(parts)


def only(result, field: str):
    found = [p for p in result.problems if p.field == field and p.scenario_id != "filler"]
    assert found, [p.render() for p in result.problems]
    return found


def test_clean_records_pass(tmp_path):
    result = check(tmp_path, base_record())
    assert [p.render() for p in result.problems] == []
    result = check(tmp_path / "zh", zh_record(), scene="support")
    assert [p.render() for p in result.problems] == []


def _drop_section(text: str, heading: str) -> str:
    blocks = text.split("\n\n")
    return "\n\n".join(b for b in blocks if not b.startswith(f"### {heading}"))


def _swap_sections(text: str, i: int, j: int) -> str:
    blocks = text.split("\n\n")
    blocks[i], blocks[j] = blocks[j], blocks[i]
    return "\n\n".join(blocks)


USER = "aggressor_profile.system_prompt"
AGENT = "defender_profile.system_prompt"
OPENING = "aggressor_profile.opening_line"


def _set(path: str, value):
    def mutate(rec):
        node = rec
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value(node[keys[-1]]) if callable(value) else value
    return mutate


@pytest.mark.parametrize("mutate, field, fragment", [
    (_set(USER, lambda t: _drop_section(t, "Facts you know")), USER, "missing section(s): '### Facts"),
    (_set(USER, lambda t: _swap_sections(t, 1, 2)), USER, "out of order"),
    (_set(USER, lambda t: t.replace("### Your goal\n", "### Your goal\n\n### Secrets\n")), USER,
     "unexpected heading(s): '### Secrets'"),
    (_set(USER, lambda t: t.replace("### Your goal\n", "### Your goal\n\n### Background\n")),
     USER, "repeated heading"),
    (_set(USER, lambda t: "Some preface.\n" + t), USER, "before the first"),
    (_set(AGENT, lambda t: _drop_section(t, "Core goal")), AGENT, "'### Core goal'"),
    (_set(USER, lambda t: " ".join(t.split()[:120])), USER, "must be 200-600 words"),
    (_set(USER, lambda t: t + "\n" + " ".join(t.split()[4:])), USER, "must be 200-600 words"),
    (_set(AGENT, lambda t: t + " " + " ".join(t.split()[4:])), AGENT, "must be 80-300 words"),
    (_set("rub_goals.target_anger", 45), "rub_goals.target_anger", "success range 20-40"),
    (_set("rub_goals.target_trust", 35), "rub_goals.target_trust", "success range 40-60"),
    (_set("theme", "grief"), "theme", "not a defense theme"),
    (_set("modifiers.place", "moon"), "modifiers.place", "not a place value"),
    (_set("modifiers.intensity", "playful teasing"), "modifiers.intensity",
     "not a intensity value for defense"),
    (lambda r: r["modifiers"].pop("personality"), "modifiers.personality", "missing"),
    (_set("modifiers.mood", "odd"), "modifiers.mood", "unknown modifier"),
    (_set(OPENING, "(slams the counter) Give me the pills, now."), OPENING, "stage direction"),
    (_set(OPENING, "*sighs* I need the pills for my son."), OPENING, "stage direction"),
    (_set(OPENING, "I want three things:\n- the pills\n- your manager"), OPENING, "list"),
    (_set(OPENING, "I need the pills now. My son has a test at eight. His bottle is in "
                   "Cincinnati today. Nobody is answering my calls. You are my last hope here."),
     OPENING, "5 sentences"),
    (_set(OPENING, "Brent storms up to the counter and demands the pills."), OPENING,
     "own name (Brent Kowalski)"),
])
def test_each_gate_catches_its_problem(tmp_path, mutate, field, fragment):
    rec = base_record()
    mutate(rec)
    result = check(tmp_path, rec)
    problems = [p for p in only(result, field) if fragment in p.message]
    assert problems, [p.render() for p in result.problems]
    for p in problems:
        assert p.severity == "error"
        assert p.scenario_id == "q_defense_1"
        assert p.file.endswith("defense.jsonl") and p.line == 2


def test_missing_theme_and_modifiers_are_warnings(tmp_path):
    rec = base_record()
    del rec["theme"], rec["modifiers"]
    result = check(tmp_path, rec)
    assert {p.field for p in result.problems if p.scenario_id == "q_defense_1"} == {
        "theme", "modifiers"}
    assert all(p.severity == "warning" for p in result.problems)


def test_opening_line_without_person_is_a_warning(tmp_path):
    rec = base_record()
    rec["aggressor_profile"]["opening_line"] = "Five pills. Tonight. Before the test tomorrow."
    result = check(tmp_path, rec)
    problems = only(result, OPENING)
    assert [p.severity for p in problems] == ["warning"]


@pytest.mark.parametrize("line, ok", [
    ("Manman. 'She chases them all away'? In front of everyone?", True),       # vocative
    ("Two hundred votes. Take the side road, Carmen, it is faster.", True),   # vocative
    ("Close the door. Do you know what just happened? Fourteen percent, Priya. Fourteen. "
     "I'm sending the email in ten minutes and you're signing it.", True),      # fragments
    ("Brent here, listen, I need five pills tonight.", True),                    # phone intro
    ("Brentwood is closed, so I came here for the pills.", True),               # longer word
    ("Brent, you idiot, I told myself this would happen.", True),               # self-address
    ("Brent sighs. I need the pills.", False),
    ("1. Give me the pills 2. Now", False),
    ("[angrily] I need the pills.", False),
])
def test_opening_line_heuristics_en(line, ok):
    findings = opening_line_findings(line, language="en", name="Brent Kowalski")
    assert (not [f for f in findings if f[0] == "error"]) is ok, findings


@pytest.mark.parametrize("line, ok", [
    ("我真的撑不住了，你能不能听我说几句？", True),
    ("又没保住……第三次了，真的撑不住了……", True),    # no pronoun: only a warning
    ("陈明远，你别这样看着我。", True),               # vocative use of the name
    ("陈明远叹了口气说：我撑不住了。", False),
    ("（低头）我撑不住了。", False),
    ("我今天很难过。我被辞退了。房租也交不起。父亲住院了。女朋友也走了。", False),
    ("我想说三件事：\n1. 钱\n2. 房子", False),
])
def test_opening_line_heuristics_zh(line, ok):
    findings = opening_line_findings(line, language="zh", name="陈明远")
    assert (not [f for f in findings if f[0] == "error"]) is ok, findings


def test_chinese_gates(tmp_path):
    rec = zh_record()
    rec["aggressor_profile"]["system_prompt"] = _swap_sections(
        rec["aggressor_profile"]["system_prompt"], 0, 3)
    rec["defender_profile"]["system_prompt"] = rec["defender_profile"]["system_prompt"][:150]
    rec["aggressor_profile"]["opening_line"] = "（哭着）我撑不住了。"
    rec["rub_goals"]["target_trust"] = 95
    rec["worst_case"]["worst_trust_min"] = 10
    result = check(tmp_path, rec, scene="support")
    rendered = [p.render() for p in result.problems]
    assert any("out of order" in p.message for p in only(result, USER)), rendered
    agent = only(result, AGENT)
    assert any("zh agent personas must be 120-600 characters" in p.message
               or "missing section" in p.message for p in agent), rendered
    assert only(result, OPENING) and only(result, "rub_goals.target_trust")


def test_lengths_count_words_and_characters():
    assert persona_length("### Background\nYou are Sam, 40. It's late.", "en") == 6
    assert persona_length("### 背景\n你叫陈哲， 32岁。", "zh") == 9
    assert LENGTH_BOUNDS["en"]["user"] == (200, 600)


def test_user_name_extraction():
    rec = base_record()
    from eibench.scenarios.official import parse_record
    s, _ = parse_record(rec, split="test", source="t", strict=True)
    assert s is not None and user_name(s) == "Brent Kowalski"
    z, _ = parse_record(zh_record(), split="test", source="t", strict=True)
    assert z is not None and user_name(z) == "陈明远"


def test_cli_validate_pack_names_file_line_id_field(tmp_path):
    rec = base_record()
    rec["theme"] = "nonsense"
    rec["aggressor_profile"]["opening_line"] = "*knocks* Hello?"
    filler = base_record()
    filler["id"] = "filler"
    filler["aggressor_profile"]["system_prompt"] = synthetic_persona_en(random.Random(2))
    root = write_pack(tmp_path / "pk", {("test", "defense"): [filler, rec]})
    out = CliRunner().invoke(cli, ["scenarios", "validate", "--pack", str(root), "--json"])
    assert out.exit_code == 1, out.output
    report = json.loads(out.output)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert {(p["field"], p["line"], p["scenario_id"]) for p in errors} >= {
        ("theme", 2, "q_defense_1"), (OPENING, 2, "q_defense_1")}
    assert all(p["file"].endswith("defense.jsonl") for p in errors)
    out = CliRunner().invoke(cli, ["scenarios", "validate", "--pack", str(root)])
    assert "defense.jsonl:2 [q_defense_1] error: theme:" in out.output


def test_shipped_packs_pass_every_gate():
    packs = [p for p in ("starter", "en", "zh") if (PACKS_DIR / p).is_dir()]
    result = validate_packs(packs)
    assert [p.render() for p in result.problems if p.severity == "error"] == []
    assert len(result.scenarios) >= 16 + 213


def test_cli_stats_coverage(tmp_path):
    out = CliRunner().invoke(cli, ["scenarios", "stats", "--pack", "starter", "--json"])
    assert out.exit_code == 0, out.output
    stats = json.loads(out.output)
    cov = stats["coverage"]
    scenarios = read_pack("starter").scenarios
    assert sum(row["total"] for rows in cov["themes"].values() for row in rows.values()) == \
        len(scenarios)
    for pool in ("relationship", "place", "intensity", "personality"):
        assert sum(row["total"] for row in cov["modifiers"][pool].values()) == len(scenarios)
    assert set(cov["themes"]["defense"]) == set(THEMES["defense"])
    assert "playful teasing" in cov["modifiers"]["intensity"]
    first = scenarios[0]
    assert cov["themes"][first.scene.value][first.theme][first.split] >= 1
    props = stats["scene_proportions"]
    assert props["test"]["charm"]["official_share"] == pytest.approx(46 / 213, abs=1e-4)
    assert props["all"]["support"]["count"] == sum(1 for s in scenarios
                                                   if s.scene.value == "support")
    text = CliRunner().invoke(cli, ["scenarios", "stats", "--pack", "starter"]).output
    assert "themes" in text and "modifier: place" in text and "scene shares" in text


def test_cli_stats_counts_unlabelled(tmp_path):
    rec = base_record()
    del rec["theme"], rec["modifiers"]
    other = copy.deepcopy(base_record())
    other["id"] = "q2"
    root = write_pack(tmp_path / "pk", {("train", "defense"): [rec, other]})
    out = CliRunner().invoke(cli, ["scenarios", "stats", "--pack", str(root), "--json"])
    cov = json.loads(out.output)["coverage"]
    assert cov["unlabelled"] == {"theme": 1, "modifiers": 1}
    assert cov["themes"]["defense"]["unreasonable demand"] == {"train": 1, "total": 1}
