"""How good is a caption? Three views: reference n-grams, CLIP's opinion, and the toy world's truth.

- ``caption_metrics``: BLEU-1..4, METEOR and CIDEr against reference captions, computed by the COCO
  caption evaluation code (``pycocoevalcap``), not re-implemented here. BLEU and CIDEr are pure Python;
  METEOR runs a bundled Java jar (``java`` must be on PATH; starting it takes several seconds).
  **SPICE is not offered**, although the FUSE paper reports it: pycocoevalcap's SPICE
  (``spice-1.0.jar``) downloads Stanford CoreNLP 3.6.0 (a zip of several hundred MB, from
  nlp.stanford.edu) on first use, and this toolkit must run without the internet.
  ``caption_metrics(..., spice=True)`` says so in a ``RuntimeError`` instead of leaving a silent gap.
  Where CoreNLP is installed, ``pycocoevalcap.spice.spice.Spice`` can be used directly.
- ``clip_score``: CLIPScore (Hessel et al. 2021, "CLIPScore: A Reference-free Evaluation Metric for
  Image Captioning"): w * max(cos(image, caption), 0) with w = 2.5, with any ``DualEncoder`` (the
  preset's CLIP). Reference-free; on the toy preset it is the toy CLIP's view, not an independent judge.
- ``object_accuracy``, ``objects_named``: the same for scenes of several objects, object by object.
- ``bootstrap_interval``: a 95% interval for a mean over scenes.
- ``attribute_accuracy``: for toy scenes, does a caption name the first object's colour and shape (and
  size)? Exact truth, no model involved: the toy world's headline metric.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from fuse_edu.toyworld.scenes import COLORS, SHAPES, SIZES, Scene

CLIP_SCORE_WEIGHT = 2.5  # Hessel et al.'s w: rescales cosines of CLIP ViT-B/32 to roughly [0, 1]
ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "shape": SHAPES, "size": SIZES}
COCO_METRICS: tuple[str, ...] = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "cider")


# --- the toy world's truth -------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _attribute_pattern(attribute: str) -> re.Pattern:
    words = sorted(ATTRIBUTE_WORDS[attribute], key=len, reverse=True)  # longest first: no prefix wins early
    return re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)


def named_attribute(caption: str, attribute: str) -> str | None:
    """The first ``attribute`` word ("color", "shape" or "size") the caption names, whole words only, or None.

    First, because a toy caption names objects in scene order: in "a red square and a blue circle" the
    first colour belongs to the first object. Whole words, so "reddish" is not "red" and "stars" is not
    "star" (the toy lexicon has no plurals; a caption that needs one has left the toy world).
    """
    if attribute not in ATTRIBUTE_WORDS:
        raise ValueError(f"unknown attribute {attribute!r}; accepted: {', '.join(ATTRIBUTE_WORDS)}")
    found = _attribute_pattern(attribute).search(caption)
    return found.group(1).lower() if found else None


def attribute_accuracy(captions: Sequence[str], scenes: Sequence[Scene]) -> dict[str, float]:
    """Fractions of captions that name the first object's ``color``, ``shape``, ``size``, colour and shape
    together (``color_shape``, the headline number) and all three (``exact``).

    A caption counts as naming the colour only if the FIRST colour word in it is the first object's colour
    (see ``named_attribute``), so "a blue red square" for a red square is wrong, not right by luck.
    """
    captions, scenes = list(captions), list(scenes)
    if len(captions) != len(scenes):
        raise ValueError(f"attribute_accuracy: {len(captions)} captions for {len(scenes)} scenes; need one per scene")
    if not captions:
        raise ValueError("attribute_accuracy: no captions to score")
    hit = {attribute: np.array([named_attribute(text, attribute) == scene.attributes()[attribute]
                                for text, scene in zip(captions, scenes)])
           for attribute in ATTRIBUTE_WORDS}
    return {"color": float(hit["color"].mean()), "shape": float(hit["shape"].mean()),
            "size": float(hit["size"].mean()), "color_shape": float((hit["color"] & hit["shape"]).mean()),
            "exact": float((hit["color"] & hit["shape"] & hit["size"]).mean())}


def objects_named(caption: str, scene: Scene) -> list[bool]:
    """For each object of ``scene``, does some phrase of ``caption`` name its colour and shape?

    The caption is cut into phrases at " and " and commas; a phrase names an object when its first colour
    word and its first shape word are the object's (whole words, ``named_attribute``). Order does not
    matter ("a blue circle and a red square" names both objects of a red square and a blue circle), size
    does not count, and one phrase can name only one colour-shape pair.
    """
    phrases = [p for p in re.split(r"\band\b|,", caption) if p.strip()]
    named = {(named_attribute(p, "color"), named_attribute(p, "shape")) for p in phrases}
    return [(obj.color, obj.shape) in named for obj in scene.objects]


def object_accuracy(captions: Sequence[str], scenes: Sequence[Scene]) -> dict[str, float]:
    """Over scenes of one or more objects: the fraction of scenes whose every object is named by colour and
    shape (``all_objects``, the headline for two-object scenes; for one object it equals
    ``attribute_accuracy``'s ``color_shape``), and the fraction of objects named (``per_object``)."""
    captions, scenes = list(captions), list(scenes)
    if len(captions) != len(scenes) or not captions:
        raise ValueError(f"object_accuracy: {len(captions)} captions for {len(scenes)} scenes; need one per scene")
    hits = [objects_named(text, scene) for text, scene in zip(captions, scenes)]
    return {"all_objects": float(np.mean([all(h) for h in hits])),
            "per_object": float(np.mean([x for h in hits for x in h]))}


def bootstrap_interval(values: Sequence[float], level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one per scene): resample the scenes with
    replacement ``resamples`` times; the (1 - level)/2 and (1 + level)/2 quantiles of the resampled means."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"bootstrap_interval needs a non-empty 1-D list of values, got shape {values.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)  # (resamples,)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))


# --- CLIP's opinion --------------------------------------------------------------------------------

def clip_score(dual_encoder, images: Sequence, captions: Sequence[str], batch_size: int = 64,
               weight: float = CLIP_SCORE_WEIGHT) -> np.ndarray:
    """CLIPScore of each (image, caption) pair, (N,): ``weight * max(cos, 0)`` (Hessel et al. 2021).

    ``dual_encoder``: a ``fuse_edu.models.DualEncoder`` (e.g. ``load_preset("toy").clip``); ``images``: PIL
    images, paired with ``captions`` by position. Hessel et al. also prefix "A photo depicts" to each
    caption for ViT-B/32; we score the caption as given, because the toy CLIP never saw that prefix.
    Pass ``[f"A photo depicts {c}" for c in captions]`` to follow the paper on the paper preset.
    """
    images, captions = list(images), list(captions)
    if len(images) != len(captions):
        raise ValueError(f"clip_score: {len(images)} images for {len(captions)} captions; need one caption per image")
    scores = []
    for start in range(0, len(images), batch_size):
        image_features = dual_encoder.encode_images(images[start:start + batch_size])  # (b, D), unit norm
        text_features = dual_encoder.encode_texts(captions[start:start + batch_size])  # (b, D), unit norm
        cosine = (image_features * text_features).sum(dim=-1)                          # (b,)
        scores.append(weight * cosine.clamp(min=0).float().cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


# --- reference n-grams (pycocoevalcap) ---------------------------------------------------------------

def _as_dicts(candidates, references) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Both inputs as pycocoevalcap wants them: {id: [candidate]} and {id: [reference, ...]}."""
    if isinstance(candidates, dict) != isinstance(references, dict):
        raise TypeError("caption_metrics: give candidates and references both as dicts or both as lists")
    if not isinstance(candidates, dict):
        candidates, references = list(candidates), list(references)
        if len(candidates) != len(references):
            raise ValueError(f"caption_metrics: {len(candidates)} candidates for {len(references)} reference lists")
        candidates = {str(i): c for i, c in enumerate(candidates)}
        references = {str(i): r for i, r in enumerate(references)}
    if set(candidates) != set(references):
        missing = sorted(set(candidates) ^ set(references), key=str)[:5]
        raise ValueError(f"caption_metrics: candidates and references must have the same ids; differ at {missing}")
    if not candidates:
        raise ValueError("caption_metrics: no captions to score")
    for key, refs in references.items():
        if isinstance(refs, str) or not refs:
            raise ValueError(f"caption_metrics: references[{key!r}] must be a non-empty list of strings, got {refs!r}")
    # COCO's PTB tokenizer is Java too; lower-casing and splitting off punctuation is what it does to plain
    # captions, and keeps BLEU and CIDEr pure Python.
    return ({k: [_normalise(v)] for k, v in candidates.items()},
            {k: [_normalise(r) for r in refs] for k, refs in references.items()})


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


def caption_metrics(candidates: dict[str, str] | Sequence[str], references: dict[str, list[str]] | Sequence[list[str]],
                    meteor: bool = True, spice: bool = False) -> dict[str, float]:
    """Corpus-level BLEU-1..4, METEOR and CIDEr of ``candidates`` against ``references`` (pycocoevalcap).

    Give ``{id: caption}`` with ``{id: [reference, ...]}``, or two lists paired by position. Captions are
    lower-cased and stripped of punctuation first, as COCO's tokenizer would. ``meteor=False`` skips the
    Java step. CIDEr's document frequencies come from the references given, so it means most over many
    images (COCO evaluates thousands): for ONE image every n-gram occurs in every "document", its idf is 0
    and CIDEr is 0 whatever the caption. COCO's CIDEr is scaled by 10: identical captions score 10.
    ``spice=True`` raises: see the module docstring for why SPICE cannot run offline.
    """
    if spice:
        raise RuntimeError("SPICE is not available offline: pycocoevalcap's SPICE downloads Stanford CoreNLP 3.6.0 "
                           "(several hundred MB) on first use, and this toolkit must run without the internet. "
                           "Use BLEU, METEOR and CIDEr here, or run pycocoevalcap.spice.spice.Spice where CoreNLP "
                           "is installed.")
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        raise ImportError("caption_metrics needs pycocoevalcap: pip install -e '.[dev]' "
                          "(or pip install pycocoevalcap)") from None
    candidates, references = _as_dicts(candidates, references)
    bleu, _ = Bleu(4).compute_score(references, candidates, verbose=0)
    cider, _ = Cider().compute_score(references, candidates)
    scores = {f"bleu_{n}": float(value) for n, value in enumerate(bleu, start=1)}
    scores["cider"] = float(cider)
    if meteor:
        scores["meteor"] = _meteor(references, candidates)
    return scores


def _meteor(references: dict[str, list[str]], candidates: dict[str, list[str]]) -> float:
    import shutil

    if shutil.which("java") is None:
        raise RuntimeError("METEOR needs Java (pycocoevalcap runs meteor-1.5.jar): install a JRE, "
                           "or call caption_metrics(..., meteor=False)")
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()  # starts `java -jar meteor-1.5.jar`; its __del__ stops it when the last reference goes
    score, _ = scorer.compute_score(references, candidates)
    del scorer
    return float(score)
