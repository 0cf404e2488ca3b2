"""`eibench serve` as a real process: whole conversations over stdio and streamable HTTP.

Each test plays a charm and a defense scenario of the starter pack to their end with the offline
heuristic simulator, then checks what the store recorded and what `eibench report` makes of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp
import pytest
from click.testing import CliRunner
from mcp import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from eibench.cli.main import cli
from eibench.harness.store import Store

from toys import LINES

CHARM = "starter_test_charm_01"
DEFENSE = "starter_test_defense_01"
WAIT = 30.0
TOKEN = "test-token-3f9a"


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EIBENCH_")}
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("OPENAI_API_KEY", None)
    return env


async def play(client: mcp.Client, scenario_id: str) -> tuple[dict[str, Any], list[dict]]:
    started = await client.call_tool("start_conversation", {"scenario_id": scenario_id})
    assert not started.is_error, started.content
    cid = started.structured_content["conversation_id"]
    replies = []
    for line in LINES:
        said = await client.call_tool("say", {"conversation_id": cid,
                                              "message": f"<think>stay specific</think>{line}"})
        assert not said.is_error, said.content
        replies.append(said.structured_content)
        if said.structured_content["over"]:
            break
    ended = await client.call_tool("end_conversation", {"conversation_id": cid})
    assert not ended.is_error, ended.content
    return ended.structured_content, replies


def check_store(db: Path, run_name: str, results: dict[str, tuple[dict, list[dict]]]) -> None:
    with Store(db, readonly=True) as store:
        run = store.get_run(run_name)
        assert run.status == "finished" and run.agent == "mcp"
        assert run.simulator_kind == "heuristic"
        episodes = {e.scenario_id: e for e in store.episodes(run.id)}
        assert set(episodes) == set(results)
        for sid, (result, replies) in results.items():
            ep = episodes[sid]
            assert ep.status == "finished" and ep.termination_reason == result["reason"]
            assert result["reason"] in ("max_rounds", "simulator_stopped")
            assert ep.score == pytest.approx(result["raw_score"])
            turns = store.turns(ep.id)
            agent_turns = [t for t in turns if t.speaker == "agent"]
            user_turns = [t for t in turns if t.speaker == "user" and t.round > 0]
            assert len(agent_turns) == len(user_turns) == len(replies) == result["rounds"]
            assert [t.text for t in user_turns] == [r["reply"] for r in replies]
            assert all(t.think == "stay specific" for t in agent_turns)
            assert [t.idx for t in turns] == list(range(len(turns)))
            assert (ep.anger, ep.trust) == (user_turns[-1].anger_after, user_turns[-1].trust_after)
    report = CliRunner().invoke(cli, ["report", run_name, "--db", str(db), "--format", "json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    assert data["finished"] == 2 and data["unfinished"] == 0
    assert set(data["scenes"]) == {"charm", "defense"}
    mean = sum(r["raw_score"] for r, _ in results.values()) / 2
    assert data["overall"]["mean"] == pytest.approx(100 * mean)


@pytest.mark.slow
async def test_stdio_whole_conversations(tmp_path):
    db = tmp_path / "stdio.db"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "eibench", "serve", "--db", str(db), "--run-name", "over-stdio",
              "--simulator", "heuristic"],
        env=server_env(), cwd=str(tmp_path))
    results = {}
    async with mcp.Client(params, read_timeout_seconds=WAIT) as client:
        for sid in (CHARM, DEFENSE):
            results[sid] = await play(client, sid)
    assert results[CHARM][1][0]["round"] == "1/8"
    check_store(db, "over-stdio", results)


@contextlib.asynccontextmanager
async def http_server(tmp_path: Path, *args: str) -> AsyncIterator[str]:
    """Run `eibench serve --transport http --port 0` and yield its URL; stop it with SIGINT."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eibench", "serve", "--transport", "http", "--port", "0", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=server_env(),
        cwd=str(tmp_path))
    assert proc.stderr is not None
    lines: list[str] = []
    url = None
    try:
        while url is None:
            raw = await asyncio.wait_for(proc.stderr.readline(), WAIT)
            if not raw:
                raise AssertionError("server exited:\n" + "".join(lines))
            line = raw.decode()
            lines.append(line)
            if line.startswith("listening on "):
                url = line.split()[2]

        async def drain() -> None:  # keep the pipe from filling up
            while await proc.stderr.readline():  # type: ignore[union-attr]
                pass

        drainer = asyncio.create_task(drain())
        yield url
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
        await drainer
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.slow
async def test_http_whole_conversations_behind_a_token(tmp_path):
    db = tmp_path / "http.db"
    async with http_server(tmp_path, "--db", str(db), "--run-name", "over-http",
                           "--token", TOKEN) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        async with httpx.AsyncClient(timeout=WAIT) as raw:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                refused = await raw.post(url, json=body, headers=headers)
                assert refused.status_code == 401, headers
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert TOKEN not in refused.text
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                  timeout=httpx2.Timeout(WAIT))
        results = {}
        async with http, mcp.Client(streamable_http_client(url, http_client=http),
                                    read_timeout_seconds=WAIT) as client:
            for sid in (CHARM, DEFENSE):
                results[sid] = await play(client, sid)
    check_store(db, "over-http", results)


def test_non_loopback_host_needs_a_token(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--transport", "http", "--host", "0.0.0.0",
                                      "--db", str(tmp_path / "x.db")], env={"EIBENCH_TOKEN": ""})
    assert result.exit_code == 2
    assert "set a token" in result.output
    assert not (tmp_path / "x.db").exists()


def test_serve_reports_bad_sources_and_runs(tmp_path):
    db = str(tmp_path / "x.db")
    result = CliRunner().invoke(cli, ["serve", "--pack", "no-such-pack", "--db", db])
    assert result.exit_code == 1 and "unknown pack 'no-such-pack'" in result.output
    with Store(db) as store:
        store.create_run(agent="openai:x", simulator="heuristic", simulator_kind="heuristic",
                         name="harness")
    result = CliRunner().invoke(cli, ["serve", "--run-name", "harness", "--db", db])
    assert result.exit_code == 1 and "not recorded by `eibench serve`" in result.output


@pytest.mark.slow
def test_sigterm_over_stdio_closes_open_conversations(tmp_path):
    db = tmp_path / "term.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "eibench", "serve", "--db", str(db), "--run-name", "term"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=server_env(), cwd=str(tmp_path))
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, Any]) -> dict[str, Any] | None:
        proc.stdin.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(proc.stdout.readline()) if "id" in message else None  # type: ignore[union-attr]

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}})
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        started = send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "start_conversation",
                                   "arguments": {"scenario_id": DEFENSE}}})
        assert started is not None
        assert started["result"]["structuredContent"]["conversation_id"].startswith("c1-")
        proc.send_signal(signal.SIGTERM)  # stdin stays open, as a client that hangs would
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    with Store(db, readonly=True) as store:
        run = store.get_run("term")
        (ep,) = store.episodes(run.id)
        assert run.status == "finished"
        assert (ep.status, ep.termination_reason) == ("finished", "cancelled")
        assert ep.error == "the server stopped before the conversation ended"
