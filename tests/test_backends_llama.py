"""local:smollm2: a real generation on the packaged SmolLM2 GGUF, and the llama.cpp server helper."""

from __future__ import annotations

import importlib.util
import json

import pytest

from eibench.simulator.backends import MissingDependency, Sampling, get_backend

pytestmark = pytest.mark.llama

SCHEMA = {
    "type": "object",
    "properties": {
        "mood": {"type": "string", "enum": ["calm", "annoyed", "angry"]},
        "anger_delta": {"type": "integer"},
        "continue": {"type": "string", "enum": ["yes", "no"]},
    },
    "required": ["mood", "anger_delta", "continue"],
    "additionalProperties": False,
}
MESSAGES = [
    {"role": "system", "content": "You are a customer whose parcel is late. Answer in JSON."},
    {"role": "user", "content": "I am sorry, the parcel will arrive tomorrow morning."},
]


def _require_local() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (the [local] extra)")
    from eibench.simulator.backends.llama_backend import resolve_model

    try:
        resolve_model("smollm2")
    except MissingDependency as exc:
        pytest.skip(str(exc))


async def test_schema_constrained_generation() -> None:
    _require_local()
    backend = get_backend("local:smollm2", timeout=120)
    try:
        completion = await backend.complete(
            MESSAGES, json_schema=SCHEMA, sampling=Sampling(temperature=0.7, max_tokens=64, seed=1))
    finally:
        await backend.aclose()
    data = json.loads(completion.text)
    assert set(data) == {"mood", "anger_delta", "continue"}
    assert data["mood"] in {"calm", "annoyed", "angry"}
    assert isinstance(data["anger_delta"], int)
    assert data["continue"] in {"yes", "no"}
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0
    assert completion.usage.cost_usd == 0.0
    assert backend.usage.calls == 1


@pytest.mark.slow
async def test_openai_backend_against_llama_cpp_server() -> None:
    _require_local()
    from fakes.llama_server import llama_server, llama_server_available

    reason = llama_server_available()
    if reason:
        pytest.skip(reason)
    with llama_server() as base_url:
        backend = get_backend("openai:smollm2", base_url=base_url, timeout=120)
        completion = await backend.complete(MESSAGES, json_schema=SCHEMA,
                                            sampling=Sampling(max_tokens=64, seed=1))
        await backend.aclose()
    assert set(json.loads(completion.text)) >= {"mood", "anger_delta", "continue"}
