"""The CTC-GRPO policy loss: PPO clip with dual clip, token mean, entropy bonus, no KL term."""

from __future__ import annotations

import math

import torch

__all__ = ["LOG_RATIO_LIMIT", "lr_factor", "ppo_token_loss"]

#: log-ratios are clamped to this before exp(), so one wild token cannot overflow.
LOG_RATIO_LIMIT = 20.0


def ppo_token_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                   entropy: torch.Tensor, *, epsilon: float = 0.2, dual_clip: float | None = 3.0,
                   entropy_coef: float = 0.001) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token loss terms (to be summed and divided by the mini-batch's token count).

    ``ratio = exp(logp - old)``; the clipped surrogate is ``max(-A * ratio, -A * clip(ratio,
    1 - eps, 1 + eps))``; for ``A < 0`` the dual clip caps it at ``-c * A``. The entropy bonus
    subtracts ``entropy_coef * entropy``.

    Returns:
        The per-token loss ``(N,)`` and per-token diagnostics (``pg``, ``ratio``, ``clipped``,
        ``dual_clipped``, ``kl``), all ``(N,)``.
    """
    log_ratio = torch.clamp(logprobs - old_logprobs, -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    ratio = torch.exp(log_ratio)
    pg_unclipped = -advantages * ratio
    pg_clipped = -advantages * torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon)
    pg = torch.maximum(pg_unclipped, pg_clipped)
    clipped = (pg_clipped > pg_unclipped).float()
    dual = torch.zeros_like(pg)
    if dual_clip is not None:
        cap = -advantages * dual_clip
        capped = torch.minimum(pg, cap)
        negative = advantages < 0
        dual = (negative & (cap < pg)).float()
        pg = torch.where(negative, capped, pg)
    loss = pg - entropy_coef * entropy
    with torch.no_grad():
        kl = torch.exp(-log_ratio) - 1.0 + log_ratio  # k3 estimate of KL(old || new)
    return loss, {"pg": pg.detach(), "ratio": ratio.detach(), "clipped": clipped,
                  "dual_clipped": dual, "kl": kl}


def lr_factor(tick: int, total: int, *, warmup_ratio: float = 0.03, min_lr_rate: float = 0.1,
              kind: str = "cosine") -> float:
    """The learning-rate multiplier at schedule tick ``tick`` of ``total``.

    Linear warmup over ``ceil(warmup_ratio * total)`` ticks, then a cosine from 1 down to
    ``min_lr_rate`` at the last tick (``constant`` stays at 1 after warmup). This is the shape of
    transformers' ``get_cosine_with_min_lr_schedule_with_warmup``, except that warmup starts at
    ``1 / (warmup + 1)`` rather than 0, so the first optimizer step is never wasted.
    """
    total = max(1, total)
    warmup = math.ceil(warmup_ratio * total) if warmup_ratio > 0 else 0
    if tick < warmup:
        return (tick + 1) / (warmup + 1)
    if kind == "constant":
        return 1.0
    span = max(1, total - warmup - 1)
    progress = min(1.0, (tick - warmup) / span)
    return min_lr_rate + (1.0 - min_lr_rate) * 0.5 * (1.0 + math.cos(math.pi * progress))
