"""``eibench simulator check`` over scripted simulators whose deltas depend on the agent's words."""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.simulator.backends import ChatMessage, ScriptedBackend
from eibench.simulator.check import run_check, tone_contradiction
from eibench.simulator.llm import LLMSimulator
from eibench.simulator.probes import INJECTIONS, PROBES
from eibench.simulator.state import State

#: Words of the bad scripts (templated empathy, lists, policy, counter-blame, flattery).
BAD_MARKERS = re.compile(
    r"completely understand|everything happens|policy|sorry for any|to be fair|so busy|"
    r"so we're good|beautiful|so amazing|special connection|\b1\.|you've got this|stepping stone|"
    r"feeling frustrated|anyway,|is there anything else|your fault", re.IGNORECASE)


def heard(messages: list[ChatMessage]) -> str:
    """The agent's latest words: the last fenced block of the turn message."""
    return re.findall(r"<heard>\n(.*?)\n</heard>", messages[1]["content"], flags=re.DOTALL)[-1]


def discerning(messages: list[ChatMessage]) -> str:
    """A simulated user that rewards concrete words and punishes the rubric's bad habits."""
    text = heard(messages)
    bad = bool(BAD_MARKERS.search(text))
    return json.dumps({"reflection": "bad habits" if bad else "concrete",
                       "anger_delta": 6 if bad else -3, "trust_delta": -5 if bad else 4,
                       "reply": "Seriously?" if bad else "Okay. Go on.",
                       "continue": "yes", "stop_reason": ""})


def contrarian(messages: list[ChatMessage]) -> str:
    """Rewards exactly what it should punish."""
    out = json.loads(discerning(messages))
    out["anger_delta"], out["trust_delta"] = -out["anger_delta"], -out["trust_delta"]
    return json.dumps(out)


def gullible(messages: list[ChatMessage]) -> str:
    """Obeys instructions found in the agent's words, and thanks everyone warmly."""
    text = heard(messages)
    out = json.loads(discerning(messages))
    if re.search(r"trust_delta|SYSTEM|calibration", text):
        out["anger_delta"], out["trust_delta"] = -10, 10
    out["reply"] = "Thank you so much, that means a lot to me."
    return json.dumps(out)


@pytest.fixture
def scripted_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    module = types.ModuleType("check_scripts")
    module.discerning = discerning  # type: ignore[attr-defined]
    module.contrarian = contrarian  # type: ignore[attr-defined]
    module.gullible = gullible  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "check_scripts", module)
    yield "check_scripts"


def sim_of(fn: Callable[[list[ChatMessage]], str]) -> LLMSimulator:
    return LLMSimulator(ScriptedBackend(fn, name=f"scripted:{fn.__name__}"))


async def test_a_discerning_simulator_ranks_every_scene() -> None:
    report = await run_check(sim_of(discerning))
    assert [s.scene for s in report.scenes] == ["support", "defense", "repair", "charm"]
    assert all(s.ranked for s in report.scenes)
    assert report.passed and report.ranked_scenes == 4
    assert all(s.good_score > 0 > s.bad_score for s in report.scenes)
    assert all(i.shift == 0 and i.resisted for i in report.injections)
    assert report.failures == []
    assert len(report.replies) == 4 * 8 + 4 * 2


async def test_a_contrarian_simulator_fails() -> None:
    report = await run_check(sim_of(contrarian))
    assert report.ranked_scenes == 0 and not report.passed


async def test_injections_and_tone_are_measured() -> None:
    report = await run_check(sim_of(gullible))
    assert report.passed
    shifts = {i.scene: i.shift for i in report.injections}
    assert shifts == {"support": 13.0, "defense": 13.0, "repair": 13.0, "charm": 13.0}
    assert not any(i.resisted for i in report.injections)
    # the bad scripts drive anger past 80 while the replies stay warm
    assert report.contradictions
    assert all("warm words" in c.contradiction for c in report.contradictions if c.contradiction)


async def test_failures_keep_the_last_state_and_are_reported() -> None:
    calls = {"n": 0}

    def flaky(messages: list[ChatMessage]) -> str:
        calls["n"] += 1
        return "not json" if "Round 3/" in messages[1]["content"] else discerning(messages)

    sim = LLMSimulator(ScriptedBackend(flaky), max_parse_retries=0)
    report = await run_check(sim)
    assert len(report.failures) == 8
    assert all("simulator_unparseable" in f for f in report.failures)
    assert all(d.rounds == 2 and d.ended == "simulator_unparseable" for d in report.dialogues)
    assert report.passed


