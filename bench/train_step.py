"""Throughput and peak memory of one CTC-GRPO update, beside trl's GRPOTrainer loss.

Randomly initialised models with the shapes of Qwen3-0.6B and Qwen3-8B (nothing is downloaded),
LoRA and full fine-tuning, one PPO mini-batch of random token ids per update:

* ``eibench``: :meth:`eibench.train.trainer.CTCGRPOTrainer.train_on` on the mini-batch (response
  log-probabilities through the chunked response-only head), plus the no-grad pass that computes
  the pre-update log-probabilities, timed on its own;
* ``trl``: ``GRPOTrainer.compute_loss`` (trl's fused LM head, loss_type ``bnpo``, which is the
  token mean) with the same micro-batches, gradient accumulation, clipping and AdamW step.

Needs a GPU for the real shapes:

    python bench/train_step.py --out runs/train_step.jsonl

On a CPU, ``--tiny`` runs a 2-layer model of the same family as a smoke check (the numbers mean
nothing):

    python bench/train_step.py --tiny
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

SHAPES: dict[str, dict[str, Any]] = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                       vocab_size=151936, tie_word_embeddings=True),
    "qwen3-8b": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                     vocab_size=151936, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=4096,
                 tie_word_embeddings=False),
}


def build_model(shape: str, dtype: torch.dtype, device: torch.device, vocab: int | None) -> Any:
    from transformers import AutoModelForCausalLM, Qwen3Config

    params = dict(SHAPES[shape])
    if vocab:
        params["vocab_size"] = vocab
    config = Qwen3Config(**params, max_position_embeddings=32768, use_cache=False)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model


def _memory(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def _reset(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batch(n: int, prompt: int, response: int, vocab: int, seed: int) -> list[Any]:
    from eibench.train.batching import Encoded

    rng = random.Random(seed)
    return [Encoded(index=i, input_ids=[rng.randrange(3, vocab) for _ in range(prompt + response)],
                    prompt_len=prompt, advantage=rng.uniform(-2, 2)) for i in range(n)]


def run_eibench(model: Any, tokenizer: Any, args: argparse.Namespace, lora: bool,
                device: torch.device, vocab: int) -> dict[str, Any]:
    from accelerate import Accelerator

    from eibench.train.config import CTCGRPOConfig
    from eibench.train.trainer import CTCGRPOTrainer

    out = tempfile.mkdtemp(prefix="bench-eib-")
    config = CTCGRPOConfig(model_name_or_path="random", output_dir=out, use_peft=lora,
                           lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
                           mini_batch_size=args.batch, per_device_train_batch_size=args.micro,
                           max_completion_length=args.response, learning_rate=1e-6,
                           report_to="none", logprob_chunk_size=args.chunk,
                           gradient_checkpointing=True, shuffle=False)
    accelerator = Accelerator(cpu=device.type == "cpu")
    trainer = CTCGRPOTrainer(config, model=model, tokenizer=tokenizer, accelerator=accelerator)
    trainer.logger.enabled = False
    trainer.setup_schedule(args.warmup + args.steps)
    result: dict[str, Any] = {}
    batches = [random_batch(args.batch, args.prompt, args.response, vocab, seed)
               for seed in range(args.warmup + args.steps)]
    _reset(device)
    started = time.perf_counter()
    old = trainer.old_logprobs(batches[0], range(len(batches[0])))
    _sync(device)
    elapsed = time.perf_counter() - started
    result["old_pass_tok_s"] = args.batch * (args.prompt + args.response) / elapsed
    result["old_pass_peak_gib"] = _memory(device)
    times = []
    _reset(device)
    for k, batch in enumerate(batches):
        _sync(device)
        started = time.perf_counter()
        trainer.train_on(batch, old=old)  # same sizes every batch: reuse the denominators
        _sync(device)
        if k >= args.warmup:
            times.append(time.perf_counter() - started)
    result["update_s"] = sum(times) / len(times)
    result["tok_s"] = args.batch * (args.prompt + args.response) / result["update_s"]
    result["peak_gib"] = _memory(device)
    trainer.close()
    return result


def run_trl(model: Any, tokenizer: Any, args: argparse.Namespace, lora: bool,
            device: torch.device, vocab: int) -> dict[str, Any]:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    grpo_args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"), per_device_train_batch_size=args.micro,
        num_generations=args.micro, max_completion_length=args.response, loss_type="bnpo",
        beta=0.0, entropy_coef=0.001, report_to="none", use_cpu=device.type == "cpu",
        bf16=device.type == "cuda", gradient_checkpointing=True, logging_steps=1)
    peft_config = (LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r,
                              target_modules="all-linear") if lora else None)
    trainer = GRPOTrainer(model=model, reward_funcs=[lambda completions, **_: [0.0] *
                                                     len(completions)],
                          args=grpo_args, train_dataset=Dataset.from_dict({"prompt": ["x"]}),
                          processing_class=tokenizer, peft_config=peft_config)
    trainer.current_gradient_accumulation_steps = args.batch // args.micro
    policy = trainer.model
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)
    policy.train()
    times = []
    _reset(device)
    for k in range(args.warmup + args.steps):
        batch = random_batch(args.batch, args.prompt, args.response, vocab, k)
        _sync(device)
        started = time.perf_counter()
        for start in range(0, args.batch, args.micro):
            micro = batch[start:start + args.micro]
            ids = torch.tensor([e.input_ids for e in micro], device=device)
            inputs = {
                "prompt_ids": ids[:, :args.prompt],
                "prompt_mask": torch.ones_like(ids[:, :args.prompt]),
                "completion_ids": ids[:, args.prompt:],
                "completion_mask": torch.ones_like(ids[:, args.prompt:]),
                "advantages": torch.tensor([e.advantage for e in micro], device=device),
                "num_items_in_batch": torch.tensor(args.batch * args.response, device=device),
            }
            loss = trainer.compute_loss(policy, inputs)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(device)
        if k >= args.warmup:
            times.append(time.perf_counter() - started)
    update = sum(times) / len(times)
    return {"update_s": update, "tok_s": args.batch * (args.prompt + args.response) / update,
            "peak_gib": _memory(device)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke check with a 2-layer model")
    parser.add_argument("--shapes", default="qwen3-0.6b,qwen3-8b")
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--impls", default="eibench,trl")
    parser.add_argument("--batch", type=int, default=8, help="samples per mini-batch")
    parser.add_argument("--micro", type=int, default=2, help="samples per forward/backward")
    parser.add_argument("--prompt", type=int, default=1536, help="prompt tokens per sample")
    parser.add_argument("--response", type=int, default=512, help="response tokens per sample")
    parser.add_argument("--chunk", type=int, default=1024, help="eibench logprob chunk size")
    parser.add_argument("--lora-r", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed updates")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--vocab", type=int, help="override the vocabulary size")
    parser.add_argument("--out", type=Path, help="append JSON lines here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.shapes, args.batch, args.micro, args.prompt, args.response = "tiny", 4, 2, 96, 32
        args.steps, args.warmup, args.lora_r = 1, 0, 8
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and not args.tiny:
        print("no GPU: the Qwen3 shapes need one; run with --tiny for a CPU smoke check",
              file=sys.stderr)
        return 2
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    from eibench.train.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(512)
    rows = []
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    for shape in args.shapes.split(","):
        for mode in args.modes.split(","):
            for impl in args.impls.split(","):
                row: dict[str, Any] = {"shape": shape, "mode": mode, "impl": impl,
                                       "device": gpu, "batch": args.batch, "micro": args.micro,
                                       "prompt": args.prompt, "response": args.response}
                model = None
                try:
                    model = build_model(shape, dtype, device, args.vocab)
                    vocab = model.config.vocab_size
                    runner = run_eibench if impl == "eibench" else run_trl
                    row.update(runner(model, tokenizer, args, mode == "lora", device, vocab))
                except torch.cuda.OutOfMemoryError:
                    row["error"] = "OOM"
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"[:300]
                del model
                _reset(device)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    with args.out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
    print("\n| shape | mode | impl | update s | tokens/s | peak GiB | old-logprob pass tok/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['shape']} | {r['mode']} | {r['impl']} | {r['error']} | | | |")
            continue
        peak = f"{r['peak_gib']:.1f}" if r.get("peak_gib") is not None else "-"
        old = f"{r['old_pass_tok_s']:.0f}" if "old_pass_tok_s" in r else "-"
        print(f"| {r['shape']} | {r['mode']} | {r['impl']} | {r['update_s']:.2f} | "
              f"{r['tok_s']:.0f} | {peak} | {old} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
