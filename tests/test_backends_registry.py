"""Spec strings, the provider registry, lazy imports and install hints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eibench.simulator.backends import (
    ChatBackend,
    Completion,
    ManagedBackend,
    MissingDependency,
    ScriptedBackend,
    get_backend,
    parse_spec,
    providers,
    register_provider,
    registry,
)


def test_parse_spec() -> None:
    assert parse_spec("openai:gpt-4o") == ("openai", "gpt-4o")
    assert parse_spec("vllm:/models/qwen:latest") == ("vllm", "/models/qwen:latest")
    assert parse_spec("scripted:pkg.mod:fn") == ("scripted", "pkg.mod:fn")
    for bad in ("gpt-4o", "openai:", ":gpt-4o", ""):
        with pytest.raises(ValueError, match="provider:model"):
            parse_spec(bad)
    with pytest.raises(ValueError, match=r"unknown provider 'gemini'.*anthropic"):
        parse_spec("gemini:pro")


def test_builtin_providers() -> None:
    assert {"anthropic", "local", "openai", "scripted", "vllm"} <= set(providers())


def test_importing_the_package_imports_no_sdk() -> None:
    code = ("import sys, eibench.simulator.backends, eibench.simulator.types; "
            "print(','.join(m for m in ('openai', 'anthropic', 'llama_cpp', 'vllm', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == ""


HTTP = {"base_url": "http://127.0.0.1:9", "api_key": "k"}


@pytest.mark.parametrize(("spec", "options", "module", "hint"), [
    ("openai:gpt-4o", HTTP, "openai", "pip install openai"),
    ("anthropic:claude-sonnet-4-5", HTTP, "anthropic", "pip install anthropic"),
    ("local:smollm2", {}, "llama_cpp", "pip install 'eibench[local]'"),
    ("vllm:/models/qwen", {}, "vllm", "pip install 'eibench[vllm]'"),
])
def test_missing_sdk_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch, spec: str,
                                            options: dict[str, str], module: str,
                                            hint: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependency) as info:
        get_backend(spec, **options)
    assert hint in str(info.value) and module in str(info.value)
    assert isinstance(info.value, ImportError)


def test_missing_weights_give_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    from eibench.simulator.backends import llama_backend

    monkeypatch.setitem(llama_backend.KNOWN_MODELS, "smollm2",
                        ("no_such_weights_pkg", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    with pytest.raises(MissingDependency, match=r"eibench\[local\]"):
        get_backend("local:smollm2")


def test_local_model_names_are_checked() -> None:
    from eibench.simulator.backends.llama_backend import resolve_model

    with pytest.raises(ValueError, match=r"unknown local model 'gpt2'.*smollm2"):
        resolve_model("gpt2")
    with pytest.raises(FileNotFoundError, match=r"missing\.gguf"):
        resolve_model("/nowhere/missing.gguf")


def test_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match=r"does not take option.*base_url"):
        get_backend("scripted:x.jsonl", base_url="http://example")


def test_timeout_applies_to_providers_without_their_own(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('"x"\n', encoding="utf-8")
    backend = get_backend(f"scripted:{path}", timeout=3)
    assert backend.timeout == 3


def test_get_backend_wraps_and_configures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EIBENCH_OPENAI_BASE_URL", raising=False)
    backend = get_backend("openai:gpt-4o-mini", api_key="sk-test", concurrency=5, timeout=7,
                          max_retries=2)
    assert isinstance(backend, ManagedBackend)
    assert backend.name == "openai:gpt-4o-mini"
    assert backend.max_concurrency == 5 and backend.timeout == 7
    assert backend.policy.max_attempts == 3
    assert backend.price is not None
    assert backend.inner._client.timeout == 7  # type: ignore[attr-defined]
    assert backend.inner._client.max_retries == 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="max_retries"):
        get_backend("openai:gpt-4o-mini", api_key="k", max_retries=-1)


async def test_register_a_provider() -> None:
    class Echo(ChatBackend):
        def __init__(self, model: str, *, loud: bool = False) -> None:
            self.model, self.loud = model, loud

        async def complete(self, messages, *, json_schema=None, sampling=None):  # type: ignore[no-untyped-def]
            text = f"{self.model}: {messages[-1]['content']}"
            return Completion(text=text.upper() if self.loud else text)

    register_provider("echo", Echo)
    try:
        backend = get_backend("echo:parrot", loud=True)
        assert backend.name == "echo:parrot"
        assert (await backend.complete([{"role": "user", "content": "hi"}])).text == "PARROT: HI"
        with pytest.raises(TypeError, match=r"does not take option.*quiet.*it takes: loud"):
            get_backend("echo:parrot", quiet=True)
    finally:
        registry._PROVIDERS.pop("echo", None)
    with pytest.raises(ValueError, match="provider name"):
        register_provider("bad name", Echo)


def test_scripted_backend_is_exported() -> None:
    import eibench.simulator.backends as backends

    assert backends.ScriptedBackend is ScriptedBackend
    assert set(backends.__all__) >= {"get_backend", "ScriptedBackend", "ManagedBackend"}