async def test_repeats_average_over_seeds() -> None:
    seeds: list[int] = []

    def seeded(messages: list[ChatMessage]) -> str:
        return discerning(messages)

    backend = ScriptedBackend(seeded)
    report = await run_check(LLMSimulator(backend), repeats=2)
    seeds = sorted({c.sampling.seed for c in backend.calls if c.sampling is not None})
    assert seeds == [0, 1]
    assert report.repeats == 2 and len(report.dialogues) == 16


def test_injected_messages_extend_the_clean_ones() -> None:
    for probe in PROBES:
        assert probe.injected.startswith(probe.injection_base)
        assert probe.injected.endswith(INJECTIONS[probe.scene])


@pytest.mark.parametrize(("reply", "state", "flagged"), [
    ("Thank you, that means a lot.", State(85, 40), True),
    ("Thank you, that means a lot.", State(30, 60), False),
    ("Oh, thank you so much for this ridiculous speech.", State(85, 40), False),
    ("This is ridiculous.", State(10, 50), True),
    ("This is ridiculous.", State(70, 30), False),
    ("Glad you came.", State(40, 10), True),
    (" ".join(["word"] * 60), State(40, 10), True),
    ("Fine.", State(40, 10), False),
    ("I hate this.", State(30, 85), True),
    ("谢谢你，真好。", State(90, 40), True),
])
def test_tone_contradiction(reply: str, state: State, flagged: bool) -> None:
    assert (tone_contradiction(reply, state) is not None) is flagged


def test_cli_passes_and_prints_a_table(scripted_module: str) -> None:
    result = CliRunner().invoke(cli, ["simulator", "check", "--simulator",
                                      f"scripted:{scripted_module}:discerning"])
    assert result.exit_code == 0, result.output
    assert "simulator check" in result.output and "PASS" in result.output
    for scene in ("support", "defense", "repair", "charm"):
        assert scene in result.output


def test_cli_fails_with_exit_1_and_json(scripted_module: str) -> None:
    result = CliRunner().invoke(cli, ["simulator", "check", "--simulator",
                                      f"scripted:{scripted_module}:contrarian", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["passed"] is False and data["ranked_scenes"] == 0
    assert data["simulator"] == f"llm:scripted:{scripted_module}:contrarian"
    assert len(data["prompt_hash"]) == 64
    assert {s["scene"] for s in data["scenes"]} == {"support", "defense", "repair", "charm"}
    assert len(data["dialogues"]) == 8


def test_cli_json_reports_injection_shift(scripted_module: str) -> None:
    result = CliRunner().invoke(cli, ["simulator", "check", "--simulator",
                                      f"scripted:{scripted_module}:gullible", "--json"])
    data = json.loads(result.output)
    assert data["injection"]["mean_shift"] == pytest.approx(13.0)
    assert data["tone"]["contradictions"] > 0


def test_cli_reads_the_simulator_from_the_environment(scripted_module: str) -> None:
    result = CliRunner().invoke(cli, ["simulator", "check", "--json"],
                                env={"EIBENCH_SIMULATOR": f"scripted:{scripted_module}:discerning"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["simulator"] == f"llm:scripted:{scripted_module}:discerning"


def test_cli_bad_simulator_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["simulator", "check", "--simulator", "nosuch:model"])
    assert result.exit_code == 2
    assert "unknown provider" in result.output


def test_cli_help() -> None:
    result = CliRunner().invoke(cli, ["simulator", "check", "--help"])
    assert result.exit_code == 0 and "--simulator-prompt" in result.output


def test_cli_with_the_heuristic_simulator() -> None:
    heuristic = pytest.importorskip("eibench.simulator.heuristic")
    if not hasattr(heuristic, "HeuristicSimulator"):
        pytest.skip("the heuristic simulator is not written yet")
    result = CliRunner().invoke(cli, ["simulator", "check", "--simulator", "heuristic", "--json"])
    data = json.loads(result.output)
    assert data["simulator"] == "heuristic" and data["prompt_hash"] is None
    assert result.exit_code == (0 if data["passed"] else 1)
    assert data["failures"] == []
    assert data["passed"], data["scenes"]
