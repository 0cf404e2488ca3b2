"""Training configuration: dataclasses with a ``help`` on every field (trl ``GRPOConfig`` style).

No torch here, so ``eibench train --help`` and config validation stay light. Field names follow
trl where the concept is the same (``learning_rate``, ``epsilon``, ``entropy_coef``,
``num_generations``, ``max_completion_length``, ``per_device_train_batch_size``...), so a trl user
recognises them; the values default to the paper's recipe (spec section 6). The dataclasses are
also valid ``transformers.HfArgumentParser`` / ``trl.TrlParser`` targets.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ONLINE_ONLY", "CTCGRPOConfig", "ConfigError", "OnlineConfig", "load_config"]

C = TypeVar("C", bound="CTCGRPOConfig")


class ConfigError(ValueError):
    """A configuration value or file is invalid; the message names the field."""


def _f(default: Any, doc: str) -> Any:
    """A dataclass field with trl/HF-style ``help`` metadata (immutable defaults only)."""
    return field(default=default, metadata={"help": doc})


@dataclass
class CTCGRPOConfig:
    """Everything the CTC-GRPO trainer needs; defaults are the paper's Qwen3-8B recipe."""

    # -- model -----------------------------------------------------------------------------------
    model_name_or_path: str = _f("", "Model to train: a local folder or a Hugging Face hub name.")
    gguf_file: str | None = _f(None, "A GGUF file inside model_name_or_path to load (dequantised "
                                     "by transformers; needs the gguf package).")
    tokenizer_name_or_path: str | None = _f(None, "Tokenizer folder or name (default: the model's).")
    torch_dtype: str = _f("auto", "Weights dtype: auto (bfloat16 on a GPU that supports it, else "
                                  "float32), bfloat16, float16 or float32.")
    attn_implementation: str | None = _f(None, "Attention kernel for transformers (sdpa, "
                                               "flash_attention_2, eager); default: its choice.")
    trust_remote_code: bool = _f(False, "Allow model code from the hub.")
    gradient_checkpointing: bool = _f(True, "Recompute activations in the backward pass (less "
                                            "memory, about 30% more compute).")
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Extra arguments for the chat template, e.g. {\"enable_thinking\": true} for "
                "Qwen3."})
    # -- adapter ---------------------------------------------------------------------------------
    use_peft: bool = _f(True, "Train a LoRA adapter through peft (default); false: full "
                              "fine-tuning.")
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA scaling numerator (scale = lora_alpha / lora_r).")
    lora_dropout: float = _f(0.0, "LoRA dropout (0: the policy is deterministic given its "
                                  "weights, as PPO ratios assume).")
    lora_target_modules: list[str] | str = field(default="all-linear", metadata={
        "help": "Modules that get LoRA: all-linear, or a list of module names."})
    # -- turn credit -----------------------------------------------------------------------------
    alpha: float = _f(15.0, "Weight of the turn score in the per-turn advantage (0: plain GRPO).")
    center: bool = _f(True, "Centre turn scores within each rollout (the paper); false: the "
                            "uncentred ablation A_i + alpha * r_it.")
    group_by: str = _f("scenario", "Group rollouts by scenario (the paper) or by scene "
                                   "(ablation).")
    # -- loss ------------------------------------------------------------------------------------
    epsilon: float = _f(0.2, "PPO clip range: the ratio is clipped to [1 - epsilon, 1 + epsilon].")
    dual_clip: float | None = _f(3.0, "Dual-clip constant c for negative advantages (loss at most "
                                      "-c * A); null disables it.")
    entropy_coef: float = _f(0.001, "Entropy bonus coefficient (loss = policy loss - coef * "
                                    "token-mean entropy).")
    num_iterations: int = _f(1, "PPO epochs over each batch of samples.")
    logprob_temperature: float = _f(1.0, "Divide logits by this before the log-softmax. Set it "
                                         "to the sampling temperature when behaviour logprobs "
                                         "were computed after temperature scaling.")
    logprob_chunk_size: int = _f(1024, "Response tokens projected through the LM head at once: "
                                       "bounds the full-vocabulary logits kept in memory.")
    use_behaviour_logprobs: bool = _f(True, "Use recorded behaviour logprobs for the importance "
                                            "ratio when they align with the tokenised response.")
    # -- optimisation ----------------------------------------------------------------------------
    learning_rate: float = _f(1e-6, "Peak learning rate (AdamW).")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    adam_beta1: float = _f(0.9, "AdamW beta1.")
    adam_beta2: float = _f(0.999, "AdamW beta2.")
    adam_epsilon: float = _f(1e-8, "AdamW epsilon.")
    max_grad_norm: float = _f(1.0, "Clip the global gradient norm to this.")
    lr_scheduler_type: str = _f("cosine", "cosine (with warmup and a floor) or constant.")
    warmup_ratio: float = _f(0.03, "Share of the schedule spent warming up linearly.")
    min_lr_rate: float = _f(0.1, "Cosine floor as a fraction of the peak learning rate.")
    mini_batch_size: int = _f(32, "Samples (agent turns) per optimizer step (PPO mini-batch), "
                                  "across all processes.")
    per_device_train_batch_size: int = _f(4, "Samples per forward/backward pass on one device; "
                                             "gradients are accumulated up to mini_batch_size.")
    max_completion_length: int = _f(1024, "Most response tokens per turn; longer responses are "
                                          "cut (and counted).")
    max_length: int | None = _f(None, "Drop samples whose prompt + response is longer (null: no "
                                      "limit).")
    shuffle: bool = _f(True, "Shuffle samples before cutting mini-batches.")
    seed: int = _f(0, "Seed for shuffling, LoRA initialisation and sampling.")
    # -- output ----------------------------------------------------------------------------------
    output_dir: str = _f("ctc-grpo-out", "Where checkpoints, logs and the final model go.")
    save_steps: int = _f(50, "Checkpoint every N schedule ticks (optimizer steps offline, "
                             "rollout steps online); 0: only at the end.")
    save_total_limit: int | None = _f(3, "Keep at most this many checkpoints (null: all).")
    logging_steps: int = _f(1, "Log every N optimizer steps.")
    report_to: str = _f("auto", "Loggers besides the console: auto (TensorBoard and/or W&B when "
                                "installed; W&B only when WANDB_API_KEY or WANDB_MODE is set), "
                                "none, tensorboard, wandb, or a comma list.")
    run_name: str | None = _f(None, "Name for the loggers (default: the output folder's name).")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"{name}: {why} (got {getattr(self, name)!r})")

        positive = ("lora_r", "lora_alpha", "num_iterations", "logprob_chunk_size",
                    "mini_batch_size", "per_device_train_batch_size", "max_completion_length",
                    "logging_steps")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a positive integer")
        for name in ("learning_rate", "logprob_temperature", "epsilon", "max_grad_norm"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise bad(name, "must be a positive number")
        for name in ("entropy_coef", "weight_decay", "alpha"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise bad(name, "must be a number >= 0")
        if self.dual_clip is not None and self.dual_clip <= 1:
            raise bad("dual_clip", "must be greater than 1, or null")
        if not 0 <= self.warmup_ratio < 1:
            raise bad("warmup_ratio", "must be in [0, 1)")
        if not 0 <= self.min_lr_rate <= 1:
            raise bad("min_lr_rate", "must be in [0, 1]")
        if not 0 <= self.lora_dropout < 1:
            raise bad("lora_dropout", "must be in [0, 1)")
        if self.group_by not in ("scenario", "scene"):
            raise bad("group_by", "must be scenario or scene")
        if self.lr_scheduler_type not in ("cosine", "constant"):
            raise bad("lr_scheduler_type", "must be cosine or constant")
        if self.torch_dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise bad("torch_dtype", "must be auto, bfloat16, float16 or float32")
        if self.save_steps < 0:
            raise bad("save_steps", "must be >= 0")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise bad("save_total_limit", "must be >= 1 or null")
        if self.max_length is not None and self.max_length < 2:
            raise bad("max_length", "must be >= 2 or null")
        known = {"auto", "none", "tensorboard", "wandb"}
        unknown = {p.strip() for p in self.report_to.split(",")} - known
        if unknown:
            raise bad("report_to", f"unknown logger(s) {', '.join(sorted(unknown))}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass
class OnlineConfig(CTCGRPOConfig):
    """The online loop: rollouts with the current policy, then one update, repeated."""

    simulator: str = _f("heuristic", "The simulated user: heuristic, or provider:model.")
    simulator_base_url: str | None = _f(None, "Base URL for an OpenAI-compatible simulator.")
    pack: str | None = _f(None, "Scenario pack for training and validation (default: starter).")
    official: str | None = _f(None, "Folder with the official EIBench data (instead of a pack).")
    train_split: str = _f("train", "Split the rollouts are drawn from.")
    validation_split: str = _f("test", "Held-out split used for validation.")
    steps: int = _f(250, "Rollout-then-update steps.")
    scenarios_per_step: int = _f(16, "Scenarios per step, balanced across the four scenes.")
    num_generations: int = _f(8, "Rollouts per scenario (the group size G).")
    validate_every: int = _f(30, "Validate on the held-out split every K steps (0: never; the "
                                 "first and last step are always validated when K > 0).")
    validation_limit: int | None = _f(None, "Validate on at most this many held-out scenarios "
                                            "(balanced; null: all).")
    validation_seeds: int = _f(1, "Dialogues per held-out scenario at each validation (more "
                                  "lowers the noise of small sets).")
    max_rounds: int | None = _f(None, "Cap the rounds per dialogue (null: the scenario's own, 8 "
                                      "in EIBench). Only for quick experiments.")
    temperature: float = _f(0.6, "Rollout sampling temperature.")
    top_p: float = _f(0.95, "Rollout nucleus sampling.")
    top_k: int = _f(20, "Rollout top-k sampling.")
    validation_temperature: float | None = _f(None, "Sampling temperature for validation "
                                                    "(default: the rollout temperature).")
    rollout_backend: str = _f("transformers", "transformers (generate with the training model; "
                                              "CPU or one GPU) or vllm (in-process engine with "
                                              "LoRA swap).")
    rollout_concurrency: int = _f(64, "Episodes played at once during rollouts (a batch of "
                                      "generations).")
    vllm_options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Extra keyword arguments for vllm.LLM (gpu_memory_utilization, max_model_len...)."})
    db: str = _f("eibench.db", "The store the rollouts are recorded in.")
    run_prefix: str | None = _f(None, "Prefix of the run names (default: the output folder's "
                                      "name).")

    def validate(self) -> None:
        super().validate()
        for name in ("steps", "scenarios_per_step", "num_generations", "rollout_concurrency",
                     "validation_seeds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: must be a positive integer (got {value!r})")
        if self.validate_every < 0:
            raise ConfigError(f"validate_every: must be >= 0 (got {self.validate_every!r})")
        if self.rollout_backend not in ("transformers", "vllm"):
            raise ConfigError("rollout_backend: must be transformers or vllm "
                              f"(got {self.rollout_backend!r})")
        if self.pack and self.official:
            raise ConfigError("pack/official: choose one source, not both")
        if self.temperature <= 0:
            raise ConfigError(f"temperature: must be > 0 (got {self.temperature!r})")
        if self.max_rounds is not None and self.max_rounds < 1:
            raise ConfigError(f"max_rounds: must be >= 1 or null (got {self.max_rounds!r})")


def load_config(cls: type[C], path: str | Path | None = None, *,
                ignore: frozenset[str] = frozenset(), **overrides: Any) -> C:
    """Build a config from a YAML or JSON file, then apply non-None ``overrides``.

    Keys of the file listed in ``ignore`` are dropped (so the online recipe file can drive the
    offline trainer too).

    Raises:
        ConfigError: an unreadable file, an unknown key (named), or an invalid value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {source}: {exc}") from exc
        try:
            if source.suffix in (".yaml", ".yml"):
                import yaml

                loaded = yaml.safe_load(text)
            else:
                loaded = json.loads(text)
        except Exception as exc:
            raise ConfigError(f"{source}: not valid YAML/JSON ({exc})") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of field: value")
        data = {k: v for k, v in loaded.items() if k not in ignore}
    data.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f" in {path}" if path else ""
        raise ConfigError(f"unknown config key(s){where}: {', '.join(unknown)} "
                          f"(valid keys: see `eibench train ... --help` or {cls.__name__})")
    floats = {f.name for f in dataclasses.fields(cls) if isinstance(f.default, float)}
    for name in floats & set(data):
        # YAML 1.1 reads 1e-6 (no dot) as a string
        if isinstance(data[name], str):
            try:
                data[name] = float(data[name])
            except ValueError:
                raise ConfigError(f"{name}: expected a number, got {data[name]!r}") from None
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


#: Fields only the online loop has (ignored when its recipe file drives the offline trainer).
ONLINE_ONLY = frozenset(f.name for f in dataclasses.fields(OnlineConfig)) - frozenset(
    f.name for f in dataclasses.fields(CTCGRPOConfig))
