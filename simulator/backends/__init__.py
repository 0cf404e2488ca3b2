"""LLM backends: one ``ChatBackend`` seam, providers by name, one wrapper with the shared policy.

>>> backend = get_backend("openai:gpt-4o-mini", concurrency=4)  # doctest: +SKIP
>>> completion = await backend.complete([{"role": "user", "content": "hi"}])  # doctest: +SKIP

Specs read ``provider:model``: ``anthropic:<model>``, ``openai:<model>``, ``vllm:<model path>``,
``local:smollm2``, ``scripted:<file or module:callable>``. Provider SDKs are imported only when a
backend of theirs is created.
"""

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    MissingDependency,
    Sampling,
    Usage,
)
from eibench.simulator.backends.managed import (
    PRICES,
    ManagedBackend,
    Price,
    RetriesExhausted,
    RetryPolicy,
    price_for,
)
from eibench.simulator.backends.registry import (
    create_provider,
    get_backend,
    parse_spec,
    providers,
    register_provider,
)
from eibench.simulator.backends.scripted import ScriptedBackend, ScriptedCall

__all__ = [
    "PRICES",
    "BackendError",
    "ChatBackend",
    "ChatMessage",
    "Completion",
    "ManagedBackend",
    "MissingDependency",
    "Price",
    "RetriesExhausted",
    "RetryPolicy",
    "Sampling",
    "ScriptedBackend",
    "ScriptedCall",
    "Usage",
    "create_provider",
    "get_backend",
    "parse_spec",
    "price_for",
    "providers",
    "register_provider",
]
