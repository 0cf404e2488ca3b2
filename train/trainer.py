"""The CTC-GRPO trainer: per-turn advantages, PPO clip (dual clip), token mean, no KL.

What trl (1.16) gives and what it could not do
----------------------------------------------
trl's ``GRPOTrainer`` generates its own completions from a dataset of prompts, scores whole
completions with reward functions and normalises rewards *within the group of completions of one
prompt*. CTC-GRPO needs three things it has no input for:

1. Samples are agent *turns* of multi-turn dialogues played elsewhere (by the harness, recorded
   in the store), not completions it generates; the prompt of turn t depends on the simulated
   user's earlier answers.
2. The advantage of a turn is computed across *rollouts* (the group is the 8 dialogues of one
   scenario) and then redistributed between the turns of each dialogue (centred turn credit), so
   turns of one dialogue carry different advantages. ``GRPOTrainer`` computes one advantage per
   completion from its reward functions; its experimental ``rollout_func`` (with ``env_mask``)
   lets an environment produce the completion, but there is still no way to hand it
   precomputed per-turn advantages.
3. The importance ratio should use behaviour log-probabilities recorded at rollout time when they
   exist (vLLM reports them), and the loss needs a dual clip, which trl's loss types do not have.

So the loop here is our own, small and explicit. What it takes from the stack: trl's
``GRPOConfig`` field names and parsing conventions (:mod:`eibench.train.config`), peft for LoRA,
accelerate for devices, mixed precision and FSDP/DeepSpeed launch, and transformers'
``from_pretrained``/``generate``/chat templates. What it adds: the sample builder
(:mod:`eibench.train.samples`), the behaviour-logprob alignment (:mod:`eibench.train.batching`),
a response-only chunked LM head (:mod:`eibench.train.logprobs`: the full-vocabulary logits of a
batch are never materialised; trl 1.16 has a similar ``add_fused_lm_head``, which older trl
releases lack), the dual-clip loss (:mod:`eibench.train.loss`), checkpoints with optimizer and
scheduler state, and resume.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from eibench.train.batching import (
    Encoded,
    EncodeStats,
    collate,
    encode_samples,
    plan_minibatches,
    split_micro,
)
from eibench.train.config import CTCGRPOConfig
from eibench.train.logprobs import install_response_head, response_logprobs, unwrap_causal_lm
from eibench.train.loss import lr_factor, ppo_token_loss
from eibench.train.reporting import MetricsLogger
from eibench.train.samples import Sample

__all__ = [
    "CTCGRPOTrainer",
    "TrainerState",
    "latest_checkpoint",
    "load_model",
    "load_tokenizer",
    "train_offline",
    "train_one_step",
]

STATE_FILE = "trainer_state.json"
_DUMMY = Encoded(index=0, input_ids=[0, 0], prompt_len=1, advantage=0.0)
CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainerState:
    """Progress counters saved in every checkpoint."""

    updates: int = 0
    ticks: int = 0
    total_ticks: int = 0
    step: int = 0
    samples_seen: int = 0
    tokens_seen: int = 0
    pass_updates: int = 0


def resolve_dtype(name: str) -> torch.dtype:
    """``auto``: bfloat16 on a GPU that supports it, else float32."""
    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def load_tokenizer(config: CTCGRPOConfig, path: str | None = None) -> Any:
    """The tokenizer (pad token defaulting to the end token)."""
    from transformers import AutoTokenizer

    source = path or config.tokenizer_name_or_path or config.model_name_or_path
    kwargs: dict[str, Any] = {"trust_remote_code": config.trust_remote_code}
    if config.gguf_file and not (path or config.tokenizer_name_or_path):
        kwargs["gguf_file"] = config.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise ValueError(f"the tokenizer of {source} has no chat template; training prompts are "
                         "built with it")
    return tokenizer


def load_model(config: CTCGRPOConfig, path: str | None = None) -> Any:
    """The causal LM named by the config (or ``path``), in the configured dtype."""
    import transformers
    from transformers import AutoModelForCausalLM

    source = path or config.model_name_or_path
    if not source:
        raise ValueError("model_name_or_path is empty: name the model to train")
    kwargs: dict[str, Any] = {"trust_remote_code": config.trust_remote_code}
    dtype = resolve_dtype(config.torch_dtype)
    major = int(transformers.__version__.split(".")[0])
    kwargs["dtype" if major >= 5 else "torch_dtype"] = dtype
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    if config.gguf_file and path is None:
        kwargs["gguf_file"] = config.gguf_file
    return AutoModelForCausalLM.from_pretrained(source, **kwargs)


def _disable_dropout(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest ``checkpoint-*`` folder under ``output_dir`` that has a state file."""
    root = Path(output_dir)
    found = sorted((p for p in root.glob(f"{CHECKPOINT_PREFIX}*") if (p / STATE_FILE).exists()),
                   key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX) or 0))
    return found[-1] if found else None


