"""``scripted:``: a real provider that replays canned outputs; the test double every test uses.

A script is either a sequence of outputs, used in order, or a function of the messages that
returns the next output (plain or ``async``). An output may be:

- a ``str``: the completion text;
- a ``Completion``: returned as it is (set ``reasoning``, ``usage`` or ``logprobs`` this way);
- a ``BackendError`` (or any exception): raised, to stage a fault on cue, e.g.
  ``BackendError("rate limited", retryable=True, retry_after=0.1, status=429)``;
- any other JSON value (dict, list, number, bool, None): serialised with ``json.dumps`` as the
  text, so a list of simulator JSON outputs can be replayed directly.

When a sequence runs out the backend raises a non-retryable ``BackendError`` naming the call;
pass ``cycle=True`` to start again from the first output instead. Erroring is the default so a
test that makes more calls than it scripted fails loudly rather than passing on recycled data.

From a spec string (``scripted:<spec>``):

- ``scripted:path/outputs.json``: a JSON array of outputs;
- ``scripted:path/outputs.jsonl``: one JSON output per line (blank lines skipped);
- ``scripted:package.module:callable``: a function of the messages as above.

In files, two object shapes are reserved: ``{"__error__": "message", "retryable": true,
"retry_after": 0.5, "status": 429}`` raises a ``BackendError``, and ``{"__text__": "...",
"reasoning": "..."}`` is a completion with a reasoning field. Every other object is replayed as
its JSON text.

Usage is counted in whitespace-separated words (prompt and text), a deterministic stand-in for
tokens. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    Sampling,
    Usage,
)

__all__ = ["ScriptedBackend", "ScriptedCall", "load_script"]

Script = Sequence[Any] | Callable[[list[ChatMessage]], Any]


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call the scripted backend received."""

    messages: list[ChatMessage]
    json_schema: dict[str, Any] | None
    sampling: Sampling | None


def _from_file_item(item: Any, where: str) -> Any:
    if isinstance(item, dict) and "__error__" in item:
        return BackendError(str(item["__error__"]), retryable=bool(item.get("retryable", False)),
                            retry_after=item.get("retry_after"), status=item.get("status"))
    if isinstance(item, dict) and "__text__" in item:
        if not isinstance(item["__text__"], str):
            raise ValueError(f"{where}: '__text__' must be a string")
        return Completion(text=item["__text__"], reasoning=str(item.get("reasoning", "")))
    return item


def load_script(path: str | Path) -> list[Any]:
    """Read outputs from a ``.json`` array or a ``.jsonl`` file (see the module docstring)."""
    path = Path(path)
    if path.suffix not in (".json", ".jsonl"):
        raise ValueError(f"scripted outputs file {str(path)!r} must end in .json or .jsonl")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"scripted outputs file not found: {path}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, list):
            raise ValueError(f"{path}: must hold a JSON array of outputs, "
                             f"found {type(data).__name__}")
        return [_from_file_item(item, f"{path}[{i}]") for i, item in enumerate(data)]
    items = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not valid JSON: {exc}") from exc
        items.append(_from_file_item(item, f"{path}:{lineno}"))
    return items


def _check_output(item: Any, where: str) -> None:
    if isinstance(item, str | Completion | BaseException):
        return
    try:
        json.dumps(item)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"scripted {where}: must be a str, Completion, exception or JSON value, "
                        f"got {type(item).__name__}") from exc


def _words(text: str) -> int:
    return len(text.split())


class ScriptedBackend(ChatBackend):
    """Replays a script of outputs (see the module docstring).

    Args:
        outputs: a non-empty sequence of outputs, or a function of the messages.
        cycle: start the sequence again when it runs out instead of raising.
        name: the name reported in errors and records.
    """

    max_concurrency = 64

    def __init__(self, outputs: Script, *, cycle: bool = False, name: str = "scripted") -> None:
        if isinstance(outputs, str | bytes) or not (callable(outputs)
                                                    or isinstance(outputs, Sequence)):
            raise TypeError("ScriptedBackend needs a sequence of outputs or a function of the "
                            f"messages, got {type(outputs).__name__}")
        if isinstance(outputs, Sequence) and not outputs:
            raise ValueError("ScriptedBackend needs at least one output")
        if isinstance(outputs, Sequence):
            for i, item in enumerate(outputs):
                _check_output(item, f"output {i}")
        self._outputs = outputs
        self.cycle = cycle
        self.name = name
        self.calls: list[ScriptedCall] = []
        self._next = 0

    @classmethod
    def from_spec(cls, spec: str, *, cycle: bool = False) -> ScriptedBackend:
        """Build from the part after ``scripted:``: a .json/.jsonl file or ``module:callable``."""
        if spec.endswith((".json", ".jsonl")):
            return cls(load_script(spec), cycle=cycle, name=f"scripted:{spec}")
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ValueError(f"scripted spec {spec!r} must be a .json/.jsonl file or "
                             "'module:callable'")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"scripted spec {spec!r}: cannot import {module_name!r}: {exc}") from exc
        for part in attr.split("."):
            if not hasattr(target, part):
                raise ValueError(f"scripted spec {spec!r}: {module_name!r} has no {attr!r}")
            target = getattr(target, part)
        if not callable(target):
            raise ValueError(f"scripted spec {spec!r}: {attr!r} is not callable")
        return cls(target, cycle=cycle, name=f"scripted:{spec}")

    @property
    def remaining(self) -> int | None:
        """Outputs left before the script runs out (``None`` for a function or a cycling list)."""
        if callable(self._outputs) or self.cycle:
            return None
        return len(self._outputs) - self._next

    async def _produce(self, messages: list[ChatMessage]) -> Any:
        if callable(self._outputs):
            out = self._outputs(messages)
            return await out if inspect.isawaitable(out) else out
        if self._next >= len(self._outputs):
            if not self.cycle:
                raise BackendError(
                    f"{self.name}: script ran out after {len(self._outputs)} outputs "
                    f"(call {len(self.calls)}); add outputs or pass cycle=True",
                    retryable=False)
            self._next = 0
        out = self._outputs[self._next]
        self._next += 1
        return out

    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """Return (or raise) the next scripted output."""
        self.calls.append(ScriptedCall([dict(m) for m in messages],  # type: ignore[misc]
                                       json_schema, sampling))
        out = await self._produce(messages)
        if isinstance(out, BaseException):
            raise out
        if callable(self._outputs):
            _check_output(out, f"function {getattr(self._outputs, '__name__', '')!r} result")
        prompt_words = sum(_words(m["content"]) for m in messages)
        if isinstance(out, Completion):
            if out.usage == Usage():
                out = dataclasses.replace(out, usage=Usage(
                    input_tokens=prompt_words, output_tokens=_words(out.text), calls=1))
            return out if out.model else dataclasses.replace(out, model=self.name)
        text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
        return Completion(text=text, model=self.name,
                          usage=Usage(input_tokens=prompt_words, output_tokens=_words(text),
                                      calls=1))
