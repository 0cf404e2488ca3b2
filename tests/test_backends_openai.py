"""The openai: provider against a local fake chat-completions server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from eibench.simulator.backends import BackendError, RetryPolicy, Sampling, get_backend
from eibench.simulator.backends.openai_backend import OpenAIBackend

from fakes import Answer, FakeOpenAIServer, Fault

SCHEMA = {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"]}
CLOSED = {**SCHEMA, "additionalProperties": False, "title": "user turn"}
MESSAGES = [{"role": "system", "content": "Persona text."}, {"role": "user", "content": "Hi"}]
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(lambda r: json.dumps({"reply": "fine"})) as s:
        yield s


Make = Callable[..., OpenAIBackend]


@pytest.fixture
async def make(server: FakeOpenAIServer) -> AsyncIterator[Make]:
    """Builds backends on the fake server and closes them after the test."""
    made: list[OpenAIBackend] = []

    def build(**options: Any) -> OpenAIBackend:
        made.append(OpenAIBackend("qwen3-8b", base_url=server.url, **options))
        return made[-1]

    yield build
    for backend in made:
        await backend.aclose()


async def test_json_schema_is_requested(server: FakeOpenAIServer, make: Make) -> None:
    completion = await make().complete(MESSAGES, json_schema=CLOSED)
    body = server.requests[0].body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"] == CLOSED
    assert fmt["json_schema"]["name"] == "user_turn"
    assert fmt["json_schema"]["strict"] is True
    assert body["messages"] == MESSAGES
    assert json.loads(completion.text) == {"reply": "fine"}


async def test_open_schema_is_not_strict(server: FakeOpenAIServer, make: Make) -> None:
    await make().complete(MESSAGES, json_schema=SCHEMA)
    assert "strict" not in server.requests[0].body["response_format"]["json_schema"]


async def test_falls_back_to_json_object_and_remembers(server: FakeOpenAIServer, make: Make) -> None:
    server.reject_formats = {"json_schema"}
    backend = make()
    await backend.complete(MESSAGES, json_schema=SCHEMA)
    first, second = server.requests
    assert first.body["response_format"]["type"] == "json_schema"
    # llama.cpp's schema-constrained json_object mode comes next
    assert second.body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    system = second.body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Persona text.")
    assert json.dumps(SCHEMA) in system["content"]
    assert backend.response_format == "json_object_schema"
    await backend.complete(MESSAGES, json_schema=SCHEMA)
    assert len(server.requests) == 3
    assert server.requests[2].body["response_format"] == {"type": "json_object", "schema": SCHEMA}


async def test_llama_style_500_on_response_format_falls_back(server: FakeOpenAIServer,
                                                             make: Make) -> None:
    """llama.cpp answers an unknown response_format with a 500 naming it: not a transient error."""
    refusal = Fault("status", status=500, body={"error": {
        "message": "literal_error ('body', 'response_format', 'type'): Input should be 'text' or "
                   "'json_object'"}})
    server.script = lambda r: (refusal if r.body["response_format"]["type"] == "json_schema"
                               else json.dumps({"reply": "fine"}))
    backend = make()
    completion = await backend.complete(MESSAGES, json_schema=SCHEMA)
    assert json.loads(completion.text) == {"reply": "fine"}
    assert [r.body["response_format"]["type"] for r in server.requests] == ["json_schema",
                                                                             "json_object"]
    assert backend.response_format == "json_object_schema"


async def test_falls_back_to_plain_text(server: FakeOpenAIServer, make: Make) -> None:
    server.reject_formats = {"json_schema", "json_object"}
    backend = make()
    completion = await backend.complete([{"role": "user", "content": "Hi"}], json_schema=SCHEMA)
    last = server.requests[-1].body
    assert "response_format" not in last
    assert last["messages"][0]["role"] == "system"
    assert "JSON schema" in last["messages"][0]["content"]
    assert backend.response_format == "text"
    assert json.loads(completion.text) == {"reply": "fine"}


async def test_unrelated_400_keeps_the_format(server: FakeOpenAIServer, make: Make) -> None:
    server.fail_next(*[Fault.server_error(400)] * 4)
    backend = make()
    with pytest.raises(BackendError) as info:
        await backend.complete(MESSAGES, json_schema=SCHEMA)
    assert info.value.status == 400 and not info.value.retryable
    assert backend.response_format == "json_schema"
    assert len(server.requests) == 4


async def test_reasoning_field_is_kept(server: FakeOpenAIServer, make: Make) -> None:
    server.script = lambda r: Answer(text="Okay.", reasoning="She sounds upset.")
    completion = await make().complete(MESSAGES)
    assert completion.text == "Okay."
    assert completion.reasoning == "She sounds upset."


async def test_reasoning_under_its_other_name(server: FakeOpenAIServer, make: Make) -> None:
    def script(request: object) -> dict[str, object]:
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hm.",
                                         "reasoning": "thinking"}}]}

    server.script = script
    completion = await make().complete(MESSAGES)
    assert (completion.text, completion.reasoning) == ("Hm.", "thinking")
    assert completion.usage.calls == 1 and completion.usage.input_tokens == 0


async def test_logprobs_when_asked(server: FakeOpenAIServer, make: Make) -> None:
    server.script = lambda r: Answer(text="a b c", logprobs=[-0.1, -0.2, -0.3])
    plain = await make().complete(MESSAGES)
    assert plain.logprobs is None and "logprobs" not in server.requests[0].body
    completion = await make(logprobs=True).complete(MESSAGES)
    assert server.requests[1].body["logprobs"] is True
    assert completion.logprobs == [-0.1, -0.2, -0.3]


async def test_sampling_is_sent(server: FakeOpenAIServer, make: Make) -> None:
    sampling = Sampling(temperature=0.6, top_p=0.95, top_k=20, max_tokens=77, seed=3)
    await make().complete(MESSAGES, sampling=sampling)
    body = server.requests[0].body
    assert (body["temperature"], body["top_p"], body["top_k"], body["seed"]) == (0.6, 0.95, 20, 3)
    assert body["max_tokens"] == 77 and "max_completion_tokens" not in body


async def test_empty_choices_are_retried(server: FakeOpenAIServer) -> None:
    answers = iter([{"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                     "choices": []}])
    server.script = lambda r: next(answers, "ok")
    backend = get_backend("openai:m", base_url=server.url, retry_policy=FAST)
    assert (await backend.complete(MESSAGES)).text == "ok"
    assert backend.retries == 1
    await backend.aclose()


async def test_quota_exhaustion_is_not_retried(server: FakeOpenAIServer) -> None:
    server.fail_next(Fault("status", status=429, retry_after=0.0,
                           body={"error": {"code": "insufficient_quota", "message": "quota"}}))
    backend = get_backend("openai:m", base_url=server.url, retry_policy=FAST)
    with pytest.raises(BackendError) as info:
        await backend.complete(MESSAGES)
    assert info.value.status == 429 and not info.value.retryable
    assert len(server.requests) == 1
    await backend.aclose()


def test_key_and_url_from_environment(monkeypatch: pytest.MonkeyPatch,
                                      server: FakeOpenAIServer) -> None:
    monkeypatch.setenv("EIBENCH_OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("EIBENCH_OPENAI_API_KEY", "sk-eibench")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    backend = OpenAIBackend("m")
    assert backend.base_url == server.url
    assert backend._client.api_key == "sk-eibench"
    monkeypatch.delenv("EIBENCH_OPENAI_API_KEY")
    assert OpenAIBackend("m")._client.api_key == "sk-openai"


async def test_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch,
                                         server: FakeOpenAIServer, make: Make) -> None:
    for var in ("OPENAI_API_KEY", "EIBENCH_OPENAI_API_KEY", "EIBENCH_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    completion = await make().complete(MESSAGES)
    assert completion.text
    assert server.requests[0].headers["authorization"] == "Bearer EMPTY"


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "EIBENCH_OPENAI_API_KEY", "EIBENCH_OPENAI_BASE_URL",
                "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o")


def test_official_api_gets_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EIBENCH_OPENAI_BASE_URL", raising=False)
    backend = OpenAIBackend("gpt-5", api_key="sk-test")
    request = backend._request(MESSAGES, None, "text", Sampling(max_tokens=9))
    assert request["max_completion_tokens"] == 9 and "max_tokens" not in request


def test_bad_response_format_option() -> None:
    with pytest.raises(ValueError, match="response_format"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9", response_format="yaml")
