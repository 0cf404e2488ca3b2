"""Providers by name, created lazily from ``provider:model`` spec strings.

A provider is registered as a factory: a callable, or a ``"module:attr"`` string that is imported
only when the provider is first used. The factory is called as ``factory(model, **options)`` and
imports its SDK inside, raising ``MissingDependency`` (see ``require``) with an install hint when
the SDK is absent. Nothing here imports an SDK.
"""

from __future__ import annotations

import importlib
import inspect
import random
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from eibench.simulator.backends.base import ChatBackend, MissingDependency
from eibench.simulator.backends.managed import ManagedBackend, Price, RetryPolicy

__all__ = ["get_backend", "parse_spec", "providers", "register_provider", "require"]

ProviderFactory = Callable[..., ChatBackend]

_PROVIDERS: dict[str, ProviderFactory | str] = {
    "openai": "eibench.simulator.backends.openai_backend:OpenAIBackend",
    "anthropic": "eibench.simulator.backends.anthropic_backend:AnthropicBackend",
    "vllm": "eibench.simulator.backends.vllm_backend:VLLMBackend",
    "local": "eibench.simulator.backends.llama_backend:LlamaBackend",
    "scripted": "eibench.simulator.backends.scripted:ScriptedBackend.from_spec",
}


def register_provider(name: str, factory: ProviderFactory | str) -> None:
    """Register (or replace) a provider.

    Args:
        name: the part before ``:`` in a spec; letters, digits, ``_`` and ``-``.
        factory: ``factory(model, **options) -> ChatBackend``, or ``"module:attr"`` naming one
            (dots in ``attr`` reach into a class, e.g. ``"pkg.mod:Backend.from_spec"``).
    """
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"provider name must be letters, digits, '_' or '-', got {name!r}")
    _PROVIDERS[name] = factory


def providers() -> list[str]:
    """The registered provider names, sorted."""
    return sorted(_PROVIDERS)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``provider:model`` at the first colon (the model part may hold more colons).

    Raises:
        ValueError: the spec has no provider or no model, or the provider is unknown.
    """
    provider, sep, model = spec.partition(":")
    known = ", ".join(providers())
    if not sep or not provider or not model:
        raise ValueError(f"backend spec {spec!r} must read 'provider:model' (providers: {known})")
    if provider not in _PROVIDERS:
        raise ValueError(f"backend spec {spec!r}: unknown provider {provider!r} (providers: {known})")
    return provider, model


def require(module: str, *, provider: str, hint: str) -> ModuleType:
    """Import an SDK for ``provider`` or raise ``MissingDependency`` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"the {provider!r} backend needs the {module!r} package, which is not installed; "
            f"install it with: {hint}") from exc


def _resolve(target: ProviderFactory | str) -> ProviderFactory:
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def _accepted(factory: ProviderFactory) -> set[str] | None:
    """Keyword names ``factory`` takes, or ``None`` when it takes any."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return set(params)


def _check_options(provider: str, factory: ProviderFactory, options: Mapping[str, Any]) -> None:
    accepted = _accepted(factory)
    if accepted is None:
        return
    params = inspect.signature(factory).parameters
    unknown = sorted(set(options) - accepted)
    if unknown:
        takes = sorted(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)
        raise TypeError(f"the {provider!r} backend does not take option(s) {', '.join(unknown)} "
                        f"(it takes: {', '.join(takes) or 'none'})")


def create_provider(spec: str, **options: Any) -> ChatBackend:
    """Build the bare provider for ``spec`` (no retries, limits or accounting).

    ``options`` whose value is ``None`` are dropped so the provider's defaults apply.
    """
    provider, model = parse_spec(spec)
    factory = _resolve(_PROVIDERS[provider])
    given = {k: v for k, v in options.items() if v is not None}
    _check_options(provider, factory, given)
    backend = factory(model, **given)
    backend.name = spec
    return backend


def get_backend(spec: str, *, base_url: str | None = None, api_key: str | None = None,
                concurrency: int | None = None, timeout: float | None = None,
                max_retries: int | None = None, retry_policy: RetryPolicy | None = None,
                prices: Mapping[str, Mapping[str, Price]] | None = None,
                rng: random.Random | None = None, **provider_options: Any) -> ManagedBackend:
    """Create the backend named by ``spec``, wrapped in the shared retry/limit/accounting policy.

    Specs: ``anthropic:<model>``, ``openai:<model>``, ``vllm:<model path>``, ``local:smollm2``
    (or ``local:<file.gguf>``), ``scripted:<file.json|file.jsonl|module:callable>``.

    Args:
        spec: ``provider:model``.
        base_url: server address for HTTP providers (``openai`` also reads
            ``EIBENCH_OPENAI_BASE_URL``).
        api_key: API key for HTTP providers (else read from the provider's environment variables).
        concurrency: calls in flight at most; defaults to the provider's own limit.
        timeout: seconds one attempt may take (given to the SDK too, where it takes one).
        max_retries: retries after the first attempt; overrides ``retry_policy.max_attempts``.
        retry_policy: backoff settings; defaults to ``RetryPolicy()``.
        prices: a price table replacing ``managed.PRICES``.
        rng: random source for backoff jitter.
        **provider_options: passed to the provider, e.g. ``logprobs=True`` for ``openai``,
            ``cycle=True`` for ``scripted``.

    Raises:
        ValueError: a malformed spec or an unknown provider.
        TypeError: an option the provider does not take.
        MissingDependency: the provider's SDK is not installed (the message says what to install).
    """
    if max_retries is not None and max_retries < 0:
        raise ValueError(f"max_retries must not be negative, got {max_retries}")
    provider, model = parse_spec(spec)
    options: dict[str, Any] = {"base_url": base_url, "api_key": api_key, **provider_options}
    # The wrapper enforces the timeout for every provider; those with their own client
    # timeout (HTTP SDKs) get it too, so a stalled socket is closed rather than abandoned.
    accepted = _accepted(_resolve(_PROVIDERS[provider]))
    if accepted is None or "timeout" in accepted:
        options["timeout"] = timeout
    inner = create_provider(spec, **options)
    policy = retry_policy or RetryPolicy()
    if max_retries is not None:
        policy = RetryPolicy(max_attempts=max_retries + 1, base_delay=policy.base_delay,
                             max_delay=policy.max_delay, max_retry_after=policy.max_retry_after)
    return ManagedBackend(inner, provider=provider, model=model, concurrency=concurrency,
                          timeout=timeout, policy=policy, prices=prices, rng=rng)
