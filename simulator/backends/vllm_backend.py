"""``vllm:<model path>``: an in-process vLLM engine, with concurrent calls batched.

Written against vLLM's documented offline API: ``vllm.LLM(model=...)``, ``LLM.chat(conversations,
sampling_params=[...])`` (a list of conversations with one ``SamplingParams`` each, run as one
batch), and structured output through ``SamplingParams(structured_outputs=
StructuredOutputsParams(json=schema))`` (vLLM 0.12 and later) or ``guided_decoding=
GuidedDecodingParams(json=schema)`` (earlier releases). vLLM is imported only when the backend is
built and needs CUDA; the batching below is engine-agnostic and is tested with a fake engine.

Batching: a call joins a pending list; the first call to arrive starts a short collection window
(``batch_window`` seconds), after which everything pending (up to ``max_batch``) goes to the engine
as one ``chat`` call in a worker thread. Calls arriving while a batch runs form the next batch.
The engine is never called from two threads at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    Sampling,
    Usage,
)
from eibench.simulator.backends.registry import require

__all__ = ["VLLMBackend", "vllm_sampling_params"]

INSTALL_HINT = "pip install 'eibench[vllm]'"

ParamsFactory = Callable[[Sampling, dict[str, Any] | None, bool], Any]


def vllm_sampling_params(sampling: Sampling, json_schema: dict[str, Any] | None,
                         logprobs: bool) -> Any:
    """Build a ``vllm.SamplingParams`` for one request."""
    vllm = require("vllm", provider="vllm", hint=INSTALL_HINT)
    kwargs: dict[str, Any] = {"max_tokens": sampling.max_tokens, **sampling.given()}
    if logprobs:
        kwargs["logprobs"] = 0  # 0: only the sampled token's log-probability
    if json_schema is not None:
        try:
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError:
            from vllm.sampling_params import GuidedDecodingParams
            kwargs["guided_decoding"] = GuidedDecodingParams(json=json_schema)
        else:
            kwargs["structured_outputs"] = StructuredOutputsParams(json=json_schema)
    return vllm.SamplingParams(**kwargs)


@dataclass
class _Request:
    messages: list[ChatMessage]
    params: Any
    future: asyncio.Future[Completion]
    queued_at: float = field(default_factory=time.perf_counter)


class VLLMBackend(ChatBackend):
    """Batched generation on an in-process ``vllm.LLM``.

    Args:
        model: a model path or hub name for ``vllm.LLM(model=...)``.
        engine: an engine object with vLLM's ``chat`` method; built from ``model`` when omitted.
        engine_options: more keyword arguments for ``vllm.LLM`` (``tensor_parallel_size``, ...).
        chat_options: more keyword arguments for ``LLM.chat`` (e.g.
            ``{"chat_template_kwargs": {"enable_thinking": False}}``).
        batch_window: seconds to collect concurrent calls before running a batch.
        max_batch: most calls in one batch.
        logprobs: return the sampled tokens' log-probabilities.
        params_factory: builds one request's sampling parameters; defaults to
            ``vllm_sampling_params``.
    """

    max_concurrency = 256

    def __init__(self, model: str, *, engine: Any = None,
                 engine_options: Mapping[str, Any] | None = None,
                 chat_options: Mapping[str, Any] | None = None, batch_window: float = 0.005,
                 max_batch: int = 256, logprobs: bool = False,
                 params_factory: ParamsFactory | None = None) -> None:
        if batch_window < 0:
            raise ValueError(f"batch_window must not be negative, got {batch_window}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if engine is None:
            vllm = require("vllm", provider="vllm", hint=INSTALL_HINT)
            engine = vllm.LLM(model=model, **dict(engine_options or {}))
        self.engine = engine
        self.model = model
        self.name = f"vllm:{model}"
        self.chat_options = dict(chat_options or {})
        self.batch_window = batch_window
        self.max_batch = max_batch
        self.logprobs = logprobs
        self._make_params = params_factory or vllm_sampling_params
        self._pending: list[_Request] = []
        self._flusher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eibench-vllm")
        #: sizes of the batches run so far
        self.batch_sizes: list[int] = []

    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """Queue one request for the next batch and wait for its answer."""
        params = self._make_params(sampling or Sampling(), json_schema, self.logprobs)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Requests and the flush task of an earlier event loop can never finish here.
            self._loop, self._pending, self._flusher = loop, [], None
        request = _Request(list(messages), params, loop.create_future())
        self._pending.append(request)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await request.future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(self.batch_window)
            batch = [r for r in self._pending[:self.max_batch] if not r.future.done()]
            del self._pending[:self.max_batch]
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        self.batch_sizes.append(len(batch))
        started = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(self._executor, self._generate, batch)
            if len(outputs) != len(batch):
                raise RuntimeError(f"engine returned {len(outputs)} outputs for {len(batch)} "
                                   "requests")
        except Exception as exc:
            error = BackendError(f"{self.name}: generation failed: {type(exc).__name__}: {exc}",
                                 retryable=False)
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        latency = time.perf_counter() - started
        for request, output in zip(batch, outputs, strict=True):
            if request.future.done():
                continue
            try:
                request.future.set_result(self._completion(output, latency))
            except Exception as exc:
                request.future.set_exception(BackendError(
                    f"{self.name}: unreadable engine output: {exc}", retryable=False))

    def _generate(self, batch: list[_Request]) -> list[Any]:
        return list(self.engine.chat([r.messages for r in batch],
                                     sampling_params=[r.params for r in batch],
                                     use_tqdm=False, **self.chat_options))

    def _completion(self, output: Any, latency: float) -> Completion:
        sample = output.outputs[0]
        token_ids = list(getattr(sample, "token_ids", None) or [])
        logprobs = None
        steps = getattr(sample, "logprobs", None)
        if steps:
            logprobs = [float(step[token].logprob) for step, token in zip(steps, token_ids,
                                                                          strict=False)]
        prompt_ids = getattr(output, "prompt_token_ids", None) or []
        return Completion(text=sample.text, logprobs=logprobs, model=self.model,
                          latency_s=latency,
                          usage=Usage(input_tokens=len(prompt_ids), output_tokens=len(token_ids),
                                      calls=1))

    async def aclose(self) -> None:
        """Stop the worker thread (the engine itself is left to the caller)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
