"""What the TUI reads from the store, as plain rows (no Textual here).

Everything comes through :class:`~eibench.harness.store.Store`'s own methods; this module shapes
it for the screens.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from eibench.harness.store import EPISODE_ORDERS, EpisodeRow, Store

STATUSES = ("pending", "running", "finished", "failed", "interrupted")
#: Episode orders: key -> (label, SQL ORDER BY)
ORDERS: dict[str, tuple[str, str]] = {
    key: (label, EPISODE_ORDERS[key])
    for key, label in (("id", "id"), ("score", "score ↓"), ("score_asc", "score ↑"))}


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs screen."""

    id: str
    name: str
    agent: str
    simulator: str
    status: str
    done: int
    total: int
    failed: int
    mean: float | None

    @property
    def progress(self) -> str:
        return f"{self.done}/{self.total}"


def run_summaries(store: Store) -> list[RunSummary]:
    """Every run with its progress (finished + failed of planned) and its running mean score."""
    progress = store.run_progress()
    out = []
    for run in store.list_runs():
        entry = progress.get(run.id, {"counts": {}, "mean": None})
        counts: dict[str, int] = entry["counts"]
        done = counts.get("finished", 0) + counts.get("failed", 0)
        total = max(sum(counts.values()), run.n_planned)
        out.append(RunSummary(id=run.id, name=run.name, agent=run.agent,
                              simulator=run.simulator, status=run.status, done=done, total=total,
                              failed=counts.get("failed", 0), mean=entry["mean"]))
    return out


@dataclass(frozen=True)
class EpisodeQuery:
    """Which episodes of a run the list shows, and in which order.

    Attributes:
        run_id: the run.
        scene: only this scene (None: all).
        status: only this status (None: all).
        search: a case-insensitive substring of the scenario id or title ("" : no search).
        order: a key of :data:`ORDERS`.
    """

    run_id: str
    scene: str | None = None
    status: str | None = None
    search: str = ""
    order: str = "id"


def count_episodes(store: Store, query: EpisodeQuery) -> int:
    """How many episodes match ``query``."""
    return store.count_episodes(query.run_id, status=query.status, scene=query.scene,
                                search=query.search)


def episode_page(store: Store, query: EpisodeQuery, *, offset: int, limit: int) -> list[EpisodeRow]:
    """One page of the episodes matching ``query``, in its order."""
    return store.episodes(query.run_id, status=query.status, scene=query.scene,
                          search=query.search, order=query.order, limit=limit, offset=offset)


def scenario_titles(store: Store, keys: Iterable[str]) -> dict[str, str]:
    """Titles of the stored scenarios under ``keys`` (a key never changes its content)."""
    return store.scenario_titles(keys)


def safe_counter(store: Store) -> int | None:
    """The change counter, or None when the database cannot be read right now."""
    try:
        return store.change_counter()
    except sqlite3.Error:
        return None
