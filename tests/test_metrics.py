"""``fuse_edu.metrics``: attribute accuracy on known captions, CLIPScore's formula and its sense on toy
scenes, and pycocoevalcap's BLEU / METEOR / CIDEr on captions whose scores are known. The toy preset's
CLIPScore and METEOR (a Java process) are ``slow``."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fuse_edu.metrics import attribute_accuracy, caption_metrics, clip_score, named_attribute
from fuse_edu.toyworld import Scene, SceneObject, caption, render_scene, sample_scenes

RED_SQUARE = Scene((SceneObject("square", "red", "small", 0.5, 0.5),), (90, 90, 90))
PAIR = Scene((SceneObject("star", "turquoise", "large", 0.25, 0.5), SceneObject("circle", "blue", "small", 0.75, 0.5)),
             (90, 90, 90))


# --- attribute accuracy ------------------------------------------------------------------------------

def test_named_attribute_matches_whole_words_and_takes_the_first():
    assert named_attribute("a reddish square", "color") is None          # not "red"
    assert named_attribute("two stars", "shape") is None                 # not "star"
    assert named_attribute("A Small RED square", "color") == "red"       # case does not matter
    assert named_attribute("a blue and red square", "color") == "blue"   # the first colour named
    assert named_attribute("a lavender hexagon", "shape") == "hexagon"
    with pytest.raises(ValueError, match="unknown attribute 'texture'"):
        named_attribute("a square", "texture")


def test_attribute_accuracy_on_known_captions():
    scenes = [RED_SQUARE, RED_SQUARE, RED_SQUARE, PAIR]
    captions = ["a small red square",            # all right
                "a large red circle",            # colour right only
                "a blue red square",             # first colour wrong: colour wrong, shape right
                "a large turquoise star and a small blue circle"]  # the first object of a pair: right
    scores = attribute_accuracy(captions, scenes)
    assert scores == {"color": 0.75, "shape": 0.75, "size": 0.5, "color_shape": 0.5, "exact": 0.5}


def test_attribute_accuracy_of_the_true_captions_is_one():
    scenes = sample_scenes(30, seed=1, objects=None)
    assert attribute_accuracy([caption(s) for s in scenes], scenes) == {
        "color": 1.0, "shape": 1.0, "size": 1.0, "color_shape": 1.0, "exact": 1.0}


def test_attribute_accuracy_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="2 captions for 1 scenes"):
        attribute_accuracy(["a", "b"], [RED_SQUARE])


# --- CLIPScore ---------------------------------------------------------------------------------------

class FixedEncoder:
    """A dual encoder whose features are given: image i -> e_0, caption i -> a chosen unit vector."""

    def __init__(self, text_vectors):
        self.text_vectors = {t: F.normalize(torch.tensor(v, dtype=torch.float32), dim=0) for t, v in text_vectors.items()}

    def encode_images(self, images):
        return torch.tensor([[1.0, 0.0]]).repeat(len(images), 1)  # (N, 2)

    def encode_texts(self, texts):
        return torch.stack([self.text_vectors[t] for t in texts])  # (N, 2)


def test_clip_score_is_two_and_a_half_times_the_clamped_cosine():
    encoder = FixedEncoder({"same": [1, 0], "sixty degrees": [0.5, 0.75 ** 0.5], "opposite": [-1, 0.2]})
    scores = clip_score(encoder, [None] * 3, ["same", "sixty degrees", "opposite"], batch_size=2)
    np.testing.assert_allclose(scores, [2.5, 1.25, 0.0], atol=1e-6)   # cos 1, cos 0.5, negative -> 0
    with pytest.raises(ValueError, match="2 images for 1 captions"):
        clip_score(encoder, [None, None], ["same"])


@pytest.mark.slow
def test_clip_score_prefers_the_true_caption_on_toy_scenes(toy_preset):
    toy = toy_preset
    scenes = sample_scenes(12, seed=5, objects=1)
    images = [render_scene(s) for s in scenes]
    true = clip_score(toy.clip, images, [caption(s) for s in scenes])
    wrong = clip_score(toy.clip, images, [caption(s) for s in scenes[1:] + scenes[:1]])  # another scene's
    assert true.shape == (12,) and ((0 <= true) & (true <= 2.5)).all()
    assert (true > wrong).mean() >= 0.9, (true, wrong)


# --- pycocoevalcap -----------------------------------------------------------------------------------

needs_coco = pytest.mark.skipif(importlib.util.find_spec("pycocoevalcap") is None,
                                reason="caption_metrics needs pycocoevalcap (the dev extra)")


IDENTICAL = {"a": ["a small red square on the left"], "b": ["a large blue circle at the top"],
             "c": ["a small turquoise hexagon in the center"]}
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")


@needs_coco
def test_identical_candidates_score_one_on_bleu_and_ten_on_cider():
    scores = caption_metrics({k: v[0] for k, v in IDENTICAL.items()}, IDENTICAL, meteor=False)
    for n in range(1, 5):
        assert scores[f"bleu_{n}"] == pytest.approx(1.0, abs=1e-6)
    assert scores["cider"] == pytest.approx(10.0, abs=1e-3)  # COCO's CIDEr is 10 x mean cosine: identical -> 10
    assert "meteor" not in scores


@needs_coco
@needs_java
@pytest.mark.slow
def test_identical_candidates_score_one_on_meteor():
    scores = caption_metrics({k: v[0] for k, v in IDENTICAL.items()}, IDENTICAL)
    assert scores["meteor"] == pytest.approx(1.0, abs=1e-3)


@needs_coco
def test_bleu_1_is_clipped_unigram_precision_and_lists_pair_by_position():
    # candidate "red red red square" vs "a red square": clipped matches red 1, square 1 of 4 words -> 0.5;
    # brevity penalty 1 (the candidate is longer). Punctuation and case are ignored.
    scores = caption_metrics(["Red red red square."], [["a red square"]], meteor=False)
    assert scores["bleu_1"] == pytest.approx(0.5, abs=1e-6)
    paired = caption_metrics(["a red square", "a blue star"], [["a red square"], ["a blue circle"]], meteor=False)
    assert paired["bleu_1"] == pytest.approx(5 / 6, abs=1e-6)  # pairs by position: 3 of 3 and 2 of 3 words


@needs_coco
@needs_java
@pytest.mark.slow
def test_meteor_ranks_a_closer_caption_higher():
    refs = [["a small red square"], ["a large blue circle"]]
    close = caption_metrics(["a small red square", "a large blue circle"], refs)["meteor"]
    far = caption_metrics(["a green star", "a white heart"], refs)["meteor"]
    assert close > far


@needs_coco
def test_spice_and_bad_input_are_clear_errors():
    with pytest.raises(RuntimeError, match="SPICE is not available offline"):
        caption_metrics(["a"], [["a"]], spice=True)
    with pytest.raises(ValueError, match="same ids"):
        caption_metrics({"x": "a"}, {"y": ["a"]}, meteor=False)
    with pytest.raises(ValueError, match="non-empty list of strings"):
        caption_metrics(["a red square"], ["a red square"], meteor=False)
    with pytest.raises(TypeError, match="both as dicts or both as lists"):
        caption_metrics({"x": "a"}, [["a"]], meteor=False)
