"""The LLM simulator: a chat model plays the user through a prompt template."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    Sampling,
    Usage,
)
from eibench.simulator.parsing import (
    OUTPUT_SCHEMA,
    ParseError,
    SimulatorOutput,
    parse_simulator_output,
)
from eibench.simulator.state import State, apply_deltas
from eibench.simulator.templates import PromptSet, PromptTemplate
from eibench.simulator.types import SimulatorFailure, TerminationReason, Update, Utterance

if TYPE_CHECKING:
    from eibench.scenarios.model import Scenario

#: Paper setting: the simulator samples at temperature 0.7. The token budget leaves room for the
#: five-step reflection in Chinese and for models that think before answering.
DEFAULT_SAMPLING = Sampling(temperature=0.7, max_tokens=2048)
DEFAULT_PARSE_RETRIES = 2
#: Longest bad output quoted back in a correction request.
_MAX_QUOTED = 4000


class LLMSimulator:
    """A chat model playing the simulated user.

    Each step renders the scenario's template (system: rules and persona; user: state, round,
    dialogue, the agent's fenced words), asks the backend for a JSON answer (constrained by
    :data:`~eibench.simulator.parsing.OUTPUT_SCHEMA` where the backend supports it), parses and
    repairs it, and applies the clipped deltas. An unparseable answer is sent back with what was
    wrong, up to ``max_parse_retries`` times.

    Args:
        backend: the chat model; retries on transport errors are the backend wrapper's job.
        prompts: a :class:`PromptSet`, a single :class:`PromptTemplate` used for every
            scenario, or None for the built-in templates chosen by scenario language.
        max_parse_retries: correction rounds after an unparseable answer.
        sampling: sampling settings; the step's ``seed`` fills in when this has none.
        use_json_schema: send the output schema to the backend.
        output_schema: the schema sent (default :data:`OUTPUT_SCHEMA`); a tighter one, e.g. with
            ``maxLength`` on the strings, keeps small local models from rambling.
    """

    kind = "llm"

    def __init__(self, backend: ChatBackend, prompts: PromptSet | PromptTemplate | None = None,
                 *, max_parse_retries: int = DEFAULT_PARSE_RETRIES,
                 sampling: Sampling | None = None, use_json_schema: bool = True,
                 output_schema: dict[str, Any] | None = None) -> None:
        if max_parse_retries < 0:
            raise ValueError(f"max_parse_retries must be >= 0, got {max_parse_retries}")
        self.backend = backend
        if isinstance(prompts, PromptTemplate):
            prompts = PromptSet(override=prompts)
        self.prompts = prompts if prompts is not None else PromptSet()
        self.max_parse_retries = max_parse_retries
        self.sampling = sampling or DEFAULT_SAMPLING
        self.use_json_schema = use_json_schema
        self.output_schema = output_schema or OUTPUT_SCHEMA
        self.name = f"llm:{backend.name or type(backend).__name__}"

    @property
    def prompt_hash(self) -> str:
        """sha256 identifying the prompt template(s); see :attr:`PromptSet.prompt_hash`."""
        return self.prompts.prompt_hash

    def prompt_hash_for(self, scenario: Scenario) -> str:
        """sha256 of the template used for ``scenario``."""
        return self.prompts.for_scenario(scenario).sha256

    def open(self, scenario: Scenario) -> tuple[State, str | None]:
        """The scenario's start state and the user's opening line (None in charm)."""
        return State(scenario.start.anger, scenario.start.trust), scenario.opening_line

    def messages(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                 agent_text: str) -> list[ChatMessage]:
        """The messages of the first attempt of a step (exposed for inspection and tests)."""
        return self.prompts.for_scenario(scenario).messages(scenario, state, history, agent_text)

    async def step(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                   agent_text: str, *, seed: int = 0) -> Update:
        """React to ``agent_text``; see :meth:`eibench.simulator.types.Simulator.step`.

        Raises:
            SimulatorFailure: ``simulator_error`` when the backend fails (after the wrapper's
                retries), ``simulator_unparseable`` when no attempt could be parsed. ``raw``
                holds every output of the step.
        """
        template = self.prompts.for_scenario(scenario)
        base = template.messages(scenario, state, history, agent_text)
        sampling = self.sampling if self.sampling.seed is not None else dataclasses.replace(
            self.sampling, seed=seed)
        schema = self.output_schema if self.use_json_schema else None
        messages = base
        raws: list[str] = []
        usage = Usage()
        problems = ""
        for attempt in range(1, self.max_parse_retries + 2):
            completion = await self._complete(messages, schema, sampling, raws, usage)
            usage = usage + completion.usage
            raws.append(completion.text)
            try:
                parsed = _parse(completion)
            except ParseError as exc:
                problems = str(exc)
                quoted = completion.text.strip()[:_MAX_QUOTED] or "(empty output)"
                messages = [*base, {"role": "assistant", "content": quoted},
                            {"role": "user", "content": template.correction_message(problems)}]
                continue
            return _update(parsed, state, usage=usage, attempts=attempt, raws=raws)
        raise SimulatorFailure(
            TerminationReason.SIMULATOR_UNPARSEABLE,
            f"{self.name}: no usable answer after {len(raws)} attempt(s); last problem: {problems}",
            raw=raws, usage=usage)

    async def _complete(self, messages: list[ChatMessage], schema: dict[str, Any] | None,
                        sampling: Sampling, raws: list[str], usage: Usage) -> Completion:
        try:
            return await self.backend.complete(messages, json_schema=schema, sampling=sampling)
        except BackendError as exc:
            status = f" (HTTP {exc.status})" if exc.status else ""
            raise SimulatorFailure(TerminationReason.SIMULATOR_ERROR,
                                   f"{self.name}: backend failed{status}: {exc}",
                                   raw=raws, usage=usage) from exc
        except Exception as exc:
            # Anything else from a provider SDK still ends the dialogue cleanly, with the cause.
            raise SimulatorFailure(TerminationReason.SIMULATOR_ERROR,
                                   f"{self.name}: backend raised {type(exc).__name__}: {exc}",
                                   raw=raws, usage=usage) from exc

    async def aclose(self) -> None:
        """Close the backend's connections."""
        await self.backend.aclose()


def _parse(completion: Completion) -> SimulatorOutput:
    """Parse the visible text; a reasoning model that left it empty may have answered in its
    reasoning field."""
    try:
        return parse_simulator_output(completion.text)
    except ParseError:
        if completion.text.strip() or not completion.reasoning.strip():
            raise
        return parse_simulator_output(completion.reasoning)


def _update(parsed: SimulatorOutput, state: State, *, usage: Usage, attempts: int,
            raws: list[str]) -> Update:
    return Update(
        reflection=parsed.reflection, anger_delta=parsed.anger_delta,
        trust_delta=parsed.trust_delta, reply=parsed.reply, keep_going=parsed.keep_going,
        stop_reason=parsed.stop_reason,
        transition=apply_deltas(state, parsed.anger_delta, parsed.trust_delta),
        usage=usage, attempts=attempts, raw=raws[-1], rejected=tuple(raws[:-1]))
