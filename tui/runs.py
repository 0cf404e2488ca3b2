"""The first screen: every run in the store with its live progress and running mean score."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from eibench.tui.base import LiveScreen
from eibench.tui.query import RunSummary, run_summaries
from eibench.tui.tables import OpenTable, TableSync
from eibench.tui.turns import MUTED, fmt_score

STATUS_STYLES = {"finished": "#5fd75f", "running": "#ffd75f", "failed": "#ff5f5f",
                 "interrupted": "#d787ff", "pending": MUTED}
COLUMNS = (("name", "Run"), ("agent", "Agent"), ("simulator", "Simulator"), ("status", "Status"),
           ("progress", "Done"), ("failed", "Failed"), ("mean", "Mean×100"))


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def score_text(score: float | None) -> Text:
    """A score ×100, right-aligned, green above zero and red below."""
    style = MUTED if score is None else ("#5fd75f" if score > 0 else "#ff5f5f" if score < 0 else "")
    return Text(fmt_score(score), style=style, justify="right")


def run_cells(run: RunSummary) -> list[Any]:
    # Text, never str: a str cell is parsed as markup, and names may hold brackets
    return [Text(run.name), Text(run.agent), Text(run.simulator), status_text(run.status),
            Text(run.progress, justify="right"),
            Text(str(run.failed), justify="right", style="#ff5f5f" if run.failed else MUTED),
            score_text(run.mean)]


class RunsScreen(LiveScreen):
    """All runs; Enter opens one on its episodes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="runs-info", classes="info")
        yield OpenTable(id="runs")
        yield Footer()

    def prepare(self) -> None:
        table = self.query_one("#runs", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.sync = TableSync(table, [k for k, _ in COLUMNS], run_cells)
        table.focus()

    def reload(self) -> None:
        runs = run_summaries(self.store)
        self.sync.sync([(run.id, run) for run in runs])
        info = self.query_one("#runs-info", Static)
        if runs:
            running = sum(r.status == "running" for r in runs)
            info.update(Text.assemble(
                (f"{len(runs)} run{'s' if len(runs) != 1 else ''}", "bold"),
                (f" · {running} running" if running else "", "#ffd75f"),
                (" · Enter opens a run; this list updates live while runs write to the store.",
                 MUTED)))
        else:
            info.update(Text.assemble(
                ("No runs yet. ", "bold"),
                (f"Start one with `eibench run --db {self.store.path}`; it appears here as soon "
                 "as it writes.", MUTED)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.open_run(event.row_key.value)

    def open_run(self, run_id: str) -> None:
        from eibench.tui.episodes import EpisodesScreen

        self.app.push_screen(EpisodesScreen(self.store, run_id))
