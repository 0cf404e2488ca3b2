"""The vllm: provider's batching, driven by a fake engine (vLLM itself needs CUDA)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from eibench.simulator.backends import BackendError, MissingDependency, Sampling, get_backend
from eibench.simulator.backends.vllm_backend import VLLMBackend, vllm_sampling_params


class FakeEngine:
    """Answers like ``vllm.LLM.chat``; records every batch; can hold a batch until released."""

    def __init__(self, *, hold_first: bool = False, fail: bool = False) -> None:
        self.batches: list[list[list[dict[str, str]]]] = []
        self.params: list[list[Any]] = []
        self.options: list[dict[str, Any]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold_first = hold_first
        self.fail = fail

    def chat(self, conversations: list[list[dict[str, str]]], sampling_params: list[Any],
             use_tqdm: bool = True, **options: Any) -> list[Any]:
        assert use_tqdm is False
        self.batches.append(conversations)
        self.params.append(sampling_params)
        self.options.append(options)
        if self.hold_first and len(self.batches) == 1:
            self.entered.set()
            self.release.wait(5)
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        outputs = []
        for conv in conversations:
            text = "re: " + conv[-1]["content"]
            ids = list(range(len(text.split())))
            outputs.append(SimpleNamespace(
                prompt_token_ids=list(range(7)),
                outputs=[SimpleNamespace(
                    text=text, token_ids=ids,
                    logprobs=[{i: SimpleNamespace(logprob=-0.5 * (i + 1))} for i in ids])]))
        return outputs


def params(sampling: Sampling, schema: dict[str, Any] | None, logprobs: bool) -> dict[str, Any]:
    return {"sampling": sampling, "schema": schema, "logprobs": logprobs}


def msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def backend_for(engine: FakeEngine, **options: Any) -> VLLMBackend:
    return VLLMBackend("/models/fake", engine=engine, params_factory=params, **options)


async def test_concurrent_calls_run_as_one_batch() -> None:
    engine = FakeEngine()
    backend = backend_for(engine)
    texts = [f"line {i}" for i in range(5)]
    results = await asyncio.wait_for(
        asyncio.gather(*(backend.complete(msg(t)) for t in texts)), 5)
    assert [r.text for r in results] == [f"re: {t}" for t in texts]
    assert len(engine.batches) == 1 and len(engine.batches[0]) == 5
    assert backend.batch_sizes == [5]


async def test_calls_during_a_batch_form_the_next_one() -> None:
    engine = FakeEngine(hold_first=True)
    backend = backend_for(engine)
    first = asyncio.create_task(backend.complete(msg("first")))
    assert await asyncio.to_thread(engine.entered.wait, 5)
    later = [asyncio.create_task(backend.complete(msg(f"later {i}"))) for i in range(3)]
    await asyncio.sleep(0)
    engine.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *later), 5)
    assert [r.text for r in results] == ["re: first", "re: later 0", "re: later 1", "re: later 2"]
    assert backend.batch_sizes == [1, 3]


async def test_max_batch_splits() -> None:
    backend = backend_for(FakeEngine(), max_batch=2)
    await asyncio.wait_for(asyncio.gather(*(backend.complete(msg(str(i))) for i in range(5))), 5)
    assert backend.batch_sizes == [2, 2, 1]


async def test_sampling_schema_and_options_reach_the_engine() -> None:
    engine = FakeEngine()
    backend = backend_for(engine, logprobs=True,
                          chat_options={"chat_template_kwargs": {"enable_thinking": False}})
    schema = {"type": "object"}
    sampling = Sampling(temperature=0.6, top_k=20)
    completion = await backend.complete(msg("a b"), json_schema=schema, sampling=sampling)
    assert engine.params[0] == [{"sampling": sampling, "schema": schema, "logprobs": True}]
    assert engine.options[0] == {"chat_template_kwargs": {"enable_thinking": False}}
    assert completion.logprobs == [-0.5, -1.0, -1.5]
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 3)


async def test_engine_failure_reaches_every_caller() -> None:
    backend = backend_for(FakeEngine(fail=True))
    results = await asyncio.wait_for(asyncio.gather(
        *(backend.complete(msg("x")) for _ in range(3)), return_exceptions=True), 5)
    assert all(isinstance(r, BackendError) and "CUDA out of memory" in str(r) for r in results)
    assert not any(r.retryable for r in results)  # type: ignore[union-attr]


async def test_a_cancelled_caller_is_skipped() -> None:
    engine = FakeEngine()
    backend = backend_for(engine, batch_window=0.05)
    doomed = asyncio.create_task(backend.complete(msg("doomed")))
    kept = asyncio.create_task(backend.complete(msg("kept")))
    await asyncio.sleep(0)
    doomed.cancel()
    assert (await asyncio.wait_for(kept, 5)).text == "re: kept"
    assert engine.batches == [[msg("kept")]]


async def test_through_get_backend() -> None:
    backend = get_backend("vllm:/models/fake", engine=FakeEngine(), params_factory=params)
    assert backend.max_concurrency == 256
    assert (await backend.complete(msg("hey"))).text == "re: hey"
    await backend.aclose()


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        backend_for(FakeEngine(), max_batch=0)


def test_default_params_need_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependency, match=r"eibench\[vllm\]"):
        vllm_sampling_params(Sampling(), None, False)
