"""Small, dependency-free statistics for reports: means and bootstrap intervals."""

from __future__ import annotations

import random
from collections.abc import Sequence

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20260601


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_ci(values: Sequence[float], *, level: float = 0.95,
                 samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
                 ) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean (deterministic for a seed)."""
    n = len(values)
    if n == 0:
        return None
    if n == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(samples))
    lo_i = int((1 - level) / 2 * samples)
    hi_i = min(samples - 1, int((1 + level) / 2 * samples))
    return (means[lo_i], means[hi_i])


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], **kwargs: float
                        ) -> tuple[float, float] | None:
    """Bootstrap interval of mean(b - a) over paired items."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    return bootstrap_ci([y - x for x, y in zip(a, b, strict=True)], **kwargs)  # type: ignore[arg-type]


def std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1); None for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    return float((sum((v - m) ** 2 for v in values) / (n - 1)) ** 0.5)
