"""The CTC-GRPO trainer on a tiny random model (torch, transformers, peft, accelerate)."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import math

import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.harness.store import Store
from eibench.scenarios import read_pack

from train_helpers import record

_MISSING = [m for m in ("torch", "transformers", "peft", "accelerate", "tokenizers")
            if importlib.util.find_spec(m) is None]
pytestmark = [pytest.mark.train,
              pytest.mark.skipif(bool(_MISSING), reason=f"needs the [train] extra: {_MISSING}")]

if not _MISSING:
    import torch

    from eibench.train.batching import align_behaviour, encode_samples
    from eibench.train.config import CTCGRPOConfig, OnlineConfig
    from eibench.train.logprobs import chunked_logprobs, reference_logprobs
    from eibench.train.loss import lr_factor, ppo_token_loss
    from eibench.train.samples import Sample, samples_from_store
    from eibench.train.trainer import CTCGRPOTrainer, latest_checkpoint, train_offline


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from eibench.train.tiny import build_tiny_model, pack_corpus

    path = tmp_path_factory.mktemp("tiny") / "model"
    # a vocabulary trained on the pack's own text keeps the prompts short (and the tests fast)
    build_tiny_model(path, hidden_size=16, vocab_size=4096, corpus=pack_corpus())
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A store with finished runs: r1 (8 train scenarios x 2 seeds) and small (2 x 2)."""
    import asyncio

    from eibench.simulator.heuristic import HeuristicSimulator

    db = tmp_path_factory.mktemp("store") / "s.db"
    store = Store(db)
    scenarios = read_pack("starter", split="train").scenarios
    run, _ = asyncio.run(record(store, scenarios, HeuristicSimulator(), seeds=2, name="r1"))
    asyncio.run(record(store, scenarios[2:4], HeuristicSimulator(), seeds=2, name="small"))
    samples = samples_from_store(store, run.id).samples
    store.close()
    return db, samples


def _config(tmp_path, tiny_dir, **changes):
    base = dict(model_name_or_path=str(tiny_dir), output_dir=str(tmp_path / "out"),
                learning_rate=5e-3, lora_r=4, lora_alpha=8, mini_batch_size=32,
                per_device_train_batch_size=8, max_completion_length=64, report_to="none",
                save_steps=0, torch_dtype="float32", logprob_chunk_size=7,
                gradient_checkpointing=False)
    base.update(changes)
    return CTCGRPOConfig(**base)


# -- pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_chunked_logprobs_match_full_logits(chunk):
    torch.manual_seed(0)
    hidden = torch.randn(13, 8, requires_grad=True)
    weight = torch.randn(50, 8, requires_grad=True)
    targets = torch.randint(0, 50, (13,))
    lp, ent = chunked_logprobs(hidden, weight, targets, temperature=0.7, chunk_size=chunk)
    (lp.sum() + 0.3 * ent.sum()).backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    ref_lp, ref_ent = reference_logprobs(hidden @ weight.T, targets, temperature=0.7)
    (ref_lp.sum() + 0.3 * ref_ent.sum()).backward()
    assert torch.allclose(lp, ref_lp, atol=1e-5) and torch.allclose(ent, ref_ent, atol=1e-5)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-5)
    assert torch.allclose(grads[1], weight.grad, atol=1e-5)


