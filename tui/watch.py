"""The polling worker: watches a store from a thread and tells the app what changed.

It opens its own read-only connection (it never writes, so it never blocks a writer), reads
:meth:`Store.change_counter` every ``interval`` seconds and posts a message when the number moves.
Until the database can be opened it keeps trying and posts why it cannot (missing, empty, not an
eibench store). It never touches a widget: handlers on the app thread do.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.message_pump import MessagePump

from eibench.harness.store import Store, StoreError

POLL_INTERVAL = 0.3


@dataclass(frozen=True)
class Problem:
    """Why a database cannot be shown: ``kind`` is missing, empty, foreign or error."""

    kind: str
    title: str
    detail: str


def diagnose(path: Path, exc: Exception | None = None) -> Problem:
    """A clear description of why ``path`` cannot be opened as a store."""
    if not path.exists():
        return Problem("missing", f"Waiting for {path.name} to be created",
                       f"There is no database at {path} yet. This screen opens it as soon as it "
                       f"appears: start a run with `eibench run --db {path}`.")
    text = str(exc) if exc else ""
    if path.stat().st_size == 0 or "is empty" in text:
        return Problem("empty", f"{path.name} is empty",
                       f"{path} holds no eibench data yet (nothing has been written to it). "
                       "This screen opens it as soon as a run writes to it.")
    if "newer than this eibench" in text:
        return Problem("error", f"{path.name} needs a newer eibench", text)
    if isinstance(exc, (StoreError, sqlite3.DatabaseError)):
        cause = re.search(r"\(([^()]*)\)\s*$", text)
        reason = cause.group(1) if cause else "an SQLite database without eibench's tables"
        return Problem("foreign", f"{path.name} is not an eibench store",
                       f"{path} was not written by eibench: {reason}. Point --db at the file "
                       "that `eibench run` or `eibench serve` writes.")
    return Problem("error", f"Cannot read {path.name}", text)


class StoreChanged(Message):
    """Something was written to the store (the change counter moved)."""

    def __init__(self, counter: int) -> None:
        super().__init__()
        self.counter = counter


class StoreReady(Message):
    """The store can be opened now (it was missing, empty or unreadable before)."""


class StoreUnavailable(Message):
    """The store cannot be opened, or stopped being readable."""

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        self.problem = problem


class StoreWatcher:
    """Polls one database; run :meth:`run` in a thread worker and :meth:`stop` to end it.

    Args:
        path: the database file.
        target: where messages are posted (thread-safe).
        interval: seconds between polls.
    """

    def __init__(self, path: str | Path, target: MessagePump, *,
                 interval: float = POLL_INTERVAL) -> None:
        self.path = Path(path)
        self.target = target
        self.interval = interval
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Poll until stopped or ``cancelled()``; always closes its connection."""
        store: Store | None = None
        last_counter: int | None = None
        last_problem: Problem | None = None
        try:
            while not (self._stop.is_set() or cancelled()):
                if store is None:
                    try:
                        store = Store(self.path, readonly=True)
                    except (StoreError, sqlite3.Error, OSError) as exc:
                        problem = diagnose(self.path, exc)
                        if problem != last_problem:
                            self.target.post_message(StoreUnavailable(problem))
                            last_problem = problem
                    else:
                        last_problem, last_counter = None, None
                        self.target.post_message(StoreReady())
                if store is not None:
                    try:
                        counter = store.change_counter()
                    except sqlite3.Error as exc:
                        store.close()
                        store = None
                        last_problem = Problem("error", f"Cannot read {self.path.name}", str(exc))
                        self.target.post_message(StoreUnavailable(last_problem))
                    else:
                        if counter != last_counter:
                            last_counter = counter
                            self.target.post_message(StoreChanged(counter))
                self._stop.wait(self.interval)
        finally:
            if store is not None:
                store.close()
