"""Samples -> token ids, mini-batch plans, and padded tensors.

Tokenisation mirrors generation: the prompt is the chat template rendered with the generation
prompt, the response is the recorded output tokenised on its own, followed by the tokenizer's end
token (the model chose to stop, and that choice is trained too).

Recorded behaviour log-probabilities are used only when they line up with the tokenised response:
the same number of tokens (taken as they are), or one fewer when the backend did not report the
end token (that one position then falls back to the pre-update policy). Anything else is treated
as not recorded and counted, because a shifted list would pair each log-probability with the
wrong token.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eibench.train.samples import Sample

__all__ = [
    "EncodeStats",
    "Encoded",
    "align_behaviour",
    "collate",
    "encode_samples",
    "plan_minibatches",
    "split_micro",
]


@dataclass
class Encoded:
    """One tokenised sample.

    Attributes:
        index: position in the encoded list (stable across ranks and resumes).
        input_ids: prompt + response token ids.
        prompt_len: how many of them are prompt.
        advantage: the sample's A_it.
        behaviour: per response token, the behaviour log-probability; NaN where unknown; None
            when nothing usable was recorded.
        truncated: the response was cut to ``max_completion_length``.
    """

    index: int
    input_ids: list[int]
    prompt_len: int
    advantage: float
    behaviour: list[float] | None = None
    truncated: bool = False

    @property
    def n_response(self) -> int:
        return len(self.input_ids) - self.prompt_len


@dataclass
class EncodeStats:
    """Counts from :func:`encode_samples`."""

    samples: int = 0
    encoded: int = 0
    dropped_too_long: int = 0
    dropped_empty: int = 0
    truncated: int = 0
    behaviour_aligned: int = 0
    behaviour_without_end_token: int = 0
    behaviour_misaligned: int = 0
    prompt_tokens: int = 0
    response_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def align_behaviour(recorded: Sequence[float] | None, n_response: int,
                    has_end_token: bool) -> tuple[list[float] | None, str]:
    """Line recorded log-probabilities up with ``n_response`` tokenised response tokens.

    Returns the aligned list (NaN for unknown positions) or None, and how it went: ``none``,
    ``aligned``, ``without_end_token`` or ``misaligned``.
    """
    if not recorded:
        return None, "none"
    values = [float(x) for x in recorded]
    if not all(math.isfinite(v) and v <= 1e-6 for v in values):
        return None, "misaligned"
    if len(values) == n_response:
        return values, "aligned"
    if has_end_token and len(values) == n_response - 1:
        return [*values, math.nan], "without_end_token"
    return None, "misaligned"


def encode_samples(tokenizer: Any, samples: Sequence[Sample], *, max_completion_length: int,
                   max_length: int | None = None,
                   chat_template_kwargs: dict[str, Any] | None = None,
                   use_behaviour: bool = True) -> tuple[list[Encoded], EncodeStats]:
    """Tokenise samples for training (see the module docstring for the rules)."""
    stats = EncodeStats(samples=len(samples))
    end_id = tokenizer.eos_token_id
    kwargs = dict(chat_template_kwargs or {})
    encoded: list[Encoded] = []
    for sample in samples:
        prompt_text = tokenizer.apply_chat_template(sample.prompt, tokenize=False,
                                                    add_generation_prompt=True, **kwargs)
        prompt_ids = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
        response_ids = list(tokenizer(sample.response, add_special_tokens=False)["input_ids"])
        has_end = end_id is not None
        if has_end:
            response_ids.append(int(end_id))
        behaviour, how = (align_behaviour(sample.behaviour_logprobs, len(response_ids), has_end)
                          if use_behaviour else (None, "none"))
        if how == "aligned":
            stats.behaviour_aligned += 1
        elif how == "without_end_token":
            stats.behaviour_without_end_token += 1
        elif how == "misaligned":
            stats.behaviour_misaligned += 1
        truncated = len(response_ids) > max_completion_length
        if truncated:
            response_ids = response_ids[:max_completion_length]
            behaviour = behaviour[:max_completion_length] if behaviour else None
            stats.truncated += 1
        if not response_ids or not prompt_ids:
            stats.dropped_empty += 1
            continue
        if max_length is not None and len(prompt_ids) + len(response_ids) > max_length:
            stats.dropped_too_long += 1
            continue
        stats.prompt_tokens += len(prompt_ids)
        stats.response_tokens += len(response_ids)
        encoded.append(Encoded(index=len(encoded), input_ids=prompt_ids + response_ids,
                               prompt_len=len(prompt_ids), advantage=float(sample.advantage),
                               behaviour=behaviour, truncated=truncated))
    stats.encoded = len(encoded)
    if stats.behaviour_misaligned:
        stats.notes.append(f"{stats.behaviour_misaligned} sample(s) had behaviour logprobs that "
                           "do not line up with the tokenised response; the pre-update policy "
                           "is used for them")
    return encoded, stats


def plan_minibatches(n: int, *, mini_batch_size: int, world_size: int = 1, shuffle: bool = True,
                     seed: int = 0) -> tuple[list[list[int]], int]:
    """Cut ``range(n)`` into mini-batches of sample indices.

    Each mini-batch is trimmed to a multiple of ``world_size`` so every process gets the same
    number of samples (and the collective operations line up). Returns the mini-batches and the
    number of samples dropped by trimming (0 on one process).
    """
    order = list(range(n))
    if shuffle:
        random.Random(seed).shuffle(order)
    batches: list[list[int]] = []
    dropped = 0
    for start in range(0, n, mini_batch_size):
        chunk = order[start:start + mini_batch_size]
        keep = len(chunk) - len(chunk) % world_size
        dropped += len(chunk) - keep
        if keep:
            batches.append(chunk[:keep])
    return batches, dropped


def split_micro(indices: Sequence[int], lengths: Sequence[int],
                per_device: int) -> list[list[int]]:
    """Split one process's share of a mini-batch into micro-batches of similar lengths."""
    ordered = sorted(indices, key=lambda i: lengths[i])
    return [ordered[i:i + per_device] for i in range(0, len(ordered), per_device)]


def collate(batch: Sequence[Encoded], pad_id: int, old: Sequence[Any] | None = None
            ) -> dict[str, Any]:
    """Right-padded tensors for a micro-batch.

    Returns ``input_ids``, ``attention_mask``, ``response_mask`` (bool, True on response tokens),
    and flat ``(N,)`` tensors in the order the response head returns tokens: ``advantages`` and,
    when ``old`` (one 1-D tensor per sample) is given, ``old_logprobs``.
    """
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(batch), width), dtype=torch.long)
    resp = torch.zeros((len(batch), width), dtype=torch.bool)
    advantages = []
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        attn[row, :n] = 1
        resp[row, e.prompt_len:n] = True
        advantages.append(torch.full((e.n_response,), e.advantage, dtype=torch.float32))
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": attn, "response_mask": resp,
                           "advantages": torch.cat(advantages)}
    if old is not None:
        out["old_logprobs"] = torch.cat([t.float() for t in old])
    return out
