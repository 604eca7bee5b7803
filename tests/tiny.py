"""Tiny randomly initialised models, word lists and a tiny preset: built here once, shared by every test file
through the session fixtures of ``conftest.py``. Each builder seeds torch itself, so a model is the same
whichever test asks for it first.
"""

from __future__ import annotations

import functools

import torch
from transformers import (
    BertConfig, BertForSequenceClassification, CLIPConfig, CLIPModel, GPT2Config, GPT2LMHeadModel, LlamaConfig,
    LlamaForCausalLM,
)

from fuse_edu.models import CausalLM, DualEncoder, ModelSource, PresetSpec, SequenceClassifier, WordPolicy

CLIP_IMAGE_SIZE = 64  # the toy CLIP's resolution: a processor built for a checkpoint must resize to it


def tiny_gpt2(n_layer: int = 2, n_positions: int = 128, initializer_range: float = 0.02, seed: int = 0):
    """A GPT-2 with GPT-2's whole vocabulary (so the real tokenizer fits) and a 32-wide body."""
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=n_layer, n_embd=32, n_head=2, n_positions=n_positions, vocab_size=50257,
                        initializer_range=initializer_range)
    return GPT2LMHeadModel(config)


def tiny_llama(vocab_size: int = 30522, **special_ids) -> LlamaForCausalLM:
    """A one-layer Llama over BERT's vocabulary: a causal LM of another architecture and another tokenizer."""
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, **special_ids))


def tiny_clip_model() -> CLIPModel:
    """A CLIP with CLIP's vocabulary, a 2-layer text tower and a 1-layer vision tower at 64 px."""
    torch.manual_seed(0)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                vocab_size=49408, max_position_embeddings=77)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=CLIP_IMAGE_SIZE, patch_size=16)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))


def tiny_bert_classifier(id2label: dict[int, str] | None = None, num_hidden_layers: int = 1,
                         seed: int = 0) -> BertForSequenceClassification:
    """A BERT sequence classifier over BERT's uncased vocabulary (30522 ids), 32 wide."""
    torch.manual_seed(seed)
    config = BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=num_hidden_layers,
                        num_attention_heads=2, vocab_size=30522,
                        id2label=id2label or {0: "NEGATIVE", 1: "POSITIVE"})
    return BertForSequenceClassification(config)


def formality_classifier() -> BertForSequenceClassification:
    """A second, different classifier (formal vs casual): what a new preset role would bring."""
    return tiny_bert_classifier({0: "formal", 1: "casual"}, num_hidden_layers=2, seed=1)


@functools.lru_cache(maxsize=1)
def _small_words() -> tuple[str, ...]:
    from wordfreq import top_n_list

    from fuse_edu.toyworld.captions import vocabulary

    return tuple(vocabulary() + top_n_list("en", 1500))


def small_words() -> list[str]:
    """The toy lexicon and the 1,500 most frequent English words: enough for a quick adapter fit."""
    return list(_small_words())


def tiny_spec(name: str = "tiny", lexicon: bool = True) -> PresetSpec:
    """A preset spec shaped like the toy one (lm, clip, sentiment), its adapters fitted on ``small_words``.

    With ``lexicon`` (default) captions use the toy world's closed word list and whole-word swaps, as on the
    toy preset: a caption run on the tiny models then takes a second, not the ten an open vocabulary costs.
    The sources are never loaded: ``tiny_preset`` pairs this spec with models built in memory."""
    from fuse_edu.toyworld import policy

    words = (WordPolicy(adapter_words=small_words, lexicon=policy.caption_words, opening_words=policy.opening_words,
                        swap_words=policy.swap_words) if lexicon else WordPolicy(adapter_words=small_words))
    return PresetSpec(name, "tiny random models", {
        "lm": ModelSource(CausalLM, "unused", tokenizer="gpt2"),
        "clip": ModelSource(DualEncoder, "unused", tokenizer="clip", weight=4.0),
        "sentiment": ModelSource(SequenceClassifier, "unused", tokenizer="bert"),
    }, words)
