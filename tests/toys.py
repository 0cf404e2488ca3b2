"""Small deterministic doubles shared by harness tests (importable as a scripted: target).

``PYTHONPATH=tests`` makes ``scripted:toys:agent`` usable from a subprocess.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from eibench.simulator.state import State, apply_deltas
from eibench.simulator.types import SimulatorFailure, TerminationReason, Update

LINES = [
    "I hear you. Tell me what happened on Tuesday, exactly.",
    "That was my call, and I got it wrong. I will send you the fixed schedule by 6 pm today.",
    "What would make this right for you, concretely?",
    "I can't waive the fee, but I can move your booking to Friday at no cost.",
    "Thank you for telling me straight.",
    "Let's check in tomorrow at ten, I'll call you.",
    "You matter to me, and I'm not going anywhere.",
    "Is there anything I missed?",
]


def agent(messages):
    """Deterministic agent: the line depends on the round and the scenario's persona text."""
    rounds = sum(1 for m in messages if m["role"] == "assistant")
    salt = int(hashlib.sha256(messages[0]["content"].encode()).hexdigest(), 16)
    line = LINES[(rounds + salt) % len(LINES)]
    return f"<think>round {rounds + 1}: be specific</think>{line}"


async def slow_agent(messages):
    """Like :func:`agent` but takes a little time, so a test can kill a run mid-way."""
    await asyncio.sleep(float(os.environ.get("TOY_AGENT_DELAY", "0.05")))
    return agent(messages)


class ToySimulator:
    """Deltas from the words: 'will' or a time lowers anger, 'sorry' raises it; stops on 'bye'."""

    name = "toy"
    kind = "heuristic"
    prompt_hash = None

    def __init__(self, fail_at_round: int | None = None) -> None:
        self.fail_at_round = fail_at_round
        self.seen: list[str] = []

    def open(self, scenario):
        return State(scenario.start.anger, scenario.start.trust), scenario.opening_line

    async def step(self, scenario, state, history, agent_text, *, seed=0):
        self.seen.append(agent_text)
        rnd = sum(1 for u in history if u.speaker == "agent") + 1
        if self.fail_at_round == rnd:
            raise SimulatorFailure(TerminationReason.SIMULATOR_UNPARSEABLE, "no JSON",
                                   raw=["garbage", "more garbage"])
        da = -4 if ("will" in agent_text or "pm" in agent_text) else 2
        da += 6 if "sorry" in agent_text.lower() else 0
        dt = 3 if "?" in agent_text else -1
        t = apply_deltas(state, da, dt)
        stop = "bye" in agent_text.lower()
        return Update(reflection=f"r{rnd}", anger_delta=da, trust_delta=dt,
                      reply=f"reply {rnd} (seed {seed})", keep_going=not stop,
                      stop_reason="goodbye" if stop else "", transition=t)
