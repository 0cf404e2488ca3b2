"""The TUI with the pilot: navigation, toggles, filters, sort, search, paging, bad databases,
and live updates from a writer in another process."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from eibench.harness.loop import score_state
from eibench.harness.store import Store
from eibench.simulator.state import State
from eibench.tui.app import EIBenchApp, NoticeScreen
from eibench.tui.chart import BAD_STYLE as BAD
from eibench.tui.chart import GOOD_STYLE as GOOD
from eibench.tui.dialogue import DialogueScreen
from eibench.tui.episodes import PAGE_SIZE, EpisodesScreen
from eibench.tui.runs import RunsScreen
from eibench.tui.turns import TurnView

from tui_data import (
    CHARM,
    DEFENSE,
    REPAIR,
    REPAIR_DIALOGUE,
    build_demo_store,
    build_large_store,
    write_dialogue,
)

SIZE = (120, 36)
REPO = Path(__file__).resolve().parent.parent


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 2.0,
                   what: str = "condition") -> float:
    """Let the app run until ``condition()`` holds; return the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.02)
    return time.monotonic() - start


def rows(app: EIBenchApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(table_id, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def column(app: EIBenchApp, table_id: str, name: str) -> list[str]:
    table = app.screen.query_one(table_id, DataTable)
    index = list(table.columns).index(name)  # type: ignore[arg-type]
    return [r[index] for r in rows(app, table_id)]


def text_of(app: EIBenchApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    return build_demo_store(tmp_path / "demo.db")


# -- navigation ----------------------------------------------------------------------------------


async def test_runs_episodes_dialogue_and_back(demo_db: Path) -> None:
    app = EIBenchApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, RunsScreen)
        runs = rows(app, "#runs")
        assert [r[0] for r in runs] == ["gpt-4.1-mini-vs-heuristic", "qwen3-8b-live"]
        first = runs[0]
        finals = [State(57, 37), State(49, 46), State(31, 47)]  # repair, defense, charm
        mean = sum(score_state(s, f) for s, f in zip((REPAIR, DEFENSE, CHARM), finals,
                                                     strict=True)) / 3
        assert first[1:5] == ["openai:gpt-4.1-mini", "heuristic", "finished", "4/4"]
        assert first[5] == "1" and first[6] == f"{100 * mean:+.1f}"
        assert runs[1][3:5] == ["running", "0/3"]

        await pilot.press("enter")
        assert isinstance(app.screen, EpisodesScreen)
        assert column(app, "#episodes", "scenario") == [
            "tui_repair_01", "tui_defense_01", "tui_charm_01", "tui_support_01"]
        assert column(app, "#episodes", "status") == ["finished"] * 3 + ["failed"]
        assert column(app, "#episodes", "ended")[0] == "simulator_stopped"
        assert column(app, "#episodes", "anger")[:3] == ["57", "49", "31"]
        assert column(app, "#episodes", "title")[0] == "The missed hospital drive"

        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DialogueScreen)
        views = list(screen.query(TurnView))
        assert len(views) == 1 + 2 * len(REPAIR_DIALOGUE)
        assert views[1].turn.text == REPAIR_DIALOGUE[0].agent
        info = text_of(app, "#dialogue-info")
        assert "tui_repair_01" in info and "simulator_stopped" in info and "70 → 57" in info

        await pilot.press("escape")
        assert isinstance(app.screen, EpisodesScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_dialogue_states_deltas_and_colours(demo_db: Path) -> None:
    app = EIBenchApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "enter")
        screen = app.screen
        assert isinstance(screen, DialogueScreen)
        states = [str(s.content) for s in screen.query(".state").results(Static)]
        # the opening line shows the start; each answer the state after it and the applied deltas
        assert states[0].startswith("anger 70   trust 25") and "(start)" in states[0]
        assert states[1].startswith("anger 66 -4   trust 28 +3")
        assert states[3].startswith("anger 65 +5   trust 30 -3")
        assert "ends the conversation: concrete plan agreed" in states[-1]
        widgets = list(screen.query(".state").results(Static))

        def colours(i: int) -> list[tuple[str, str]]:
            text = widgets[i].content
            assert isinstance(text, Text)
            return [(text.plain[sp.start:sp.end], str(sp.style)) for sp in text.spans
                    if text.plain[sp.start:sp.end].strip()[:1] in "+-"]

        # green when good for the agent (anger down, trust up), red when bad
        assert colours(1) == [(" -4", GOOD), (" +3", GOOD)]
        assert colours(3) == [(" +5", BAD), (" -3", BAD)]
        chart = screen.query_one("#chart")
        anger = chart.data.curves[0]  # type: ignore[attr-defined]
        assert [p[1] for p in anger.points] == [70, 66, 60, 65, 57]
        labels = [lv.label for lv in chart.data.levels]  # type: ignore[attr-defined]
        assert labels == ["a+30", "a-90", "t+70", "t-10"]


async def test_think_and_reflection_toggles(demo_db: Path) -> None:
    app = EIBenchApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "enter")
        screen = app.screen

        def shown(selector: str) -> list[bool]:
            return [w.styles.display == "block" for w in screen.query(selector)]

        assert shown(".think") and not any(shown(".think"))
        assert shown(".reflection") and not any(shown(".reflection"))
        await pilot.press("t")
        assert all(shown(".think")) and not any(shown(".reflection"))
        think = [str(w.content) for w in screen.query(".think").results(Static)]
        assert think[0] == f"think: {REPAIR_DIALOGUE[0].think}"
        assert think[2] == "think: (none)"
        await pilot.press("r")
        assert all(shown(".think")) and all(shown(".reflection"))
        assert "reflection shown" in text_of(app, "#toggles")
        await pilot.press("t", "r")
        assert not any(shown(".think")) and not any(shown(".reflection"))


