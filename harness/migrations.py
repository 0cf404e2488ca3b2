"""Numbered schema migrations for the store. Each runs once, in order, in one transaction.

The schema version is SQLite's ``PRAGMA user_version``. Add a migration by writing a new function
with the next number; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: dict[int, tuple[str, Migration]] = {}


def migration(version: int, name: str) -> Callable[[Migration], Migration]:
    """Register ``fn`` as migration number ``version``."""

    def register(fn: Migration) -> Migration:
        if version in MIGRATIONS:
            raise ValueError(f"migration {version} is defined twice")
        MIGRATIONS[version] = (name, fn)
        return fn

    return register


def latest_version() -> int:
    return max(MIGRATIONS)


def apply_migrations(db: sqlite_utils.Database) -> list[int]:
    """Bring ``db`` up to the latest schema; return the versions applied."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > latest_version():
        raise RuntimeError(f"store schema version {current} is newer than this eibench "
                           f"understands ({latest_version()}); upgrade eibench")
    applied = []
    for version in sorted(v for v in MIGRATIONS if v > current):
        _, fn = MIGRATIONS[version]
        with db.conn:
            fn(db)
            db.execute(f"PRAGMA user_version = {int(version)}")
        applied.append(version)
    return applied


_WATCHED = ("runs", "episodes", "turns")


@migration(1, "runs, scenarios, episodes, turns, change counter")
def _initial(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL DEFAULT 'running',
            agent TEXT NOT NULL,
            simulator TEXT NOT NULL,
            simulator_kind TEXT NOT NULL,
            prompt_hash TEXT,
            agent_prompt_version TEXT,
            agent_sampling TEXT NOT NULL DEFAULT '{}',
            simulator_sampling TEXT NOT NULL DEFAULT '{}',
            seed INTEGER NOT NULL DEFAULT 0,
            code_version TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            config TEXT NOT NULL DEFAULT '{}',
            n_planned INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE scenarios (
            key TEXT PRIMARY KEY,
            id TEXT NOT NULL,
            source TEXT NOT NULL,
            scene TEXT NOT NULL,
            language TEXT NOT NULL,
            record TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE episodes (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id),
            scenario_key TEXT NOT NULL REFERENCES scenarios(key),
            scenario_id TEXT NOT NULL,
            scene TEXT NOT NULL,
            language TEXT NOT NULL,
            repeat INTEGER NOT NULL DEFAULT 0,
            seed INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending',
            termination_reason TEXT,
            rounds INTEGER NOT NULL DEFAULT 0,
            anger INTEGER,
            trust INTEGER,
            score REAL,
            error TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            started_at REAL,
            finished_at REAL,
            updated_at REAL,
            UNIQUE (run_id, scenario_id, repeat)
        )""")
    db.execute("CREATE INDEX episodes_run_status ON episodes (run_id, status)")
    db.execute("""
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER NOT NULL REFERENCES episodes(id),
            idx INTEGER NOT NULL,
            round INTEGER NOT NULL,
            speaker TEXT NOT NULL,
            text TEXT NOT NULL,
            think TEXT NOT NULL DEFAULT '',
            reflection TEXT NOT NULL DEFAULT '',
            anger_before INTEGER,
            trust_before INTEGER,
            anger_after INTEGER,
            trust_after INTEGER,
            anger_delta_raw INTEGER,
            trust_delta_raw INTEGER,
            anger_delta INTEGER,
            trust_delta INTEGER,
            keep_going INTEGER,
            stop_reason TEXT NOT NULL DEFAULT '',
            raw TEXT NOT NULL DEFAULT '',
            latency_ms REAL NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 1,
            logprobs TEXT,
            created_at REAL NOT NULL,
            UNIQUE (episode_id, idx)
        )""")
    db.execute("CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter INTEGER NOT NULL)")
    db.execute("INSERT INTO changes (id, counter) VALUES (1, 0)")
    for table in _WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            db.execute(f"""
                CREATE TRIGGER {table}_{event.lower()}_bump AFTER {event} ON {table}
                BEGIN UPDATE changes SET counter = counter + 1 WHERE id = 1; END""")


@migration(2, "turns.rejected: unparseable simulator outputs of a step that later succeeded")
def _rejected_outputs(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE turns ADD COLUMN rejected TEXT")
