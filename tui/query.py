"""What the TUI reads from the store, as plain rows (no Textual here).

Runs, dialogues and scenarios come through :class:`~eibench.harness.store.Store`'s own methods.
The episode list needs what ``Store.episodes`` does not offer (a search on the scenario id or
title and a filtered count for paging), so those two read-only queries live here, over the same
read-only connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from eibench.harness.store import EpisodeRow, Store

STATUSES = ("pending", "running", "finished", "failed", "interrupted")
#: Episode orders: key -> (label, SQL ORDER BY)
ORDERS: dict[str, tuple[str, str]] = {
    "id": ("id", "id"),
    "score": ("score ↓", "score IS NULL, score DESC, id"),
    "score_asc": ("score ↑", "score IS NULL, score, id"),
}
_EPISODE_FIELDS = [f.name for f in fields(EpisodeRow)]


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

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["run_id = ?"], [self.run_id]
        if self.scene:
            clauses.append("scene = ?")
            params.append(self.scene)
        if self.status:
            clauses.append("status = ?")
            params.append(self.status)
        if self.search.strip():
            pattern = "%" + _escape_like(self.search.strip()) + "%"
            clauses.append(
                "(scenario_id LIKE ? ESCAPE '\\' OR scenario_key IN (SELECT key FROM scenarios"
                " WHERE id LIKE ? ESCAPE '\\' OR json_extract(record, '$.title') LIKE ? ESCAPE '\\'))")
            params.extend([pattern, pattern, pattern])
        return " AND ".join(clauses), params


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def count_episodes(store: Store, query: EpisodeQuery) -> int:
    """How many episodes match ``query``."""
    where, params = query.where()
    row = store.conn.execute(f"SELECT COUNT(*) FROM episodes WHERE {where}", params).fetchone()
    return int(row[0])


def episode_page(store: Store, query: EpisodeQuery, *, offset: int, limit: int) -> list[EpisodeRow]:
    """One page of the episodes matching ``query``, in its order."""
    where, params = query.where()
    order = ORDERS[query.order][1]
    sql = (f"SELECT {', '.join(_EPISODE_FIELDS)} FROM episodes WHERE {where} ORDER BY {order}"
           " LIMIT ? OFFSET ?")
    rows = store.conn.execute(sql, [*params, int(limit), int(offset)]).fetchall()
    return [EpisodeRow(**dict(zip(_EPISODE_FIELDS, row, strict=True))) for row in rows]


def scenario_titles(store: Store, keys: Iterable[str]) -> dict[str, str]:
    """Titles of the stored scenarios under ``keys`` (a key never changes its content)."""
    wanted = sorted(set(keys))
    out: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for key, title in store.conn.execute(
                f"SELECT key, json_extract(record, '$.title') FROM scenarios WHERE key IN ({marks})",
                chunk):
            out[key] = str(title or "")
    return out


def safe_counter(store: Store) -> int | None:
    """The change counter, or None when the database cannot be read right now."""
    try:
        return store.change_counter()
    except sqlite3.Error:
        return None
