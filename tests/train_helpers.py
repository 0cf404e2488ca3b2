"""Doubles shared by the training tests: a seeded agent and a recorded run."""

from __future__ import annotations

from eibench.harness.agents import AgentTurn, build_agent_messages
from eibench.harness.runner import RunConfig, create_run, execute
from eibench.harness.think import split_think

from toys import LINES


class SeededAgent:
    """Lines depend on the seed, so the rollouts of one group differ; records what it saw.

    Seeds ending in 3 answer without a think block; seeds ending in 4 leave the think empty
    (malformed).
    """

    name = "seeded"

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int, int], list[dict[str, str]]] = {}

    async def reply(self, scenario, history, *, seed=0):
        rnd = sum(1 for u in history if u.speaker == "agent") + 1
        self.seen[(scenario.id, seed // 1000, rnd)] = [dict(m) for m in
                                                       build_agent_messages(scenario, history)]
        line = LINES[(seed // 1000 * 3 + rnd) % len(LINES)]
        base = seed // 1000
        if base % 10 == 3:
            raw = line
        elif base % 10 == 4:
            raw = f"<think></think>{line}"
        else:
            raw = f"<think>round {rnd}: be concrete</think>{line}"
        split = split_think(raw)
        return AgentTurn(text=split.text, think=split.think, raw=raw, has_think=split.has_think,
                         malformed=split.malformed)


async def record(store, scenarios, simulator, *, seeds=3, seed=2, name="r1", agent=None):
    agent = agent or SeededAgent()
    config = RunConfig(agent="seeded", simulator=simulator.name, pack="starter", split="train",
                       seeds=seeds, seed=seed)
    run = create_run(store, config, scenarios, simulator=simulator, name=name)
    await execute(store, run, agent, simulator, concurrency=4)
    return run, agent
