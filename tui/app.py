"""``eibench tui``: runs -> episodes -> dialogue, live while another process writes the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from eibench.harness.store import Store, StoreError
from eibench.tui.base import LiveScreen
from eibench.tui.runs import RunsScreen
from eibench.tui.turns import MUTED
from eibench.tui.watch import (
    POLL_INTERVAL,
    Problem,
    StoreChanged,
    StoreReady,
    StoreUnavailable,
    StoreWatcher,
    diagnose,
)


class NoticeScreen(Screen[None]):
    """Says why the database cannot be shown (yet); replaced by the runs once it can."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit", "Quit")]

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        self.problem = problem

    def compose(self) -> ComposeResult:
        yield Header()
        with Middle(), Center():
            yield Static(self._text(), id="notice")
        yield Footer()

    def _text(self) -> Text:
        waiting = self.problem.kind in ("missing", "empty")
        return Text.assemble((self.problem.title, "bold"), "\n\n", self.problem.detail,
                             ("\n\nWatching the file; press q to quit." if waiting else
                              "\n\nPress q to quit.", MUTED))

    def show(self, problem: Problem) -> None:
        self.problem = problem
        self.query_one("#notice", Static).update(self._text())


class EIBenchApp(App[None]):
    """Browse a store's runs, episodes and dialogues; everything updates as the store changes.

    Args:
        db: the SQLite store. It may not exist yet: the app waits for it.
        poll_interval: seconds between two reads of the store's change counter.
    """

    CSS_PATH = "app.tcss"
    TITLE = "eibench"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False)]

    def __init__(self, db: str | Path, *, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__()
        self.db_path = Path(db)
        self.store: Store | None = None
        self.watcher = StoreWatcher(self.db_path, self, interval=poll_interval)

    def on_mount(self) -> None:
        self.sub_title = self.db_path.name
        self._open()
        self.run_worker(self._watch, thread=True, exclusive=True, group="watch",
                        name="store-watcher")

    def _watch(self) -> None:
        worker = get_current_worker()
        self.watcher.run(lambda: worker.is_cancelled)

    def _open(self) -> bool:
        """Open the store read-only and show the runs; or say why it cannot be opened."""
        try:
            self.store = Store(self.db_path, readonly=True)
        except (StoreError, sqlite3.Error, OSError) as exc:
            self._show_problem(diagnose(self.db_path, exc))
            return False
        if isinstance(self.screen, NoticeScreen):
            self.switch_screen(RunsScreen(self.store))
        else:
            self.push_screen(RunsScreen(self.store))
        return True

    def _show_problem(self, problem: Problem) -> None:
        if isinstance(self.screen, NoticeScreen):
            self.screen.show(problem)
        else:
            self.push_screen(NoticeScreen(problem))

    def on_store_ready(self, message: StoreReady) -> None:
        if self.is_running and self.store is None:
            self._open()

    def on_store_unavailable(self, message: StoreUnavailable) -> None:
        if not self.is_running:
            return
        if self.store is None:
            self._show_problem(message.problem)
        else:
            self.notify(f"{message.problem.title}: {message.problem.detail}", severity="warning")

    def on_store_changed(self, message: StoreChanged) -> None:
        if not self.is_running:  # shutting down: the screens are being taken apart
            return
        if self.store is None:
            self._open()
            return
        screen = self.screen
        if isinstance(screen, LiveScreen):
            try:
                screen.store_changed()
            except (StoreError, sqlite3.Error) as exc:
                self.notify(f"cannot read the store: {exc}", severity="error")

    def on_unmount(self) -> None:
        self.watcher.stop()
        if self.store is not None:
            self.store.close()