# -- filters, sort, search, paging --------------------------------------------------------------


async def test_filter_by_scene_and_status(demo_db: Path) -> None:
    app = EIBenchApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.press("s")  # scene: support
        assert column(app, "#episodes", "scenario") == ["tui_support_01"]
        await pilot.press("s")  # scene: defense
        assert column(app, "#episodes", "scenario") == ["tui_defense_01"]
        await pilot.press("s", "s", "s")  # repair, charm, back to all
        assert len(rows(app, "#episodes")) == 4
        await pilot.press("f", "f", "f", "f")  # status: pending, running, finished, failed
        assert column(app, "#episodes", "scenario") == ["tui_support_01"]
        assert "status failed" in text_of(app, "#episodes-filters")
        await pilot.press("f")  # interrupted: nothing matches
        assert rows(app, "#episodes") == []
        assert "No episode matches" in text_of(app, "#episodes-empty")


async def test_sort_by_score(demo_db: Path) -> None:
    app = EIBenchApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "o")
        scores = column(app, "#episodes", "score")
        assert column(app, "#episodes", "scenario") == [
            "tui_defense_01", "tui_charm_01", "tui_repair_01", "tui_support_01"]
        assert [float(s) for s in scores[:3]] == sorted((float(s) for s in scores[:3]),
                                                        reverse=True)
        assert scores[3] == "–"  # no score (failed) sorts last
        await pilot.press("o")
        assert column(app, "#episodes", "scenario")[:3] == [
            "tui_repair_01", "tui_charm_01", "tui_defense_01"]
        assert "sort score ↑" in text_of(app, "#episodes-filters")


async def test_search_by_id_and_title(demo_db: Path) -> None:
    app = EIBenchApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "slash")
        await pilot.press(*"BOOK")  # title "Small talk at the book club", any case
        assert column(app, "#episodes", "scenario") == ["tui_charm_01"]
        for _ in range(4):
            await pilot.press("backspace")
        await pilot.press(*"defense_0")  # id substring; '_' is literal, not a wildcard
        assert column(app, "#episodes", "scenario") == ["tui_defense_01"]
        await pilot.press("enter")  # back to the list, search kept
        assert app.screen.query_one("#episodes", DataTable).has_focus
        await pilot.press("enter")
        assert isinstance(app.screen, DialogueScreen)
        assert app.screen.episode.scenario_id == "tui_defense_01"


