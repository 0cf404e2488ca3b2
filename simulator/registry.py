"""Make a simulator from a name: ``heuristic`` or any backend spec (``provider:model``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eibench.simulator.backends.base import Sampling
from eibench.simulator.types import Simulator

HEURISTIC = "heuristic"
ENV_SIMULATOR = "EIBENCH_SIMULATOR"
#: Used when ANTHROPIC_API_KEY is set (and EIBENCH_SIMULATOR is not): a strong, current model
#: that follows long role-play rubrics and returns structured output.
DEFAULT_ANTHROPIC_SIMULATOR = "anthropic:claude-sonnet-4-5"
#: Used when only OPENAI_API_KEY is set: a current non-reasoning model, so the paper's sampling
#: temperature (0.7) is honoured, with strict JSON-schema output.
DEFAULT_OPENAI_SIMULATOR = "openai:gpt-4.1"


def default_simulator_name() -> str:
    """The simulator to use when none is named.

    ``EIBENCH_SIMULATOR`` if set; else :data:`DEFAULT_ANTHROPIC_SIMULATOR` when
    ``ANTHROPIC_API_KEY`` is set; else :data:`DEFAULT_OPENAI_SIMULATOR` when ``OPENAI_API_KEY``
    is set; else ``heuristic`` (offline, deterministic).
    """
    named = os.environ.get(ENV_SIMULATOR, "").strip()
    if named:
        return named
    if os.environ.get("ANTHROPIC_API_KEY", "").strip():
        return DEFAULT_ANTHROPIC_SIMULATOR
    if os.environ.get("OPENAI_API_KEY", "").strip():
        return DEFAULT_OPENAI_SIMULATOR
    return HEURISTIC


def make_simulator(name: str | None, *, base_url: str | None = None,
                   prompt_path: str | Path | None = None, max_parse_retries: int | None = None,
                   sampling: Sampling | None = None, use_json_schema: bool = True,
                   **backend_options: Any) -> Simulator:
    """Build a simulator.

    Args:
        name: ``heuristic``, or a backend spec such as ``anthropic:claude-sonnet-4-5``,
            ``openai:gpt-4.1``, ``local:smollm2`` or ``scripted:<file>`` (an ``llm:`` prefix, as
            in a simulator's printed name, is accepted). None picks
            :func:`default_simulator_name`.
        base_url: for OpenAI-compatible servers (vLLM, llama.cpp, others).
        prompt_path: a template file that replaces the built-in prompts (LLM simulators only).
        max_parse_retries: correction rounds after an unparseable answer (default 2).
        sampling: simulator sampling (default temperature 0.7).
        use_json_schema: ask the backend to constrain output to the answer's JSON schema.
        **backend_options: passed on to the backend factory.

    Raises:
        ValueError: an empty name, or options that do not apply to the heuristic simulator.
    """
    spec = (name if name is not None else default_simulator_name()).strip()
    if not spec:
        raise ValueError("simulator name is empty: use 'heuristic' or a backend spec such as "
                         f"'{DEFAULT_OPENAI_SIMULATOR}'")
    if spec == HEURISTIC:
        if prompt_path is not None or base_url is not None:
            raise ValueError("--simulator-prompt and --base-url apply to LLM simulators only, "
                             "not to the heuristic simulator")
        from eibench.simulator.heuristic import HeuristicSimulator

        return HeuristicSimulator()
    from eibench.simulator.backends import get_backend
    from eibench.simulator.llm import DEFAULT_PARSE_RETRIES, LLMSimulator
    from eibench.simulator.templates import PromptSet

    prompts = PromptSet.load(prompt_path)
    backend = get_backend(spec.removeprefix("llm:"), base_url=base_url, **backend_options)
    return LLMSimulator(
        backend, prompts,
        max_parse_retries=DEFAULT_PARSE_RETRIES if max_parse_retries is None else max_parse_retries,
        sampling=sampling, use_json_schema=use_json_schema)
