"""`eibench train`: export samples, train with CTC-GRPO offline, or run the online loop.

torch and the rest of the [train] extra are imported only inside the commands that need them.
"""

from __future__ import annotations

import json
from typing import Any

import click

from eibench.cli.options import db_option, json_option

TRAIN_HINT = "pip install 'eibench[train]'"


def _parse_lora(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        rank, alpha = (int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected RANK,ALPHA such as 16,32; got {value!r}",
                                 param_hint="--lora") from None
    if rank < 1 or alpha < 1:
        raise click.BadParameter("rank and alpha must be positive", param_hint="--lora")
    return rank, alpha


def _require_train() -> None:
    import importlib.util

    missing = [m for m in ("torch", "transformers", "peft", "accelerate")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"training needs {', '.join(missing)}: {TRAIN_HINT}")


def _common_overrides(model: str | None, lora: str | None, full: bool, out: str | None,
                      lr: float | None, seed: int | None, report_to: str | None,
                      gguf_file: str | None, max_tokens: int | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {"model_name_or_path": model, "output_dir": out,
                                 "learning_rate": lr, "seed": seed, "report_to": report_to,
                                 "gguf_file": gguf_file, "max_completion_length": max_tokens}
    parsed = _parse_lora(lora)
    if parsed and full:
        raise click.UsageError("--lora and --full exclude each other")
    if parsed:
        overrides.update(use_peft=True, lora_r=parsed[0], lora_alpha=parsed[1])
    if full:
        overrides["use_peft"] = False
    return overrides


def model_options(fn: Any) -> Any:
    """Options shared by ctc-grpo and online."""
    for option in reversed([
        click.option("--model", help="Model to train: a folder or a hub name "
                                     "(model_name_or_path)."),
        click.option("--gguf-file", help="A GGUF file inside --model to load (dequantised)."),
        click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
                     help="YAML/JSON config (see train/configs/); flags override it."),
        click.option("--lora", metavar="RANK,ALPHA", help="LoRA rank and alpha (LoRA is the "
                                                          "default: 16,32)."),
        click.option("--full", is_flag=True, help="Full fine-tuning instead of LoRA."),
        click.option("--out", help="Output folder (checkpoints, logs, final model)."),
        click.option("--lr", type=float, help="Peak learning rate (default 1e-6)."),
        click.option("--max-tokens", type=int, help="Most response tokens per turn "
                                                    "(default 1024)."),
        click.option("--seed", type=int, help="Seed (default 0)."),
        click.option("--report-to", help="auto, none, tensorboard, wandb (comma list)."),
        click.option("--resume", metavar="CHECKPOINT", help="Resume from a checkpoint folder, "
                                                            "or 'latest' in --out."),
    ]):
        fn = option(fn)
    return fn


@click.group()
def train() -> None:
    """Train agents with CTC-GRPO from recorded dialogues (needs the [train] extra, except
    `export`)."""


@train.command()
@db_option
@click.option("--run", "runs", multiple=True, required=True,
              help="Run id or name (repeatable; groups never span runs).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for the dataset.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet", "arrow"]),
              default="jsonl", show_default=True,
              help="jsonl and parquet load with datasets.load_dataset(OUT); arrow with "
                   "datasets.load_from_disk(OUT/hf).")
@click.option("--alpha", type=float, default=15.0, show_default=True,
              help="Weight of the turn score (0: plain GRPO).")
@click.option("--no-center", is_flag=True, help="Uncentred ablation: A_i + alpha * r_it.")
@click.option("--group-by", type=click.Choice(["scenario", "scene"]), default="scenario",
              show_default=True, help="Group rollouts by scenario (paper) or scene (ablation).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in --out.")
