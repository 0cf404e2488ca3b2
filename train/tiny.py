"""Tiny randomly initialised chat models for tests, smoke benchmarks and dry runs.

Nothing is downloaded: a byte-level BPE tokenizer is trained on the spot from a few sentences (so
any text encodes) and wrapped with a ChatML chat template; the model is built from a config
(Llama or Qwen2 shapes, 2 layers, a tiny hidden size) with random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CHATML_TEMPLATE", "CORPUS", "build_tiny_model", "build_tiny_tokenizer", "pack_corpus"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "I hear you. Tell me what happened on Tuesday, exactly.",
    "That was my call, and I got it wrong. I will send you the fixed schedule by 6 pm today.",
    "<think>be specific and calm</think>What would make this right for you, concretely?",
    "I can't waive the fee, but I can move your booking to Friday at no cost.",
    "You are in a live conversation. Before each reply, think briefly inside <think>...</think>.",
    "Please open the conversation: be natural and tactful, neither fawning nor rude.",
    "### Background\nYou are a colleague who walked into the lab at two in the morning.",
    "I'm so angry right now, you promised and you didn't show up again!",
    "Thank you for telling me straight. Let's check in tomorrow at ten, I'll call you.",
    "我听到了。你能告诉我周二到底发生了什么吗？",
]

SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]


def build_tiny_tokenizer(vocab_size: int = 512, corpus: list[str] | None = None) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with a ChatML template, trained now."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator((corpus or CORPUS) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHATML_TEMPLATE
    return fast


def pack_corpus(pack: str = "starter") -> list[str]:
    """Texts of a scenario pack (personas, openings) to train a tokenizer that compresses them."""
    from eibench.scenarios.loaders import read_pack

    texts: list[str] = []
    for s in read_pack(pack).scenarios:
        texts.extend([s.user_persona, s.agent_persona, s.opening_line or ""])
    return texts + CORPUS


def build_tiny_model(out: str | Path | None = None, *, arch: str = "llama", hidden_size: int = 16,
                     layers: int = 2, heads: int = 2, vocab_size: int = 512,
                     corpus: list[str] | None = None, seed: int = 0) -> tuple[Any, Any]:
    """A random tiny causal LM and its tokenizer; saved to ``out`` when given.

    Args:
        arch: ``llama`` or ``qwen2``.
        hidden_size / layers / heads: the shape.
        vocab_size: the tokenizer's target size (the model matches what it got).
        corpus: texts to train the tokenizer on (default: a few sentences); training on the
            prompts it will see (see :func:`pack_corpus`) keeps sequences short.
        seed: torch seed for the weights.
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    tokenizer = build_tiny_tokenizer(vocab_size, corpus)
    common = dict(vocab_size=len(tokenizer), hidden_size=hidden_size,
                  intermediate_size=hidden_size * 2, num_hidden_layers=layers,
                  num_attention_heads=heads, num_key_value_heads=heads,
                  max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
                  eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                  tie_word_embeddings=False)
    if arch == "llama":
        config: Any = LlamaConfig(**common)
    elif arch == "qwen2":
        config = Qwen2Config(**common)
    else:
        raise ValueError(f"arch must be llama or qwen2, got {arch!r}")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return model, tokenizer
