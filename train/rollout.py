"""Agents that generate with the policy being trained, for the online loop.

Both reuse :class:`eibench.simulator.backends.vllm_backend.VLLMBackend`, which collects the
concurrent requests of the harness into batches and runs them on an engine with vLLM's ``chat``
API, and :class:`eibench.harness.agents.LLMAgent`, which turns completions into agent turns:

* :class:`TransformersEngine` implements that ``chat`` API with ``transformers`` ``generate`` on
  the training model itself (CPU or one GPU): after an update the next rollouts use the new
  weights with nothing to reload.
* :class:`VLLMRollout` drives a real in-process vLLM engine (GPU only, imported lazily, written
  against vLLM's documented API and not exercised by the tests): LoRA training swaps in each new
  adapter through ``LoRARequest``; full fine-tuning saves the weights and rebuilds the engine.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from eibench.harness.agents import LLMAgent
from eibench.scenarios.model import Scenario
from eibench.simulator.backends.base import ChatMessage, Sampling
from eibench.simulator.backends.vllm_backend import VLLMBackend
from eibench.simulator.state import State
from eibench.simulator.types import Update, Utterance, rounds_done

__all__ = ["RoundCap", "TransformersEngine", "VLLMRollout", "transformers_agent"]


class TransformersEngine:
    """vLLM's ``LLM.chat`` API over a transformers model (batched, left-padded ``generate``).

    Args:
        model: a callable returning the model to generate with (looked up on every batch, so
            the trainer's current weights are always used).
        tokenizer: its tokenizer (with a chat template).
        chat_template_kwargs: extra arguments for the chat template.
        max_batch: most sequences in one ``generate`` call.
    """

    def __init__(self, model: Callable[[], Any], tokenizer: Any, *,
                 chat_template_kwargs: dict[str, Any] | None = None, max_batch: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.max_batch = max_batch
        self._lock = threading.Lock()

    def chat(self, conversations: Sequence[Sequence[ChatMessage]],
             sampling_params: Sequence[Sampling], use_tqdm: bool = False,
             **_: Any) -> list[Any]:
        """Generate one answer per conversation; requests are grouped by sampling settings."""
        results: list[Any] = [None] * len(conversations)
        groups: dict[Sampling, list[int]] = {}
        for i, params in enumerate(sampling_params):
            groups.setdefault(dataclasses.replace(params, seed=None), []).append(i)
        with self._lock:
            for params, indices in groups.items():
                seed = sampling_params[indices[0]].seed
                for start in range(0, len(indices), self.max_batch):
                    chunk = indices[start:start + self.max_batch]
                    outputs = self._generate([conversations[i] for i in chunk], params, seed)
                    for i, output in zip(chunk, outputs, strict=True):
                        results[i] = output
        return results

    def _generate(self, conversations: list[Sequence[ChatMessage]], params: Sampling,
                  seed: int | None) -> list[Any]:
        import torch

        tok = self.tokenizer
        model = self.model()
        texts = [tok.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True,
                                         **self.chat_template_kwargs) for c in conversations]
        side = tok.padding_side
        tok.padding_side = "left"
        try:
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tok.padding_side = side
        device = next(model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        sample = bool(params.temperature) and params.temperature is not None and \
            params.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens, "do_sample": sample,
                                  "pad_token_id": tok.pad_token_id,
                                  "eos_token_id": tok.eos_token_id, "use_cache": True}
        if sample:
            kwargs["temperature"] = params.temperature
            kwargs["top_p"] = params.top_p if params.top_p is not None else 1.0
            kwargs["top_k"] = params.top_k if params.top_k is not None else 0
        if seed is not None:
            torch.manual_seed(seed)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(**enc, **kwargs)
        finally:
            model.train(was_training)
        prompt_width = enc["input_ids"].shape[1]
        results = []
        for row in range(out.shape[0]):
            ids = out[row, prompt_width:].tolist()
            if tok.eos_token_id in ids:
                ids = ids[:ids.index(tok.eos_token_id) + 1]
            while ids and ids[-1] == tok.pad_token_id and tok.pad_token_id != tok.eos_token_id:
                ids.pop()
            text = tok.decode(ids, skip_special_tokens=True)
            n_prompt = int(enc["attention_mask"][row].sum())
            results.append(SimpleNamespace(
                outputs=[SimpleNamespace(text=text, token_ids=ids, logprobs=None)],
                prompt_token_ids=[0] * n_prompt))  # only its length is read
        return results


def _params_as_is(sampling: Sampling, json_schema: Any, logprobs: bool) -> Sampling:
    return sampling


def transformers_agent(model: Callable[[], Any], tokenizer: Any, *, sampling: Sampling,
                       name: str, chat_template_kwargs: dict[str, Any] | None = None,
                       max_batch: int = 64) -> LLMAgent:
    """An agent that generates with the model ``model()`` returns, batching concurrent turns."""
    engine = TransformersEngine(model, tokenizer, chat_template_kwargs=chat_template_kwargs,
                                max_batch=max_batch)
    backend = VLLMBackend(name, engine=engine, params_factory=_params_as_is, max_batch=max_batch,
                          batch_window=0.02)
    backend.name = f"hf:{name}"
    return LLMAgent(backend, sampling=sampling, name=f"hf:{name}")


class VLLMRollout:
    """Rollouts on an in-process vLLM engine that follows the training weights.

    Args:
        model_path: the base model for ``vllm.LLM``.
        lora_rank: the adapter rank (enables LoRA in the engine), or None for full fine-tuning.
        engine_options: more ``vllm.LLM`` keyword arguments (``gpu_memory_utilization``...).
        chat_template_kwargs: passed to ``LLM.chat``.
        sampling: the rollout sampling.
        workdir: where adapters or weights for the engine are written.
        engine_factory: builds the engine (tests pass a fake); default ``vllm.LLM``.
        params_factory: builds each request's sampling parameters (tests pass a fake); default
            ``vllm.SamplingParams`` through ``vllm_sampling_params``.
    """

    def __init__(self, model_path: str, *, lora_rank: int | None, sampling: Sampling,
                 workdir: str | Path, engine_options: dict[str, Any] | None = None,
                 chat_template_kwargs: dict[str, Any] | None = None,
                 engine_factory: Callable[..., Any] | None = None,
                 params_factory: Callable[[Sampling, Any, bool], Any] | None = None) -> None:
        self.model_path = model_path
        self.lora_rank = lora_rank
        self.workdir = Path(workdir)
        self.engine_options = dict(engine_options or {})
        if lora_rank is not None:
            self.engine_options.setdefault("enable_lora", True)
            self.engine_options.setdefault("max_lora_rank", lora_rank)
        self._factory = engine_factory
        self.chat_options: dict[str, Any] = {}
        if chat_template_kwargs:
            self.chat_options["chat_template_kwargs"] = dict(chat_template_kwargs)
        engine = self._build(model_path)
        self.backend = VLLMBackend(model_path, engine=engine, chat_options=self.chat_options,
                                   logprobs=True, params_factory=params_factory)
        self.agent = LLMAgent(self.backend, sampling=sampling, name=f"vllm:{model_path}")

    def _build(self, path: str) -> Any:
        if self._factory is not None:
            return self._factory(model=path, **self.engine_options)
        from eibench.simulator.backends.registry import require

        vllm = require("vllm", provider="vllm", hint="pip install 'eibench[vllm]'")
        return vllm.LLM(model=path, **self.engine_options)

    def update(self, trainer: Any, step: int) -> None:
        """Point the engine at the trainer's current weights."""
        if self.lora_rank is not None:
            path = trainer.save_model(self.workdir / f"adapter-step{step:05d}")
            try:
                from vllm.lora.request import LoRARequest
            except ImportError:  # a fake engine in tests
                request: Any = SimpleNamespace(lora_name=f"policy-{step}", lora_int_id=step + 1,
                                               lora_path=str(path))
            else:
                request = LoRARequest(f"policy-{step}", step + 1, str(path))
            self.backend.chat_options["lora_request"] = request
            return
        path = trainer.save_model(self.workdir / "weights")
        self.backend.engine = None
        gc.collect()
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:
            pass
        self.backend.engine = self._build(str(path))


class RoundCap:
    """A simulator wrapper that ends every dialogue after ``max_rounds`` rounds.

    For quick experiments only: the dialogue ends as if the user had stopped
    (``simulator_stopped``, stop reason ``round cap``), which the full benchmark never does.
    """

    def __init__(self, inner: Any, max_rounds: int) -> None:
        self.inner = inner
        self.max_rounds = max_rounds
        self.name = f"{inner.name} (max {max_rounds} rounds)"
        self.kind = inner.kind
        self.prompt_hash = inner.prompt_hash

    def open(self, scenario: Scenario) -> tuple[State, str | None]:
        result: tuple[State, str | None] = self.inner.open(scenario)
        return result

    async def step(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                   agent_text: str, *, seed: int = 0) -> Update:
        update: Update = await self.inner.step(scenario, state, history, agent_text, seed=seed)
        if update.keep_going and rounds_done(history) + 1 >= self.max_rounds:
            update = dataclasses.replace(update, keep_going=False,
                                         stop_reason=f"round cap ({self.max_rounds})")
        return update
