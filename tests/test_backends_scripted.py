"""The scripted: provider, the test double every other test uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eibench.simulator.backends import (
    BackendError,
    Completion,
    ManagedBackend,
    RetryPolicy,
    ScriptedBackend,
    Usage,
    get_backend,
)
from eibench.simulator.backends.scripted import load_script

HI = [{"role": "user", "content": "hi there"}]


async def test_outputs_replay_in_order_then_run_out() -> None:
    backend = ScriptedBackend(["one", "two"])
    assert [(await backend.complete(HI)).text for _ in range(2)] == ["one", "two"]
    assert backend.remaining == 0
    with pytest.raises(BackendError, match="ran out after 2 outputs") as info:
        await backend.complete(HI)
    assert not info.value.retryable


async def test_cycle_starts_again() -> None:
    backend = ScriptedBackend(["one", "two"], cycle=True)
    assert [(await backend.complete(HI)).text for _ in range(5)] == ["one", "two", "one", "two",
                                                                     "one"]
    assert backend.remaining is None


async def test_json_values_are_serialised_and_completions_pass_through() -> None:
    turn = {"reply": "ok", "anger_delta": -3, "continue": "yes"}
    given = Completion(text="x", reasoning="why", usage=Usage(input_tokens=9, calls=1))
    backend = ScriptedBackend([turn, given, 7])
    assert json.loads((await backend.complete(HI)).text) == turn
    assert await backend.complete(HI) == Completion(text="x", reasoning="why", model="scripted",
                                                    usage=Usage(input_tokens=9, calls=1))
    assert (await backend.complete(HI)).text == "7"


async def test_usage_counts_words() -> None:
    completion = await ScriptedBackend(["a b c"]).complete(
        [{"role": "system", "content": "one two"}, {"role": "user", "content": "three"}])
    assert completion.usage == Usage(input_tokens=3, output_tokens=3, calls=1)


async def test_function_of_the_messages_sync_and_async() -> None:
    def shout(messages: list[dict[str, str]]) -> str:
        return messages[-1]["content"].upper()

    async def count(messages: list[dict[str, str]]) -> str:
        return str(len(messages))

    assert (await ScriptedBackend(shout).complete(HI)).text == "HI THERE"
    assert (await ScriptedBackend(count).complete(HI * 3)).text == "3"


async def test_calls_are_recorded() -> None:
    backend = ScriptedBackend(["ok"])
    await backend.complete(HI, json_schema={"type": "object"})
    (call,) = backend.calls
    assert call.messages == HI and call.json_schema == {"type": "object"}


async def test_errors_on_cue_and_the_wrapper_retries_them() -> None:
    flaky = BackendError("rate limited", retryable=True, retry_after=0.0, status=429)
    fatal = BackendError("bad request", retryable=False, status=400)
    bare = ScriptedBackend([flaky, "after retry", fatal])
    with pytest.raises(BackendError) as info:
        await bare.complete(HI)
    assert info.value is flaky

    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    managed = ManagedBackend(ScriptedBackend([flaky, "after retry", fatal]),
                             policy=RetryPolicy(base_delay=0.0), sleep=no_wait)
    assert (await managed.complete(HI)).text == "after retry"
    assert waits == [0.0]
    with pytest.raises(BackendError) as info:
        await managed.complete(HI)
    assert info.value is fatal


def test_bad_scripts_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ScriptedBackend([])
    with pytest.raises(TypeError, match="sequence of outputs"):
        ScriptedBackend("just a string")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output 1"):
        ScriptedBackend(["fine", {1, 2}])


def test_jsonl_file_with_reserved_shapes(tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text('{"reply": "hmm", "anger_delta": 2}\n\n"plain text"\n'
                    '{"__error__": "slow down", "retryable": true, "retry_after": 0.5, '
                    '"status": 429}\n{"__text__": "said", "reasoning": "thought"}\n',
                    encoding="utf-8")
    items = load_script(path)
    assert items[0] == {"reply": "hmm", "anger_delta": 2}
    assert items[1] == "plain text"
    error = items[2]
    assert isinstance(error, BackendError)
    assert (error.retryable, error.retry_after, error.status) == (True, 0.5, 429)
    assert items[3] == Completion(text="said", reasoning="thought")


def test_json_file_and_file_errors(tmp_path: Path) -> None:
    good = tmp_path / "a.json"
    good.write_text('["x", {"y": 1}]', encoding="utf-8")
    assert load_script(good) == ["x", {"y": 1}]
    not_list = tmp_path / "b.json"
    not_list.write_text('{"y": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="JSON array"):
        load_script(not_list)
    broken = tmp_path / "c.jsonl"
    broken.write_text('"ok"\n{oops\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"c\.jsonl:2"):
        load_script(broken)
    with pytest.raises(ValueError, match=r"\.json or \.jsonl"):
        load_script(tmp_path / "d.txt")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_script(tmp_path / "missing.jsonl")


async def test_spec_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "outputs.jsonl"
    path.write_text('"first"\n"second"\n', encoding="utf-8")
    backend = get_backend(f"scripted:{path}")
    assert backend.name == f"scripted:{path}"
    assert [(await backend.complete(HI)).text for _ in range(2)] == ["first", "second"]

    cycling = get_backend(f"scripted:{path}", cycle=True)
    assert [(await cycling.complete(HI)).text for _ in range(3)] == ["first", "second", "first"]

    (tmp_path / "eib_script_mod.py").write_text(
        "def answer(messages):\n    return 'from module: ' + messages[-1]['content']\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module_backend = get_backend("scripted:eib_script_mod:answer")
    assert (await module_backend.complete(HI)).text == "from module: hi there"

    with pytest.raises(ValueError, match="no 'nope'"):
        get_backend("scripted:eib_script_mod:nope")
    with pytest.raises(ValueError, match="cannot import"):
        get_backend("scripted:no_such_module_xyz:f")
    with pytest.raises(ValueError, match="module:callable"):
        get_backend("scripted:outputs.txt")
