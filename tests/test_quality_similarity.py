"""Near-duplicate detection: planted duplicates are found, shipped packs have none, it is fast."""

from __future__ import annotations

import json
import random
import re
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.scenarios import available_packs, read_pack
from eibench.scenarios.loaders import PACKS_DIR
from eibench.scenarios.quality import duplicate_problems, validate_packs
from eibench.scenarios.similarity import (
    DEFAULT_THRESHOLD,
    jaccard,
    max_similarities,
    near_duplicates,
    persona_body,
    scenario_shingles,
    shingles,
)

STARTER = PACKS_DIR / "starter"


def starter_records(split: str, scene: str) -> list[dict]:
    path = STARTER / split / f"{scene}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def swap_names(rec: dict) -> dict:
    """Every person's name replaced (user, agent and anyone else named in the user persona)."""
    out = json.loads(json.dumps(rec))
    text = out["aggressor_profile"]["system_prompt"]
    agent = out["defender_profile"]["system_prompt"]
    names = set(re.findall(r"You are ([A-Z][a-z]+) ([A-Z][\w'-]+)", text + agent)[0]
                + re.findall(r"You are ([A-Z][a-z]+) ([A-Z][\w'-]+)", agent)[0])
    replacements = ["Ingrid", "Okafor", "Mateus", "Lindqvist"]
    for old, new in zip(sorted(names), replacements, strict=False):
        text = text.replace(old, new)
    out["aggressor_profile"]["system_prompt"] = text
    return out


def change_one_noun(rec: dict) -> dict:
    out = json.loads(json.dumps(rec))
    text = out["aggressor_profile"]["system_prompt"]
    word = next(w for w in re.findall(r"\b[a-z]{6,}\b", persona_body(text)))
    out["aggressor_profile"]["system_prompt"] = re.sub(rf"\b{word}\b", "spreadsheet", text,
                                                       count=1)
    return out


def reorder_sentences(rec: dict) -> dict:
    out = json.loads(json.dumps(rec))
    rng = random.Random(4)
    blocks = []
    for block in out["aggressor_profile"]["system_prompt"].split("\n\n"):
        head, _, body = block.partition("\n")
        sentences = re.split(r"(?<=[.!?])\s+", body)
        rng.shuffle(sentences)
        blocks.append(head + "\n" + " ".join(sentences))
    out["aggressor_profile"]["system_prompt"] = "\n\n".join(blocks)
    return out


PLANTS = {"names swapped": swap_names, "one noun changed": change_one_noun,
          "sentences reordered": reorder_sentences}


def write(root: Path, split: str, scene: str, records: list[dict]) -> None:
    path = root / split / f"{scene}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")


@pytest.mark.parametrize("plant", list(PLANTS))
def test_planted_duplicates_are_similar(plant):
    rec = starter_records("test", "defense")[0]
    copy = PLANTS[plant](rec)
    assert copy["aggressor_profile"]["system_prompt"] != rec["aggressor_profile"]["system_prompt"]
    a = shingles(persona_body(rec["aggressor_profile"]["system_prompt"]))
    b = shingles(persona_body(copy["aggressor_profile"]["system_prompt"]))
    assert jaccard(a, b) >= 0.6 > DEFAULT_THRESHOLD


@pytest.mark.parametrize("plant", list(PLANTS))
def test_near_duplicate_within_split_is_an_error(tmp_path, plant):
    recs = starter_records("test", "defense")
    planted = PLANTS[plant](recs[0])
    planted["id"] = "planted_copy"
    write(tmp_path / "pk", "test", "defense", [*recs, planted])
    result = validate_packs([str(tmp_path / "pk")], reference=[])
    dups = [p for p in result.problems if "near-duplicate" in p.message]
    assert len(dups) == 1, [p.render() for p in result.problems]
    p = dups[0]
    assert p.scenario_id == "planted_copy" and p.line == 3 and p.file.endswith("defense.jsonl")
    assert p.field == "aggressor_profile.system_prompt"
    assert recs[0]["id"] in p.message


def test_near_duplicate_across_splits_breaks_separation(tmp_path):
    recs = starter_records("test", "repair")
    planted = swap_names(recs[1])
    planted["id"] = "train_copy"
    write(tmp_path / "pk", "test", "repair", recs)
    write(tmp_path / "pk", "train", "repair", [planted])
    result = validate_packs([str(tmp_path / "pk")], reference=[])
    [p] = [p for p in result.problems if p.severity == "error"]
    assert p.scenario_id == "train_copy" and "train/test must be separate" in p.message
    assert p.file.endswith("train/repair.jsonl") and p.line == 1