def test_response_head_matches_the_model_logits_on_a_padded_batch(tiny_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from eibench.train.batching import Encoded, collate
    from eibench.train.logprobs import install_response_head, response_logprobs

    model = AutoModelForCausalLM.from_pretrained(str(tiny_dir))
    install_response_head(model)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    batch = collate([Encoded(0, list(range(5, 17)), 7, 1.0), Encoded(1, list(range(9, 16)), 3, -1.0)],
                    pad_id=0)
    lp, ent = response_logprobs(model, batch["input_ids"], batch["attention_mask"],
                                batch["response_mask"], chunk_size=3)
    assert lp.shape == (5 + 4,) and batch["advantages"].tolist() == [1.0] * 5 + [-1.0] * 4
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ref = [reference_logprobs(logits[0, 6:11], batch["input_ids"][0, 7:12]),
           reference_logprobs(logits[1, 2:6], batch["input_ids"][1, 3:7])]
    assert torch.allclose(lp, torch.cat([r[0] for r in ref]), atol=1e-5)
    assert torch.allclose(ent, torch.cat([r[1] for r in ref]), atol=1e-5)


def test_ppo_loss_clip_and_dual_clip_by_hand():
    adv = torch.tensor([1.0, -1.0, -1.0, 2.0])
    ratio = torch.tensor([1.5, 5.0, 0.5, 0.9])
    old = torch.zeros(4)
    entropy = torch.tensor([1.0, 2.0, 3.0, 4.0])
    loss, diag = ppo_token_loss(torch.log(ratio), old, adv, entropy, epsilon=0.2, dual_clip=3.0,
                                entropy_coef=0.001)
    # A>0 ratio 1.5 -> clipped at 1.2; A<0 ratio 5 -> capped by the dual clip at 3;
    # A<0 ratio 0.5 -> clipped at 0.8; A>0 ratio 0.9 -> unclipped
    assert diag["pg"].tolist() == pytest.approx([-1.2, 3.0, 0.8, -1.8])
    assert loss.tolist() == pytest.approx([-1.2 - 0.001, 3.0 - 0.002, 0.8 - 0.003, -1.8 - 0.004])
    assert diag["clipped"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert diag["dual_clipped"].tolist() == [0.0, 1.0, 0.0, 0.0]
    no_dual, _ = ppo_token_loss(torch.log(ratio), old, adv, entropy, dual_clip=None,
                                entropy_coef=0.0)
    assert no_dual[1].item() == pytest.approx(5.0)


def test_lr_schedule_warmup_cosine_floor():
    factors = [lr_factor(t, 100, warmup_ratio=0.03, min_lr_rate=0.1) for t in range(100)]
    assert factors[:3] == pytest.approx([0.25, 0.5, 0.75])
    assert factors[3] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factors[3:]))
    assert lr_factor(50, 100, kind="constant") == 1.0


def test_align_behaviour():
    assert align_behaviour([-0.1, -0.2, -0.3], 3, True) == ([-0.1, -0.2, -0.3], "aligned")
    values, how = align_behaviour([-0.1, -0.2], 3, True)
    assert how == "without_end_token" and values[:2] == [-0.1, -0.2] and math.isnan(values[2])
    assert align_behaviour([-0.1], 3, True) == (None, "misaligned")
    assert align_behaviour([0.5, -0.1, -0.1], 3, True) == (None, "misaligned")
    assert align_behaviour(None, 3, True) == (None, "none")


# -- training ----------------------------------------------------------------------------------