async def test_large_run_is_paged(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    build_large_store(db, episodes=2 * PAGE_SIZE + 50, rounds=2, n_scenarios=20)
    app = EIBenchApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        table = app.screen.query_one("#episodes", DataTable)
        assert table.row_count == PAGE_SIZE
        assert "450 episodes (first 200 loaded" in text_of(app, "#episodes-filters")
        await pilot.press("end")
        await wait_for(pilot, lambda: table.row_count == 2 * PAGE_SIZE, what="second page")
        await pilot.press("end")
        await wait_for(pilot, lambda: table.row_count == 450, what="last page")
        assert column(app, "#episodes", "id") == [str(i) for i in range(1, 451)]
        await pilot.press("o")  # a new order starts again from the first page
        assert table.row_count == PAGE_SIZE
        scores = [float(s) for s in column(app, "#episodes", "score")]
        assert scores == sorted(scores, reverse=True)


# -- databases that cannot be shown -------------------------------------------------------------


async def test_missing_database_waits_then_opens(tmp_path: Path) -> None:
    db = tmp_path / "later.db"
    app = EIBenchApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, NoticeScreen)
        assert "Waiting for later.db to be created" in text_of(app, "#notice")
        build_demo_store(db)
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                       and app.screen.is_mounted, what="runs screen")
        await pilot.pause()
        assert len(rows(app, "#runs")) == 2


async def test_empty_database_is_explained(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    app = EIBenchApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, NoticeScreen)
        assert "empty.db is empty" in text_of(app, "#notice")
        # a run starts writing to it: the app notices and shows it
        build_demo_store(db)
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                       and app.screen.is_mounted, what="runs screen")
        await pilot.pause()
        assert len(rows(app, "#runs")) == 2


@pytest.mark.parametrize("kind", ["other-sqlite", "not-sqlite"])
async def test_foreign_database_is_explained(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "other.db"
    if kind == "other-sqlite":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
    else:
        db.write_text("just some text, not a database\n" * 50, encoding="utf-8")
    app = EIBenchApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, NoticeScreen)
        notice = text_of(app, "#notice")
        assert "other.db is not an eibench store" in notice
        assert "Traceback" not in notice
    if kind == "other-sqlite":  # read-only: nothing was added to someone else's database
        with sqlite3.connect(db) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert names == {"notes"}


