"""Load test of `eibench serve` over streamable HTTP on loopback, with the heuristic simulator.

N agents (default 200) each hold one conversation at the same time: start a scenario, send a
message, wait for the reply, pause as an agent would while it writes its next message (the think
time), and so on until the conversation is over, then end it. The server runs as its own process
(`eibench serve --transport http --port 0 --token ...`), exactly as a user would start it.

Reported: turns per second, p50/p90/p99/max latency of one `say` (client-measured round trip),
and a check that nothing was lost (every reply the agents saw is a turn in the store, every
episode finished). The same conversations are then played in-process through the engine alone
(the dialogue loop and the store, no MCP, no HTTP) with the same concurrency and think times;
the ratio of the two is the cost of the transport.

    python bench/mcp_load.py                     # 200 conversations, ~1 s think time
    python bench/mcp_load.py --think-ms 0        # saturation: every agent answers at once
    python bench/mcp_load.py --json-out out.json

The goal is p99 < 50 ms per turn at 200 concurrent conversations with agent-like pacing. With
--think-ms 0 the run measures the server's capacity instead (latency is then queueing:
concurrency / throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LINES = [
    "I hear you. Tell me what happened, exactly, from the start.",
    "That was my call and I got it wrong. I'll send you the fixed plan by six tonight.",
    "What would make this right for you, concretely?",
    "I can't do that part, but I can move it to Friday at no cost to you.",
    "Thank you for telling me straight, that helps.",
    "Let's check in tomorrow at ten; I'll be the one calling.",
    "You matter to me, and I'm not going anywhere.",
    "Is there anything I've missed?",
]
TOKEN = "bench-token"


@dataclass
class Played:
    """What one agent saw of its conversation."""

    scenario_id: str
    conversation_id: str = ""
    replies: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    reason: str = ""


Say = Callable[[str, str], Awaitable[dict[str, Any]]]


async def agent(scenario_id: str, start: Callable[[str], Awaitable[str]], say: Say,
                end: Callable[[str], Awaitable[dict[str, Any]]], think_s: float,
                rng: random.Random) -> Played:
    played = Played(scenario_id)
    await asyncio.sleep(rng.uniform(0, think_s))  # agents arrive spread over one think time
    played.conversation_id = await start(scenario_id)
    for i in range(len(LINES)):
        if think_s:
            await asyncio.sleep(rng.uniform(0.5 * think_s, 1.5 * think_s))
        t0 = time.perf_counter()
        result = await say(played.conversation_id, LINES[(i + len(played.replies)) % len(LINES)])
        played.latencies.append(time.perf_counter() - t0)
        played.replies.append(result["reply"])
        if result["over"]:
            break
    played.reason = (await end(played.conversation_id))["reason"]
    return played


def summary(name: str, played: list[Played], wall_s: float, cpu: dict[str, float]
            ) -> dict[str, Any]:
    lat = sorted(x * 1000 for p in played for x in p.latencies)
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {"transport": name, "conversations": len(played), "turns": len(lat),
            "wall_s": round(wall_s, 2), "turns_per_s": round(len(lat) / wall_s, 1),
            "p50_ms": round(q[49], 2), "p90_ms": round(q[89], 2), "p99_ms": round(q[98], 2),
            "max_ms": round(lat[-1], 2),
            "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
            # every conversation also makes one start and one end call
            "server_cpu_ms_per_call": (round(1000 * cpu["server_s"] / (len(lat) + 2 * len(played)),
                                             3) if "server_s" in cpu else None),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


async def run_engine(scenario_ids: list[str], db: Path, think_s: float, seed: int,
                     cpu: dict[str, float]) -> tuple[list[Played], float]:
    """The baseline: the same conversations through the engine alone, in this process."""
    from eibench.server import Engine, ServerSettings

    engine = Engine(ServerSettings(db=str(db), max_conversations=len(scenario_ids) + 8,
                                   run_name="bench-engine"))

    async def start(sid: str) -> str:
        return engine.start(sid).conversation_id

    async def say(cid: str, message: str) -> dict[str, Any]:
        return (await engine.say(cid, message)).model_dump()

    async def end(cid: str) -> dict[str, Any]:
        return (await engine.end(cid)).model_dump()

    rng = random.Random(seed)
    cpu_before = time.process_time()
    async with engine.running():
        t0 = time.perf_counter()
        played = await asyncio.gather(*(agent(sid, start, say, end, think_s,
                                              random.Random(rng.random()))
                                        for sid in scenario_ids))
        wall = time.perf_counter() - t0
    cpu["server_s"] = time.process_time() - cpu_before
    return list(played), wall


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Http11:
    """One keep-alive HTTP/1.1 connection, written by hand so the load generator stays cheap."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{head}\r\n"
            .encode() + body)
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        status = int(status_line.split()[1])
        fields = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
        if "content-length" in fields:
            return status, await self.reader.readexactly(int(fields["content-length"]))
        chunks = []
        while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readexactly(2)
        return status, b"".join(chunks)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