def _adapter(path):
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_offline_training_changes_lora_and_the_checkpoint_generates(tmp_path, tiny_dir, recorded):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, samples = recorded
    samples = samples[:64]
    config = _config(tmp_path, tiny_dir, save_steps=2, mini_batch_size=16,
                     gradient_checkpointing=True)
    final = train_offline(config, samples)
    records = [json.loads(line) for line in
               (tmp_path / "out" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert len(train) == math.ceil(len(samples) / 16) == 4
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) for r in train)
    assert train[0]["ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # the first step is on-policy
    weights = _adapter(final)
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(v.abs().max() > 0 for v in lora_b)  # LoRA B starts at zero
    assert (tmp_path / "out" / "checkpoint-000002" / "optimizer.pt").exists()
    assert latest_checkpoint(tmp_path / "out").name == "checkpoint-000004"

    tok = AutoTokenizer.from_pretrained(str(final))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_dir))
    prompt = tok.apply_chat_template(samples[0].prompt, add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)
    with torch.no_grad():
        before = base(**prompt).logits[0, -1]
    model = PeftModel.from_pretrained(base, str(final))
    with torch.no_grad():
        after = model(**prompt).logits[0, -1]
        out = model.generate(**prompt, max_new_tokens=5, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    assert not torch.allclose(before, after)
    assert out.shape[1] == prompt["input_ids"].shape[1] + 5 or tok.eos_token_id in out[0].tolist()


def test_resume_reproduces_the_uninterrupted_run(tmp_path, tiny_dir, recorded):
    _, samples = recorded
    samples = samples[:32]
    straight = _config(tmp_path / "a", tiny_dir, mini_batch_size=8, save_steps=2)
    train_offline(straight, samples)
    saved = tmp_path / "a" / "out" / "checkpoint-000002"
    assert (saved / "old_logprobs.rank0.pt").exists()
    resumed = _config(tmp_path / "b", tiny_dir, mini_batch_size=8)
    final = train_offline(resumed, samples, resume=saved)
    a, b = _adapter(tmp_path / "a" / "out" / "final"), _adapter(final)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(not torch.allclose(a[k], _adapter(saved)[k]) for k in a)  # it did train on
    state = json.loads((tmp_path / "b" / "out" / "checkpoint-000004" / "trainer_state.json")
                       .read_text(encoding="utf-8"))
    assert state["state"]["updates"] == 4


def test_behaviour_logprobs_set_the_ratio_when_aligned(tmp_path, tiny_dir, recorded):
    _, samples = recorded
    config = _config(tmp_path, tiny_dir, mini_batch_size=8, learning_rate=1e-6)
    trainer = CTCGRPOTrainer(config)
    trainer.setup_schedule(10)
    plain, _ = trainer.encode(samples[:8])
    policy = trainer.policy_logprobs(plain)
    shifted = [Sample(**{**s.to_record(), "behaviour_logprobs": (p - 0.5).tolist()})
               for s, p in zip(samples[:8], policy, strict=True)]
    shifted[0] = Sample(**{**shifted[0].to_record(), "behaviour_logprobs": [-1.0, -2.0]})
    encoded, stats = encode_samples(trainer.tokenizer, shifted, max_completion_length=64)
    assert stats.behaviour_aligned == 7 and stats.behaviour_misaligned == 1
    old = trainer.old_logprobs(encoded, range(8))
    assert torch.allclose(old[0], policy[0], atol=1e-5)  # misaligned: the policy's own
    assert torch.allclose(old[3], policy[3] - 0.5, atol=1e-5)
    summary = trainer.train_on(encoded)
    # seven of eight samples start at ratio e^0.5 (the ratio mean is token weighted)
    n = [e.n_response for e in encoded]
    expected = (n[0] + math.exp(0.5) * sum(n[1:])) / sum(n)
    assert summary["ratio_mean"] == pytest.approx(expected, rel=1e-3)
    without_end = [Sample(**{**s.to_record(), "behaviour_logprobs": p[:-1].tolist()})
                   for s, p in zip(samples[:2], policy, strict=False)]
    encoded, stats = encode_samples(trainer.tokenizer, without_end, max_completion_length=64)
    assert stats.behaviour_without_end_token == 2
    old = trainer.old_logprobs(encoded, range(2))
    assert not any(torch.isnan(t).any() for t in old.values())
    trainer.close()


def test_cli_ctc_grpo_on_a_run(tmp_path, tiny_dir, recorded):
    db, _ = recorded
    result = CliRunner().invoke(cli, [
        "train", "ctc-grpo", "--db", str(db), "--run", "small", "--model", str(tiny_dir),
        "--out", str(tmp_path / "cli"), "--lora", "4,8", "--lr", "1e-3", "--report-to", "none",
        "--mini-batch", "16", "--micro-batch", "16", "--max-tokens", "48"])
    assert result.exit_code == 0, result.output
    adapter = json.loads((tmp_path / "cli" / "final" / "adapter_config.json")
                         .read_text(encoding="utf-8"))
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8
    bad = CliRunner().invoke(cli, ["train", "ctc-grpo", "--db", str(db), "--run", "r1",
                                   "--model", str(tiny_dir), "--lora", "4"])
    assert bad.exit_code != 0 and "RANK,ALPHA" in bad.output


def test_full_finetuning_saves_the_whole_model(tmp_path, tiny_dir, recorded):
    _, samples = recorded
    config = _config(tmp_path, tiny_dir, use_peft=False, gradient_checkpointing=False,
                     learning_rate=1e-3)
    final = train_offline(config, samples[:32])
    assert (final / "model.safetensors").exists() and not (final / "adapter_config.json").exists()


# -- online ------------------------------------------------------------------------------------


def test_online_loop_runs_validates_and_resumes(tmp_path, tiny_dir):
    from eibench.train.online import OnlineLoop

    config = OnlineConfig(
        model_name_or_path=str(tiny_dir), output_dir=str(tmp_path / "online"),
        db=str(tmp_path / "online.db"), pack="starter", steps=2, scenarios_per_step=4,
        num_generations=2, validate_every=1, validation_limit=4, max_rounds=2,
        max_completion_length=12, rollout_concurrency=8, learning_rate=1e-2, lora_r=4,
        lora_alpha=8, mini_batch_size=8, per_device_train_batch_size=8, report_to="none",
        torch_dtype="float32", save_steps=1)
    final = OnlineLoop(config).run()
    assert (final / "adapter_model.safetensors").exists()
    curve = [json.loads(line) for line in
             (tmp_path / "online" / "curve.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["step"] for row in curve] == [0, 1, 2]
    assert all(row["finished"] == 4 for row in curve)
    assert (tmp_path / "online" / "curve.png").stat().st_size > 0
    with Store(tmp_path / "online.db", readonly=True) as store:
        names = sorted(r.name for r in store.list_runs())
        assert names == ["online-step00000", "online-step00001", "online-val00000",
                         "online-val00001", "online-val00002"]
        step_run = store.get_run("online-step00001")
        episodes = store.episodes(step_run.id)
        assert len(episodes) == 8 and all(e.status == "finished" for e in episodes)
        assert {e.scene for e in episodes} == {"support", "defense", "repair", "charm"}
        assert all(e.rounds <= 2 for e in episodes)
    steps = [json.loads(line) for line in
             (tmp_path / "online" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    step_records = [r for r in steps if r["kind"] == "step"]
    assert len(step_records) == 2 and all(math.isfinite(r["loss"]) for r in step_records)

    longer = config.replace(steps=3)
    OnlineLoop(longer, resume="latest").run()
    with Store(tmp_path / "online.db", readonly=True) as store:
        names = sorted(r.name for r in store.list_runs())
    assert names[-3:] == ["online-val00001", "online-val00002", "online-val00003"]
    assert "online-step00002" in names and "online-step00003" not in names
    curve = [json.loads(line) for line in
             (tmp_path / "online" / "curve.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["step"] for row in curve] == [0, 1, 2, 3]
    rollout_steps = [json.loads(line).get("rollout_step") for line in
                     (tmp_path / "online" / "metrics.jsonl").read_text(encoding="utf-8")
                     .splitlines() if '"kind": "step"' in line]
    assert rollout_steps == [0, 1, 2]


def test_metrics_log_drops_replayed_steps_but_keeps_damaged_lines(tmp_path):
    from eibench.train.reporting import MetricsLogger

    logger = MetricsLogger(tmp_path, report_to="none", stream=io.StringIO())
    for step in range(1, 5):
        logger.log({"loss": 0.1 * step}, step=step)
    with logger.path.open("a", encoding="utf-8") as fh:
        fh.write("not json\n")
    assert logger.drop_after(2) == 2
    lines = logger.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in lines[:-1]] == [1, 2]
    assert lines[-1] == "not json"
    assert logger.drop_after(2) == 0


def test_external_loop_steps_carry_the_optimizer_and_schedule(tmp_path, tiny_dir, recorded):
    db, _ = recorded
    base = ["train", "ctc-grpo", "--db", str(db), "--run", "small", "--model", str(tiny_dir),
            "--out", str(tmp_path / "ext"), "--lora", "4,8", "--lr", "1e-3", "--report-to",
            "none", "--mini-batch", "16", "--micro-batch", "16", "--max-tokens", "32",
            "--schedule-steps", "3"]
    first = CliRunner().invoke(cli, base)
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(cli, [*base, "--continue-from", "latest"])
    assert second.exit_code == 0, second.output
    state = json.loads((tmp_path / "ext" / "checkpoint-000002" / "trainer_state.json")
                       .read_text(encoding="utf-8"))["state"]
    assert state["step"] == 2 and state["ticks"] == 2 and state["updates"] == 4
    optimizer = torch.load(tmp_path / "ext" / "checkpoint-000002" / "optimizer.pt",
                           weights_only=False)
    assert optimizer["param_groups"][0]["lr"] == pytest.approx(1e-3 * lr_factor(2, 3))
    assert next(iter(optimizer["state"].values()))["step"] == 4  # Adam moments carried over
    done = CliRunner().invoke(cli, [*base, "--continue-from", "latest"])
    assert done.exit_code == 0
    finished = CliRunner().invoke(cli, [*base, "--continue-from", "latest"])
    assert finished.exit_code != 0 and "schedule is complete" in finished.output


def test_configs_parse_with_hf_argument_parser():
    from transformers import HfArgumentParser

    (config,) = HfArgumentParser(OnlineConfig).parse_args_into_dataclasses(
        ["--learning_rate", "3e-4", "--dual_clip", "2.5", "--steps", "7"])
    assert (config.learning_rate, config.dual_clip, config.steps) == (3e-4, 2.5, 7)
    assert config.epsilon == 0.2 and config.center is True
