"""The MCP server: tools, resources and a prompt over one :class:`Engine`.

The lifespan yields the engine, so every tool reads the same store, simulator and open
conversations (the streamable HTTP transport enters the lifespan once for all its sessions).
Refusals raise :class:`ToolError` with a message the agent can act on; nothing an agent sends can
take the server down. Every handler is ``async``: the SDK runs plain functions in worker threads,
and the store and the open conversations belong to the event loop's thread.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, ToolAnnotations
from pydantic import Field

from eibench import __version__
from eibench.scenarios.model import Scenario
from eibench.server.catalogue import agent_brief, open_cue
from eibench.server.conversations import Engine
from eibench.server.errors import ConversationError
from eibench.server.models import ConversationResult, ConversationStarted, SayResult, ScenarioList
from eibench.server.settings import ServerSettings
from eibench.simulator.types import Simulator

F = TypeVar("F", bound=Callable[..., Any])
EngineContext = Context[Engine, Any]
SceneName = Literal["support", "defense", "repair", "charm"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

INSTRUCTIONS = """\
eibench: practise and measure emotionally intelligent conversation with a simulated person.

The person has a hidden state (anger, trust) that moves after each of your messages; the final
state is scored against anchors written into the scenario. How to take part:
1. list_scenarios to pick a scenario (or take the id you were given).
2. start_conversation(scenario_id): you get your persona (agent_brief), the person's opening line
   (in charm scenarios you speak first) and the number of rounds.
3. say(conversation_id, message) once per turn with only the words you say out loud, in
   character. A <think>...</think> block at the start is recorded but not heard.