async def test_store_without_runs_says_how_to_start(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    Store(db).close()
    app = EIBenchApp(db)
    async with app.run_test(size=SIZE):
        assert isinstance(app.screen, RunsScreen)
        assert "No runs yet" in text_of(app, "#runs-info")


# -- live updates from another process ----------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from eibench.harness.store import Store, TurnRecord
    from eibench.harness.loop import score_state
    from eibench.simulator.state import State
    from tui_data import REPAIR
    db, episode, start_idx, n = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sys.stdin.readline()  # wait until the test says go
    with Store(db) as store:
        a, t = 66, 28
        for k in range(n):
            idx = start_idx + k
            rnd = (idx + 1) // 2
            if idx % 2:  # agent
                store.record_turn(episode, TurnRecord(idx=idx, round=rnd, speaker="agent",
                                  text=f"live agent {k}", anger_before=a, trust_before=t))
            else:
                store.record_turn(episode, TurnRecord(idx=idx, round=rnd, speaker="user",
                                  text=f"live user {k}", anger_before=a, trust_before=t,
                                  anger_after=a - 2, trust_after=t + 3, anger_delta=-2,
                                  trust_delta=3, keep_going=True))
                a, t = a - 2, t + 3
            print("wrote", idx, flush=True)
            time.sleep(0.05)
        store.finish_episode(episode, reason="max_rounds", anger=a, trust=t,
                             score=score_state(REPAIR, State(a, t)))
        print("done", flush=True)
""")


async def test_turns_written_by_another_process_appear_live(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    build_demo_store(db)
    with Store(db) as store:
        live_run = store.get_run("qwen3-8b-live")
        episode = store.episodes(live_run.id)[0]
        existing = len(store.turns(episode.id))
    n_new = 6
    app = EIBenchApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "enter", "enter")  # second run, first episode
        screen = app.screen
        assert isinstance(screen, DialogueScreen) and screen.episode_id == episode.id
        assert len(screen.query(TurnView)) == existing
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(REPO / "tests"), str(db), str(episode.id),
            str(existing), str(n_new), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        try:
            first = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            assert first.startswith(b"wrote")
            # the first new turn shows up within the deadline of its write, while the writer
            # goes on writing (the TUI's reads never block it)
            await wait_for(pilot, lambda: len(screen.query(TurnView)) > existing, timeout=2.0,
                           what="the first live turn")
            while (line := await asyncio.wait_for(proc.stdout.readline(), timeout=30)) != b"done\n":
                assert line.startswith(b"wrote"), line
            waited = await wait_for(
                pilot, lambda: len(screen.query(TurnView)) == existing + n_new
                and "max_rounds" in text_of(app, "#dialogue-info"), timeout=2.0,
                what="every live turn and the finished status")
        finally:
            await asyncio.wait_for(proc.wait(), timeout=30)
        assert proc.returncode == 0
        assert waited < 2.0
        assert [v.turn.text for v in screen.query(TurnView)][existing:] == [
            f"live {'agent' if (existing + k) % 2 else 'user'} {k}" for k in range(n_new)]
        await pilot.press("escape")
        assert column(app, "#episodes", "status")[0] == "finished"
        await pilot.press("escape")
        assert rows(app, "#runs")[1][4] == "1/3"


async def test_episode_list_follows_a_running_run(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    build_demo_store(db)
    app = EIBenchApp(db, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "enter")
        assert column(app, "#episodes", "status") == ["running", "pending", "pending"]
        with Store(db) as store:
            run = store.get_run("qwen3-8b-live")
            second = store.episodes(run.id)[1]
            write_dialogue(store, second.id, DEFENSE, [])
        await wait_for(pilot, lambda: column(app, "#episodes", "status")[1] == "finished",
                       what="the status change")
        assert column(app, "#episodes", "ended")[1] == "max_rounds"


# -- the chart -----------------------------------------------------------------------------------


def test_chart_draws_the_curve_and_the_anchor_lines() -> None:
    from eibench.tui.chart import ChartData, Curve, Level, render_chart

    data = ChartData(curves=(Curve("anger", ((0, 100), (8, 0)), "red"),),
                     levels=(Level(50, "a+50", "dim red", "green"),), max_round=8)
    lines = [line.plain for line in render_chart(40, 12, data)]
    assert len(lines) == 12  # 9 plot rows, the axis, the round labels, the legend
    plot = lines[:9]
    assert plot[0].startswith("100┤") and plot[8].startswith("  0┤")
    left, right = 4, 4 + 40 - 4 - 1 - 10  # the plot area sits between the y labels and the labels
    # a diagonal from the top left corner to the bottom right corner
    assert plot[0][left] != " " and plot[8][right - 1] != " "
    assert plot[0][right - 1] == " " and plot[8][left] == " "
    # the anchor: a dotted line across the plot on the row of 50, labelled at the right edge
    (row,) = [i for i, line in enumerate(plot) if "a+50" in line]
    assert row == 4 and plot[row][left + 10] != " "
    assert lines[10].split()[:9] == [str(r) for r in range(9)] and lines[10].endswith("round")
    assert "anger" in lines[11]
    assert render_chart(10, 3, data) == []  # too small: nothing rather than garbage