class RawClient:
    """A minimal streamable-HTTP MCP client: one JSON-RPC POST per call, JSON responses.

    It speaks the same wire protocol as the SDK client (protocol 2026-07-28, no session) at a
    small fraction of its CPU cost, so the load generator does not starve the server it measures.
    """

    PROTOCOL = "2026-07-28"

    def __init__(self, url: str) -> None:
        self.http = Http11(url)
        self.next_id = 0
        self.meta = {"io.modelcontextprotocol/protocolVersion": self.PROTOCOL,
                     "io.modelcontextprotocol/clientCapabilities": {},
                     "io.modelcontextprotocol/clientInfo": {"name": "mcp_load", "version": "1"}}

    async def call(self, tool: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                "params": {"name": tool, "arguments": args, "_meta": self.meta}}
        headers = {"authorization": f"Bearer {TOKEN}", "mcp-protocol-version": self.PROTOCOL,
                   "mcp-method": "tools/call", "mcp-name": tool,
                   "accept": "application/json, text/event-stream"}
        status, raw = await self.http.post(json.dumps(body).encode(), headers)
        data = json.loads(raw)
        if status != 200 or "error" in data or data["result"].get("isError"):
            raise RuntimeError(f"{tool}: HTTP {status}: {raw[:300]!r}")
        result: dict[str, Any] = data["result"]["structuredContent"]
        return result

    async def start(self, scenario_id: str) -> str:
        return str((await self.call("start_conversation", scenario_id=scenario_id))
                   ["conversation_id"])

    async def say(self, cid: str, message: str) -> dict[str, Any]:
        return await self.call("say", conversation_id=cid, message=message)

    async def end(self, cid: str) -> dict[str, Any]:
        return await self.call("end_conversation", conversation_id=cid)


async def start_server(db: Path, n: int) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EIBENCH_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eibench", "serve", "--transport", "http", "--port", "0",
        "--db", str(db), "--run-name", "bench-http", "--simulator", "heuristic",
        "--max-conversations", str(n + 8), "--token", TOKEN,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        if not line:
            raise RuntimeError("the server exited before listening")
        if line.startswith("listening on "):
            return proc, line.split()[2]


