"""The toy world's scenes, captions and render command: deterministic, truthful, and a lexicon that
really exercises FUSE's cross-tokenizer path (DESIGN.md §4 trap 1)."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

from fuse_edu.cli import main
from fuse_edu.text import subtoken_counts
from fuse_edu.toyworld import (
    COLORS, NEGATIVE_WORDS, POSITIONS, POSITIVE_WORDS, SHAPES, SIZES, Scene, SceneObject, candidate_captions,
    caption, caption_corpus, captions, render_scene, sample_scenes, sentiment_caption, split_combinations,
)
from fuse_edu.toyworld.captions import vocabulary, with_article
from fuse_edu.toyworld.scenes import SIZE_FRACTION

LEXICON = [*COLORS, *SHAPES, *SIZES, *POSITIVE_WORDS, *NEGATIVE_WORDS]


def test_lexicon_sizes_and_colours_are_far_apart():
    assert 8 <= len(COLORS) <= 10 and 6 <= len(SHAPES) <= 8 and SIZES == ("small", "large")
    rgb = np.array(list(COLORS.values()), dtype=float)                           # (n_colors, 3)
    distances = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)                # (n_colors, n_colors)
    assert distances[~np.eye(len(rgb), dtype=bool)].min() > 60, "two colours are too close to tell apart"


def test_lexicon_words_split_differently_across_tokenizers(gpt2, clip, bert):
    counts = np.stack([subtoken_counts(LEXICON, tok) for tok in (gpt2, clip, bert)])  # (3, n_words)
    disagree = [w for w, column in zip(LEXICON, counts.T) if len(set(column.tolist())) > 1]
    assert len(disagree) >= 3, f"FUSE's cross-tokenizer machinery would go unused; only {disagree} differ"
    # colours, shapes and sentiment words each carry some of the disagreement, not one category alone
    for group in (COLORS, SHAPES, POSITIVE_WORDS + NEGATIVE_WORDS):
        assert set(disagree) & set(group), f"no word of {list(group)} splits differently"
    assert counts.max() <= 4, "every lexicon word should fit the adapter's default max_subtokens"


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


def test_captions_and_articles():
    scene = Scene((SceneObject("hexagon", "turquoise", "small", 0.5, 0.5),), (80, 80, 80))
    assert caption(scene) == "a small turquoise hexagon"
    variants = captions(scene)
    assert variants[0] == caption(scene) and len(variants) >= 5 and len(set(variants)) == len(variants)
    assert "there is a small turquoise hexagon in the center" in variants
    pair = Scene((SceneObject("square", "red", "small", 0.2, 0.5), SceneObject("circle", "orange", "large", 0.75, 0.5)),
                 (80, 80, 80))
    assert caption(pair) == "a small red square and a large orange circle"
    assert "a photo of a red square and an orange circle" in captions(pair)
    assert with_article("orange star") == "an orange star" and with_article("ugly cross") == "an ugly cross"
    assert sentiment_caption(scene, "negative", random.Random(0)).split()[:2] in (
        ["an", w] if w[0] in "aeiou" else ["a", w] for w in NEGATIVE_WORDS)


def test_candidate_captions_cover_every_combination():
    singles = candidate_captions()
    assert len(singles) == len(set(singles)) == len(SIZES) * len(COLORS) * len(SHAPES)
    assert all(caption(s) in singles for s in sample_scenes(50, seed=9))
    assert len(candidate_captions(2)) == len(singles) ** 2 - len(SIZES) ** 2 * len(COLORS) * len(SHAPES)


def test_sentiment_caption_words_and_bad_value():
    scene = sample_scenes(1, seed=0, objects=2)[0]
    positive = sentiment_caption(scene, "positive", random.Random(1))
    negative = sentiment_caption(scene, "negative", random.Random(1))
    assert sum(w in POSITIVE_WORDS for w in positive.split()) == 2
    assert sum(w in NEGATIVE_WORDS for w in negative.split()) == 2
    assert positive == sentiment_caption(scene, "positive", random.Random(1))
    with pytest.raises(ValueError, match="positive, negative"):
        sentiment_caption(scene, "happy", random.Random(0))


def test_caption_corpus_is_deterministic_and_uses_known_words():
    corpus = caption_corpus(300, seed=0)
    assert corpus == caption_corpus(300, seed=0) and corpus != caption_corpus(300, seed=1)
    assert len(corpus) == 300
    assert {w for line in corpus for w in line.split()} <= set(vocabulary())
    assert any(w in line.split() for line in corpus for w in POSITIVE_WORDS)
    assert any(w in line.split() for line in corpus for w in NEGATIVE_WORDS)
    with pytest.raises(ValueError):
        caption_corpus(0, seed=0)


def test_split_combinations_keeps_every_word_seen():
    seen, held = split_combinations(held_out=0.2, seed=0)
    assert held and not set(seen) & set(held)
    assert {c for c, _ in seen} == set(COLORS) and {s for _, s in seen} == set(SHAPES)
    scenes = sample_scenes(50, seed=0, objects=None, combinations=held)
    assert all((o.color, o.shape) in held for s in scenes for o in s.objects)


def _render(tmp_path, *extra):
    return main(["toyworld", "render", "--n", "6", "--seed", "11", "--out", str(tmp_path), *extra])


def test_cli_writes_pngs_and_csv_byte_identically(tmp_path):
    assert _render(tmp_path / "a", "--objects", "2") == 0
    assert _render(tmp_path / "b", "--objects", "2") == 0
    with (tmp_path / "a" / "captions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert {"file", "caption", "color", "shape", "size", "position"} <= set(rows[0])
    for row in rows:
        assert row["color"] in row["caption"] and row["shape"] in row["caption"] and " and " in row["caption"]
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted([r["file"] for r in rows] + ["captions.csv"])
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("n", ["0", "-3"])
def test_cli_refuses_non_positive_n(tmp_path, capsys, n):
    with pytest.raises(SystemExit) as exit_info:
        main(["toyworld", "render", "--n", n, "--out", str(tmp_path / "x")])
    assert exit_info.value.code != 0
    assert "positive integer" in capsys.readouterr().err
    assert not (tmp_path / "x").exists(), "nothing is written for a refused request"


def test_cli_out_that_cannot_be_a_folder_is_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert main(["toyworld", "render", "--n", "1", "--out", str(tmp_path / "a_file")]) == 2
    err = capsys.readouterr().err
    assert "fuse-edu: error:" in err and "a_file" in err and "Traceback" not in err


def test_bad_records_are_refused_with_accepted_values():
    with pytest.raises(ValueError, match="accepted: red, orange"):
        SceneObject("square", "grey", "small", 0.5, 0.5)
    with pytest.raises(ValueError, match="1 or 2 objects"):
        Scene((), (0, 0, 0))
    with pytest.raises(ValueError, match="objects must be 1, 2 or None"):
        sample_scenes(3, seed=0, objects=3)
