"""The toy CLIP's training data: two-object hard negatives are other scenes, never the same one reordered."""

from __future__ import annotations

import random

from fuse_edu.toyworld.captions import caption, candidate_captions
from fuse_edu.toyworld.evaluate import _phrase_color_shape
from fuse_edu.toyworld.scenes import sample_scenes
from fuse_edu.toyworld.train_clip import length_buckets, two_object_texts


def object_set(text: str) -> set[tuple[str, str]]:
    """{(colour, shape)} of a canonical two-object caption, order and size ignored."""
    return set(_phrase_color_shape(text))


def test_two_object_negatives_are_captions_of_other_scenes():
    pairs = set(candidate_captions(2))
    rng = random.Random(0)
    for scene in sample_scenes(200, seed=11, objects=2):
        truth, *negatives = two_object_texts(scene, rng)
        assert truth == caption(scene)
        assert 1 <= len(negatives) <= 2
        for negative in negatives:
            assert negative in pairs                                  # a caption some scene has
            assert object_set(negative) != object_set(truth)          # not the same objects in another order
            assert {c for c, _ in object_set(negative)} == {c for c, _ in object_set(truth)}  # colours kept


def test_length_buckets_cover_every_row_once_in_at_most_the_given_groups():
    lengths = [7, 7, 25, 9, 7, 12, 25, 8]
    groups = length_buckets(lengths, 3)
    assert len(groups) <= 3
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in a) <= min(lengths[i] for i in b) for a, b in zip(groups, groups[1:]))
