"""`eibench play` end to end with the pilot: type replies, the dialogue loop answers, the store
records the play-through like any run."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from eibench.cli.main import cli
from eibench.harness.store import Store
from eibench.tui.play import PickerScreen, PlayApp, PlayScreen, run_name
from eibench.tui.turns import TurnView

from toys import ToySimulator
from tui_data import CHARM, DEFENSE, REPAIR

SIZE = (120, 36)


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0,
                   what: str = "condition") -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def your_turn(screen: PlayScreen) -> Callable[[], bool]:
    return lambda: not screen.query_one("#play-input", Input).disabled


async def say(pilot: Pilot[None], screen: PlayScreen, line: str) -> None:
    await wait_for(pilot, your_turn(screen), what="the input box")
    box = screen.query_one("#play-input", Input)
    box.value = line
    await pilot.press("enter")


def state_shown(screen: PlayScreen) -> list[bool]:
    return [w.styles.display == "block" for w in screen.query(".state")]


async def test_play_to_the_end_is_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "play.db")
    app = PlayApp(store, [REPAIR, DEFENSE], ToySimulator(), scenario_id=REPAIR.id,
                  pack="tui-test")
    lines = ["<think>own it</think>I overslept. I will drive Dad on Friday.",
             "What would help most right now?", "Okay, bye for now."]
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, PlayScreen)
        await wait_for(pilot, your_turn(screen), what="the first turn")
        assert "Your turn: round 1 of 8" in str(screen.query_one("#play-status", Static).content)
        assert "You are Tom" in str(screen.query_one("#persona", Static).content)
        views = list(screen.query(TurnView))
        assert [v.turn.text for v in views] == [REPAIR.opening_line]
        assert state_shown(screen) == [False]  # the state is hidden while playing
        for line in lines:
            await say(pilot, screen, line)
        await wait_for(pilot, lambda: screen.over, what="the end")
        await pilot.pause()
        texts = [v.turn.text for v in screen.query(TurnView)]
        assert texts == [REPAIR.opening_line,
                         "I overslept. I will drive Dad on Friday.", "reply 1 (seed 0)",
                         "What would help most right now?", "reply 2 (seed 0)",
                         "Okay, bye for now.", "reply 3 (seed 0)"]
        assert all(state_shown(screen))  # revealed at the end
        result = str(screen.query_one("#play-result", Static).content)
        assert "ended simulator_stopped, 3 rounds" in result
        assert screen.query_one("#play-chart").display
        assert screen.query_one("#play-input", Input).disabled
        run_id = screen.run_id
    assert run_id is not None
    run = store.get_run(run_id)
    assert run.agent == "human" and run.name.startswith("play-") and run.status == "finished"
    assert run.config_dict["ids"] == [REPAIR.id] and run.source == "pack:tui-test"
    (episode,) = store.episodes(run.id)
    assert episode.status == "finished" and episode.termination_reason == "simulator_stopped"
    turns = store.turns(episode.id)
    assert [t.speaker for t in turns] == ["user"] + ["agent", "user"] * 3
    assert turns[1].think == "own it" and turns[1].text.startswith("I overslept")
    # toy simulator: "will" lowers anger by 4, "?" raises trust by 3, otherwise trust -1
    assert (turns[2].anger_after, turns[2].trust_after) == (66, 24)
    assert (turns[4].anger_after, turns[4].trust_after) == (68, 27)
    assert (episode.anger, episode.trust) == (turns[-1].anger_after, turns[-1].trust_after)
    assert f"{100 * episode.score:+.1f}" in result
    store.close()


async def test_reveal_state_shows_state_and_chart_live(tmp_path: Path) -> None:
    store = Store(tmp_path / "play.db")
    app = PlayApp(store, [REPAIR], ToySimulator(), scenario_id=REPAIR.id, reveal_state=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, PlayScreen)
        await say(pilot, screen, "I will be there at 9.")
        await wait_for(pilot, lambda: len(screen.query(TurnView)) == 3, what="the answer")
        await pilot.pause()
        assert all(state_shown(screen)) and len(state_shown(screen)) == 2
        assert screen.query_one("#play-chart").display
        chart = screen.query_one("#play-chart")
        assert [p[1] for p in chart.data.curves[0].points] == [70, 66]  # type: ignore[attr-defined]
        assert not screen.over
    store.close()


async def test_pick_a_scenario_and_leave_midway(tmp_path: Path) -> None:
    store = Store(tmp_path / "play.db")
    app = PlayApp(store, [REPAIR, DEFENSE, CHARM], ToySimulator())
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, PickerScreen)
        table = app.screen.query_one("#picker", DataTable)
        assert table.row_count == 3
        await pilot.press("slash", *"book")
        assert table.row_count == 1
        await pilot.press("enter", "enter")  # leave the search box, open the scenario
        screen = app.screen
        assert isinstance(screen, PlayScreen) and screen.scenario.id == CHARM.id
        await wait_for(pilot, your_turn(screen), what="the first turn")
        # charm: no opening line, the agent speaks first
        assert list(screen.query(TurnView)) == []
        assert "You open the conversation" in str(
            screen.query_one("#play-status", Static).content)
        await say(pilot, screen, "Is that the Ishiguro?")
        await wait_for(pilot, lambda: len(screen.query(TurnView)) == 2, what="the answer")
        await wait_for(pilot, your_turn(screen), what="the second turn")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), what="the picker")
        run_id = screen.run_id
        await wait_for(pilot, lambda: store.get_run(run_id or "").status == "interrupted",
                       what="the run marked interrupted")
    assert run_id is not None
    (episode,) = store.episodes(run_id)
    assert episode.status == "interrupted"
    assert [t.text for t in store.turns(episode.id)] == ["Is that the Ishiguro?", "reply 1 (seed 0)"]
    store.close()


async def test_empty_line_is_not_sent(tmp_path: Path) -> None:
    store = Store(tmp_path / "play.db")
    app = PlayApp(store, [REPAIR], ToySimulator(), scenario_id=REPAIR.id)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, PlayScreen)
        await say(pilot, screen, "<think>only thinking</think>")
        await pilot.pause(0.1)
        assert not screen.query_one("#play-input", Input).disabled
        assert len(store.turns(store.episodes(screen.run_id or "")[0].id)) == 1
    store.close()


def test_run_names_do_not_collide(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        now = 1_700_000_000.0
        first = run_name(store, now)
        store.create_run(name=first, agent="human", simulator="toy", simulator_kind="heuristic")
        second = run_name(store, now)
        assert first.startswith("play-") and second == f"{first}-2"


def test_cli_help_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    for verb in ("tui", "play"):
        result = runner.invoke(cli, [verb, "--help"])
        assert result.exit_code == 0 and "--db" in result.output
    result = runner.invoke(cli, ["play", "no_such_scenario", "--db", str(tmp_path / "p.db")])
    assert result.exit_code != 0 and "unknown scenario 'no_such_scenario'" in result.output
    result = runner.invoke(cli, ["play", "--pack", "starter", "--official", str(tmp_path)])
    assert result.exit_code != 0 and "choose one source" in result.output
    bad = tmp_path / "notes.db"
    bad.write_text("not a database\n" * 40, encoding="utf-8")
    result = runner.invoke(cli, ["play", "--simulator", "heuristic", "--db", str(bad)])
    assert result.exit_code != 0 and "not an eibench store" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("blocked", [("textual",)])
def test_core_does_not_import_textual(blocked: tuple[str, ...]) -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {blocked!r}: raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import eibench.harness.runner, eibench.harness.store, eibench.simulator.registry\n"
            "import eibench.scenarios, eibench.cli.main, eibench.cli.tui\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
