"""A full run over the official test set survives a server that fails 20% of calls."""

from __future__ import annotations

import json
import random

import pytest

from eibench.harness.agents import LLMAgent
from eibench.harness.report import build_report
from eibench.harness.runner import RunConfig, create_run, execute
from eibench.harness.store import Store
from eibench.scenarios import read_official
from eibench.simulator.backends import get_backend
from eibench.simulator.backends.managed import RetryPolicy
from eibench.simulator.llm import LLMSimulator

from fakes.openai_server import FakeOpenAIServer
from fakes.server import Fault


def script(request):
    body = request.body
    if "response_format" in body or "anger_delta" in json.dumps(body["messages"][0]):
        rng = random.Random(request.last_user_text)
        return json.dumps({"reflection": "1 2 3 4 5", "anger_delta": rng.randint(-6, 4),
                           "trust_delta": rng.randint(-3, 6), "reply": "Hm. Go on.",
                           "continue": "yes" if rng.random() > 0.1 else "no",
                           "stop_reason": ""})
    return "<think>short</think>I understand. I'll sort it out by Friday at noon."


@pytest.mark.slow
async def test_full_official_run_with_20_percent_faults(official_dir, tmp_path):
    scenarios = read_official(official_dir, split="test").scenarios
    assert len(scenarios) == 213
    faults = [Fault.rate_limit(0.0), Fault.server_error(500), Fault.server_error(503),
              Fault.timeout(1.0), Fault.malformed()]
    policy = RetryPolicy(max_attempts=8, base_delay=0.005, max_delay=0.05)
    with FakeOpenAIServer(script, fault_rate=0.2, faults=faults, seed=11) as server:
        def backend(name):
            return get_backend(f"openai:{name}", base_url=server.url, timeout=0.5,
                               retry_policy=policy, concurrency=64)

        agent = LLMAgent(backend("agent"))
        simulator = LLMSimulator(backend("simulator"))
        store = Store(tmp_path / "faults.db")
        run = create_run(store, RunConfig(agent="openai:agent", simulator="openai:simulator",
                                          official=str(official_dir)), scenarios,
                         simulator=simulator)
        await execute(store, run, agent, simulator, concurrency=64)
        assert server.faults_injected > 300  # the faults really happened
    episodes = store.episodes(run.id)
    assert len(episodes) == 213
    for e in episodes:
        assert e.status in ("finished", "failed"), e
        assert e.score is not None or e.termination_reason, e
    report = build_report(store, run)
    assert report.unfinished == 0
    # retries absorb transient faults: nearly every episode ends normally
    normal = report.termination.get("max_rounds", 0) + report.termination.get(
        "simulator_stopped", 0)
    assert normal >= 200, report.termination
    store.close()