@json_option
def export(db: str, runs: tuple[str, ...], out: str, fmt: str, alpha: float, no_center: bool,
           group_by: str, overwrite: bool, as_json: bool) -> None:
    """Write the CTC-GRPO samples of finished runs as a Hugging Face dataset.

    One row per agent turn: prompt (the exact messages the agent saw), response (its full output,
    think block included), advantage (A_it), behaviour_logprobs, and provenance.
    """
    from eibench.harness.store import Store, StoreError
    from eibench.train.export import write_export
    from eibench.train.samples import samples_from_store

    if alpha < 0:
        raise click.BadParameter("must be >= 0", param_hint="--alpha")
    try:
        with Store(db, readonly=True) as store:
            sample_set = samples_from_store(store, list(runs), alpha=alpha, center=not no_center,
                                            group_by="scene" if group_by == "scene" else "scenario")
        path = write_export(sample_set, out, fmt=fmt, overwrite=overwrite)  # type: ignore[arg-type]
    except (StoreError, FileExistsError, RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    stats = sample_set.stats
    if as_json:
        click.echo(json.dumps({"path": str(path), **stats.as_dict()}, indent=2))
        return
    click.echo(f"{stats.samples} samples from {stats.rollouts} rollouts in {stats.groups} groups "
               f"-> {path}")
    if stats.singleton_groups:
        click.echo(f"note: {stats.singleton_groups} group(s) have a single rollout (advantage = "
                   "R / (1 + 1e-6)); play more --seeds for real groups", err=True)
    if stats.skipped_episodes:
        click.echo("left out (not finished): " + ", ".join(
            f"{k} x{v}" for k, v in sorted(stats.skipped_episodes.items())), err=True)
    if stats.unanswered_turns:
        click.echo(f"note: {stats.unanswered_turns} agent turn(s) had no user answer and got "
                   "turn score 0", err=True)


@train.command("ctc-grpo")
@db_option
@click.option("--run", "runs", multiple=True, help="Run id or name to train on (repeatable).")
@click.option("--data", type=click.Path(exists=True),
              help="Train on an export folder (from `eibench train export`) instead of runs.")
@model_options
@click.option("--alpha", type=float, help="Turn-score weight (default 15).")
@click.option("--no-center", is_flag=True, default=None, help="Uncentred ablation.")
@click.option("--group-by", type=click.Choice(["scenario", "scene"]))
@click.option("--mini-batch", type=int, help="Samples per optimizer step (default 32).")
@click.option("--micro-batch", type=int, help="Samples per forward/backward (default 4).")
@click.option("--epochs", type=int, help="PPO epochs over the samples (default 1).")
@click.option("--schedule-steps", type=click.IntRange(min=1),
              help="Train as one step of an external rollout loop of N steps: the LR schedule "
                   "ticks once per call, and optimizer state carries over via --continue-from.")
@click.option("--continue-from", metavar="CHECKPOINT",
              help="With --schedule-steps: the previous step's checkpoint, or 'latest' in --out.")
def ctc_grpo(db: str, runs: tuple[str, ...], data: str | None, model: str | None,
             gguf_file: str | None, config_path: str | None, lora: str | None, full: bool,
             out: str | None, lr: float | None, max_tokens: int | None, seed: int | None,
             report_to: str | None, resume: str | None, alpha: float | None,
             no_center: bool | None, group_by: str | None, mini_batch: int | None,
             micro_batch: int | None, epochs: int | None, schedule_steps: int | None,
             continue_from: str | None) -> None:
    """Train a model with CTC-GRPO on recorded runs (one PPO pass, LoRA by default).

    Runs under `accelerate launch` for several GPUs (FSDP or DeepSpeed; see train/configs/).
    With --schedule-steps it is one step of an online loop whose rollouts run elsewhere.
    """
    if bool(runs) == bool(data):
        raise click.UsageError("give --run (one or more) or --data, not both")
    if continue_from and not schedule_steps:
        raise click.UsageError("--continue-from goes with --schedule-steps (use --resume to "
                               "finish an interrupted pass)")
    if resume and schedule_steps:
        raise click.UsageError("--resume and --schedule-steps exclude each other")
    _require_train()
    from eibench.harness.store import Store, StoreError
    from eibench.train.config import ONLINE_ONLY, ConfigError, CTCGRPOConfig, load_config

    overrides = _common_overrides(model, lora, full, out, lr, seed, report_to, gguf_file,
                                  max_tokens)
    overrides.update(alpha=alpha, group_by=group_by, mini_batch_size=mini_batch,
                     per_device_train_batch_size=micro_batch, num_iterations=epochs)
    if no_center:
        overrides["center"] = False
    try:
        config = load_config(CTCGRPOConfig, config_path, ignore=ONLINE_ONLY, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if not config.model_name_or_path:
        raise click.UsageError("name the model with --model (or model_name_or_path in --config)")
    from eibench.train.export import load_samples
    from eibench.train.samples import samples_from_store
    from eibench.train.trainer import train_offline, train_one_step

    try:
        if data:
            samples = load_samples(data)
        else:
            with Store(db, readonly=True) as store:
                sample_set = samples_from_store(
                    store, list(runs), alpha=config.alpha, center=config.center,
                    group_by="scene" if config.group_by == "scene" else "scenario")
            samples = sample_set.samples
            click.echo(f"{len(samples)} samples from {sample_set.stats.rollouts} rollouts in "
                       f"{sample_set.stats.groups} groups", err=True)
        if not samples:
            raise click.ClickException("no samples: the runs have no finished episodes")
        if schedule_steps:
            checkpoint = train_one_step(config, samples, schedule_steps=schedule_steps,
                                        continue_from=continue_from)
            click.echo(f"checkpoint: {checkpoint}; model: {config.output_dir}/final")
            return
        final = train_offline(config, samples, resume=resume)
    except (StoreError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"final model: {final}")


@train.command()
@model_options
@click.option("--simulator", help="heuristic (default) or provider:model.")
@click.option("--simulator-base-url", help="Base URL for an OpenAI-compatible simulator.")
@click.option("--pack", help="Scenario pack (default: starter).")
@click.option("--official", type=click.Path(file_okay=False), envvar="EIBENCH_OFFICIAL_DIR",
              help="Folder with the official EIBench data (train/ and test/).")
@click.option("--scenarios", type=int, help="Scenarios per step, balanced by scene (default 16).")
@click.option("--rollouts", type=int, help="Rollouts per scenario, the group size (default 8).")
@click.option("--steps", type=int, help="Rollout-then-update steps (default 250).")
@click.option("--validate-every", type=int, help="Validate on the test split every K steps "
                                                 "(default 30; 0: never).")
@click.option("--validation-limit", type=int, help="At most N held-out scenarios (balanced).")
@click.option("--backend", "rollout_backend", type=click.Choice(["transformers", "vllm"]),
              help="Rollout engine (default transformers; vllm on a GPU).")
@click.option("--concurrency", type=int, help="Episodes played at once (default 64).")
@click.option("--max-rounds", type=int, help="Cap rounds per dialogue (quick experiments only).")
@click.option("--temperature", type=float, help="Rollout temperature (default 0.6).")
@db_option
def online(model: str | None, gguf_file: str | None, config_path: str | None, lora: str | None,
           full: bool, out: str | None, lr: float | None, max_tokens: int | None,
           seed: int | None, report_to: str | None, resume: str | None, simulator: str | None,
           simulator_base_url: str | None, pack: str | None, official: str | None,
           scenarios: int | None, rollouts: int | None, steps: int | None,
           validate_every: int | None, validation_limit: int | None,
           rollout_backend: str | None, concurrency: int | None, max_rounds: int | None,
           temperature: float | None, db: str) -> None:
    """Alternate rollouts with the current policy (recorded in the store) and updates.

    Each step plays --rollouts dialogues of --scenarios training scenarios, trains one PPO pass on
    them, and the next step generates with the new weights. The held-out curve goes to
    OUT/curve.jsonl and OUT/curve.png.
    """
    _require_train()
    from eibench.scenarios.loaders import ScenarioError
    from eibench.train.config import ConfigError, OnlineConfig, load_config

    overrides = _common_overrides(model, lora, full, out, lr, seed, report_to, gguf_file,
                                  max_tokens)
    overrides.update(simulator=simulator, simulator_base_url=simulator_base_url, pack=pack,
                     official=official, scenarios_per_step=scenarios, num_generations=rollouts,
                     steps=steps, validate_every=validate_every,
                     validation_limit=validation_limit, rollout_backend=rollout_backend,
                     rollout_concurrency=concurrency, max_rounds=max_rounds,
                     temperature=temperature, db=db)
    try:
        config = load_config(OnlineConfig, config_path, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if not config.model_name_or_path:
        raise click.UsageError("name the model with --model (or model_name_or_path in --config)")
    from eibench.train.online import OnlineLoop

    try:
        loop = OnlineLoop(config, resume=resume)
        final = loop.run()
    except (ScenarioError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"final model: {final}; curve: {config.output_dir}/curve.jsonl")
