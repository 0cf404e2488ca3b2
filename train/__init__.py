"""CTC-GRPO training from recorded dialogues.

The no-torch half (importable with the core install): :mod:`~eibench.train.advantages` (the
reward and credit formulas), :mod:`~eibench.train.samples` (store -> per-turn samples),
:mod:`~eibench.train.export` (samples -> Hugging Face dataset) and :mod:`~eibench.train.config`.
The [train] extra adds :mod:`~eibench.train.trainer` (the PPO-clip loop on peft/accelerate),
:mod:`~eibench.train.logprobs` (chunked response log-probabilities),
:mod:`~eibench.train.online` (rollouts and updates, alternating) and
:mod:`~eibench.train.rollout` (agents that generate with the policy being trained).
"""

from eibench.train.advantages import group_advantages, outcome_reward, turn_credit, turn_score
from eibench.train.config import ConfigError, CTCGRPOConfig, OnlineConfig, load_config
from eibench.train.export import load_samples, write_export
from eibench.train.samples import (
    Rollout,
    Sample,
    SampleSet,
    SampleStats,
    build_samples,
    read_rollouts,
    samples_from_store,
)

__all__ = [
    "CTCGRPOConfig",
    "ConfigError",
    "OnlineConfig",
    "Rollout",
    "Sample",
    "SampleSet",
    "SampleStats",
    "build_samples",
    "group_advantages",
    "load_config",
    "load_samples",
    "outcome_reward",
    "read_rollouts",
    "samples_from_store",
    "turn_credit",
    "turn_score",
    "write_export",
]