def _is_adapter_dir(path: Path) -> bool:
    return (path / "adapter_config.json").exists()


class CTCGRPOTrainer:
    """Trains a causal LM on CTC-GRPO samples.

    Args:
        config: the training configuration.
        model / tokenizer: already loaded objects (tests, notebooks); loaded from the config
            when omitted. A given model is patched and, with ``use_peft``, wrapped with LoRA.
        accelerator: an ``accelerate.Accelerator``; one is created when omitted.
        resume_from: a checkpoint folder whose weights to start from (optimizer, scheduler and
            counters are restored by :meth:`load_checkpoint`).
    """

    def __init__(self, config: CTCGRPOConfig, *, model: Any = None, tokenizer: Any = None,
                 accelerator: Any = None, resume_from: str | Path | None = None) -> None:
        from accelerate import Accelerator

        self.config = config
        self.accelerator = accelerator or Accelerator()
        self.state = TrainerState()
        torch.manual_seed(config.seed)
        resume = Path(resume_from) if resume_from else None
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if model is None:
            full_resume = resume is not None and not config.use_peft
            model = load_model(config, str(resume) if full_resume else None)
        self.is_peft = False
        model = self._prepare_model(model, resume)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        self.n_trainable = sum(p.numel() for p in params)
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                      betas=(config.adam_beta1, config.adam_beta2),
                                      eps=config.adam_epsilon, weight_decay=config.weight_decay)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self.logger = MetricsLogger(config.output_dir, report_to=config.report_to,
                                    run_name=config.run_name, config=config.to_dict(),
                                    enabled=self.accelerator.is_main_process)

    # -- setup -----------------------------------------------------------------------------------

    def _prepare_model(self, model: Any, resume: Path | None) -> Any:
        config = self.config
        inner = unwrap_causal_lm(model)
        install_response_head(inner)
        _disable_dropout(inner)
        inner.config.use_cache = False
        if config.gradient_checkpointing:
            # transformers 5.x renamed the method and its argument
            if hasattr(inner, "activation_checkpointing_enable"):
                inner.activation_checkpointing_enable(
                    activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                inner.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "peft_config"):
            self.is_peft = True
            return model
        if not config.use_peft:
            return model
        from peft import LoraConfig, PeftModel, get_peft_model

        self.is_peft = True
        if resume is not None and _is_adapter_dir(resume):
            return PeftModel.from_pretrained(model, str(resume), is_trainable=True)
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout,
                          target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
        return get_peft_model(model, lora)

    def setup_schedule(self, total_ticks: int) -> None:
        """Create the learning-rate schedule over ``total_ticks`` ticks."""
        config = self.config
        self.state.total_ticks = max(1, total_ticks)

        def factor(tick: int) -> float:
            return lr_factor(tick, self.state.total_ticks, warmup_ratio=config.warmup_ratio,
                             min_lr_rate=config.min_lr_rate, kind=config.lr_scheduler_type)

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def tick(self) -> None:
        """Advance the learning-rate schedule by one tick."""
        if self.scheduler is None:
            raise RuntimeError("call setup_schedule(total_ticks) before training")
        self.scheduler.step()
        self.state.ticks += 1

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def unwrapped(self) -> Any:
        """The model without accelerate/DDP wrappers (the peft model when LoRA is on)."""
        return self.accelerator.unwrap_model(self.model)

    # -- data --------------------------------------------------------------------------------------

    def encode(self, samples: Sequence[Sample]) -> tuple[list[Encoded], EncodeStats]:
        """Tokenise samples with this trainer's tokenizer and limits."""
        c = self.config
        return encode_samples(self.tokenizer, samples, max_completion_length=c.max_completion_length,
                              max_length=c.max_length, chat_template_kwargs=c.chat_template_kwargs,
                              use_behaviour=c.use_behaviour_logprobs)

    def planned_updates(self, n_encoded: int) -> int:
        """Optimizer steps that one call of :meth:`train_on` makes for ``n_encoded`` samples."""
        batches, _ = plan_minibatches(n_encoded, mini_batch_size=self.config.mini_batch_size,
                                      world_size=self.accelerator.num_processes, shuffle=False)
        return len(batches) * self.config.num_iterations

    # -- scoring -----------------------------------------------------------------------------------

    def _device_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.accelerator.device) for k, v in batch.items()}

    def _score(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        return response_logprobs(self.model, batch["input_ids"], batch["attention_mask"],
                                 batch["response_mask"], temperature=c.logprob_temperature,
                                 chunk_size=c.logprob_chunk_size)

    @torch.no_grad()
    def policy_logprobs(self, encoded: Sequence[Encoded]) -> list[torch.Tensor]:
        """Per-sample response log-probabilities under the current policy (no gradients)."""
        pad = int(self.tokenizer.pad_token_id)
        lengths = [len(e.input_ids) for e in encoded]
        out: list[torch.Tensor] = [torch.empty(0)] * len(encoded)
        was_training = self.model.training
        self.model.eval()
        micros = split_micro(range(len(encoded)), lengths,
                             self.config.per_device_train_batch_size)
        rounds = len(micros)
        acc = self.accelerator
        if acc.num_processes > 1:
            # sharded models run collectives in every forward: all processes make the same number
            count = torch.tensor([float(rounds)], device=acc.device)
            rounds = int(acc.reduce(count, reduction="max")[0])
        try:
            for k in range(rounds):
                if not micros:  # nothing of our own to score: a throwaway pass keeps step
                    self._score(self._device_batch(collate([_DUMMY], pad)))
                    continue
                micro = micros[k] if k < len(micros) else micros[0]
                batch = self._device_batch(collate([encoded[i] for i in micro], pad))
                logprobs, _ = self._score(batch)
                if k >= len(micros):
                    continue
                pieces = torch.split(logprobs.float().cpu(),
                                     [encoded[i].n_response for i in micro])
                for i, piece in zip(micro, pieces, strict=True):
                    out[i] = piece
        finally:
            self.model.train(was_training)
        return out

    def old_logprobs(self, encoded: Sequence[Encoded], indices: Sequence[int]
                     ) -> dict[int, torch.Tensor]:
        """The log-probabilities the ratio is taken against, for the samples at ``indices``.

        Recorded behaviour log-probabilities when they are aligned; the pre-update policy's
        elsewhere (whole samples without them, and single unknown positions).
        """
        old: dict[int, torch.Tensor] = {}
        need = [i for i in indices if encoded[i].behaviour is None
                or any(math.isnan(x) for x in encoded[i].behaviour or [])]
        computed = dict(zip(need, self.policy_logprobs([encoded[i] for i in need]), strict=True))
        for i in indices:
            behaviour = encoded[i].behaviour
            if behaviour is None:
                old[i] = computed[i]
                continue
            values = torch.tensor(behaviour, dtype=torch.float32)
            if i in computed:
                values = torch.where(torch.isnan(values), computed[i], values)
            old[i] = values
        return old

    # -- training ----------------------------------------------------------------------------------

    def train_on(self, encoded: Sequence[Encoded], *, shuffle_seed: int = 0,
                 tick_per_update: bool = False, skip_updates: int = 0,
                 old: dict[int, torch.Tensor] | None = None,
                 on_update: Callable[[dict[str, Any], dict[int, torch.Tensor]], None] | None = None,
                 ) -> dict[str, float]:
        """One PPO pass (``num_iterations`` epochs) over ``encoded``: one optimizer step per
        mini-batch.

        Args:
            encoded: the samples (from :meth:`encode`).
            shuffle_seed: seeds the mini-batch order (the same on every process).
            tick_per_update: advance the LR schedule after every optimizer step (offline
                training); otherwise the caller ticks (once per rollout step, online).
            skip_updates: optimizer steps of this pass already done (resume).
            old: ratio denominators restored from a checkpoint (resume).
            on_update: called after every optimizer step with its metrics and ``old``.

        Returns:
            Token-weighted means of the loss diagnostics over the pass.
        """
        if self.scheduler is None:
            raise RuntimeError("call setup_schedule(total_ticks) before training")
        c = self.config
        acc = self.accelerator
        world, rank = acc.num_processes, acc.process_index
        plans: list[list[int]] = []
        dropped = 0
        for epoch in range(c.num_iterations):
            batches, lost = plan_minibatches(len(encoded), mini_batch_size=c.mini_batch_size,
                                             world_size=world, shuffle=c.shuffle,
                                             seed=shuffle_seed * 1000 + epoch)
            plans.extend(batches)
            dropped += lost
        mine = [batch[rank::world] for batch in plans]
        local_indices = sorted({i for part in mine for i in part})
        if old is None:
            old = self.old_logprobs(encoded, local_indices)
        lengths = [len(e.input_ids) for e in encoded]
        pad = int(self.tokenizer.pad_token_id)
        totals: dict[str, float] = {}
        total_tokens = 0.0
        self.model.train()
        for number, part in enumerate(mine):
            if number < skip_updates:
                continue
            started = time.perf_counter()
            metrics = self._update(encoded, part, old, lengths, pad)
            seconds = max(1e-9, time.perf_counter() - started)
            metrics["tokens_per_s"] = metrics["sequence_tokens"] / seconds
            metrics["response_tokens_per_s"] = metrics["tokens"] / seconds
            self.state.updates += 1
            self.state.pass_updates = number + 1
            self.state.samples_seen += int(metrics["samples"])
            self.state.tokens_seen += int(metrics["tokens"])
            metrics["lr"] = self.lr
            if tick_per_update:
                self.tick()
            if self.state.updates % c.logging_steps == 0:
                self.logger.log(metrics, step=self.state.updates)
            weight = metrics["tokens"]
            total_tokens += weight
            for key in ("loss", "pg_loss", "entropy", "clip_frac", "dual_clip_frac", "kl",
                        "ratio_mean", "grad_norm"):
                totals[key] = totals.get(key, 0.0) + metrics[key] * weight
            if on_update is not None:
                on_update(metrics, old)
        summary = {k: v / total_tokens for k, v in totals.items()} if total_tokens else {}
        summary.update({"updates": float(len(mine) - skip_updates), "dropped_samples": dropped})
        self.state.pass_updates = 0
        return summary

    def _update(self, encoded: Sequence[Encoded], part: Sequence[int],
                old: dict[int, torch.Tensor], lengths: Sequence[int], pad: int
                ) -> dict[str, float]:
        c = self.config
        acc = self.accelerator
        local_tokens = sum(encoded[i].n_response for i in part)
        counts = torch.tensor([float(local_tokens), float(len(part))], device=acc.device)
        if acc.num_processes > 1:
            counts = acc.reduce(counts, reduction="sum")
        global_tokens = max(1.0, float(counts[0]))
        micro_batches = split_micro(part, lengths, c.per_device_train_batch_size)
        sums = dict.fromkeys(("loss", "pg", "entropy", "clipped", "dual_clipped", "kl", "ratio"),
                             0.0)
        ratio_max = 0.0
        for k, micro in enumerate(micro_batches):
            batch = self._device_batch(collate([encoded[i] for i in micro], pad,
                                               [old[i] for i in micro]))
            last = k == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or acc.num_processes == 1 else \
                acc.no_sync(self.model)
            with sync:
                logprobs, entropy = self._score(batch)
                loss_tok, diag = ppo_token_loss(
                    logprobs.float(), batch["old_logprobs"], batch["advantages"], entropy.float(),
                    epsilon=c.epsilon, dual_clip=c.dual_clip, entropy_coef=c.entropy_coef)
                # token mean over the whole mini-batch (all processes); gradients are averaged
                # over processes, hence the world-size factor
                loss = loss_tok.sum() / global_tokens * acc.num_processes
                acc.backward(loss)
            sums["loss"] += float(loss_tok.detach().sum())
            sums["pg"] += float(diag["pg"].sum())
            sums["entropy"] += float(entropy.detach().sum())
            for key in ("clipped", "dual_clipped", "kl", "ratio"):
                sums[key] += float(diag[key].sum())
            if diag["ratio"].numel():
                ratio_max = max(ratio_max, float(diag["ratio"].max()))
        grad_norm = acc.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        n = max(1, local_tokens)
        return {
            "loss": sums["loss"] / n, "pg_loss": sums["pg"] / n, "entropy": sums["entropy"] / n,
            "clip_frac": sums["clipped"] / n, "dual_clip_frac": sums["dual_clipped"] / n,
            "kl": sums["kl"] / n, "ratio_mean": sums["ratio"] / n, "ratio_max": ratio_max,
            "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
            "tokens": float(local_tokens), "samples": float(len(part)),
            "sequence_tokens": float(sum(lengths[i] for i in part)),
            "advantage_mean": sum(encoded[i].advantage for i in part) / max(1, len(part)),
        }

    # -- checkpoints -------------------------------------------------------------------------------

    def save_model(self, path: str | Path) -> Path:
        """Save the adapter (LoRA) or the full model, and the tokenizer, to ``path``."""
        out = Path(path)
        acc = self.accelerator
        acc.wait_for_everyone()
        state_dict = acc.get_state_dict(self.model)
        if acc.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            self.unwrapped.save_pretrained(str(out), state_dict=state_dict,
                                           safe_serialization=True)
            self.tokenizer.save_pretrained(str(out))
        acc.wait_for_everyone()
        return out

    def save_checkpoint(self, extra: dict[str, Any] | None = None,
                        old: dict[int, torch.Tensor] | None = None) -> Path:
        """Save weights, optimizer, scheduler, counters (and mid-pass ratio denominators)."""
        acc = self.accelerator
        path = Path(self.config.output_dir) / f"{CHECKPOINT_PREFIX}{self.state.ticks:06d}"
        self.save_model(path)
        if acc.num_processes > 1:
            acc.save_state(str(path / "accelerate"))
        elif acc.is_main_process:
            torch.save(self.optimizer.state_dict(), path / "optimizer.pt")
            if self.scheduler is not None:
                torch.save(self.scheduler.state_dict(), path / "scheduler.pt")
            torch.save({"torch": torch.get_rng_state(), "python": random.getstate()},
                       path / "rng.pt")
        if old is not None:
            torch.save(old, path / f"old_logprobs.rank{acc.process_index}.pt")
        if acc.is_main_process:
            payload = {"state": asdict(self.state), "config": self.config.to_dict(),
                       "extra": extra or {}}
            (path / STATE_FILE).write_text(json.dumps(payload, indent=2, default=str) + "\n",
                                           encoding="utf-8")
            self._rotate()
        acc.wait_for_everyone()
        return path

    def _rotate(self) -> None:
        limit = self.config.save_total_limit
        if limit is None:
            return
        root = Path(self.config.output_dir)
        found = sorted((p for p in root.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir()),
                       key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX) or 0))
        for stale in found[:-limit]:
            shutil.rmtree(stale, ignore_errors=True)

    def load_checkpoint(self, path: str | Path) -> tuple[dict[str, Any],
                                                          dict[int, torch.Tensor] | None]:
        """Restore optimizer, scheduler and counters from ``path`` (weights are loaded when
        the trainer is built with ``resume_from``). Returns the saved ``extra`` dict and the saved
        ratio denominators, if any."""
        ckpt = Path(path)
        payload = json.loads((ckpt / STATE_FILE).read_text(encoding="utf-8"))
        planned = self.state.total_ticks
        self.state = TrainerState(**payload["state"])
        if planned:  # the schedule set up for this session wins (e.g. more steps than before)
            self.state.total_ticks = planned
        acc = self.accelerator
        if (ckpt / "accelerate").is_dir():
            acc.load_state(str(ckpt / "accelerate"))
        else:
            self.optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False))
            if self.scheduler is not None and (ckpt / "scheduler.pt").exists():
                self.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt",
                                                          weights_only=False))
            if (ckpt / "rng.pt").exists():
                rng = torch.load(ckpt / "rng.pt", weights_only=False)
                torch.set_rng_state(rng["torch"])
                random.setstate(rng["python"])
        self.logger.drop_after(self.state.updates)
        old_path = ckpt / f"old_logprobs.rank{acc.process_index}.pt"
        old = torch.load(old_path, weights_only=False) if old_path.exists() else None
        return payload.get("extra", {}), old

    def close(self) -> None:
        self.logger.close()


