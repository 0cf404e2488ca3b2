"""Export a run's transcripts with per-turn states."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from eibench.harness.store import RunRow, Store


def transcripts(store: Store, run: RunRow) -> Iterator[dict[str, Any]]:
    """One record per episode: scenario, outcome and every turn with its state."""
    turns = store.turns_for_run(run.id)
    for e in store.episodes(run.id):
        yield {
            "run": run.name, "run_id": run.id, "episode_id": e.id, "scenario_id": e.scenario_id,
            "scene": e.scene, "language": e.language, "repeat": e.repeat, "seed": e.seed,
            "status": e.status, "termination_reason": e.termination_reason,
            "rounds": e.rounds, "final_state": {"anger": e.anger, "trust": e.trust},
            "score": e.score, "error": e.error,
            "agent": run.agent, "simulator": run.simulator,
            "turns": [{
                "idx": t.idx, "round": t.round, "speaker": t.speaker, "text": t.text,
                "think": t.think, "reflection": t.reflection,
                "state_before": None if t.anger_before is None else
                {"anger": t.anger_before, "trust": t.trust_before},
                "state_after": None if t.anger_after is None else
                {"anger": t.anger_after, "trust": t.trust_after},
                "delta_raw": None if t.anger_delta_raw is None else
                {"anger": t.anger_delta_raw, "trust": t.trust_delta_raw},
                "delta_applied": None if t.anger_delta is None else
                {"anger": t.anger_delta, "trust": t.trust_delta},
                "continue": t.keep_going, "stop_reason": t.stop_reason,
                "latency_ms": round(t.latency_ms, 3),
                "tokens": {"input": t.input_tokens, "output": t.output_tokens},
            } for t in turns.get(e.id, [])],
        }


def transcripts_jsonl(store: Store, run: RunRow) -> Iterator[str]:
    for record in transcripts(store, run):
        yield json.dumps(record, ensure_ascii=False) + "\n"
