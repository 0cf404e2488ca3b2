"""Conversations driven one agent message at a time over the shared dialogue loop.

The :class:`Engine` owns everything a server shares between its clients: the store and the run it
records into, the simulator, the scenario catalogue and the open conversations. Every turn goes
through :class:`eibench.harness.loop.Dialogue` and is written to the store as it happens, so a
conversation held over MCP is an episode like any other and `eibench report` reads it as such.

The engine knows nothing about MCP: :mod:`eibench.server.app` maps its methods to tools, and its
:class:`~eibench.server.errors.ConversationError` to tool errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from eibench.harness.agents import AGENT_PROMPT_VERSION, AgentTurn
from eibench.harness.loop import Dialogue, DialogueResult, score_state
from eibench.harness.runner import StoreRecorder, finish
from eibench.harness.store import EpisodeRow, RunRow, Store, StoreError
from eibench.harness.think import SplitOutput, split_think
from eibench.scenarios.loaders import ScenarioError, load_scenarios
from eibench.scenarios.model import Scenario
from eibench.server.catalogue import Catalogue, agent_brief, open_cue
from eibench.server.errors import ConversationError
from eibench.server.models import (
    ConversationResult,
    ConversationStarted,
    SayResult,
    StatePoint,
    StateView,
    Transcript,
    TranscriptTurn,
)
from eibench.server.settings import ServerSettings
from eibench.simulator.state import State
from eibench.simulator.types import Simulator, SimulatorFailure, TerminationReason

log = logging.getLogger(__name__)

#: What runs created by the server carry in their config, so a reused --run-name is checked.
DOOR = "mcp"
AGENT_NAME = "mcp"
_ID = re.compile(r"c(\d{1,18})-([0-9a-f]{16})")
SERVER_STOPPED = "the server stopped before the conversation ended"
CloseListener = Callable[[str, TerminationReason], None]


@dataclass
class _Call:
    """One `say` call; ``abandoned`` once its caller was cancelled."""

    abandoned: bool = False


@dataclass(eq=False)
class Conversation:
    """One open conversation: its episode, the live dialogue, and a lock serialising turns."""

    id: str
    episode: EpisodeRow
    scenario: Scenario
    dialogue: Dialogue
    recorder: StoreRecorder
    last_active: float
    last_reply_at: float = field(default_factory=time.perf_counter)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False
    #: a reply produced after the agent's request was cancelled; shown on its next `say`
    unseen: SayResult | None = None


def _retrieve(task: asyncio.Future[SayResult]) -> None:
    """Collect the outcome of a turn nobody awaits any more (its caller was cancelled)."""
    if not task.cancelled() and task.exception() is not None:
        log.info("a turn finished after its caller left: %r", task.exception())


class Engine:
    """The shared state of one server.

    Args:
        settings: the server's configuration.
        simulator: use this simulator instead of building ``settings.simulator`` (tests).
        scenarios: offer these scenarios instead of loading ``settings.pack``/``official``.
        clock: a monotonic clock in seconds, for idle timeouts.

    Raises:
        ScenarioError: the scenarios cannot be loaded, or there are none.
        ValueError, ImportError: the simulator cannot be built.
    """

    def __init__(self, settings: ServerSettings, *, simulator: Simulator | None = None,
                 scenarios: Sequence[Scenario] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        if simulator is None:
            from eibench.simulator.registry import make_simulator

            simulator = make_simulator(settings.simulator, base_url=settings.base_url)
        self.simulator = simulator
        if scenarios is None:
            scenarios = load_scenarios(pack=settings.pack, official=settings.official)
        if not scenarios:
            raise ScenarioError(f"no scenarios in {settings.source}")
        self.catalogue = Catalogue(scenarios)
        self.clock = clock
        self.listeners: list[CloseListener] = []
        self._secret = secrets.token_bytes(16)
        self._open: dict[str, Conversation] = {}
        self._started: set[int] = set()
        self._store: Store | None = None
        self._run: RunRow | None = None
        self._users = 0
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the engine is not open (use `async with engine.running()`)")
        return self._store

    @property
    def run(self) -> RunRow:
        if self._run is None:
            raise RuntimeError("the engine is not open (use `async with engine.running()`)")
        return self._run

    @property
    def open_count(self) -> int:
        return len(self._open)

    def open(self) -> RunRow:
        """Open the store and create the run (or reuse it); idempotent."""
        if self._store is not None:
            return self.run
        store = Store(self.settings.db)
        try:
            if self._run is not None:
                store.set_run_status(self._run.id, "running")
            else:
                self._run = self._prepare_run(store)
        except BaseException:
            store.close()
            raise
        self._store = store
        return self._run

    def close(self, why: str = SERVER_STOPPED) -> None:
        """Close every open conversation (recorded as cancelled), finish the run, close the store."""
        if self._store is None:
            return
        for conv in list(self._open.values()):
            self._cancel(conv, why)
        self._store.set_run_status(self.run.id, "finished")
        self._store.close()
        self._store = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Engine]:
        """Open on first entry, sweep idle conversations while open, close on the last exit."""
        if self._users == 0:
            self.open()
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="eibench-sweeper")
        self._users += 1
        try:
            yield self
        finally:
            self._users -= 1
            if self._users == 0:
                if self._sweeper is not None:
                    self._sweeper.cancel()
                    self._sweeper = None
                self.close()

    def _prepare_run(self, store: Store) -> RunRow:
        name = self.settings.run_name
        existing = next((r for r in store.list_runs() if name and r.name == name), None)
        if existing is None:
            return store.create_run(
                agent=AGENT_NAME, simulator=self.simulator.name,
                simulator_kind=self.simulator.kind, name=name,
                prompt_hash=self.simulator.prompt_hash, agent_prompt_version=AGENT_PROMPT_VERSION,
                seed=self.settings.seed, source=self.settings.source,
                config={"door": DOOR, "agent": AGENT_NAME, "simulator": self.settings.simulator,
                        "pack": self.settings.pack, "official": self.settings.official,
                        "reveal_state": self.settings.reveal_state})
        if existing.config_dict.get("door") != DOOR:
            raise StoreError(f"run {name!r} was not recorded by `eibench serve`; choose another "
                             "--run-name (an MCP server only adds to its own runs)")
        if existing.simulator != self.simulator.name:
            raise StoreError(f"run {name!r} used the simulator {existing.simulator!r}, this "
                             f"server uses {self.simulator.name!r}; one run, one simulator: "
                             "choose another --run-name")
        for ep in store.episodes(existing.id, status=("pending", "running")):
            scenario = store.get_scenario(ep.scenario_key)
            state = State(ep.anger if ep.anger is not None else scenario.start.anger,
                          ep.trust if ep.trust is not None else scenario.start.trust)
            store.finish_episode(ep.id, reason=TerminationReason.CANCELLED.value,
                                 anger=state.anger, trust=state.trust,
                                 score=score_state(scenario, state), error=SERVER_STOPPED)
        store.set_run_status(existing.id, "running")
        return store.get_run(existing.id)

    async def _sweep_forever(self) -> None:
        interval = min(max(self.settings.idle_timeout_s / 4, 0.01), 30.0)
        while True:
            await asyncio.sleep(interval)
            try:
                self.sweep()
            except Exception:  # a failed sweep must not stop later ones
                log.exception("idle sweep failed")

    def sweep(self) -> list[str]:
        """Close conversations idle for longer than the timeout; return their ids."""
        now = self.clock()
        limit = self.settings.idle_timeout_s
        closed = []
        for conv in list(self._open.values()):
            if conv.lock.locked() or now - conv.last_active < limit:
                continue
            self._cancel(conv, f"closed by the server after {limit:g} s without a message")
            closed.append(conv.id)
        return closed

    # -- ids -----------------------------------------------------------------------------------

    def _sign(self, episode_id: int) -> str:
        msg = f"{self.run.id}:{episode_id}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:16]

    def _verify(self, conversation_id: str) -> int:
        """The episode id of a conversation this server started; explain any other id."""
        cid = conversation_id.strip()
        m = _ID.fullmatch(cid)
        if m is None:
            raise ConversationError(
                f"{conversation_id!r} is not a conversation id: pass the conversation_id that "
                "start_conversation returned (it looks like 'c12-0123456789abcdef')")
        episode_id = int(m[1])
        if hmac.compare_digest(m[2], self._sign(episode_id)):
            return episode_id
        if episode_id in self._started:
            raise ConversationError(f"conversation id {cid!r} is damaged: copy the "
                                    "conversation_id exactly as start_conversation returned it")
        try:
            episode = self.store.get_episode(episode_id)
        except StoreError:
            episode = None
        if episode is not None and episode.run_id != self.run.id:
            other = self.store.get_run(episode.run_id).name
            raise ConversationError(
                f"conversation {cid!r} belongs to run {other!r}, not to this server's run "
                f"{self.run.name!r}: it was started on another server. Start a new one here "
                "with start_conversation.")
        raise ConversationError(f"unknown conversation {cid!r}: this server did not start it. "
                                "Start one with start_conversation.")

    # -- the tools -----------------------------------------------------------------------------

    def start(self, scenario_id: str) -> ConversationStarted:
        """Open a conversation on ``scenario_id``; record the user's opening line."""
        scenario = self.catalogue.get(scenario_id)
        limit = self.settings.max_conversations
        if len(self._open) >= limit:
            raise ConversationError(
                f"{len(self._open)} conversations are open, the most this server allows "
                f"(--max-conversations {limit}); end one with end_conversation first")
        store = self.store
        episode = store.new_episode(self.run.id, scenario, seed=self.settings.seed)
        store.start_episode(episode.id)
        recorder = StoreRecorder(store, episode.id)
        try:
            dialogue = Dialogue.start(scenario, self.simulator, recorder)
        except SimulatorFailure as exc:
            store.finish_episode(episode.id, reason=exc.reason.value, anger=scenario.start.anger,
                                 trust=scenario.start.trust, score=None, error=str(exc),
                                 status="failed")
            raise ConversationError(f"the simulator could not open {scenario.id}: {exc}") from exc
        except Exception as exc:
            store.finish_episode(episode.id, reason=TerminationReason.HARNESS_ERROR.value,
                                 anger=scenario.start.anger, trust=scenario.start.trust,
                                 score=None, error=traceback.format_exc(limit=8),
                                 status="failed")
            raise ConversationError(f"the simulator could not open {scenario.id}: "
                                    f"{type(exc).__name__}") from exc
        cid = f"c{episode.id}-{self._sign(episode.id)}"
        self._started.add(episode.id)
        self._open[cid] = Conversation(id=cid, episode=episode, scenario=scenario,
                                       dialogue=dialogue, recorder=recorder,
                                       last_active=self.clock())
        max_rounds = scenario.max_rounds
        if scenario.agent_opens:
            next_step = (f"You speak first. {open_cue(scenario)} Call say with your opening "
                         f"words. You have up to {max_rounds} messages.")
        else:
            next_step = (f"The user spoke first (opening_line). Call say with your reply. You "
                         f"have up to {max_rounds} messages; the user may end the talk sooner.")
        return ConversationStarted(
            conversation_id=cid, scenario_id=self.catalogue.key(scenario), title=scenario.title,
            scene=scenario.scene.value, language=scenario.language,
            agent_brief=agent_brief(scenario), opening_line=scenario.opening_line,
            agent_opens=scenario.agent_opens, max_rounds=max_rounds, next_step=next_step,
            state=self._state(dialogue.state) if self.settings.reveal_state else None)

    async def say(self, conversation_id: str, message: str) -> SayResult:
        """Send one agent message; return the user's reply.

        The turn runs to its end even if the caller is cancelled meanwhile, so the record stays
        whole; the reply is then handed over on the next call.
        """
        conv = self._live(conversation_id)
        limit = self.settings.max_message_chars
        if len(message) > limit:
            raise ConversationError(f"message is {len(message)} characters; this server accepts "
                                    f"at most {limit}. Nothing was sent. Spoken replies of one "
                                    "to three sentences work best.")
        split = split_think(message)
        if not split.text:
            what = "only a think block" if split.has_think else "nothing to say"
            raise ConversationError(f"message has no spoken words ({what}); nothing was sent. "
                                    "Write the words you say out loud after any think block.")
        call = _Call()
        task = asyncio.ensure_future(self._say_locked(conv, split, message, call))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            call.abandoned = True
            if task.done() and not task.cancelled() and task.exception() is None \
                    and not task.result().over:
                conv.unseen = task.result()
            task.add_done_callback(_retrieve)
            raise

    async def _say_locked(self, conv: Conversation, split: SplitOutput, raw: str,
                          call: _Call) -> SayResult:
        result = await self._say_turn(conv, split, raw)
        if call.abandoned and not result.over:
            conv.unseen = result
        return result

    async def _say_turn(self, conv: Conversation, split: SplitOutput, raw: str) -> SayResult:
        async with conv.lock:
            if conv.closed:
                raise ConversationError(self._over_message(conv.id, conv.episode.id))
            if conv.unseen is not None:
                seen, conv.unseen = conv.unseen, None
                raise ConversationError(
                    f"your previous message was answered after your request was cancelled, so "
                    f"you have not seen the reply. The user said: {seen.reply!r} (round "
                    f"{seen.round}). This message was not sent: answer that reply instead.")
            dialogue = conv.dialogue
            turn = AgentTurn(text=split.text, think=split.think, raw=raw,
                             has_think=split.has_think, malformed=split.malformed,
                             latency_s=time.perf_counter() - conv.last_reply_at)
            dialogue.accept_agent(turn, conv.recorder)
            try:
                update = await dialogue.answer(self.simulator, conv.recorder,
                                               seed=self.settings.seed)
            except SimulatorFailure as exc:
                detail = json.dumps({"message": str(exc), "raw": exc.raw}, ensure_ascii=False)
                failed = dialogue.result(exc.reason, detail)
                failed.unrecorded_usage = exc.usage
                self._finish(conv, failed)
                return self._say_result(conv, None, split.has_think, exc.reason)
            except asyncio.CancelledError:
                self._finish(conv, dialogue.result(TerminationReason.CANCELLED, SERVER_STOPPED))
                raise
            except Exception:
                log.exception("simulator step failed in %s", conv.id)
                self._finish(conv, dialogue.result(TerminationReason.HARNESS_ERROR,
                                                   traceback.format_exc(limit=8)))
                return self._say_result(conv, None, split.has_think,
                                        TerminationReason.HARNESS_ERROR)
            conv.last_active = self.clock()
            conv.last_reply_at = time.perf_counter()
            reason = None
            if dialogue.over:
                reason = (TerminationReason.SIMULATOR_STOPPED if dialogue.stopped
                          else TerminationReason.MAX_ROUNDS)
                self._finish(conv, dialogue.result(reason))
            return self._say_result(conv, update.reply, split.has_think, reason,
                                    delta=(update.applied_anger_delta,
                                           update.applied_trust_delta))

    def _say_result(self, conv: Conversation, reply: str | None, think: bool,
                    reason: TerminationReason | None,
                    delta: tuple[int, int] | None = None) -> SayResult:
        dialogue = conv.dialogue
        played = dialogue.rounds if dialogue.pending_agent is None else dialogue.rounds - 1
        max_rounds = conv.scenario.max_rounds
        if reason is None:
            left = max_rounds - played
            next_step = f"Call say with your next message ({left} left)."
        elif reply is None:
            next_step = (f"The simulated user could not answer ({reason.value}); the "
                         "conversation is over. Call end_conversation for the result.")
        else:
            next_step = ("The conversation is over. Call end_conversation for the score.")
        reveal = self.settings.reveal_state
        return SayResult(
            conversation_id=conv.id, reply=reply, round=f"{played}/{max_rounds}",
            rounds_played=played, max_rounds=max_rounds, over=reason is not None,
            reason=None if reason is None else reason.value, think_recorded=think,
            next_step=next_step, state=self._state(dialogue.state) if reveal else None,
            delta=StateView(anger=delta[0], trust=delta[1]) if reveal and delta else None)

    async def end(self, conversation_id: str) -> ConversationResult:
        """End a conversation (recorded as cancelled if still open) and return its result."""
        episode_id = self._verify(conversation_id)
        conv = self._open.get(conversation_id.strip())
        if conv is not None:
            async with conv.lock:
                if not conv.closed:
                    self._finish(conv, conv.dialogue.result(TerminationReason.CANCELLED))
        return self.result(conversation_id.strip(), episode_id)

    def transcript(self, conversation_id: str) -> Transcript:
        """The conversation so far; states shown with --reveal-state or once it is over."""
        episode_id = self._verify(conversation_id)
        ep = self.store.get_episode(episode_id)
        over = ep.status in ("finished", "failed")
        reveal = self.settings.reveal_state
        scenario = self.store.get_scenario(ep.scenario_key)
        turns = []
        for t in self.store.turns(ep.id):
            show = (over or reveal) and t.speaker == "user"
            turns.append(TranscriptTurn(
                idx=t.idx, round=t.round, speaker=t.speaker, text=t.text,
                think=t.think or None if t.speaker == "agent" else None,
                reflection=t.reflection or None if reveal else None,
                anger=t.anger_after if show else None, trust=t.trust_after if show else None))
        played = sum(1 for t in turns if t.speaker == "user" and t.round > 0)
        return Transcript(conversation_id=conversation_id.strip(),
                          scenario_id=self.catalogue.key(scenario), status=ep.status,
                          reason=ep.termination_reason, rounds_played=played,
                          max_rounds=scenario.max_rounds, turns=turns)

    def result(self, conversation_id: str, episode_id: int) -> ConversationResult:
        """The result of a finished conversation, read back from the store."""
        ep = self.store.get_episode(episode_id)
        if ep.status not in ("finished", "failed"):
            raise ConversationError(f"conversation {conversation_id} is still open")
        scenario = self.store.get_scenario(ep.scenario_key)
        turns = self.store.turns(ep.id)
        start = (State(turns[0].anger_before, turns[0].trust_before)
                 if turns and turns[0].anger_before is not None and
                 turns[0].trust_before is not None else State(scenario.start.anger,
                                                              scenario.start.trust))
        trajectory = [StatePoint(round=0, anger=start.anger, trust=start.trust)]
        for t in turns:
            if t.speaker == "user" and t.round > 0 and t.anger_after is not None \
                    and t.trust_after is not None:
                trajectory.append(StatePoint(round=t.round, anger=t.anger_after,
                                             trust=t.trust_after, anger_delta=t.anger_delta or 0,
                                             trust_delta=t.trust_delta or 0))
        last = trajectory[-1]
        note = None
        if ep.status == "failed":
            note = "The simulated user failed, so this conversation has no score."
        elif ep.termination_reason == TerminationReason.CANCELLED.value:
            note = ("Ended before the user closed the talk or the rounds ran out; scored on the "
                    "state reached." + (f" ({ep.error})" if ep.error else ""))
        return ConversationResult(
            conversation_id=conversation_id, scenario_id=self.catalogue.key(scenario),
            scene=ep.scene, status=ep.status, reason=ep.termination_reason or "",
            score=None if ep.score is None else round(100 * ep.score, 2),
            raw_score=ep.score, rounds=len(trajectory) - 1,
            final_state=StateView(anger=last.anger, trust=last.trust), trajectory=trajectory,
            note=note)

    # -- helpers -------------------------------------------------------------------------------

    def _live(self, conversation_id: str) -> Conversation:
        episode_id = self._verify(conversation_id)
        conv = self._open.get(conversation_id.strip())
        if conv is None:
            raise ConversationError(self._over_message(conversation_id.strip(), episode_id))
        return conv

    def _over_message(self, cid: str, episode_id: int) -> str:
        ep = self.store.get_episode(episode_id)
        why = ep.termination_reason or ep.status
        if ep.error and ep.termination_reason == TerminationReason.CANCELLED.value:
            why += f": {ep.error}"
        return (f"conversation {cid} is over ({why}); say is refused. Call end_conversation "
                "for its result, or start_conversation for a new one.")

    def _finish(self, conv: Conversation, result: DialogueResult) -> None:
        if conv.closed:
            return
        finish(self.store, conv.episode, result)
        conv.closed = True
        self._open.pop(conv.id, None)
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener(conv.id, result.reason)

    def _cancel(self, conv: Conversation, why: str) -> None:
        self._finish(conv, conv.dialogue.result(TerminationReason.CANCELLED, why))

    @staticmethod
    def _state(state: State) -> StateView:
        return StateView(anger=state.anger, trust=state.trust)
