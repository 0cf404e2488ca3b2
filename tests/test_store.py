"""The SQLite store: schema, migrations, atomic turns, change counter, read-only readers."""

from __future__ import annotations

import sqlite3

import pytest

from eibench.harness.migrations import latest_version
from eibench.harness.store import Store, StoreError, TurnRecord
from eibench.scenarios import read_pack


@pytest.fixture
def scenarios():
    return read_pack("starter", split="test").scenarios


def test_schema_and_wal(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert store.schema_version == latest_version()
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {"runs", "episodes", "turns", "scenarios", "changes"} <= set(store.db.table_names())
    # reopening applies nothing and keeps the version
    with Store(tmp_path / "s.db") as store:
        assert store.schema_version == latest_version()


def test_run_episode_turn_roundtrip(tmp_path, scenarios):
    with Store(tmp_path / "s.db") as store:
        run = store.create_run(agent="scripted:x", simulator="heuristic", simulator_kind="heuristic",
                               name="r1", prompt_hash="abc", agent_sampling={"temperature": 0.7},
                               seed=3)
        assert store.get_run("r1").id == run.id == store.get_run(run.id[:10]).id
        store.ensure_episodes(run.id, [(s, 0, 3) for s in scenarios])
        store.ensure_episodes(run.id, [(s, 0, 3) for s in scenarios])  # idempotent
        eps = store.episodes(run.id)
        assert len(eps) == len(scenarios)
        ep = eps[0]
        assert (ep.anger, ep.trust) == (scenarios[0].start.anger, scenarios[0].start.trust)
        assert store.get_scenario(ep.scenario_key) == scenarios[0]
        store.record_turn(ep.id, TurnRecord(idx=0, round=1, speaker="agent", text="hi",
                                            think="t", input_tokens=5, output_tokens=7,
                                            logprobs=[-0.1, -0.2]))
        store.record_turn(ep.id, TurnRecord(idx=1, round=1, speaker="user", text="what",
                                            anger_before=70, trust_before=20, anger_after=72,
                                            trust_after=18, anger_delta=2, trust_delta=-2,
                                            keep_going=True))
        turns = store.turns(ep.id)
        assert [t.text for t in turns] == ["hi", "what"]
        assert turns[0].logprobs == [-0.1, -0.2] and turns[1].keep_going is True
        ep = store.get_episode(ep.id)
        assert (ep.rounds, ep.anger, ep.trust, ep.status) == (1, 72, 18, "running")
        assert (ep.input_tokens, ep.output_tokens) == (5, 7)
        with pytest.raises(sqlite3.IntegrityError):  # the same turn twice is refused
            store.record_turn(ep.id, TurnRecord(idx=1, round=1, speaker="user", text="dup"))
        assert [t.text for t in store.turns(ep.id)] == ["hi", "what"]
        store.finish_episode(ep.id, reason="max_rounds", anger=72, trust=18, score=-0.1)
        assert store.get_episode(ep.id).status == "finished"


def test_failed_turn_write_leaves_episode_untouched(tmp_path, scenarios):
    with Store(tmp_path / "s.db") as store:
        run = store.create_run(agent="a", simulator="h", simulator_kind="heuristic")
        store.ensure_episodes(run.id, [(scenarios[0], 0, 0)])
        ep = store.episodes(run.id)[0]
        store.record_turn(ep.id, TurnRecord(idx=0, round=1, speaker="agent", text="x",
                                            input_tokens=10))
        with pytest.raises(sqlite3.IntegrityError):
            store.record_turn(ep.id, TurnRecord(idx=0, round=2, speaker="agent", text="y",
                                                input_tokens=99))
        after = store.get_episode(ep.id)
        assert after.input_tokens == 10 and after.rounds == 1  # the episode update rolled back


def test_change_counter_seen_by_readonly_reader(tmp_path, scenarios):
    path = tmp_path / "s.db"
    writer = Store(path)
    reader = Store(path, readonly=True)
    before = reader.change_counter()
    run = writer.create_run(agent="a", simulator="h", simulator_kind="heuristic")
    writer.ensure_episodes(run.id, [(scenarios[0], 0, 0)])
    assert reader.change_counter() > before
    with pytest.raises(sqlite3.OperationalError):
        reader.conn.execute("DELETE FROM runs")
    writer.close()
    reader.close()


def test_duplicate_run_name_and_unknown_run(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.create_run(agent="a", simulator="h", simulator_kind="heuristic", name="x")
        with pytest.raises(StoreError, match="already exists"):
            store.create_run(agent="a", simulator="h", simulator_kind="heuristic", name="x")
        with pytest.raises(StoreError, match="no run 'nope'"):
            store.get_run("nope")


def test_not_a_store(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE foo (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an eibench store"):
        Store(other)
    with pytest.raises(StoreError, match="not an eibench store"):
        Store(other, readonly=True)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError):
        Store(junk, readonly=True)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StoreError, match="empty"):
        Store(empty, readonly=True)
    with pytest.raises(StoreError, match="no store"):
        Store(tmp_path / "missing.db", readonly=True)


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path, readonly=True)


def test_migrating_an_old_store_keeps_its_data(tmp_path, scenarios):
    """A store written at schema 1 opens under the current schema with every row intact."""
    import sqlite_utils

    from eibench.harness import migrations

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    with conn:
        migrations.MIGRATIONS[1][1](db)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO runs (id, name, created_at, agent, simulator, simulator_kind,"
                     " code_version) VALUES ('r', 'old', 0, 'a', 'heuristic', 'heuristic', '0')")
    conn.close()
    with Store(path) as store:
        assert store.schema_version == latest_version() >= 2
        run = store.get_run("old")
        store.ensure_episodes(run.id, [(scenarios[0], 0, 0)])
        ep = store.episodes(run.id)[0]
        store.record_turn(ep.id, TurnRecord(idx=0, round=1, speaker="user", text="hm",
                                            rejected=("not json", "still not")))
        assert store.turns(ep.id)[0].rejected == ("not json", "still not")