async def run_http(scenario_ids: list[str], db: Path, think_s: float, seed: int,
                   cpu: dict[str, float], client: str) -> tuple[list[Played], float]:
    import httpx2
    import mcp
    from mcp.client.streamable_http import streamable_http_client

    proc, url = await start_server(db, len(scenario_ids))
    assert proc.stderr is not None
    server_log: list[str] = []

    async def drain() -> None:
        while line := await proc.stderr.readline():  # type: ignore[union-attr]
            server_log.append(line.decode(errors="replace"))

    drainer = asyncio.create_task(drain())
    n = len(scenario_ids)
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(120),
        limits=httpx2.Limits(max_connections=n + 16, max_keepalive_connections=n + 16))
    rng = random.Random(seed)

    async def one(sid: str, agent_rng: random.Random) -> Played:
        async with mcp.Client(streamable_http_client(url, http_client=http),
                              read_timeout_seconds=120) as client:

            async def call(tool: str, **args: Any) -> dict[str, Any]:
                result = await client.call_tool(tool, args)
                if result.is_error:
                    raise RuntimeError(f"{tool}: {result.content}")
                assert result.structured_content is not None
                return result.structured_content

            async def start(s: str) -> str:
                return str((await call("start_conversation", scenario_id=s))["conversation_id"])

            return await agent(sid, start,
                               lambda cid, m: call("say", conversation_id=cid, message=m),
                               lambda cid: call("end_conversation", conversation_id=cid),
                               think_s, agent_rng)

    server_before = process_cpu(proc.pid)
    cpu_before = time.process_time()
    async def lean(sid: str, agent_rng: random.Random) -> Played:
        call = RawClient(url)
        try:
            return await agent(sid, call.start, call.say, call.end, think_s, agent_rng)
        finally:
            await call.http.close()

    player = one if client == "sdk" else lean
    try:
        async with http:
            t0 = time.perf_counter()
            played = await asyncio.gather(*(player(sid, random.Random(rng.random()))
                                            for sid in scenario_ids))
            wall = time.perf_counter() - t0
        server_after = process_cpu(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
        await drainer
    cpu["client_s"] = time.process_time() - cpu_before
    if server_log:
        (db.parent / "server.log").write_text("".join(server_log), encoding="utf-8")
    if server_before is not None and server_after is not None:
        cpu["server_s"] = server_after - server_before  # the load phase only, no start-up
    return list(played), wall


def verify(db: Path, run_name: str, played: list[Played]) -> dict[str, Any]:
    """Every reply an agent saw is a turn in the store; every episode finished."""
    from eibench.harness.store import Store

    with Store(db, readonly=True) as store:
        run = store.get_run(run_name)
        episodes = store.episodes(run.id)
        turns = store.turns_for_run(run.id)
        by_cid = {p.conversation_id: p for p in played}
        problems = []
        if len(episodes) != len(played):
            problems.append(f"{len(episodes)} episodes for {len(played)} conversations")
        stored_turns = 0
        for ep in episodes:
            cid = next((c for c in by_cid if c.startswith(f"c{ep.id}-")), None)
            if cid is None:
                problems.append(f"episode {ep.id} has no conversation")
                continue
            p = by_cid[cid]
            user = [t.text for t in turns.get(ep.id, []) if t.speaker == "user" and t.round > 0]
            agent_n = sum(1 for t in turns.get(ep.id, []) if t.speaker == "agent")
            stored_turns += len(user)
            if user != p.replies or agent_n != len(p.replies):
                problems.append(f"episode {ep.id}: {len(user)} replies stored, "
                                f"{len(p.replies)} seen")
            if ep.status != "finished" or ep.termination_reason != p.reason:
                error = (ep.error or "").strip().splitlines()[-1:] or [""]
                problems.append(f"episode {ep.id}: {ep.status}/{ep.termination_reason} "
                                f"{error[0][:300]}")
        return {"episodes": len(episodes), "turns_in_store": stored_turns,
                "turns_seen": sum(len(p.replies) for p in played), "problems": problems,
                "run_status": store.get_run(run.id).status}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--think-ms", type=float, default=1000.0,
                        help="Mean pause of an agent before each message (uniform +-50%%).")
    parser.add_argument("--client", choices=["raw", "sdk"], default="raw",
                        help="Load generator: a minimal JSON-RPC client (raw), or one official "
                             "mcp SDK client per conversation (sdk; it costs the load-generating "
                             "process several ms of CPU per call).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    from eibench.scenarios import load_scenarios

    ids = [s.id for s in load_scenarios(pack="starter", split="test")]
    scenario_ids = [ids[i % len(ids)] for i in range(args.conversations)]
    think_s = args.think_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "load.db"
        http_cpu: dict[str, float] = {}
        played, wall = await run_http(scenario_ids, db, think_s, args.seed, http_cpu,
                                      args.client)
        http = summary(f"http/{args.client}", played, wall, http_cpu)
        http["check"] = verify(db, "bench-http", played)
        base_cpu: dict[str, float] = {}
        base_played, base_wall = await run_engine(scenario_ids, db, think_s, args.seed, base_cpu)
        base = summary("engine", base_played, base_wall, base_cpu)
        base["check"] = verify(db, "bench-engine", base_played)
        log = db.parent / "server.log"
        server_log = log.read_text(encoding="utf-8") if log.exists() else ""
    ratio = {k: round(http[k] / base[k], 2) if base[k] else None
             for k in ("turns_per_s", "p50_ms", "p99_ms")}
    out = {"conversations": args.conversations, "think_ms": args.think_ms, "client": args.client,
           "cpus": os.cpu_count(), "python": sys.version.split()[0], "http": http,
           "engine": base, "http_over_engine": ratio}
    for row in (http, base):
        check = row["check"]
        print(f"{row['transport']:>8}: {row['turns']} turns in {row['wall_s']} s = "
              f"{row['turns_per_s']} turns/s; say p50 {row['p50_ms']} ms, p90 {row['p90_ms']} ms,"
              f" p99 {row['p99_ms']} ms, max {row['max_ms']} ms; store {check['turns_in_store']}"
              f"/{check['turns_seen']} turns, {check['episodes']} episodes, "
              f"{len(check['problems'])} problems; cpu {row['cpu_s']} "
              f"({row['server_cpu_ms_per_call']} ms server CPU per call); "
              f"load {row['load_avg_1m']}")
    print(f"http / engine: throughput x{ratio['turns_per_s']}, p50 x{ratio['p50_ms']}, "
          f"p99 x{ratio['p99_ms']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    lost = http["check"]["problems"] + base["check"]["problems"]
    for problem in lost[:20]:
        print("LOST:", problem)
    if lost and server_log:
        print("server log (tail):\n" + "".join(server_log.splitlines(True)[-40:]))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