4. When say reports over=true (or whenever you choose to stop), end_conversation for the score.
"""


def _engine(ctx: EngineContext) -> Engine:
    return ctx.request_context.lifespan_context


def _tool(server: MCPServer[Engine], *, read_only: bool = False) -> Callable[[F], F]:
    """Register a tool whose cleaned docstring is its description."""

    def register(fn: F) -> F:
        server.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""),
                        annotations=ToolAnnotations(read_only_hint=read_only,
                                                    destructive_hint=False,
                                                    open_world_hint=False))
        return fn

    return register


def create_server(settings: ServerSettings | None = None, *, engine: Engine | None = None,
                  simulator: Simulator | None = None,
                  scenarios: Sequence[Scenario] | None = None,
                  log_level: LogLevel = "WARNING") -> MCPServer[Engine]:
    """Build the MCP server.

    Args:
        settings: the configuration (defaults: heuristic simulator, starter pack, ./eibench.db).
        engine: use this engine (its settings win); otherwise one is built from ``settings``.
        simulator: for a new engine, this simulator instead of ``settings.simulator``.
        scenarios: for a new engine, these scenarios instead of loading ``settings`` ones.
        log_level: the server's logging threshold (stderr). INFO logs every refused call; the
            default keeps the event loop free of per-request log formatting.

    Raises:
        ScenarioError, ValueError, ImportError: the scenarios or the simulator cannot be loaded.
    """
    if engine is None:
        engine = Engine(settings or ServerSettings(), simulator=simulator, scenarios=scenarios)
    eng = engine

    @asynccontextmanager
    async def lifespan(_: MCPServer[Engine]) -> AsyncIterator[Engine]:
        async with eng.running():
            yield eng

    server: MCPServer[Engine] = MCPServer(
        "eibench", title="eibench", version=__version__, instructions=INSTRUCTIONS,
        lifespan=lifespan, log_level=log_level)
    reveal = eng.settings.reveal_state

    @_tool(server, read_only=True)
    async def list_scenarios(
        ctx: EngineContext,
        scene: Annotated[SceneName | None, Field(
            description="Only this scene type.")] = None,
        split: Annotated[str | None, Field(description="Only this split: test or train.")] = None,
        language: Annotated[str | None, Field(description="Only this language, e.g. en, zh.")
                            ] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many.")] = 50,
    ) -> ScenarioList:
        """List the scenarios this server offers, with their ids.

        Scenes: support (comfort someone in distress), defense (calm a confrontation while
        holding a fair boundary), repair (win back trust your character lost), charm (build
        rapport with someone new; you speak first). Pass an id to start_conversation.
        """
        catalogue = _engine(ctx).catalogue
        found = catalogue.select(scene=scene, split=split, language=language)
        return ScenarioList(scenarios=[catalogue.summary(s) for s in found[:limit]],
                            total=len(found))

    @_tool(server)
    async def start_conversation(
        ctx: EngineContext,
        scenario_id: Annotated[str, Field(description="An id from list_scenarios.",
                                          max_length=300)],
    ) -> ConversationStarted:
        """Start a conversation with the simulated person of a scenario.

        Returns your conversation_id, your persona and speaking rules (agent_brief: take it as
        your role), the person's opening_line (null in charm scenarios, where you open) and
        max_rounds (usually 8). Then call say once per turn. The person's feelings are hidden;
        they show only in what they say.
        """
        try:
            return _engine(ctx).start(scenario_id)
        except ConversationError as exc:
            raise ToolError(str(exc)) from exc

    @_tool(server)
    async def say(
        ctx: EngineContext,
        conversation_id: Annotated[str, Field(description="From start_conversation.",
                                              max_length=100)],
        message: Annotated[str, Field(description="Your next turn: only the words you say out "
                                                  "loud, optionally after a <think>...</think> "
                                                  "block that is recorded but not heard.")],
    ) -> SayResult:
        """Say one message to the person and get their reply.

        Speak in character, as in a real conversation: one to three natural sentences, no
        narration, no stage directions, no lists or headings. You may begin with a short
        <think>...</think> block: it is recorded with the turn and never heard. Each call is one
        round. The result has the person's reply, the round (e.g. '3/8') and over: when over is
        true the person ended the talk or the rounds ran out, and further say calls are refused;
        call end_conversation for the score.
        """
        try:
            return await _engine(ctx).say(conversation_id, message)
        except ConversationError as exc:
            raise ToolError(str(exc)) from exc

    @_tool(server)
    async def end_conversation(
        ctx: EngineContext,
        conversation_id: Annotated[str, Field(description="From start_conversation.",
                                              max_length=100)],
    ) -> ConversationResult:
        """End a conversation and get its score.

        Call it when say reports over=true, or earlier to stop (the conversation is then
        recorded as cancelled and scored on the state reached). Returns the score on the
        benchmark's 100x scale (+100: both success anchors reached, -100: both failure anchors,
        0: no change), the raw score in [-1, 1], why it ended and the hidden state after every
        round. Calling it again returns the same result.
        """
        try:
            return await _engine(ctx).end(conversation_id)
        except ConversationError as exc:
            raise ToolError(str(exc)) from exc

    @server.resource("eibench://scenarios/{scenario_id}", name="scenario",
                     mime_type="application/json",
                     description="A scenario as the agent may see it: title, scene, your brief "
                                 "and the opening line" + (", plus the user's persona and the "
                                                           "anchors" if reveal else "") + ".")
    async def scenario_resource(scenario_id: str, ctx: EngineContext) -> str:
        eng_ = _engine(ctx)
        try:
            scenario = eng_.catalogue.get(scenario_id)
        except ConversationError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        view = eng_.catalogue.public_view(scenario, reveal=eng_.settings.reveal_state)
        return json.dumps(view, ensure_ascii=False, indent=1)

    @server.resource("eibench://conversations/{conversation_id}", name="conversation",
                     mime_type="application/json",
                     description="The transcript of a conversation so far (the hidden state "
                                 "appears once it is over, or with --reveal-state).")
    async def conversation_resource(conversation_id: str, ctx: EngineContext) -> str:
        try:
            transcript = _engine(ctx).transcript(conversation_id)
        except ConversationError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except Exception as exc:  # never let a store hiccup look like a crash with no message
            raise ResourceError(f"cannot read conversation {conversation_id}: {exc}") from exc
        return transcript.model_dump_json(indent=1)

    @server.prompt(name="agent_system_prompt", title="System prompt for a scenario",
                   description="A ready system prompt for the agent of a scenario: its persona, "
                               "how to speak, and how to hold the conversation through this "
                               "server's tools.")
    async def agent_system_prompt(
        scenario_id: Annotated[str, Field(description="An id from list_scenarios.")],
        ctx: EngineContext,
    ) -> str:
        try:
            scenario = _engine(ctx).catalogue.get(scenario_id)
        except ConversationError as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc
        return system_prompt(scenario, _engine(ctx).catalogue.key(scenario))

    return server


def system_prompt(scenario: Scenario, scenario_id: str) -> str:
    """The agent's persona and speaking rules, plus how to play the scenario through the tools."""
    if scenario.agent_opens:
        first = (f"You speak first: {open_cue(scenario)} Send your opening words with say.")
    else:
        first = "The other person speaks first; start_conversation returns their opening line."
    return (
        agent_brief(scenario)
        + "\n\n### How to hold this conversation\n"
        f"Call start_conversation with scenario_id {scenario_id!r}. {first} Then send each of "
        "your turns with say(conversation_id, message), where message is only what you say out "
        "loud (a <think>...</think> block before it is recorded but not heard). Read each reply "
        "and answer it. Stop when say reports over=true, then call end_conversation for the "
        f"score. You have at most {scenario.max_rounds} turns."
    )
