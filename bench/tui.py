"""Is the TUI responsive on a large store? Opening a run of 10,000 episodes / 100,000 turns.

Builds a store with one run of ``--episodes`` finished episodes of ``--rounds`` rounds (two turns
each: 10,000 x 5 x 2 = 100,000 turns by default), written in bulk with executemany through the
store's own schema. Then runs the app headless (``App.run_test``, 120x36) and times, as the median
of ``--repeats`` tries:

- opening the run: Enter on the runs screen until the episode table holds its first page and the
  screen has processed everything pending (the budget is 1 s);
- opening one dialogue, sorting by score, a search keystroke, loading the next page, and one live
  refresh of the episode list (what every store change costs while a run writes);

and, as the baseline measured in the same process on the same file, the raw SQL the episode list
runs to open a run (count + first page of 200 + their titles, on a fresh read-only connection).
The ratio app / baseline is the cost of everything that is not the query: widgets, layout, paint.

    python bench/tui.py                      # 10,000 episodes, 100,000 turns
    python bench/tui.py --episodes 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from rich.text import Text  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.binding import Binding, BindingType  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import DataTable, Footer, Header, Input  # noqa: E402

from eibench.harness.store import Store  # noqa: E402
from eibench.tui.app import EIBenchApp  # noqa: E402
from eibench.tui.dialogue import DialogueScreen  # noqa: E402
from eibench.tui.episodes import PAGE_SIZE, EpisodesScreen  # noqa: E402
from eibench.tui.query import EpisodeQuery, count_episodes, episode_page, scenario_titles  # noqa: E402
from eibench.tui.runs import RunsScreen  # noqa: E402

from tui_data import build_large_store  # noqa: E402

BUDGET_S = 1.0


def baseline(db: Path, run_id: str, repeats: int) -> float:
    """Median seconds of the raw queries behind opening a run, on a fresh read-only connection."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with Store(db, readonly=True) as store:
            query = EpisodeQuery(run_id=run_id)
            count_episodes(store, query)
            page = episode_page(store, query, offset=0, limit=PAGE_SIZE)
            scenario_titles(store, {e.scenario_key for e in page})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 30) -> None:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.001)
    await pilot.pause()


async def timed(action: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) taken by ``action``."""
    start, cpu = time.perf_counter(), time.process_time()
    await action()
    return time.perf_counter() - start, time.process_time() - cpu


class _BareTable(Screen[None]):
    """The framework's floor: a screen with a 200-row table of ready-made cells, no store."""

    def __init__(self, rows: list[list[Text]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="bare", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#bare", DataTable)
        table.add_columns(*(f"col {i}" for i in range(len(self.rows[0]))))
        table.add_rows(self.rows)
        table.focus()


class _BareApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open")]

    def __init__(self, rows: list[list[Text]]) -> None:
        super().__init__()
        self.rows = rows

    def action_open(self) -> None:
        self.push_screen(_BareTable(self.rows))


async def bare_try(rows: list[list[Text]]) -> tuple[float, float]:
    """(wall, CPU) seconds to push :class:`_BareTable` (same size, same number of cells)."""
    app = _BareApp(rows)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()

        async def open_bare() -> None:
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, _BareTable)
                        and app.screen.query_one("#bare", DataTable).row_count == PAGE_SIZE)

        return await timed(open_bare)


FLOOR = "floor: push a bare 200-row table screen"
ACTIONS = (FLOOR, "start the app (runs screen)", "open the run (first page)", "open a dialogue",
           "sort by score", "search keystroke", "load the next page", "live refresh of the list")


async def one_try(db: Path, results: dict[str, list[tuple[float, float]]]) -> None:
    """Time every action once, in one app session."""
    app = EIBenchApp(db)
    start, cpu = time.perf_counter(), time.process_time()
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen)
                    and app.screen.query_one("#runs", DataTable).row_count > 0)
        results["start the app (runs screen)"].append(
            (time.perf_counter() - start, time.process_time() - cpu))

        def episodes() -> DataTable:
            return app.screen.query_one("#episodes", DataTable)

        async def open_run() -> None:
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, EpisodesScreen)
                        and episodes().row_count == PAGE_SIZE)

        results["open the run (first page)"].append(await timed(open_run))
        screen = app.screen
        assert isinstance(screen, EpisodesScreen)

        async def open_dialogue() -> None:
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DialogueScreen)
                        and app.screen.shown > 0)

        results["open a dialogue"].append(await timed(open_dialogue))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        async def sort() -> None:
            await pilot.press("o")
            await until(pilot, lambda: screen.filters.order == "score")

        results["sort by score"].append(await timed(sort))

        async def more() -> None:
            await pilot.press("end")
            await until(pilot, lambda: episodes().row_count == 2 * PAGE_SIZE)

        results["load the next page"].append(await timed(more))

        async def refresh() -> None:
            screen.store_changed()
            await pilot.pause()

        results["live refresh of the list"].append(await timed(refresh))

        async def search() -> None:
            await pilot.press("slash", "7")
            await until(pilot, lambda: screen.filters.search == "7"
                        and screen.query_one("#episodes-search", Input).has_focus)

        results["search keystroke"].append(await timed(search))


async def measure_app(db: Path, repeats: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ACTIONS}
    rows = [[Text(f"cell {r}-{c}") for c in range(10)] for r in range(PAGE_SIZE)]
    for _ in range(repeats):  # interleaved, so both see the same machine load
        results[FLOOR].append(await bare_try(rows))
        await one_try(db, results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per episode (2 turns each)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--db", type=Path, help="reuse or create the store here (default: temp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "large.db"
        if not db.exists():
            start = time.perf_counter()
            build_large_store(db, episodes=args.episodes, rounds=args.rounds)
            print(f"built {db} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        with Store(db, readonly=True) as store:
            run = store.list_runs()[0]
            n_eps = store.count_episodes(run.id)
            n_turns = store.conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        base = baseline(db, run.id, max(args.repeats, 20))
        results = asyncio.run(measure_app(db, args.repeats))

    command = "python bench/tui.py" + (f" --episodes {args.episodes}" if args.episodes != 10_000
                                       else "") + (f" --repeats {args.repeats}"
                                                   if args.repeats != 5 else "")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"store: 1 run, {n_eps:,} episodes, {n_turns:,} turns; terminal 120x36, headless; "
          f"median of {args.repeats}; {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    print(f"baseline (raw SQL to open the run: count + first {PAGE_SIZE} rows + titles): "
          f"{base * 1000:.1f} ms")
    floor = statistics.median(v[0] for v in results[FLOOR])
    opened = statistics.median(v[0] for v in results["open the run (first page)"])
    print(f"framework floor (push a bare screen holding a {PAGE_SIZE}-row, 10-column DataTable of "
          f"ready-made cells, no store): {floor * 1000:.0f} ms; opening the run costs "
          f"{opened / floor:.1f}x that")
    print()
    print("| action | wall ms (median) | wall ms (max) | CPU ms (median) | wall x baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"| {name} | {wall * 1000:.0f} | {max(v[0] for v in values) * 1000:.0f} | "
              f"{cpu * 1000:.0f} | {wall / base:.0f} |")
    verdict = "within" if opened < BUDGET_S else "OVER"
    print()
    print(f"opening the run: {opened * 1000:.0f} ms wall, {verdict} the {BUDGET_S:.0f} s budget")
    print(f"command: {command}")


if __name__ == "__main__":
    main()
