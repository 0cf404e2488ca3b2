"""A run killed with SIGKILL mid-way and resumed equals an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eibench.harness.store import Store

TESTS = Path(__file__).resolve().parent


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TESTS) + os.pathsep + env.get("PYTHONPATH", "")
    env["TOY_AGENT_DELAY"] = "0.03"
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "EIBENCH_SIMULATOR"):
        env.pop(key, None)
    return env


def _cmd(db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "eibench", "run", "--agent", "scripted:toys:slow_agent",
            "--simulator", "heuristic", "--pack", "starter", "--split", "test", "--seeds", "2",
            "--concurrency", "3", "--db", str(db), "--run-name", "k", "--json", *extra]


def _turns(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with Store(db, readonly=True) as s:
            return int(s.conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0])
    except Exception:
        return 0


def _dialogues(db: Path) -> dict:
    with Store(db, readonly=True) as s:
        run = s.get_run("k")
        out = {}
        for e in s.episodes(run.id):
            out[(e.scenario_id, e.repeat)] = (
                e.status, e.termination_reason, e.score,
                [(t.idx, t.speaker, t.text, t.anger_after, t.trust_after) for t in s.turns(e.id)])
        return out


@pytest.mark.slow
def test_kill9_then_resume_matches_uninterrupted(tmp_path):
    pytest.importorskip("eibench.simulator.heuristic")
    killed = tmp_path / "killed.db"
    proc = subprocess.Popen(_cmd(killed), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _turns(killed) < 40:
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with Store(killed, readonly=True) as s:
        eps = s.episodes(s.get_run("k").id)
        assert any(e.status != "finished" for e in eps), "kill came too late to test anything"

    resumed = subprocess.run(
        [sys.executable, "-m", "eibench", "run", "--resume", "k", "--db", str(killed), "--json"],
        env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    clean = tmp_path / "clean.db"
    whole = subprocess.run(_cmd(clean), env=_env(), capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]

    a, b = _dialogues(killed), _dialogues(clean)
    assert len(a) == 16 and set(a) == set(b)
    for key in a:
        assert a[key] == b[key], key
    with Store(killed, readonly=True) as s:
        dup = s.conn.execute("SELECT COUNT(*) FROM (SELECT scenario_id, repeat FROM episodes"
                             " GROUP BY run_id, scenario_id, repeat HAVING COUNT(*) > 1)").fetchone()
        assert dup[0] == 0
    ra = json.loads(resumed.stdout)["report"]
    rb = json.loads(whole.stdout)["report"]
    for part in ("overall", "scenes", "termination", "reliability"):
        assert ra[part] == rb[part], part