def train_offline(config: CTCGRPOConfig, samples: Sequence[Sample], *,
                  resume: str | Path | None = None, model: Any = None, tokenizer: Any = None,
                  accelerator: Any = None) -> Path:
    """Train on recorded samples: ``num_iterations`` PPO epochs, one optimizer step per
    mini-batch, the LR schedule ticking per optimizer step. Returns the final model folder.

    ``resume``: a checkpoint folder, or ``latest`` for the newest one in ``output_dir``.
    """
    if resume == "latest":
        found = latest_checkpoint(config.output_dir)
        if found is None:
            raise FileNotFoundError(f"no checkpoint to resume in {config.output_dir}")
        resume = found
    trainer = CTCGRPOTrainer(config, model=model, tokenizer=tokenizer, accelerator=accelerator,
                             resume_from=resume)
    encoded, stats = trainer.encode(samples)
    if not encoded:
        raise ValueError("no trainable samples (all dropped: see the counts) "
                         + json.dumps(stats.as_dict()))
    trainer.setup_schedule(trainer.planned_updates(len(encoded)))
    old = None
    skip = 0
    if resume is not None:
        _, old = trainer.load_checkpoint(resume)
        skip = trainer.state.updates
    trainer.logger.log({"samples": len(samples), **{k: v for k, v in stats.as_dict().items()
                                                    if k != "notes"},
                        "trainable_parameters": trainer.n_trainable,
                        "planned_updates": trainer.state.total_ticks}, step=trainer.state.updates,
                       kind="data")
    for note in stats.notes:
        print(f"note: {note}")

    def on_update(metrics: dict[str, Any], old_now: dict[int, torch.Tensor]) -> None:
        if config.save_steps and trainer.state.ticks % config.save_steps == 0 and \
                trainer.state.updates < trainer.state.total_ticks:
            trainer.save_checkpoint({"mode": "offline"}, old_now)

    if skip < trainer.state.total_ticks:
        summary = trainer.train_on(encoded, shuffle_seed=config.seed, tick_per_update=True,
                                   skip_updates=skip, old=old, on_update=on_update)
        trainer.logger.log(summary, step=trainer.state.updates, kind="pass")
    trainer.save_checkpoint({"mode": "offline", "done": True})
    final = trainer.save_model(Path(config.output_dir) / "final")
    trainer.close()
    return final


