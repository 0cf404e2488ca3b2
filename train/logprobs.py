"""Per-token log-probabilities and entropies of response tokens, in chunks.

A causal LM's forward returns ``(batch, seq, vocab)`` logits. For a 152k vocabulary in fp32 that is
600 KB per position: a mini-batch of long multi-turn prompts does not fit on a GPU, and most of it
is wasted on prompt positions nobody trains on. Here the backbone returns hidden states only; the
positions that predict a response token are gathered into one ``(N, hidden)`` matrix and sent
through the LM head ``chunk_size`` rows at a time. Each chunk's logits live only inside a
:func:`torch.utils.checkpoint.checkpoint` call, so the backward pass recomputes them chunk by chunk
instead of keeping them all: peak memory is about three ``(chunk_size, vocab)`` fp32 tensors,
whatever the batch.

:func:`install_response_head` patches the model's ``forward`` (like trl's ``add_fused_lm_head``),
so the call still goes through the top-level module: FSDP's, DeepSpeed's and accelerate's hooks
and peft's adapters all run as usual.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

__all__ = [
    "chunked_logprobs",
    "install_response_head",
    "reference_logprobs",
    "response_logprobs",
    "unwrap_causal_lm",
]

_FLAG = "_eibench_response_head"

try:
    from torch.distributed.tensor import DTensor as _DTensor
except ImportError:  # torch builds without distributed support
    _DTensor = None  # type: ignore[assignment,misc]


def _project(head: torch.nn.Module | torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    if isinstance(head, torch.Tensor):
        return F.linear(hidden, head)
    weight = head.weight
    if _DTensor is not None and isinstance(weight, _DTensor):
        # an FSDP2-sharded head outside its unsharded window: gather it for this product
        bias_param: Any = head.bias
        bias = bias_param.full_tensor() if bias_param is not None else None
        return F.linear(hidden, weight.full_tensor(), bias)
    # calling the module (not reading .weight) lets DeepSpeed ZeRO-3 gather a partitioned head
    out: torch.Tensor = head(hidden)
    return out


def _chunk_stats(hidden: torch.Tensor, head: torch.nn.Module | torch.Tensor,
                 targets: torch.Tensor, temperature: float, softcap: float | None,
                 scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    logits = _project(head, hidden).float()
    if scale != 1.0:
        logits = logits * scale
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    if temperature != 1.0:
        logits = logits / temperature
    log_z = torch.logsumexp(logits, dim=-1)
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
    probs = torch.softmax(logits, dim=-1)
    entropy = log_z - (probs * logits).sum(-1)
    return logp, entropy


def chunked_logprobs(hidden: torch.Tensor, head: torch.nn.Module | torch.Tensor,
                     targets: torch.Tensor, *, temperature: float = 1.0, chunk_size: int = 1024,
                     softcap: float | None = None, scale: float = 1.0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of ``targets`` and entropy of the head's softmax, ``chunk_size`` rows at a
    time.

    Args:
        hidden: ``(N, H)`` hidden states (the positions to score).
        head: the LM head module, or a bare ``(V, H)`` weight.
        targets: ``(N,)`` token ids.
        temperature: logits are divided by it.
        chunk_size: rows per chunk.
        softcap / scale: final logit soft-capping and scaling of models that use them.

    Returns:
        ``(logprobs, entropy)``, each ``(N,)`` float32. Differentiable when gradients are on;
        each chunk's logits are recomputed in the backward pass, never stored.
    """
    if hidden.shape[0] == 0:
        empty = hidden.new_zeros((0,), dtype=torch.float32)
        return empty + hidden.sum() * 0, empty
    parts_lp: list[torch.Tensor] = []
    parts_ent: list[torch.Tensor] = []
    for start in range(0, hidden.shape[0], chunk_size):
        args = (hidden[start:start + chunk_size], head, targets[start:start + chunk_size],
                temperature, softcap, scale)
        if torch.is_grad_enabled():
            lp, ent = checkpoint(_chunk_stats, *args, use_reentrant=False)
        else:
            lp, ent = _chunk_stats(*args)
        parts_lp.append(lp)
        parts_ent.append(ent)
    return torch.cat(parts_lp), torch.cat(parts_ent)


def reference_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The naive full-logits computation, for tests and benchmarks."""
    logits = logits.float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def unwrap_causal_lm(model: Any) -> Any:
    """The transformers causal LM inside peft/accelerate/FSDP/DeepSpeed wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_fsdp_wrapped_module"):
            model = model._fsdp_wrapped_module
        else:
            break
    return model


def _head_settings(model: Any) -> tuple[float | None, float]:
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    text = get_text() if callable(get_text) else config
    softcap = getattr(text, "final_logit_softcapping", None)
    scale = getattr(text, "logit_scale", None)
    return softcap, float(scale) if scale is not None else 1.0


def install_response_head(model: Any) -> Any:
    """Patch a transformers causal LM so ``model(..., response_mask=M)`` returns response scores.

    Called with ``response_mask`` (bool, same shape as ``input_ids``, True on the tokens to score),
    the forward runs only the backbone and returns ``(logprobs, entropy)``: flat ``(N,)`` tensors
    over the True positions in row-major order, where ``N = response_mask.sum()``. Without it the
    forward is unchanged (generation still works). Patch before wrapping with peft; calling it
    again is harmless. Returns ``model``.
    """
    if getattr(model, _FLAG, False):
        return model
    original = model.forward
    softcap, scale = _head_settings(model)

    @functools.wraps(type(model).forward)
    def forward(self: Any, *args: Any, response_mask: torch.Tensor | None = None,
                logprob_temperature: float = 1.0, logprob_chunk_size: int = 1024,
                **kwargs: Any) -> Any:
        if response_mask is None:
            return original(*args, **kwargs)
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is None:
            raise ValueError("response scoring needs input_ids")
        for unused in ("labels", "output_attentions", "output_hidden_states", "return_dict"):
            kwargs.pop(unused, None)
        kwargs["use_cache"] = False
        backbone = getattr(self, self.base_model_prefix)
        hidden_states = backbone(*args, **kwargs).last_hidden_state
        head = self.get_output_embeddings()
        device = head.weight.device
        select = response_mask[:, 1:].to(hidden_states.device)
        hidden = hidden_states[:, :-1][select].to(device)
        targets = input_ids[:, 1:].to(hidden_states.device)[select].to(device)
        return chunked_logprobs(hidden, head, targets, temperature=logprob_temperature,
                                chunk_size=logprob_chunk_size, softcap=softcap, scale=scale)

    model.forward = types.MethodType(forward, model)
    setattr(model, _FLAG, True)
    return model


def response_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      response_mask: torch.Tensor, *, temperature: float = 1.0,
                      chunk_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Score the response tokens of a right-padded batch with a patched model.

    The model (or the causal LM inside its wrappers) must have gone through
    :func:`install_response_head`.
    """
    if not getattr(unwrap_causal_lm(model), _FLAG, False):
        raise RuntimeError("call install_response_head(model) before scoring responses")
    out = model(input_ids=input_ids, attention_mask=attention_mask, response_mask=response_mask,
                logprob_temperature=temperature, logprob_chunk_size=chunk_size)
    logprobs, entropy = out
    return logprobs, entropy
