"""The paper preset's architectures with random weights: the paper's code path, exercised offline.

The FUSE paper's models (gpt2-medium, CLIP ViT-B/32, a DistilBERT SST-2 classifier) cannot be downloaded
here, so tests and benchmarks build randomly initialised models of exactly those shapes, save them the way
a hub repository holds them (``save_pretrained``) and load them through ``fuse_edu.models``: the same code
path as with the hub, weights aside. Speed depends only on the shapes, so a benchmark on these is a
benchmark of the paper's setting.

- ``GPT2_MEDIUM``, ``CLIP_VIT_B32``, ``DISTILBERT_SST2``  the configs of the three hub models
- ``random_model``        a model of a config with cheap random weights (seconds, not transformers' init)
- ``save_paper_shaped``   random models of the chosen roles, each saved with its offline tokenizer
- ``paper_shaped_spec``   the paper ``PresetSpec`` pointed at those folders, for ``load_preset``
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from transformers import (
    CLIPConfig, CLIPModel, DistilBertConfig, DistilBertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
)
from transformers.initialization import no_init_weights

from fuse_edu.models.presets import PRESETS, PresetSpec
from fuse_edu.text import load_tokenizer

GPT2_MEDIUM = GPT2Config(n_layer=24, n_embd=1024, n_head=16, n_positions=1024, vocab_size=50257)
CLIP_VIT_B32 = CLIPConfig(
    # eos_token_id 2 is what openai/clip-vit-base-patch32's config really says (the pre-PR #24773 placeholder)
    text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
                     vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1),
    vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       patch_size=32, image_size=224),
    projection_dim=512,
)
DISTILBERT_SST2 = DistilBertConfig(dim=768, hidden_dim=3072, n_layers=6, n_heads=12, vocab_size=30522,
                                   id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})

# role -> (model class, config, offline tokenizer name)
ROLES = {
    "lm": (GPT2LMHeadModel, GPT2_MEDIUM, "gpt2"),
    "clip": (CLIPModel, CLIP_VIT_B32, "clip"),
    "sentiment": (DistilBertForSequenceClassification, DISTILBERT_SST2, "bert"),
}


def random_model(model_class, config, seed: int = 0):
    """A randomly initialised model, fast: transformers' own init is slow at gpt2-medium's size.

    Uniform matrices in [-0.02, 0.02], unit norm scales and zero biases: enough for finite, non-zero
    gradients, which is all a shape-level test or a speed benchmark needs.
    """
    with no_init_weights():
        model = model_class(config)
    model.tie_weights()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.ndim >= 2:
                parameter.uniform_(-0.02, 0.02, generator=generator)
            else:
                parameter.fill_(1.0 if name.endswith("weight") else 0.0)
    return model


def save_paper_shaped(folder: str | Path, roles: tuple[str, ...] = ("lm", "clip", "sentiment"),
                      seed: int = 0) -> dict[str, Path]:
    """Random models of the paper's ``roles`` saved under ``folder/<role>`` with their tokenizers; role -> folder.

    Saved in float16, as the toy weights ship: half the disk traffic (the loaders upcast to float32).
    One model is held at a time: gpt2-medium alone is 1.4 GB in float32.
    """
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; accepted: {', '.join(ROLES)}")
    folders = {}
    for role in roles:
        model_class, config, tokenizer_name = ROLES[role]
        model = random_model(model_class, config, seed)
        folders[role] = Path(folder) / role
        model.half().save_pretrained(folders[role])
        load_tokenizer(tokenizer_name).save_pretrained(folders[role])
        del model
    return folders


def paper_shaped_spec(folders: dict[str, Path]) -> PresetSpec:
    """The paper preset with its sources replaced by ``save_paper_shaped``'s folders (all three roles)."""
    paper = PRESETS["paper"]
    missing = [r for r in ROLES if r not in folders]
    if missing:
        raise ValueError(f"a preset needs all three roles; missing {missing} (save_paper_shaped(roles=...))")
    return dataclasses.replace(paper, models={role: dataclasses.replace(source, source=folders[role])
                                              for role, source in paper.models.items()})