def train_one_step(config: CTCGRPOConfig, samples: Sequence[Sample], *, schedule_steps: int,
                   continue_from: str | Path | None = None, accelerator: Any = None) -> Path:
    """One step of an online loop whose rollouts happen elsewhere (e.g. a vLLM server).

    Builds on the checkpoint ``continue_from`` (weights, optimizer, scheduler, step counter;
    ``latest`` for the newest in ``output_dir``), makes one PPO pass over ``samples``, ticks the
    learning-rate schedule once (as the online loop does, over ``schedule_steps`` steps) and
    writes ``checkpoint-<step>`` and ``final``. Returns the checkpoint folder.
    """
    if continue_from == "latest":
        continue_from = latest_checkpoint(config.output_dir)
    trainer = CTCGRPOTrainer(config, accelerator=accelerator, resume_from=continue_from)
    trainer.setup_schedule(schedule_steps)
    if continue_from is not None:
        trainer.load_checkpoint(continue_from)
    if trainer.state.step >= schedule_steps:
        raise ValueError(f"the checkpoint is at step {trainer.state.step} of {schedule_steps}: "
                         "the schedule is complete")
    encoded, stats = trainer.encode(samples)
    if not encoded:
        raise ValueError("no trainable samples: " + json.dumps(stats.as_dict()))
    summary = trainer.train_on(encoded, shuffle_seed=config.seed + trainer.state.step)
    trainer.tick()
    trainer.state.step += 1
    trainer.logger.log({**summary, "samples": len(encoded), "lr_next": trainer.lr},
                       step=trainer.state.updates, kind="step")
    checkpoint = trainer.save_checkpoint({"mode": "external-step"})
    trainer.save_model(Path(config.output_dir) / "final")
    trainer.close()
    return checkpoint
