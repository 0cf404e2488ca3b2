"""The episodes of one run, live, paged 200 rows at a time, with filters, sort and search."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static

from eibench.harness.store import EpisodeRow, Store, StoreError
from eibench.scenarios.model import SCENES
from eibench.tui.base import LiveScreen
from eibench.tui.query import (
    ORDERS,
    STATUSES,
    EpisodeQuery,
    count_episodes,
    episode_page,
    scenario_titles,
)
from eibench.tui.runs import score_text, status_text
from eibench.tui.tables import OpenTable, TableSync
from eibench.tui.turns import MUTED

PAGE_SIZE = 200
#: load the next page when the cursor or the scroll position comes this close to the end
PREFETCH_ROWS = 20
TITLE_WIDTH = 26
COLUMNS = (("id", "#"), ("scenario", "Scenario"), ("title", "Title"), ("scene", "Scene"),
           ("round", "Round"), ("anger", "Anger"), ("trust", "Trust"), ("status", "Status"),
           ("ended", "Ended"), ("score", "Score ×100"))


def _cycle(options: tuple[str | None, ...], current: str | None) -> str | None:
    return options[(options.index(current) + 1) % len(options)]


def _clip(text: str, width: int) -> Text:
    """``text`` cut to ``width`` terminal cells (wide CJK characters count twice), with an ellipsis."""
    clipped = Text(text, no_wrap=True)
    clipped.truncate(width, overflow="ellipsis")
    return clipped


class EpisodesScreen(LiveScreen):
    """Every episode of one run; Enter opens its dialogue."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "cycle_scene", "Scene"),
        Binding("f", "cycle_status", "Status"),
        Binding("o", "cycle_order", "Sort"),
        Binding("slash", "search", "Search"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, store: Store, run_id: str) -> None:
        super().__init__(store)
        self.run = store.get_run(run_id)
        self.filters = EpisodeQuery(run_id=run_id)
        self.loaded = PAGE_SIZE
        self.total = 0
        self.titles: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="episodes-run", classes="info")
        yield Static(id="episodes-filters", classes="info")
        yield OpenTable(id="episodes")
        yield Static(id="episodes-empty", classes="info")
        yield Footer()

    def prepare(self) -> None:
        table = self.query_one("#episodes", DataTable)
        widths = {"title": TITLE_WIDTH}
        for key, label in COLUMNS:
            table.add_column(label, key=key, width=widths.get(key))
        self.sync = TableSync(table, [k for k, _ in COLUMNS], self.cells)
        self.watch(table, "scroll_y", self._near_end, init=False)
        self.query_one("#episodes-run", Static).update(Text.assemble(
            ("run ", MUTED), (self.run.name, "bold"), ("  agent ", MUTED), self.run.agent,
            ("  simulator ", MUTED), self.run.simulator))
        table.focus()

    # -- data ------------------------------------------------------------------------------------

    def cells(self, ep: EpisodeRow) -> list[Any]:
        reason = ep.termination_reason or ""
        return [
            Text(str(ep.id), justify="right", style=MUTED), Text(ep.scenario_id),
            _clip(self.titles.get(ep.scenario_key, ""), TITLE_WIDTH), Text(ep.scene),
            Text(str(ep.rounds), justify="right"),
            Text("" if ep.anger is None else str(ep.anger), justify="right"),
            Text("" if ep.trust is None else str(ep.trust), justify="right"),
            status_text(ep.status), Text(reason, style=MUTED), score_text(ep.score)]

    def reload(self) -> None:
        """Re-read the rows loaded so far (a live update, or new filters)."""
        self.total = count_episodes(self.store, self.filters)
        rows = episode_page(self.store, self.filters, offset=0, limit=max(self.loaded, PAGE_SIZE))
        missing = {ep.scenario_key for ep in rows} - self.titles.keys()
        if missing:
            self.titles.update(scenario_titles(self.store, missing))
        self.sync.sync([(str(ep.id), ep) for ep in rows])
        self.loaded = max(len(rows), PAGE_SIZE)
        self._show_counts(len(rows))

    def load_more(self) -> None:
        """Read the next page, if there is one."""
        if len(self.sync.keys) < self.total:
            self.loaded = len(self.sync.keys) + PAGE_SIZE
            self.reload()

    def _show_counts(self, shown: int) -> None:
        q = self.filters
        parts: list[str | tuple[str, str]] = [
            (f"{self.total:,} episode{'s' if self.total != 1 else ''}", "bold"),
            (f" (first {shown:,} loaded; more load as you scroll)" if shown < self.total else "",
             MUTED),
            ("   scene ", MUTED), q.scene or "all", ("  status ", MUTED), q.status or "all",
            ("  sort ", MUTED), ORDERS[q.order][0],
        ]
        if q.search.strip():
            parts += [("  search ", MUTED), (repr(q.search.strip()), "bold")]
        self.query_one("#episodes-filters", Static).update(Text.assemble(*parts))
        empty = self.query_one("#episodes-empty", Static)
        empty.display = self.total == 0
        if self.total == 0:
            empty.update(Text("No episode matches these filters." if q != EpisodeQuery(q.run_id)
                              else "This run has no episodes yet.", style=MUTED))

    def _near_end(self, scroll_y: float) -> None:
        table = self.query_one("#episodes", DataTable)
        if table.max_scroll_y and scroll_y >= table.max_scroll_y - PREFETCH_ROWS:
            self.load_more()

    def set_filters(self, **changes: Any) -> None:
        self.filters = replace(self.filters, **changes)
        self.loaded = PAGE_SIZE
        self.reload()
        table = self.query_one("#episodes", DataTable)
        if table.row_count:
            table.move_cursor(row=0, animate=False)
        table.scroll_home(animate=False)

    # -- events and actions ----------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.sync.keys) - PREFETCH_ROWS:
            self.load_more()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.open_episode(int(event.row_key.value))

    def open_episode(self, episode_id: int) -> None:
        from eibench.tui.dialogue import DialogueScreen

        try:
            screen = DialogueScreen(self.store, episode_id)
        except StoreError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(screen)

    def action_cycle_scene(self) -> None:
        self.set_filters(scene=_cycle((None, *SCENES), self.filters.scene))

    def action_cycle_status(self) -> None:
        self.set_filters(status=_cycle((None, *STATUSES), self.filters.status))

    def action_cycle_order(self) -> None:
        orders = tuple(ORDERS)
        self.set_filters(order=orders[(orders.index(self.filters.order) + 1) % len(orders)])

    async def action_search(self) -> None:
        found = self.query("#episodes-search").results(Input)
        search = next(iter(found), None)
        if search is None:  # mounted on first use: opening a run stays light
            search = Input(placeholder="search scenario id or title (Enter: back to the list)",
                           id="episodes-search")
            await self.mount(search, before="#episodes")
        search.display = True
        search.focus()

    def action_back(self) -> None:
        search = next(iter(self.query("#episodes-search").results(Input)), None)
        if search is not None and search.has_focus:
            search.display = bool(search.value)
            self.query_one("#episodes", DataTable).focus()
            return
        self.app.pop_screen()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "episodes-search":
            self.set_filters(search=event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "episodes-search":
            event.input.display = bool(event.value)
            self.query_one("#episodes", DataTable).focus()
