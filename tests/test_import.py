"""`eibench scenarios import`: official files -> a local pack folder that loads with --pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.scenarios import load_scenarios, read_official, read_pack
from eibench.scenarios.importer import ImportRefused, import_official
from eibench.scenarios.loaders import PACKS_DIR, pack_manifest


def test_round_trip_official(official_dir, tmp_path):
    out = tmp_path / "eibench-zh"
    result = CliRunner().invoke(cli, ["scenarios", "import", "--official", str(official_dir),
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["scenarios"] == 213 and summary["unparsed_lines"] == []
    assert summary["files"] == {"test/charm.jsonl": 46, "test/defense.jsonl": 64,
                                "test/repair.jsonl": 52, "test/support.jsonl": 51}
    # records unchanged except for the added language
    for scene in ("charm", "defense", "repair", "support"):
        src = (official_dir / "test" / f"{scene}_final.jsonl").read_text(encoding="utf-8")
        dst = (out / "test" / f"{scene}.jsonl").read_text(encoding="utf-8")
        for a, b in zip(src.splitlines(), dst.splitlines(), strict=True):
            original, imported = json.loads(a), json.loads(b)
            assert imported.pop("language") == "zh"
            assert imported == original
            assert list(imported) == list(original)
    manifest = pack_manifest(out)
    assert manifest["origin"] == "official" and manifest["licence"] == "CC BY-NC 4.0"
    # the folder loads as a pack, with the same scenarios as the official reader
    loaded = load_scenarios(pack=str(out))
    official = read_official(official_dir).scenarios
    assert len(loaded) == 213
    key = lambda s: s.model_dump(exclude={"source"})  # noqa: E731
    assert sorted(map(key, loaded), key=lambda d: d["id"]) == sorted(map(key, official),
                                                                     key=lambda d: d["id"])
    pack = read_pack(str(out))
    assert not pack.errors and len(pack.warnings) == len(read_official(official_dir).warnings)
    # validate treats it like official data: exits 0, no quality gates
    result = CliRunner().invoke(cli, ["scenarios", "validate", "--pack", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["errors"] == 0 and report["scenarios"] == 213
    result = CliRunner().invoke(cli, ["scenarios", "stats", "--pack", str(out), "--json"])
    assert json.loads(result.output)["splits"]["test"]["total"] == 213


def fake_official(root: Path, lines: list[str], name: str = "defense_final.jsonl") -> Path:
    (root / "test").mkdir(parents=True)
    (root / "test" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


RECORD = {
    "id": "scene_defense_1", "title": "t", "scene_tag": "defense",
    "aggressor_profile": {"system_prompt": "### 背景\n你叫王五。", "opening_line": "快点！"},
    "defender_profile": {"system_prompt": "### 背景\n你叫李四。"},
    "initial_calibration": {"initial_anger": 10, "initial_trust": 75},   # an upstream quirk
    "rub_goals": {"target_anger": 30, "target_trust": 50},
    "worst_case": {"worst_anger_min": 80, "worst_trust_min": 10, "reason": "r"},
}


def test_import_keeps_quirks_as_warnings_and_copies_bad_lines(tmp_path):
    src = fake_official(tmp_path / "off", [json.dumps(RECORD, ensure_ascii=False), "{broken"])
    report = import_official(src, tmp_path / "pk")
    assert report.total == 1 and len(report.unparsed) == 1
    text = (tmp_path / "pk" / "test" / "defense.jsonl").read_text(encoding="utf-8")
    assert text.splitlines()[1] == "{broken"          # nothing is lost
    first = json.loads(text.splitlines()[0])
    assert list(first)[:3] == ["id", "title", "language"]
    result = read_pack(str(tmp_path / "pk"))
    assert [s.id for s in result.scenarios] == ["scene_defense_1"]
    assert {p.severity for p in result.problems} == {"warning", "error"}
    assert [p.line for p in result.errors] == [2]


def test_import_refuses_to_overwrite_or_ship(tmp_path):
    src = fake_official(tmp_path / "off", [json.dumps(RECORD, ensure_ascii=False)])
    import_official(src, tmp_path / "pk")
    with pytest.raises(ImportRefused, match="--force"):
        import_official(src, tmp_path / "pk")
    assert import_official(src, tmp_path / "pk", force=True).total == 1
    with pytest.raises(ImportRefused, match="must not be shipped"):
        import_official(src, PACKS_DIR / "official_copy")
    assert not (PACKS_DIR / "official_copy").exists()
    result = CliRunner().invoke(cli, ["scenarios", "import", "--official", str(src), "--out",
                                      str(PACKS_DIR / "x")])
    assert result.exit_code != 0 and "must not be shipped" in result.output


def test_import_rejects_bad_sources(tmp_path):
    src = fake_official(tmp_path / "off", [json.dumps(RECORD)], name="romance.jsonl")
    with pytest.raises(ImportRefused, match="not a scene"):
        import_official(src, tmp_path / "pk")
    result = CliRunner().invoke(cli, ["scenarios", "import", "--official",
                                      str(tmp_path / "nowhere"), "--out", str(tmp_path / "pk")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_language_option_and_existing_language(tmp_path):
    other = dict(RECORD, id="scene_defense_2", language="en")
    src = fake_official(tmp_path / "off", [json.dumps(RECORD), json.dumps(other)])
    import_official(src, tmp_path / "pk", language="zh-TW")
    langs = [json.loads(x)["language"] for x in
             (tmp_path / "pk" / "test" / "defense.jsonl").read_text(encoding="utf-8").splitlines()]
    assert langs == ["zh-TW", "en"]