def test_near_duplicate_across_packs_of_one_language(tmp_path):
    planted = change_one_noun(starter_records("train", "charm")[0])
    planted["id"] = "mine_charm_1"
    write(tmp_path / "mine", "test", "charm", [planted])
    result = validate_packs([str(tmp_path / "mine")], reference=["starter"])
    [p] = [p for p in result.problems if p.severity == "error"]
    assert p.scenario_id == "mine_charm_1" and "pack starter" in p.message
    # validating only a split still compares against the whole pack
    result = validate_packs([str(tmp_path / "mine")], split="test", reference=["starter"])
    assert [p.scenario_id for p in result.problems] == ["mine_charm_1"]


def test_other_languages_are_not_compared(tmp_path):
    rec = starter_records("test", "support")[0]
    other = json.loads(json.dumps(rec))
    other["id"], other["language"] = "fr_copy", "fr"
    write(tmp_path / "pk", "test", "support", [rec, other])
    result = validate_packs([str(tmp_path / "pk")], reference=[])
    assert not [p for p in result.problems if "duplicate" in p.message]


def test_cli_threshold_option(tmp_path):
    recs = starter_records("test", "defense")
    planted = reorder_sentences(recs[0])
    planted["id"] = "planted"
    write(tmp_path / "pk", "test", "defense", [*recs, planted])
    runner = CliRunner()

    def flagged(*extra: str) -> set[str]:
        out = runner.invoke(cli, ["scenarios", "validate", "--pack", str(tmp_path / "pk"),
                                  "--json", *extra])
        assert out.exit_code == 1  # the copied starter records duplicate the shipped pack
        return {p["scenario_id"] for p in json.loads(out.output)["problems"]
                if "duplicate" in p["message"]}

    assert "planted" in flagged()
    assert "planted" not in flagged("--threshold", "0.99")


def test_shipped_packs_have_no_near_duplicates():
    """Every shipped pack, all splits, compared per language: nothing reaches the threshold."""
    scenarios = [s for pack in available_packs() for s in read_pack(pack).scenarios]
    problems = duplicate_problems(scenarios)
    assert [p.render() for p in problems] == []


def test_shipped_scenarios_are_far_below_the_threshold():
    """The margin the threshold is chosen from (scenarios/README.md): distinct shipped scenarios
    stay far below it, planted near-duplicates far above it."""
    scenarios = read_pack("starter").scenarios + read_pack("en", split="test").scenarios
    best = max_similarities([scenario_shingles(s) for s in scenarios])
    assert max(sim for _, sim in best) < DEFAULT_THRESHOLD / 3


def test_near_duplicates_equal_brute_force():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(400)]
    base = [rng.choice(vocab) for _ in range(300)]
    texts = []
    for i in range(40):
        if i % 4 == 0:
            words = list(base)
            for j in rng.sample(range(300), rng.randint(0, 120)):
                words[j] = f"x{i}_{j}"
        else:
            words = [rng.choice(vocab) for _ in range(300)]
        texts.append(" ".join(words))
    sets = [shingles(t) for t in texts]
    for threshold in (0.2, 0.3, 0.5):
        expected = {(i, j) for i, j in combinations(range(len(sets)), 2)
                    if jaccard(sets[i], sets[j]) >= threshold}
        found = {(m.i, m.j) for m in near_duplicates(sets, threshold)}
        assert found == expected
        assert expected  # the planted family reaches each threshold


def test_shingles():
    assert len(shingles("one two three four")) == 2
    assert len(shingles("one two")) == 1 and len(shingles("")) == 0
    assert np.array_equal(shingles("One, two; THREE!"), shingles("one two three"))
    zh = shingles("我真的撑不住了，你能听我说吗？", "zh")
    assert len(zh) == len("我真的撑不住了你能听我说吗") - 3
    assert jaccard(shingles("### Background\nYou are Sam."), shingles("You are Sam.")) < 1
    assert jaccard(shingles(persona_body("### Background\nYou are Sam.")),
                   shingles("You are Sam.")) == 1


def test_validation_of_2500_scenarios_is_fast():
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(5000)]
    sets = [shingles(" ".join(rng.choice(vocab) for _ in range(430))) for _ in range(2500)]
    start = time.perf_counter()
    assert near_duplicates(sets) == []
    assert time.perf_counter() - start < 10
