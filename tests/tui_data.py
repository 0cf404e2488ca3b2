"""Deterministic stores for the TUI tests: hand-written scenarios and dialogues, no simulator.

Nothing here depends on a shipped pack or a simulator's wording, so the snapshots only change
when the TUI does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eibench.harness.loop import score_state
from eibench.harness.store import Store, TurnRecord
from eibench.scenarios.model import Anchor, Scenario, Scene
from eibench.simulator.state import State, apply_deltas


def scenario(sid: str, scene: str, title: str, *, start: tuple[int, int] = (70, 25),
             success: tuple[int, int] = (30, 70), failure: tuple[int, int] = (90, 10),
             opening: str | None = "You said you'd call. You didn't.") -> Scenario:
    return Scenario(
        id=sid, split="test", scene=Scene(scene), language="en", title=title,
        user_persona="### Background\nYou are Maeve, 41, a nurse who is tired of excuses.",
        opening_line=None if scene == "charm" else opening,
        agent_persona="### Background\nYou are Tom, Maeve's brother.\n\n### Core goal\nRepair "
                      "things with a concrete plan.",
        start=Anchor(anger=start[0], trust=start[1]),
        success=Anchor(anger=success[0], trust=success[1]),
        failure=Anchor(anger=failure[0], trust=failure[1]), source="pack:tui-test")


@dataclass(frozen=True)
class Exchange:
    """One round: what the agent said (and thought), how the user answered."""

    agent: str
    think: str
    reply: str
    reflection: str
    anger_delta: int
    trust_delta: int
    keep_going: bool = True
    stop_reason: str = ""


REPAIR = scenario("tui_repair_01", "repair", "The missed hospital drive")
DEFENSE = scenario("tui_defense_01", "defense", "Refund after the deadline", start=(65, 30),
                   success=(35, 50), failure=(85, 10), opening="I want my money back. Today.")
CHARM = scenario("tui_charm_01", "charm", "Small talk at the book club", start=(40, 35),
                 success=(15, 60), failure=(70, 15))
SUPPORT = scenario("tui_support_01", "support", "The exam came back failed", start=(75, 30),
                   success=(45, 75), failure=(90, 15), opening="I failed it. Again.")

REPAIR_DIALOGUE = [
    Exchange("I overslept because I was out until two. That's on me, not on the alarm.",
             "She wants the cause first, not an apology.",
             "At least you're not blaming the phone this time. So what now?",
             "1. wants ownership 2. honest 3. new: the cause 4. small drop 5. guarded",
             -4, 3),
    Exchange("I'll drive Dad on Friday, and I've booked a taxi as a backup in case I'm late.",
             "Concrete plan plus a backup.",
             "A taxi account. Right. And the Wednesdays after that?",
             "1. wants a plan 2. concrete 3. new: backup 4. medium 5. testing", -6, 5),
    Exchange("I'm sorry, I'm sorry, I really am sorry.", "",
             "You've said sorry three times now. It doesn't drive anyone anywhere.",
             "1. wants action 2. empty apology 3. nothing new 4. worse 5. colder", 5, -3),
    Exchange("The next three Wednesdays are mine; I've put them in the shared calendar and "
             "I'll text you when we leave the house.",
             "Own all three cycles, make it checkable.",
             "Okay. Text me when you leave. That's all I ask.",
             "1. reliability 2. specific and checkable 3. new 4. large 5. thawing", -8, 7,
             False, "concrete plan agreed"),
]

DEFENSE_DIALOGUE = [
    Exchange("I can't refund after thirty days, but I can exchange it for you right now.",
             "Hold the line, offer something real.",
             "An exchange? I don't want another one of these.",
             "1. wants money 2. firm but helpful 3. new option 4. small 5. pushing", -2, 2),
]


def write_dialogue(store: Store, episode_id: int, scen: Scenario,
                   exchanges: list[Exchange], *, finish: bool = True) -> State:
    """Record a whole dialogue through :meth:`Store.record_turn` and close the episode."""
    state = State(scen.start.anger, scen.start.trust)
    store.start_episode(episode_id)
    idx = 0
    if scen.opening_line:
        store.record_turn(episode_id, TurnRecord(
            idx=0, round=0, speaker="user", text=scen.opening_line, anger_before=state.anger,
            trust_before=state.trust, anger_after=state.anger, trust_after=state.trust,
            keep_going=True))
        idx = 1
    for rnd, ex in enumerate(exchanges, start=1):
        store.record_turn(episode_id, TurnRecord(
            idx=idx, round=rnd, speaker="agent", text=ex.agent, think=ex.think,
            anger_before=state.anger, trust_before=state.trust))
        t = apply_deltas(state, ex.anger_delta, ex.trust_delta)
        store.record_turn(episode_id, TurnRecord(
            idx=idx + 1, round=rnd, speaker="user", text=ex.reply, reflection=ex.reflection,
            anger_before=state.anger, trust_before=state.trust, anger_after=t.after.anger,
            trust_after=t.after.trust, anger_delta_raw=ex.anger_delta,
            trust_delta_raw=ex.trust_delta, anger_delta=t.applied_anger_delta,
            trust_delta=t.applied_trust_delta, keep_going=ex.keep_going,
            stop_reason=ex.stop_reason))
        idx += 2
        state = t.after
    if finish:
        reason = "simulator_stopped" if exchanges and not exchanges[-1].keep_going else "max_rounds"
        store.finish_episode(episode_id, reason=reason, anger=state.anger, trust=state.trust,
                             score=score_state(scen, state))
    return state


def build_demo_store(path: Path) -> Path:
    """Two runs: one finished with four episodes, one still running (one episode mid-way)."""
    with Store(path) as store:
        run = store.create_run(name="gpt-4.1-mini-vs-heuristic", agent="openai:gpt-4.1-mini",
                               simulator="heuristic", simulator_kind="heuristic", n_planned=4)
        store.ensure_episodes(run.id, [(REPAIR, 0, 0), (DEFENSE, 0, 0), (CHARM, 0, 0),
                                       (SUPPORT, 0, 0)])
        eps = {e.scenario_id: e.id for e in store.episodes(run.id)}
        write_dialogue(store, eps[REPAIR.id], REPAIR, REPAIR_DIALOGUE)
        write_dialogue(store, eps[DEFENSE.id], DEFENSE, DEFENSE_DIALOGUE * 8)
        write_dialogue(store, eps[CHARM.id], CHARM, [Exchange(
            "Is that the Ishiguro? I keep meaning to read it.", "Open light, with a question.",
            "It's good. Sad, though. Are you new to the club?",
            "1. curious 2. natural 3. new 4. small 5. warm", -3, 4)] * 3)
        store.finish_episode(eps[SUPPORT.id], reason="agent_error", anger=75, trust=30,
                             score=None, error="agent backend timed out", status="failed")
        store.set_run_status(run.id, "finished")
        live = store.create_run(name="qwen3-8b-live", agent="openai:Qwen/Qwen3-8B",
                                simulator="llm:anthropic:claude-sonnet-4-5", simulator_kind="llm",
                                n_planned=3)
        store.ensure_episodes(live.id, [(REPAIR, 0, 0), (DEFENSE, 0, 0), (CHARM, 0, 0)])
        first = store.episodes(live.id)[0]
        write_dialogue(store, first.id, REPAIR, REPAIR_DIALOGUE[:1], finish=False)
    return path


def episode_id(path: Path, run_name: str, scenario_id: str) -> int:
    with Store(path, readonly=True) as store:
        run = store.get_run(run_name)
        return next(e.id for e in store.episodes(run.id) if e.scenario_id == scenario_id)


def build_large_store(path: Path, *, episodes: int = 10_000, rounds: int = 5,
                      n_scenarios: int = 200, seed: int = 0) -> str:
    """One run of ``episodes`` finished episodes of ``rounds`` rounds (2 turns each), in bulk.

    Rows are written with ``executemany`` in one transaction (the store's own schema and
    triggers), which takes seconds where playing them through the loop would take minutes.
    Returns the run id.
    """
    import random

    rng = random.Random(seed)
    scenes = ("support", "defense", "repair", "charm")
    scens = [scenario(f"bulk_{scenes[i % 4]}_{i:04d}", scenes[i % 4],
                      f"Bulk scenario number {i}", opening=None if scenes[i % 4] == "charm" else
                      "We need to talk.") for i in range(n_scenarios)]
    with Store(path) as store:
        run = store.create_run(name="bulk", agent="scripted:bulk", simulator="heuristic",
                               simulator_kind="heuristic", n_planned=episodes)
        keys = [store.put_scenario(s) for s in scens]
        now = 1_700_000_000.0
        ep_rows = []
        finals: list[tuple[int, int]] = []
        for i in range(episodes):
            s = scens[i % n_scenarios]
            anger = max(0, min(100, s.start.anger + rng.randint(-30, 20)))
            trust = max(0, min(100, s.start.trust + rng.randint(-15, 35)))
            finals.append((anger, trust))
            ep_rows.append((run.id, keys[i % n_scenarios], s.id, s.scene.value, "en",
                            i // n_scenarios, 0, "finished", "max_rounds", rounds, anger, trust,
                            score_state(s, State(anger, trust)), now, now, now))
        with store.conn:
            store.conn.executemany(
                "INSERT INTO episodes (run_id, scenario_key, scenario_id, scene, language, repeat,"
                " seed, status, termination_reason, rounds, anger, trust, score, started_at,"
                " finished_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ep_rows)
            ids = [r[0] for r in store.conn.execute(
                "SELECT id FROM episodes WHERE run_id = ? ORDER BY id", (run.id,))]
            turn_rows = []
            for ep_id, (s_i, (anger, trust)) in zip(ids, enumerate(finals), strict=True):
                s = scens[s_i % n_scenarios]
                a, t = s.start.anger, s.start.trust
                for r in range(1, rounds + 1):
                    na = a + (anger - a) // (rounds - r + 1)
                    nt = t + (trust - t) // (rounds - r + 1)
                    turn_rows.append((ep_id, 2 * r - 2, r, "agent", f"agent line {r}",
                                      "think", "", a, t, None, None, None, None, None, None,
                                      None, now))
                    turn_rows.append((ep_id, 2 * r - 1, r, "user", f"user line {r}", "",
                                      "reflection", a, t, na, nt, na - a, nt - t, na - a,
                                      nt - t, 1, now))
                    a, t = na, nt
            store.conn.executemany(
                "INSERT INTO turns (episode_id, idx, round, speaker, text, think, reflection,"
                " anger_before, trust_before, anger_after, trust_after, anger_delta_raw,"
                " trust_delta_raw, anger_delta, trust_delta, keep_going, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", turn_rows)
        store.set_run_status(run.id, "finished")
        return run.id
