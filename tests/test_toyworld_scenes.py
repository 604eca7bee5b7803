"""The toy world's scenes: deterministic, truthful, drawn so every colour and shape can be told apart, and bad
records refused with the accepted values. (Captions: test_toyworld_captions.py; files: test_toyworld_scene_files.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from fuse_edu.toyworld import (
    COLORS, POSITIONS, SHAPES, SIZES, Scene, SceneObject, caption, captions, render_scene, sample_scenes,
    split_combinations,
)
from fuse_edu.toyworld.scenes import SIZE_FRACTION


def test_lexicon_sizes_and_colours_are_far_apart():
    assert 8 <= len(COLORS) <= 10 and 6 <= len(SHAPES) <= 8 and SIZES == ("small", "large")
    rgb = np.array(list(COLORS.values()), dtype=float)                           # (n_colors, 3)
    distances = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)                # (n_colors, n_colors)
    assert distances[~np.eye(len(rgb), dtype=bool)].min() > 60, "two colours are too close to tell apart"


def test_sample_scenes_is_deterministic_and_seed_dependent():
    assert sample_scenes(20, seed=3, objects=None) == sample_scenes(20, seed=3, objects=None)
    assert sample_scenes(20, seed=3) != sample_scenes(20, seed=4)
    a, b = sample_scenes(4, seed=3)[0], sample_scenes(4, seed=4)[0]
    assert np.asarray(render_scene(a)).tobytes() != np.asarray(render_scene(b)).tobytes()


@pytest.mark.parametrize("n", [0, -1])
def test_sample_scenes_refuses_non_positive_n(n):
    with pytest.raises(ValueError, match="positive"):
        sample_scenes(n, seed=0)


def test_scene_structure_attributes_and_caption_agree():
    for objects in (1, 2):
        for scene in sample_scenes(60, seed=1, objects=objects):
            assert len(scene.objects) == objects
            attrs = scene.attributes()
            assert set(attrs) == {"color", "shape", "size", "position"} and attrs["position"] in POSITIONS
            first = caption(scene).split(" and ")[0].split()
            assert first[1:] == [attrs["size"], attrs["color"], attrs["shape"]]
            assert all(attrs[k] in c for c in captions(scene)[:5] for k in ("color", "shape"))
    mixed = {len(s.objects) for s in sample_scenes(40, seed=2, objects=None)}
    assert mixed == {1, 2}


def test_two_objects_are_distinct_ordered_and_barely_overlap():
    for scene in sample_scenes(100, seed=5, objects=2):
        a, b = scene.objects
        assert (a.color, a.shape) != (b.color, b.shape)
        # the first is left of (or above) the second, by at least the sum of their radii: no overlap
        gap = SIZE_FRACTION[2][a.size] / 2 + SIZE_FRACTION[2][b.size] / 2
        assert b.x - a.x >= gap or b.y - a.y >= gap, scene


def test_render_size_mode_and_determinism():
    scene = sample_scenes(1, seed=7)[0]
    image = render_scene(scene)
    assert image.size == (64, 64) and image.mode == "RGB"
    assert render_scene(scene, size=32).size == (32, 32)
    assert np.array_equal(np.asarray(render_scene(scene)), np.asarray(image))
    pixels = np.asarray(image).reshape(-1, 3)
    assert (pixels == COLORS[scene.objects[0].color]).all(axis=1).mean() > 0.04, "object barely visible"
    with pytest.raises(ValueError, match="at least"):
        render_scene(scene, size=4)


def test_every_shape_is_drawn_differently():
    masks = {}
    for shape in SHAPES:
        scene = Scene((SceneObject(shape, "white", "small", 0.5, 0.5),), (0, 0, 0))
        masks[shape] = np.asarray(render_scene(scene).convert("L")) > 127           # (64, 64)
    for i, a in enumerate(SHAPES):
        for b in SHAPES[i + 1:]:
            assert (masks[a] != masks[b]).sum() >= 20, f"{a} and {b} look alike at small size"


def test_split_combinations_keeps_every_word_seen():
    seen, held = split_combinations(held_out=0.2, seed=0)
    assert held and not set(seen) & set(held)
    assert {c for c, _ in seen} == set(COLORS) and {s for _, s in seen} == set(SHAPES)
    scenes = sample_scenes(50, seed=0, objects=None, combinations=held)
    assert all((o.color, o.shape) in held for s in scenes for o in s.objects)


def test_bad_records_are_refused_with_accepted_values():
    with pytest.raises(ValueError, match="accepted: red, orange"):
        SceneObject("square", "grey", "small", 0.5, 0.5)
    with pytest.raises(ValueError, match="1 or 2 objects"):
        Scene((), (0, 0, 0))
    with pytest.raises(ValueError, match="objects must be 1, 2 or None"):
        sample_scenes(3, seed=0, objects=3)
