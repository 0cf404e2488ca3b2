"""The scenario generator with scripted backends: happy path, anchor settling, every reject path."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from eibench.cli.main import cli
from eibench.scenarios import read_pack
from eibench.scenarios.generate import (
    GenerateConfig,
    GenerationError,
    extract_json,
    generate,
    rejects_path,
    sample_choices,
    settle_anchors,
)
from eibench.scenarios.model import Anchor, Scenario
from eibench.scenarios.quality import scenario_problems
from eibench.scenarios.taxonomy import (
    AGENT_SECTIONS,
    CHARM_INTENSITIES,
    SUCCESS_RANGES,
    THEMES,
    USER_SECTIONS,
)
from eibench.simulator.backends import BackendError, ScriptedBackend

SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "pi", "nex", "ro", "zu", "fan",
             "gil", "mor", "tes", "qua", "bri", "hol", "wen"]
NAMES = ["Odile Marchetti", "Tomasz Ilves", "Priyanka Osei", "Rafael Nakamura", "Greta Solberg",
         "Kwame Duarte", "Noor Halvorsen", "Ilse Carvalho"]


def babble(rng: random.Random, words: int) -> str:
    """Pseudo-words in sentences: text no shipped scenario resembles."""
    out = []
    for i in range(words):
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
        out.append(word + ("." if i % 9 == 8 else ""))
    return " ".join(out).rstrip(".") + "."


def personas(seed: int, *, user_words: int = 55, scene: str = "defense",
             opening: str | None = "I need you to fix this for me today, right now.") -> dict:
    rng = random.Random(seed)
    name = NAMES[seed % len(NAMES)]
    user = "\n\n".join(f"### {h}\n" + (f"You are {name}, 40. " if i == 0 else "")
                       + babble(rng, user_words) for i, h in enumerate(USER_SECTIONS["en"]))
    agent = "\n\n".join(f"### {h}\nYou are Sam Reyes. " + babble(rng, 30)
                        for h in AGENT_SECTIONS["en"])
    return {"title": f"Case {seed}", "user_persona": user,
            "opening_line": None if scene == "charm" else opening, "agent_persona": agent,
            "goal_one_liner": "Calm them down.", "success_criteria": ["a", "b", "c"],
            "must_avoid": ["x", "y", "z"]}


ANCHORS = {"reasoning": "fits", "initial_anger": 70, "initial_trust": 25, "target_anger": 30,
           "target_trust": 50}
WORST = {"worst_anger_min": 90, "worst_trust_min": 5, "reason": "They would walk out."}


def step(messages) -> int:
    text = messages[-1]["content"]
    for n in (1, 2, 3):
        if f"[step {n} of 3" in text:
            return n
    raise AssertionError(f"no step marker in prompt: {text[:80]}")


def responder(*, personas_for=None, anchors=ANCHORS, worst=WORST, scene="defense"):
    """A function of the messages: personas (fresh per attempt), then anchors, then worst case."""
    counter = {"n": 0}

    def respond(messages):
        n = step(messages)
        if n == 1:
            counter["n"] += 1
            return (personas_for or (lambda i: personas(i, scene=scene)))(counter["n"])
        return anchors if n == 2 else worst
    return respond


def run(backend, tmp_path: Path, **over) -> tuple:
    config = GenerateConfig(**{"scene": "defense", "n": 2, "out": tmp_path / "out.jsonl",
                               "pack_examples": "starter", "concurrency": 1, **over})
    report = asyncio.run(generate(backend, config))
    rejects = rejects_path(config.out)
    rej = ([json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
           if rejects.exists() else [])
    out = ([json.loads(x) for x in config.out.read_text(encoding="utf-8").splitlines()]
           if config.out.exists() else [])
    return report, out, rej


def as_pack(tmp_path: Path, records: list[dict], scene: str = "defense") -> list[Scenario]:
    path = tmp_path / "pack" / "train" / f"{scene}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = read_pack(str(tmp_path / "pack"))
    assert not result.problems, [p.render() for p in result.problems]
    return result.scenarios


def test_happy_path(tmp_path):
    backend = ScriptedBackend(responder())
    report, out, rejects = run(backend, tmp_path, n=3, seed=5)
    assert report.accepted == ["gen_en_defense_001", "gen_en_defense_002", "gen_en_defense_003"]
    assert rejects == [] and report.attempts == 3 and not report.stopped
    assert len(backend.calls) == 9
    scenarios = as_pack(tmp_path, out)
    for s, rec in zip(scenarios, out, strict=True):
        assert s.scene.value == "defense" and s.language == "en"
        assert [p for p in scenario_problems(s) if p.severity == "error"] == []
        assert (s.start, s.success, s.failure) == (Anchor(anger=70, trust=25),
                                                   Anchor(anger=30, trust=50),
                                                   Anchor(anger=90, trust=5))
        assert s.theme in THEMES["defense"] and set(s.modifiers) == {
            "relationship", "place", "intensity", "personality"}
        assert rec["generation"]["examples"] and rec["generation"]["adjusted"] == []
        assert rec["prompt"][0]["content"] == s.agent_persona
    # the persona prompt of each attempt names its choices and shows two starter examples
    first = backend.calls[0].messages[-1]["content"]
    assert f"theme: {out[0]['theme']}" in first
    assert f"personality: {out[0]['modifiers']['personality']}" in first
    examples = out[0]["generation"]["examples"]
    assert len(examples) == 2 and all(e.startswith("starter_") and "defense" in e
                                      for e in examples)
    starter = {s.id: s for s in read_pack("starter").scenarios}
    assert json.dumps(starter[examples[0]].title, ensure_ascii=False)[1:-1] in first
    # the worst-case prompt shows the settled start anchor
    assert "start anger 70" in backend.calls[2].messages[-1]["content"]
    assert backend.calls[0].json_schema is not None


def test_same_seed_same_choices(tmp_path):
    _, a, _ = run(ScriptedBackend(responder()), tmp_path / "a", n=3, seed=9)
    _, b, _ = run(ScriptedBackend(responder()), tmp_path / "b", n=3, seed=9)
    _, c, _ = run(ScriptedBackend(responder()), tmp_path / "c", n=3, seed=10)
    pick = [(r["theme"], r["modifiers"], r["generation"]["examples"]) for r in a]
    assert pick == [(r["theme"], r["modifiers"], r["generation"]["examples"]) for r in b]
    assert pick != [(r["theme"], r["modifiers"], r["generation"]["examples"]) for r in c]


def test_concurrent_waves_accept_in_attempt_order(tmp_path):
    backend = ScriptedBackend(responder(personas_for=lambda i: personas(i)))
    report, out, _ = run(backend, tmp_path, n=5, concurrency=3)
    assert len(out) == 5 and report.attempts == 5
    assert [r["generation"]["attempt"] for r in out] == [0, 1, 2, 3, 4]


def test_anchors_are_rounded_and_forced_into_range(tmp_path):
    anchors = {"reasoning": "", "initial_anger": "62", "initial_trust": 47.4,
               "target_anger": 12, "target_trust": 81}
    worst = {"worst_anger_min": 58, "worst_trust_min": 50, "reason": "r"}
    report, out, _ = run(ScriptedBackend(responder(anchors=anchors, worst=worst)), tmp_path, n=1)
    assert report.accepted
    s = as_pack(tmp_path, out)[0]
    assert s.success == Anchor(anger=20, trust=60)       # into defense 20-40 / 40-60
    assert s.start == Anchor(anger=60, trust=45)          # rounded to multiples of 5
    assert s.failure == Anchor(anger=65, trust=40)        # forced past the start
    notes = out[0]["generation"]["adjusted"]
    assert "success.anger: 12 rounded to 10" in notes
    assert any("success.anger: 10 moved to 20" in n for n in notes)
    assert any("failure.trust" in n for n in notes)


def test_charm_has_no_opening_line(tmp_path):
    def charm(i):
        rec = personas(i, scene="charm")
        rec["opening_line"] = "Hi there, I am here."
        return rec
    anchors = {"reasoning": "", "initial_anger": 35, "initial_trust": 30, "target_anger": 10,
               "target_trust": 60}
    worst = {"worst_anger_min": 70, "worst_trust_min": 5, "reason": "r"}
    report, out, rej = run(ScriptedBackend(responder(personas_for=charm, anchors=anchors,
                                                     worst=worst)),
                           tmp_path, scene="charm", n=1)
    assert report.accepted, rej
    assert "opening_line" not in out[0]["aggressor_profile"]
    assert out[0]["modifiers"]["intensity"] in CHARM_INTENSITIES
    assert any("opening_line dropped" in n for n in out[0]["generation"]["adjusted"])
    s = as_pack(tmp_path, out, scene="charm")[0]
    assert s.agent_opens


@pytest.mark.parametrize("bad, stage, fragment", [
    ("Sorry, I cannot help with that.", "personas", "no JSON object"),
    ("", "personas", "empty answer"),
    ('```json\n{"title": "x", "user_persona": \n```', "personas", "no JSON object"),
    ({"title": "t"}, "personas", "user_persona: expected a non-empty string"),
    ("ANCHORS", "anchors", "target_anger: expected a number"),
    ("WORST", "worst_case", "reason: expected a non-empty string"),
    ("SHORT", "validate", "must be 200-600 words"),
    ("NARRATED", "validate", "stage direction"),
])
def test_rejects_keep_reasons_and_outputs(tmp_path, bad, stage, fragment):
    attempts = {"n": 0}

    def respond(messages):
        n = step(messages)
        if n == 1:
            attempts["n"] += 1
        first = attempts["n"] == 1  # the first attempt goes wrong, the second is fine
        if n == 1:
            if first and bad == "SHORT":
                return personas(1, user_words=15)
            if first and bad == "NARRATED":
                return personas(1, opening="(glares) Fix it now.")
            if first and bad not in ("ANCHORS", "WORST"):
                return bad
            return personas(attempts["n"])
        if n == 2:
            return {"initial_anger": 70, "initial_trust": 20, "target_anger": "thirty",
                    "target_trust": 50} if first and bad == "ANCHORS" else ANCHORS
        return {"worst_anger_min": 90, "worst_trust_min": 5} if first and bad == "WORST" \
            else WORST

    report, out, rejects = run(ScriptedBackend(respond), tmp_path, n=1)
    assert len(out) == 1 and report.attempts == 2
    [rej] = rejects
    assert rej["stage"] == stage and rej["attempt"] == 0
    assert any(fragment in r for r in rej["reasons"]), rej["reasons"]
    assert rej["outputs"] and rej["theme"] and rej["modifiers"] and len(rej["examples"]) == 2
    assert report.summary()["rejected_by_stage"] == {stage: 1}
    if stage == "validate":  # the drafted record is kept for review
        assert rej["record"]["aggressor_profile"]["system_prompt"].startswith("### Background")
    else:
        assert rej["record"] is None


def test_duplicate_of_shipped_pack_is_rejected(tmp_path):
    starter = read_pack("starter", scene="defense").scenarios[0]

    def copy_of_starter(i):
        rec = personas(i)
        if i == 1:
            rec["user_persona"] = starter.user_persona.replace("Brent", "Bruno")
        return rec
    _, out, rejects = run(ScriptedBackend(responder(personas_for=copy_of_starter)),
                               tmp_path, n=1)
    [rej] = rejects
    assert rej["stage"] == "duplicate" and starter.id in rej["reasons"][0]
    assert rej["record"]["aggressor_profile"]["system_prompt"].startswith("### Background")
    assert len(out) == 1


def test_duplicate_within_batch_and_output_file_is_rejected(tmp_path):
    backend = ScriptedBackend(responder(personas_for=lambda i: personas(1 if i < 3 else i)))
    report, out, rejects = run(backend, tmp_path, n=2)
    assert [r["stage"] for r in rejects] == ["duplicate"]
    assert "gen_en_defense_001" in rejects[0]["reasons"][0]
    assert report.accepted == ["gen_en_defense_001", "gen_en_defense_002"]
    # a second run appends, continues the numbering and de-duplicates against the file
    backend = ScriptedBackend(responder(personas_for=lambda i: personas(1 if i == 1 else 40 + i)))
    report, out, rejects = run(backend, tmp_path, n=1)
    assert report.accepted == ["gen_en_defense_003"]
    assert [r["id"] for r in out] == ["gen_en_defense_001", "gen_en_defense_002",
                                      "gen_en_defense_003"]
    assert rejects[-1]["stage"] == "duplicate" and "out.jsonl" in rejects[-1]["reasons"][0]


def test_backend_failures_stop_the_run(tmp_path):
    outputs = [personas(1), ANCHORS, WORST]  # one good attempt, then the script runs out
    report, out, rejects = run(ScriptedBackend(outputs), tmp_path, n=3)
    assert len(out) == 1 and report.attempts == 4
    assert [r["stage"] for r in rejects] == ["backend"] * 3
    assert "script ran out" in rejects[0]["reasons"][0]
    assert "3 backend failures in a row" in report.stopped

    def down(messages):
        raise BackendError("503 service unavailable", retryable=False, status=503)
    report, out, rejects = run(ScriptedBackend(down), tmp_path / "down", n=5)
    assert out == [] and report.attempts == 3 and len(rejects) == 3
    assert "3 backend failures in a row" in report.stopped and "503" in report.stopped


def test_attempt_limit(tmp_path):
    report, out, rejects = run(ScriptedBackend(lambda m: "no json"), tmp_path, n=2,
                               max_attempts=3)
    assert out == [] and len(rejects) == 3 and "attempt limit reached (3)" in report.stopped


def test_bad_options_fail_before_any_call(tmp_path):
    backend = ScriptedBackend(responder())
    with pytest.raises(GenerationError, match=r"must be a \.jsonl file"):
        run(backend, tmp_path, out=tmp_path / "out.txt")
    with pytest.raises(GenerationError, match="pack-examples"):
        run(backend, tmp_path, pack_examples="no_such_pack")
    with pytest.raises(GenerationError, match="no zh defense scenario"):
        run(backend, tmp_path, language="zh", pack_examples="starter")
    bad = tmp_path / "bad.j2"
    bad.write_text("{% if %}", encoding="utf-8")
    with pytest.raises(GenerationError, match=r"bad\.j2"):
        run(backend, tmp_path, prompts=bad)
    assert backend.calls == []


def test_custom_prompt_template(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("{% if part == 'system' %}SYS{% else %}[step "
                        "{{ {'personas': 1, 'anchors': 2, 'worst_case': 3}[part] }} of 3] "
                        "write a {{ scene }} about {{ theme }}{% endif %}", encoding="utf-8")
    backend = ScriptedBackend(responder())
    report, out, _ = run(backend, tmp_path, n=1, prompts=template)
    assert report.accepted
    assert backend.calls[0].messages[0]["content"] == "SYS"
    assert backend.calls[0].messages[1]["content"] == \
        f"[step 1 of 3] write a defense about {out[0]['theme']}"


def test_cli_generate_with_scripted_file(tmp_path):
    script = tmp_path / "outputs.json"
    script.write_text(json.dumps(["not json at all", personas(3), ANCHORS, WORST]),
                      encoding="utf-8")
    out_file = tmp_path / "new" / "defense.jsonl"
    result = CliRunner().invoke(cli, [
        "scenarios", "generate", "--model", f"scripted:{script}", "--scene", "defense",
        "--n", "1", "--out", str(out_file), "--pack-examples", "starter", "--concurrency", "1",
        "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["accepted"] == 1 and summary["rejected_by_stage"] == {"personas": 1}
    assert summary["usage"]["calls"] == 4
    assert (tmp_path / "new" / "defense.rejects.jsonl").is_file()
    record = json.loads(out_file.read_text(encoding="utf-8"))
    assert record["generation"]["model"] == f"scripted:{script}"
    # too few accepted: exit 1, with the reason printed
    result = CliRunner().invoke(cli, [
        "scenarios", "generate", "--model", f"scripted:{script}", "--scene", "defense",
        "--n", "2", "--out", str(tmp_path / "x.jsonl"), "--pack-examples", "starter",
        "--concurrency", "1", "--max-attempts", "1"])
    assert result.exit_code == 1 and "attempt limit reached" in result.output


def test_cli_generate_bad_backend(tmp_path):
    result = CliRunner().invoke(cli, ["scenarios", "generate", "--model", "nope:x", "--scene",
                                      "support", "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code != 0 and "unknown provider 'nope'" in result.output


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n{"a": 2}\n```\nanything else?', {"a": 2}),
    ('<think>{"draft": true}</think>{"a": 3}', {"a": 3}),
    ('prefix {not json} then {"a": 4} and {"b": 5}', {"a": 4}),
])
def test_extract_json(text, expected):
    assert extract_json(text) == expected


def test_extract_json_errors():
    with pytest.raises(ValueError, match="empty answer"):
        extract_json("  ")
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("[1, 2, 3]")


@given(st.sampled_from(sorted(SUCCESS_RANGES)),
       *[st.integers(min_value=-20, max_value=130) for _ in range(6)])
def test_settled_anchors_always_valid(scene, a0, t0, a1, t1, a2, t2):
    start, success, failure, _ = settle_anchors(scene, (a0, t0), (a1, t1), (a2, t2))
    (a_lo, a_hi), (t_lo, t_hi) = SUCCESS_RANGES[scene]
    assert a_lo <= success.anger <= a_hi and t_lo <= success.trust <= t_hi
    assert success.anger < start.anger < failure.anger
    assert failure.trust < start.trust < success.trust
    for point in (start, success, failure):
        assert point.anger % 5 == 0 and point.trust % 5 == 0
        assert 0 <= point.anger <= 100 and 0 <= point.trust <= 100


def test_settle_keeps_good_anchors():
    start, success, failure, notes = settle_anchors("support", (75, 30), (40, 80), (95, 10))
    assert (start, success, failure) == (Anchor(anger=75, trust=30), Anchor(anger=40, trust=80),
                                         Anchor(anger=95, trust=10))
    assert notes == []


def test_sample_choices_cover_the_pools():
    rng = random.Random(0)
    seen = {sample_choices(rng, "charm")[1]["intensity"] for _ in range(300)}
    assert seen == set(CHARM_INTENSITIES)
    themes = {sample_choices(rng, "repair")[0] for _ in range(200)}
    assert themes == set(THEMES["repair"])


def test_chinese_generation(tmp_path):
    from test_quality import zh_record

    examples = tmp_path / "zh_examples" / "test" / "support.jsonl"
    examples.parent.mkdir(parents=True)
    recs = [dict(zh_record(random.Random(i)), id=f"zh_ex_{i}") for i in (1, 2)]
    examples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs),
                        encoding="utf-8")

    def respond(messages):
        n = step(messages)
        if n == 1:
            rec = zh_record(random.Random(100 + len(messages[-1]["content"])))
            return {"title": "标题", "user_persona": rec["aggressor_profile"]["system_prompt"],
                    "opening_line": "我真的撑不住了，你能不能听我说几句？",
                    "agent_persona": rec["defender_profile"]["system_prompt"],
                    "goal_one_liner": "陪伴", "success_criteria": ["一"], "must_avoid": ["二"]}
        if n == 2:
            return {"reasoning": "", "initial_anger": 80, "initial_trust": 30,
                    "target_anger": 40, "target_trust": 75}
        return {"worst_anger_min": 95, "worst_trust_min": 10, "reason": "他会彻底封闭自己。"}

    backend = ScriptedBackend(respond)
    report, out, rejects = run(backend, tmp_path, scene="support", language="zh", n=1,
                               pack_examples=str(tmp_path / "zh_examples"))
    assert report.accepted == ["gen_zh_support_001"], rejects
    prompt = backend.calls[0].messages[-1]["content"]
    assert "Simplified Chinese" in prompt and "### 你的角色与立场" in prompt
    assert "600-1000 characters" in prompt
    assert out[0]["language"] == "zh"
    assert as_pack(tmp_path, out, scene="support")[0].language == "zh"
