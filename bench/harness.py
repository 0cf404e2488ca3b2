"""How close does the harness get to the ideal wall time, and what does it cost per turn?

Starts a local OpenAI-compatible server (in a subprocess, so its CPU is not counted) that answers
both the agent and the LLM simulator after a fixed latency, runs the benchmark's test set through
`eibench run`'s machinery at a given concurrency with the store writing every turn, and prints:

- wall time against the ideal: every episode plays all its rounds, each round costs one agent and
  one simulator call, so with n episodes of r rounds at concurrency c the best possible wall time is
  ceil(n / c) x r x 2 x latency (the baseline, measured from the same run's recorded rounds);
- the harness's own CPU time per turn (this process: loop, clients, store);
- the SQLite write rate the store sustains (turns written one transaction each).

    python bench/harness.py --official ../shared/eibench-official --concurrency 64 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from fakes.openai_server import FakeOpenAIServer

def script(req):
    body = req.body
    if body.get("response_format") or "anger_delta" in json.dumps(body["messages"][:1]):
        n = len(req.last_user_text) % 7
        return json.dumps({"reflection": "1. needs 2. ok 3. new 4. small 5. steady",
                           "anger_delta": -(n % 3), "trust_delta": n % 4,
                           "reply": "Okay. Go on, what happens next?", "continue": "yes",
                           "stop_reason": ""})
    return "<think>be specific</think>I hear you. I will call the supplier at nine tomorrow."

server = FakeOpenAIServer(script, latency=float(sys.argv[2]))
server.start()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT / "tests"), str(latency)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


async def run_bench(args: argparse.Namespace, url: str, db: Path) -> dict[str, float]:
    from eibench.harness.runner import RunConfig, build_components, create_run, execute
    from eibench.harness.store import Store
    from eibench.scenarios import load_scenarios

    if args.official and Path(args.official).is_dir():
        scenarios = load_scenarios(official=args.official, split="test")
        source = "official test set"
    else:
        scenarios = load_scenarios(pack="en", split="test")
        source = "en pack test split"
    if args.limit:
        scenarios = scenarios[: args.limit]
    config = RunConfig(agent="openai:fake-agent", simulator="openai:fake-simulator",
                       official=args.official, concurrency=args.concurrency,
                       agent_base_url=url, simulator_base_url=url, max_tokens=256)
    agent, simulator = build_components(config)
    store = Store(db)
    run = create_run(store, config, scenarios, simulator=simulator, name="bench")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await execute(store, run, agent, simulator, concurrency=args.concurrency)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    eps = store.episodes(run.id)
    turns = sum(len(t) for t in store.turns_for_run(run.id).values())
    rounds = [e.rounds for e in eps]
    failed = sum(e.status != "finished" for e in eps)
    per_round = 2 * args.latency
    waves = math.ceil(len(eps) / args.concurrency)
    ideal = waves * max(rounds) * per_round
    store.close()
    return {"source": source, "episodes": len(eps), "failed": failed, "turns": turns,
            "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal,
            "critical_path_s": max(rounds) * per_round, "cpu_s": cpu,
            "cpu_ms_per_turn": 1000 * cpu / max(turns, 1)}


def write_rate(n: int = 5000) -> float:
    """Turns per second written through Store.record_turn (one transaction each)."""
    from eibench.harness.store import Store, TurnRecord
    from eibench.scenarios import read_pack

    scenario = read_pack("starter", split="test").scenarios[0]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "w.db")
        run = store.create_run(agent="a", simulator="s", simulator_kind="heuristic")
        store.ensure_episodes(run.id, [(scenario, 0, 0)])
        ep = store.episodes(run.id)[0]
        text = "I hear you, and I will call the supplier at nine tomorrow. " * 3
        t0 = time.perf_counter()
        for i in range(n):
            store.record_turn(ep.id, TurnRecord(idx=i, round=i // 2, speaker="agent", text=text,
                                                think="plan", anger_before=50, trust_before=50,
                                                anger_after=48, trust_after=53, anger_delta=-2,
                                                trust_delta=3, input_tokens=900,
                                                output_tokens=60))
        elapsed = time.perf_counter() - t0
        store.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", default=os.environ.get(
        "EIBENCH_OFFICIAL_DIR", str(ROOT.parent / "shared" / "eibench-official")))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    proc, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(run_bench(args, url, Path(tmp) / "bench.db"))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    result["sqlite_turns_per_s"] = write_rate()
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['episodes']} episodes ({result['source']}), {result['turns']} turns, "
          f"concurrency {args.concurrency}, latency {args.latency * 1000:.0f} ms per call, "
          f"{result['failed']} failed")
    print(f"wall {result['wall_s']:.2f} s vs ideal {result['ideal_s']:.2f} s "
          f"(ceil(n/c) x rounds x 2 x latency): ratio {result['ratio']:.3f} (goal <= 1.15)")
    print(f"harness CPU {result['cpu_s']:.2f} s = {result['cpu_ms_per_turn']:.2f} ms per turn "
          "(goal < 2 ms)")
    print(f"SQLite: {result['sqlite_turns_per_s']:.0f} turns/s written (one transaction each)")


if __name__ == "__main__":
    main()
