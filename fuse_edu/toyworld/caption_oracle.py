"""The best perplexity any LM could reach on ``caption_corpus``: the generator's own probabilities.

A reference for the toy LM's held-out perplexity. ``caption_corpus`` draws a scene (one or two objects,
uniform colour/shape pairs, sizes, positions), then a sentence kind (its docstring: 40% canonical, 30%
another template, 30% sentiment, split evenly), then the words. For a sentence we read its colour and
shape words, enumerate every hidden choice that could have produced it (sizes a template leaves out,
positions, opinion words), and add up their probabilities, building each candidate with the real
``captions`` functions. Position words depend on continuous centres, so their distribution given the
sizes is estimated once by sampling 100,000 scenes per object count.

Oracle perplexity = exp(-sum log p(sentence) / number of LM-predicted tokens), the tokens counted as
``evaluate.lm_perplexity`` counts them (the caption's GPT-2 tokens plus the closing ``<eos>``).
A sentence the oracle gives probability 0 means this file and ``captions.py`` disagree: it raises.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from itertools import product

from fuse_edu.toyworld.captions import SENTIMENTS, caption, captions, noun_phrase
from fuse_edu.toyworld.scenes import COLORS, SHAPES, SIZES, Scene, SceneObject, all_combinations, sample_scenes

KIND_SHARE = {"canonical": 0.4, "variant": 0.3, "sentiment": 0.15}  # per sentiment: 0.15 positive, 0.15 negative
_THIRD_CENTRE = {"left": 1 / 6, "right": 5 / 6, "top": 1 / 6, "bottom": 5 / 6}


@lru_cache(maxsize=2)
def position_distribution(n_objects: int, samples: int = 100_000) -> dict[tuple[str, ...], Counter]:
    """P(position words | sizes) for ``n_objects``-object scenes, as counts keyed by the sizes tuple."""
    table: dict[tuple[str, ...], Counter] = {}
    for scene in sample_scenes(samples, 7_777_777 + n_objects, objects=n_objects):
        sizes = tuple(o.size for o in scene.objects)
        table.setdefault(sizes, Counter())[tuple(o.position for o in scene.objects)] += 1
    return table


def _object_at(color: str, shape: str, size: str, position: str) -> SceneObject:
    """An object whose centre reads as ``position`` (the middle of that third of the image)."""
    words = position.split()
    x = next((_THIRD_CENTRE[w] for w in words if w in ("left", "right")), 0.5)
    y = next((_THIRD_CENTRE[w] for w in words if w in ("top", "bottom")), 0.5)
    return SceneObject(shape=shape, color=color, size=size, x=x, y=y)


def sentence_probability(sentence: str) -> float:
    """p(sentence) under ``caption_corpus``'s generator."""
    words = sentence.replace(":", " ").split()
    colors = [w for w in words if w in COLORS]
    shapes = [w for w in words if w in SHAPES]
    n = len(colors)
    if n not in (1, 2) or len(shapes) != n:
        return 0.0
    pairs = list(zip(colors, shapes))
    p_pairs = 1 / len(all_combinations()) * (1 / (len(all_combinations()) - 1) if n == 2 else 1.0)
    total = 0.0
    for sizes in product(SIZES, repeat=n):
        p_scene = 0.5 * p_pairs * (1 / len(SIZES)) ** n     # object count, colour/shape pairs, sizes
        counts = position_distribution(n)[sizes]
        norm = sum(counts.values())
        sentiment = 0.0
        for kind, opinions in SENTIMENTS.items():
            for chosen in product(opinions, repeat=n):
                objs = [SceneObject(shape=s, color=c, size=z, x=0.5, y=0.5) for (c, s), z in zip(pairs, sizes)]
                if sentence == " and ".join(noun_phrase(o, opinion=w) for o, w in zip(objs, chosen)):
                    sentiment += KIND_SHARE["sentiment"] * (1 / len(opinions)) ** n
        for positions, count in counts.items():
            scene = Scene(objects=tuple(_object_at(c, s, z, q) for (c, s), z, q in zip(pairs, sizes, positions)),
                          background=(0, 0, 0))
            variants = captions(scene)[1:]
            p = KIND_SHARE["canonical"] * (sentence == caption(scene))
            p += KIND_SHARE["variant"] * variants.count(sentence) / len(variants)
            total += p_scene * count / norm * (p + sentiment)
    return total


def oracle_perplexity(tokenizer, sentences: list[str]) -> float:
    """The generator's own per-token perplexity on ``sentences`` (GPT-2 tokens + closing ``<eos>``)."""
    nll, tokens = 0.0, 0
    lengths = [len(ids) + 1 for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
    for sentence, length in zip(sentences, lengths):
        p = sentence_probability(sentence)
        if p <= 0:
            raise ValueError(f"the oracle gives {sentence!r} probability 0: caption_oracle.py is out of step "
                             "with captions.py")
        nll -= math.log(p)
        tokens += length
    return math.exp(nll / tokens)
