"""Agents under test: an LLM over any backend, a scripted list of lines, or a human.

Every agent sees the same prompt: its persona plus the instruction to think briefly in
``<think>...</think>`` and then say only the spoken words. :func:`build_agent_messages` is the one
place that prompt is built; the trainer rebuilds training prompts with it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from eibench.harness.think import split_think
from eibench.scenarios.model import Scenario
from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Sampling,
    Usage,
)
from eibench.simulator.types import Utterance

#: Bump when the agent instruction text changes; recorded on every run.
AGENT_PROMPT_VERSION = "agent-v1"

AGENT_INSTRUCTION = {
    "en": (
        "\n\n### How to answer\n"
        "You are in a live conversation. Before each reply, think briefly inside "
        "<think>...</think>; nobody else sees it. After the think block, write only the words you "
        "say out loud: no narration, no actions or stage directions, no lists, no headings. "
        "Speak as the character above would, in English."
    ),
    "zh": (
        "\n\n### 如何回答\n"
        "你正在进行一场实时对话。每次回复前，先在 <think>...</think> 中简短思考，对方看不到这部分。"
        "思考之后，只写你说出口的话：不要旁白、不要动作或神态描写、不要列表、不要标题。"
        "用上面这个角色的身份、用中文说话。"
    ),
}


@dataclass(frozen=True)
class AgentTurn:
    """One agent reply.

    Attributes:
        text: the spoken words (the only part the simulator sees).
        think: the private reasoning (think block or a provider's reasoning field).
        raw: the full output as produced.
        has_think / malformed: format facts used by the training reward.
        logprobs: per-token log-probabilities of ``raw`` when the backend returned them.
    """

    text: str
    think: str = ""
    raw: str = ""
    has_think: bool = False
    malformed: bool = False
    usage: Usage = field(default_factory=Usage)
    logprobs: list[float] | None = None
    latency_s: float = 0.0


class AgentError(Exception):
    """The agent could not produce a reply (the dialogue ends with ``agent_error``)."""


@runtime_checkable
class Agent(Protocol):
    """Anything that can take the agent's side of a dialogue."""

    @property
    def name(self) -> str: ...

    async def reply(self, scenario: Scenario, history: Sequence[Utterance], *,
                    seed: int = 0) -> AgentTurn:
        """The next agent turn given the dialogue so far."""
        ...


def build_agent_messages(scenario: Scenario, history: Sequence[Utterance]) -> list[ChatMessage]:
    """The exact messages an agent sees: persona + instruction, then the dialogue.

    Earlier agent turns appear as their spoken words only (think blocks removed). In charm the
    first user message is the scenario's cue to open the conversation.
    """
    from eibench.scenarios.official import AGENT_OPEN_CUE

    instruction = AGENT_INSTRUCTION.get(scenario.language, AGENT_INSTRUCTION["en"])
    messages: list[ChatMessage] = [
        {"role": "system", "content": scenario.agent_persona + instruction}]
    if scenario.agent_opens:
        cue = scenario.agent_first_message or AGENT_OPEN_CUE.get(scenario.language,
                                                                 AGENT_OPEN_CUE["en"])
        messages.append({"role": "user", "content": cue})
    for utt in history:
        messages.append({"role": "user" if utt.speaker == "user" else "assistant",
                         "content": utt.text})
    return messages


class LLMAgent:
    """An agent backed by any :class:`ChatBackend` (``openai:``, ``anthropic:``, ``scripted:``...)."""

    def __init__(self, backend: ChatBackend, *, sampling: Sampling | None = None,
                 name: str | None = None) -> None:
        self.backend = backend
        self.sampling = sampling or Sampling()
        self.name = name or backend.name

    async def reply(self, scenario: Scenario, history: Sequence[Utterance], *,
                    seed: int = 0) -> AgentTurn:
        messages = build_agent_messages(scenario, history)
        sampling = self.sampling
        if sampling.seed is None and seed:
            sampling = Sampling(temperature=sampling.temperature, top_p=sampling.top_p,
                                top_k=sampling.top_k, max_tokens=sampling.max_tokens, seed=seed)
        started = time.perf_counter()
        try:
            completion = await self.backend.complete(messages, sampling=sampling)
        except BackendError as exc:
            raise AgentError(f"agent backend {self.name} failed: {exc}") from exc
        split = split_think(completion.text, completion.reasoning)
        return AgentTurn(text=split.text, think=split.think, raw=completion.text,
                         has_think=split.has_think, malformed=split.malformed,
                         usage=completion.usage, logprobs=completion.logprobs,
                         latency_s=completion.latency_s or time.perf_counter() - started)


LineSource = Callable[[Scenario, Sequence[Utterance]], str | Awaitable[str]]


class FunctionAgent:
    """An agent whose output comes from a function of (scenario, history): for tests and play.

    The function returns the raw output (it may contain a think block); it may be async, which is
    how the human agent in ``eibench play`` waits for typed input.
    """

    def __init__(self, fn: LineSource, *, name: str = "function") -> None:
        self.fn = fn
        self.name = name

    async def reply(self, scenario: Scenario, history: Sequence[Utterance], *,
                    seed: int = 0) -> AgentTurn:
        started = time.perf_counter()
        result = self.fn(scenario, history)
        raw = await result if isinstance(result, Awaitable) else result
        split = split_think(raw)
        return AgentTurn(text=split.text, think=split.think, raw=raw, has_think=split.has_think,
                         malformed=split.malformed, latency_s=time.perf_counter() - started)


def make_agent(spec: str, *, base_url: str | None = None, sampling: Sampling | None = None,
               concurrency: int | None = None) -> Agent:
    """An :class:`LLMAgent` over the backend named by ``spec`` (``provider:model``)."""
    from eibench.simulator.backends import get_backend

    backend = get_backend(spec, base_url=base_url, concurrency=concurrency)
    return LLMAgent(backend, sampling=sampling, name=spec)
