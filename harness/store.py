"""The store: the only module that reads and writes eibench's SQLite database.

WAL mode with a busy timeout, so one writer and any number of live readers share a file. Readers
open read-only and poll :meth:`Store.change_counter`, which triggers bump on every write. Writing a
turn is one transaction together with the episode's progress, so a crash never leaves a
half-written turn.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import sqlite_utils

from eibench import __version__
from eibench.harness.migrations import apply_migrations, latest_version
from eibench.scenarios.model import Scenario
from eibench.scenarios.official import parse_record

DEFAULT_DB = "eibench.db"
BUSY_TIMEOUT_MS = 10_000


EPISODE_ORDERS = {"id": "id", "score": "score IS NULL, score DESC, id",
                  "score_asc": "score IS NULL, score, id"}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class StoreError(Exception):
    """The database is missing, not an eibench store, or a reference does not resolve."""


def _row(cls: type, row: sqlite3.Row | dict[str, Any]) -> Any:
    data = dict(row)
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RunRow:
    """One run: an agent against a simulator over a set of scenarios."""

    id: str
    name: str
    created_at: float
    status: str
    agent: str
    simulator: str
    simulator_kind: str
    code_version: str
    finished_at: float | None = None
    prompt_hash: str | None = None
    agent_prompt_version: str | None = None
    agent_sampling: str = "{}"
    simulator_sampling: str = "{}"
    seed: int = 0
    source: str = ""
    config: str = "{}"
    n_planned: int = 0

    @property
    def config_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.config or "{}")
        return value


@dataclass(frozen=True)
class EpisodeRow:
    """One dialogue of one scenario (one repeat) in a run."""

    id: int
    run_id: str
    scenario_key: str
    scenario_id: str
    scene: str
    language: str
    repeat: int
    seed: int
    status: str
    rounds: int
    termination_reason: str | None = None
    anger: int | None = None
    trust: int | None = None
    score: float | None = None
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"


@dataclass(frozen=True)
class TurnRecord:
    """One turn as the loop hands it to the store (``idx`` counts every turn from 0)."""

    idx: int
    round: int
    speaker: str
    text: str
    think: str = ""
    reflection: str = ""
    anger_before: int | None = None
    trust_before: int | None = None
    anger_after: int | None = None
    trust_after: int | None = None
    anger_delta_raw: int | None = None
    trust_delta_raw: int | None = None
    anger_delta: int | None = None
    trust_delta: int | None = None
    keep_going: bool | None = None
    stop_reason: str = ""
    raw: str = ""
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    logprobs: list[float] | None = None
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True)
class TurnRow(TurnRecord):
    """A stored turn."""

    id: int = 0
    episode_id: int = 0
    created_at: float = 0.0
    logprobs_json: str | None = field(default=None, repr=False)

    @classmethod
    def from_db(cls, row: sqlite3.Row) -> TurnRow:
        data = dict(row)
        lp = data.pop("logprobs", None)
        rejected = data.pop("rejected", None)
        data["keep_going"] = None if data.get("keep_going") is None else bool(data["keep_going"])
        return cls(**data, logprobs=json.loads(lp) if lp else None, logprobs_json=lp,
                   rejected=tuple(json.loads(rejected)) if rejected else ())


_TURN_COLUMNS = [f.name for f in fields(TurnRecord)]


def scenario_key(scenario: Scenario) -> str:
    """A content hash of the scenario as stored, so two different texts never share a key."""
    record = json.dumps(scenario.to_record(), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{scenario.source}\n{record}".encode()).hexdigest()[:32]


class Store:
    """Owns one SQLite database. Use as a context manager or call :meth:`close`.

    Args:
        path: the database file. Created (with the schema) unless ``readonly``.
        readonly: open with ``mode=ro``; never writes, never blocks a writer.
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.exists():
                raise StoreError(f"no store at {self.path}")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        try:
            if readonly:
                self._check_schema()
            else:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                self._check_foreign()
                apply_migrations(self.db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self.path} is not an eibench store ({exc})") from exc
        except StoreError:
            conn.close()
            raise

    def _check_foreign(self) -> None:
        tables = set(self.db.table_names())
        version = self.schema_version
        if tables and version == 0 and not {"runs", "episodes", "turns"} <= tables:
            raise StoreError(f"{self.path} is an SQLite database but not an eibench store "
                             f"(tables: {', '.join(sorted(tables)) or 'none'})")

    def _check_schema(self) -> None:
        version = self.schema_version
        if version == 0:
            tables = set(self.db.table_names())
            if not tables:
                raise StoreError(f"{self.path} is empty: no eibench run has written to it yet")
            raise StoreError(f"{self.path} is not an eibench store")
        if version > latest_version():
            raise StoreError(f"{self.path} has schema {version}, newer than this eibench "
                             f"({latest_version()}); upgrade eibench")

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def change_counter(self) -> int:
        """A number that grows with every write to runs, episodes or turns; poll it cheaply."""
        row = self.conn.execute("SELECT counter FROM changes WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    # -- runs -----------------------------------------------------------------------------------

    def create_run(self, *, agent: str, simulator: str, simulator_kind: str,
                   name: str | None = None, prompt_hash: str | None = None,
                   agent_prompt_version: str | None = None,
                   agent_sampling: dict[str, Any] | None = None,
                   simulator_sampling: dict[str, Any] | None = None, seed: int = 0,
                   source: str = "", config: dict[str, Any] | None = None,
                   n_planned: int = 0) -> RunRow:
        """Create a run and return it. ``name`` defaults to a timestamped id."""
        now = time.time()
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(3)
        name = name or run_id
        if self.conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
            raise StoreError(f"a run named {name!r} already exists (use --resume {name} to "
                             "continue it, or choose another --run-name)")
        with self.conn:
            self.conn.execute(
                "INSERT INTO runs (id, name, created_at, status, agent, simulator, simulator_kind,"
                " prompt_hash, agent_prompt_version, agent_sampling, simulator_sampling, seed,"
                " code_version, source, config, n_planned)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, name, now, agent, simulator, simulator_kind, prompt_hash,
                 agent_prompt_version, json.dumps(agent_sampling or {}),
                 json.dumps(simulator_sampling or {}), seed, __version__, source,
                 json.dumps(config or {}, default=str), n_planned))
        return self.get_run(run_id)

    def get_run(self, ref: str) -> RunRow:
        """Find a run by id, name, unique id prefix, or ``latest``."""
        if ref == "latest":
            row = self.conn.execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC"
                                    " LIMIT 1").fetchone()
            if row is None:
                raise StoreError(f"no runs in {self.path}")
            return _row(RunRow, row)
        row = self.conn.execute("SELECT * FROM runs WHERE id = ? OR name = ?", (ref, ref)).fetchone()
        if row is None:
            rows = self.conn.execute("SELECT * FROM runs WHERE id LIKE ?",
                                     (ref.replace("%", "") + "%",)).fetchall()
            if len(rows) == 1:
                row = rows[0]
            elif rows:
                raise StoreError(f"run {ref!r} is ambiguous: " + ", ".join(r["id"] for r in rows))
        if row is None:
            raise StoreError(f"no run {ref!r} in {self.path} (see `eibench runs`)")
        return _row(RunRow, row)

    def list_runs(self) -> list[RunRow]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY created_at, rowid").fetchall()
        return [_row(RunRow, r) for r in rows]

    def run_progress(self) -> dict[str, dict[str, Any]]:
        """Per run: episode counts by status and the mean score of finished episodes."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.conn.execute(
                "SELECT run_id, status, COUNT(*) AS n, AVG(score) AS mean FROM episodes"
                " GROUP BY run_id, status"):
            entry = out.setdefault(r["run_id"], {"counts": {}, "mean": None, "n_scored": 0})
            entry["counts"][r["status"]] = r["n"]
        for r in self.conn.execute(
                "SELECT run_id, COUNT(score) AS n, AVG(score) AS mean FROM episodes"
                " WHERE score IS NOT NULL GROUP BY run_id"):
            entry = out.setdefault(r["run_id"], {"counts": {}, "mean": None, "n_scored": 0})
            entry["mean"], entry["n_scored"] = r["mean"], r["n"]
        return out

    def set_run_status(self, run_id: str, status: str) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?",
                (status, time.time() if status in ("finished", "interrupted") else None, run_id))

    # -- scenarios ------------------------------------------------------------------------------

    def put_scenario(self, scenario: Scenario) -> str:
        """Store a snapshot of ``scenario`` (idempotent) and return its key."""
        key = scenario_key(scenario)
        record = scenario.to_record() | {"split": scenario.split}
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO scenarios (key, id, source, scene, language, record)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, scenario.id, scenario.source, scenario.scene.value, scenario.language,
                 json.dumps(record, ensure_ascii=False)))
        return key

    def get_scenario(self, key: str) -> Scenario:
        """The scenario snapshot stored under ``key``."""
        row = self.conn.execute("SELECT * FROM scenarios WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"no scenario {key!r} in {self.path}")
        record = json.loads(row["record"])
        scenario, problems = parse_record(record, split=record.get("split", "test"),
                                          source=row["source"], strict=False)
        if scenario is None:
            raise StoreError(f"stored scenario {row['id']} no longer validates: "
                             + "; ".join(p.render() for p in problems))
        return scenario

    # -- episodes -------------------------------------------------------------------------------

    def ensure_episodes(self, run_id: str, items: Iterable[tuple[Scenario, int, int]]) -> None:
        """Create the run's planned episodes ``(scenario, repeat, seed)``; existing ones are kept."""
        now = time.time()
        with self.conn:
            for scenario, repeat, seed in items:
                key = scenario_key(scenario)
                record = scenario.to_record() | {"split": scenario.split}
                self.conn.execute(
                    "INSERT OR IGNORE INTO scenarios (key, id, source, scene, language, record)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (key, scenario.id, scenario.source, scenario.scene.value, scenario.language,
                     json.dumps(record, ensure_ascii=False)))
                self.conn.execute(
                    "INSERT OR IGNORE INTO episodes (run_id, scenario_key, scenario_id, scene,"
                    " language, repeat, seed, status, anger, trust, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                    (run_id, key, scenario.id, scenario.scene.value, scenario.language, repeat,
                     seed, scenario.start.anger, scenario.start.trust, now))

    def new_episode(self, run_id: str, scenario: Scenario, *, seed: int = 0) -> EpisodeRow:
        """Add one episode to a run (the next free repeat number) and return it."""
        row = self.conn.execute(
            "SELECT COALESCE(MAX(repeat) + 1, 0) FROM episodes WHERE run_id = ? AND scenario_id = ?",
            (run_id, scenario.id)).fetchone()
        repeat = int(row[0])
        self.ensure_episodes(run_id, [(scenario, repeat, seed)])
        found = self.conn.execute(
            "SELECT * FROM episodes WHERE run_id = ? AND scenario_id = ? AND repeat = ?",
            (run_id, scenario.id, repeat)).fetchone()
        return _row(EpisodeRow, found)

    @staticmethod
    def _episode_filter(run_id: str, status: str | Sequence[str] | None, scene: str | None,
                        search: str) -> tuple[str, list[Any]]:
        where, params = ["run_id = ?"], [run_id]
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if scene:
            where.append("scene = ?")
            params.append(scene)
        if search.strip():
            pattern = "%" + _escape_like(search.strip()) + "%"
            where.append(
                "(scenario_id LIKE ? ESCAPE '\\' OR scenario_key IN (SELECT key FROM scenarios"
                " WHERE json_extract(record, '$.title') LIKE ? ESCAPE '\\'))")
            params.extend([pattern, pattern])
        return " AND ".join(where), params

    def episodes(self, run_id: str, *, status: str | Sequence[str] | None = None,
                 scene: str | None = None, search: str = "", limit: int | None = None,
                 offset: int = 0, order: str = "id") -> list[EpisodeRow]:
        """The run's episodes, optionally filtered and paged.

        Args:
            status / scene: keep only these.
            search: a case-insensitive substring of the scenario id or title.
            order: ``id``, ``score`` (best first) or ``score_asc``.
        """
        where, params = self._episode_filter(run_id, status, scene, search)
        order_sql = EPISODE_ORDERS[order]
        sql = f"SELECT * FROM episodes WHERE {where} ORDER BY {order_sql}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [_row(EpisodeRow, r) for r in self.conn.execute(sql, params)]

    def count_episodes(self, run_id: str, *, status: str | Sequence[str] | None = None,
                       scene: str | None = None, search: str = "") -> int:
        """How many of the run's episodes match the same filters as :meth:`episodes`."""
        where, params = self._episode_filter(run_id, status, scene, search)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM episodes WHERE {where}",
                                     params).fetchone()[0])

    def scenario_titles(self, keys: Iterable[str]) -> dict[str, str]:
        """Titles of the stored scenarios under ``keys``."""
        wanted = sorted(set(keys))
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, title in self.conn.execute(
                    "SELECT key, json_extract(record, '$.title') FROM scenarios"
                    f" WHERE key IN ({marks})", chunk):
                out[key] = str(title or "")
        return out

    def get_episode(self, episode_id: int) -> EpisodeRow:
        row = self.conn.execute("SELECT * FROM episodes WHERE id = ?", (episode_id,)).fetchone()
        if row is None:
            raise StoreError(f"no episode {episode_id} in {self.path}")
        return _row(EpisodeRow, row)

    def start_episode(self, episode_id: int) -> None:
        now = time.time()
        with self.conn:
            self.conn.execute(
                "UPDATE episodes SET status = 'running', started_at = COALESCE(started_at, ?),"
                " updated_at = ? WHERE id = ?", (now, now, episode_id))

    def record_turn(self, episode_id: int, turn: TurnRecord) -> None:
        """Write one turn and the episode's progress in a single transaction.

        Writing the same ``idx`` twice is refused: a resumed run never duplicates a turn.
        """
        values = [getattr(turn, c) for c in _TURN_COLUMNS]
        values[_TURN_COLUMNS.index("logprobs")] = (
            json.dumps(turn.logprobs) if turn.logprobs is not None else None)
        kg = _TURN_COLUMNS.index("keep_going")
        values[kg] = None if turn.keep_going is None else int(turn.keep_going)
        values[_TURN_COLUMNS.index("rejected")] = (
            json.dumps(list(turn.rejected), ensure_ascii=False) if turn.rejected else None)
        now = time.time()
        cols = ", ".join(_TURN_COLUMNS)
        marks = ", ".join("?" * len(_TURN_COLUMNS))
        with self.conn:
            self.conn.execute(
                f"INSERT INTO turns (episode_id, {cols}, created_at) VALUES (?, {marks}, ?)",
                (episode_id, *values, now))
            self.conn.execute(
                "UPDATE episodes SET rounds = MAX(rounds, ?), anger = COALESCE(?, anger),"
                " trust = COALESCE(?, trust), input_tokens = input_tokens + ?,"
                " output_tokens = output_tokens + ?, cost_usd = cost_usd + ?, updated_at = ?,"
                " status = CASE WHEN status = 'pending' THEN 'running' ELSE status END"
                " WHERE id = ?",
                (turn.round, turn.anger_after, turn.trust_after, turn.input_tokens,
                 turn.output_tokens, turn.cost_usd, now, episode_id))

    def finish_episode(self, episode_id: int, *, reason: str, anger: int, trust: int,
                       score: float | None, error: str | None = None,
                       status: str = "finished") -> None:
        """Close an episode with its termination reason, final state and score."""
        now = time.time()
        with self.conn:
            self.conn.execute(
                "UPDATE episodes SET status = ?, termination_reason = ?, anger = ?, trust = ?,"
                " score = ?, error = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                (status, reason, anger, trust, score, error, now, now, episode_id))

    def add_usage(self, episode_id: int, *, input_tokens: int, output_tokens: int,
                  cost_usd: float) -> None:
        """Account tokens spent outside a recorded turn (a failed attempt)."""
        with self.conn:
            self.conn.execute(
                "UPDATE episodes SET input_tokens = input_tokens + ?, output_tokens ="
                " output_tokens + ?, cost_usd = cost_usd + ? WHERE id = ?",
                (input_tokens, output_tokens, cost_usd, episode_id))

    # -- turns ----------------------------------------------------------------------------------

    def turns(self, episode_id: int) -> list[TurnRow]:
        rows = self.conn.execute("SELECT * FROM turns WHERE episode_id = ? ORDER BY idx",
                                 (episode_id,)).fetchall()
        return [TurnRow.from_db(r) for r in rows]

    def turns_for_run(self, run_id: str) -> dict[int, list[TurnRow]]:
        """Every turn of a run, grouped by episode id."""
        out: dict[int, list[TurnRow]] = {}
        rows = self.conn.execute(
            "SELECT t.* FROM turns t JOIN episodes e ON e.id = t.episode_id WHERE e.run_id = ?"
            " ORDER BY t.episode_id, t.idx", (run_id,))
        for r in rows:
            out.setdefault(r["episode_id"], []).append(TurnRow.from_db(r))
        return out
