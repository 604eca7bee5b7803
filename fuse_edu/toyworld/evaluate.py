"""Quality measurements for the toy models: CLIP caption choice and its confusions, LM perplexity.

Used three ways: by ``train`` to report what a run produced, by ``tests/test_toy_models.py`` to hold the
shipped weights to their bars, and by notebook 00 to plot a confusion matrix. All functions take a
model and its tokenizer, so they work the same on freshly trained and on reloaded float16 weights.

- ``scene_pixels``: rendered scenes -> CLIP ``pixel_values``, equal to ``CLIPImageProcessor`` with the
  ``preprocessor_config.json`` shipped beside the toy CLIP's weights.
- ``clip_predictions`` / ``clip_accuracy`` / ``clip_confusion``: which of ``candidate_captions(1)`` the
  model picks for each single-object scene (cosine of image vs text features), scored per attribute.
- ``two_object_accuracy``: the same choice among all ``candidate_captions(2)`` for two-object scenes,
  scored per object on colour and shape (size and order ignored).
- ``lm_perplexity``: per-token perplexity of whole captions, each framed as ``<eos> caption <eos>``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from fuse_edu.batching import pad_right
from fuse_edu.toyworld.captions import candidate_captions
from fuse_edu.toyworld.scenes import COLORS, SHAPES, SIZES, Scene, render_scene

# OpenAI CLIP's normalisation constants, so the standard CLIPImageProcessor reproduces our inputs.
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_SIZE = 64
ATTRIBUTE_LABELS: dict[str, tuple[str, ...]] = {"size": SIZES, "color": tuple(COLORS), "shape": SHAPES}


def images_to_pixels(images: np.ndarray | list) -> torch.Tensor:
    """uint8 RGB images, (B, H, W, 3) array or list of PIL images -> normalised (B, 3, H, W) float32."""
    array = np.stack([np.asarray(im) for im in images]) if isinstance(images, list) else images
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W)
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def scene_pixels(scenes: list[Scene]) -> torch.Tensor:
    """Render and normalise: (B, 3, 64, 64)."""
    return images_to_pixels([render_scene(s, IMAGE_SIZE) for s in scenes])


@torch.no_grad()
def text_features(model, tokenizer, texts: list[str], batch_size: int = 256) -> torch.Tensor:
    """Unit-norm CLIP text features, (N, projection_dim)."""
    out = []
    max_length = model.config.text_config.max_position_embeddings
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt")
        features = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out.append(F.normalize(getattr(features, "pooler_output", features), dim=-1))  # (b, p)
    return torch.cat(out)


@torch.no_grad()
def image_features(model, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Unit-norm CLIP image features, (B, projection_dim)."""
    out = []
    for start in range(0, len(pixels), batch_size):
        features = model.get_image_features(pixel_values=pixels[start:start + batch_size])
        out.append(F.normalize(getattr(features, "pooler_output", features), dim=-1))  # (b, p)
    return torch.cat(out)


def _candidate_attributes() -> list[dict[str, str]]:
    """(size, colour, shape) of every ``candidate_captions(1)`` entry, read off its words."""
    attributes = []
    for text in candidate_captions(1):
        _, size, color, shape = text.split()
        attributes.append({"size": size, "color": color, "shape": shape})
    return attributes


def clip_predictions(model, tokenizer, scenes: list[Scene]) -> list[dict[str, str]]:
    """For each scene, the attributes of the candidate caption with the highest cosine to its image."""
    texts = text_features(model, tokenizer, candidate_captions(1))  # (C, p)
    images = image_features(model, scene_pixels(scenes))            # (B, p)
    best = (images @ texts.T).argmax(dim=1).tolist()                # (B,)
    candidates = _candidate_attributes()
    return [candidates[i] for i in best]


def clip_accuracy(model, tokenizer, scenes: list[Scene]) -> dict[str, float]:
    """Fractions of scenes whose top caption has the right colour, shape, size, colour AND shape
    (``color_shape``, the quality bar), and all three (``exact``). Uses each scene's first object."""
    predicted = clip_predictions(model, tokenizer, scenes)
    truth = [s.attributes() for s in scenes]
    hit = {k: np.array([p[k] == t[k] for p, t in zip(predicted, truth)]) for k in ATTRIBUTE_LABELS}
    return {
        "color": float(hit["color"].mean()), "shape": float(hit["shape"].mean()),
        "size": float(hit["size"].mean()), "color_shape": float((hit["color"] & hit["shape"]).mean()),
        "exact": float((hit["color"] & hit["shape"] & hit["size"]).mean()),
    }


def _phrase_color_shape(caption: str) -> list[tuple[str, str]]:
    """(colour, shape) of each " and "-separated noun phrase of a canonical caption ("a small red square")."""
    pairs = []
    for phrase in caption.split(" and "):
        *_, color, shape = phrase.split()
        pairs.append((color, shape))
    return pairs


def two_object_accuracy(model, tokenizer, scenes: list[Scene]) -> dict[str, float]:
    """How well the model reads two-object scenes, choosing among all ``candidate_captions(2)``.

    For each scene the caption with the highest cosine to its image is split into its two noun phrases;
    an object counts as read when some phrase has its colour and shape (size and order ignored).
    Returns the fractions of scenes with both objects read (``color_shape_both``, the headline number),
    of objects read (``color_shape_per_object``), and of scenes whose colours (``color_set``) or
    shapes (``shape_set``) are right as a set, wherever they sit.
    """
    if any(len(s.objects) != 2 for s in scenes):
        raise ValueError("two_object_accuracy needs two-object scenes, e.g. sample_scenes(n, seed, objects=2)")
    candidates = candidate_captions(2)
    texts = text_features(model, tokenizer, candidates)   # (C, p)
    images = image_features(model, scene_pixels(scenes))  # (B, p)
    best = (images @ texts.T).argmax(dim=1).tolist()      # (B,)
    read, colors, shapes = [], [], []
    for index, scene in zip(best, scenes):
        predicted = _phrase_color_shape(candidates[index])
        truth = [(obj.color, obj.shape) for obj in scene.objects]
        read.append([pair in predicted for pair in truth])
        colors.append(sorted(c for c, _ in predicted) == sorted(c for c, _ in truth))
        shapes.append(sorted(s for _, s in predicted) == sorted(s for _, s in truth))
    hits = np.array(read)  # (B, 2)
    return {
        "color_shape_both": float(hits.all(axis=1).mean()), "color_shape_per_object": float(hits.mean()),
        "color_set": float(np.mean(colors)), "shape_set": float(np.mean(shapes)),
    }


def clip_confusion(model, tokenizer, scenes: list[Scene], attribute: str = "shape") -> tuple[tuple[str, ...], np.ndarray]:
    """Confusion counts for one attribute: (labels, counts) with counts[true, predicted]."""
    if attribute not in ATTRIBUTE_LABELS:
        raise ValueError(f"unknown attribute {attribute!r}; choose one of {', '.join(ATTRIBUTE_LABELS)}")
    labels = ATTRIBUTE_LABELS[attribute]
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)  # (true, predicted)
    for p, s in zip(clip_predictions(model, tokenizer, scenes), scenes):
        counts[index[s.attributes()[attribute]], index[p[attribute]]] += 1
    return labels, counts


def lm_batch(tokenizer, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """``<eos> text <eos>`` per row, right-padded: ``input_ids``, ``attention_mask`` and ``labels``
    (-100 on padding and on the first position, which nothing predicts)."""
    eos = tokenizer.eos_token_id
    ids = [[eos, *row, eos][:max_length] for row in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    padded = pad_right(ids, pad_id=eos)
    input_ids, attention_mask = padded["input_ids"], padded["attention_mask"]       # (B, T) each
    labels = input_ids.masked_fill(attention_mask == 0, -100)          # (B, T)
    labels[:, 0] = -100
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def lm_target_loss(model, batch: dict[str, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy computed on target positions only.

    The vocabulary projection (50,257 columns) dominates a tiny GPT-2's cost; padding and the BOS
    position carry no target, so they are dropped before the projection.
    """
    hidden = model.transformer(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]                                   # (B, T-1) what position t predicts
    keep = targets != -100                                             # (B, T-1)
    states = hidden[:, :-1][keep]                                      # (N, d) only where a target exists
    logits = model.lm_head(states)                                     # (N, V)
    return F.cross_entropy(logits.float(), targets[keep], reduction=reduction)


@torch.no_grad()
def lm_perplexity(model, tokenizer, texts: list[str], batch_size: int = 256) -> float:
    """exp(mean negative log-likelihood per predicted token), over all tokens of all ``texts``
    including each closing ``<eos>``."""
    max_length = model.config.n_positions
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        batch = lm_batch(tokenizer, texts[start:start + batch_size], max_length)
        total += lm_target_loss(model, batch, reduction="sum").item()
        count += int((batch["labels"][:, 1:] != -100).sum())
    return math.exp(total / count)
