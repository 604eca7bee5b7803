"""Toy scenes as files (``fuse_edu.toyworld.scene_files``): PNGs plus a ``captions.csv`` of their truth, the same
bytes for the same seed, and the truth read back for metrics."""

from __future__ import annotations

import csv

import pytest

from fuse_edu.metrics import attribute_accuracy
from fuse_edu.toyworld import Truth, caption, read_truth, render_scenes, render_to_folder, sample_scenes


def test_render_to_folder_writes_pngs_and_their_truth(tmp_path):
    csv_path = render_to_folder(tmp_path / "a", 3, seed=11, objects=None, size=32)
    assert csv_path == tmp_path / "a" / "captions.csv"
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "caption", "color", "shape", "size", "position", "objects"]
    scenes = sample_scenes(3, 11, objects=None)
    assert [r["caption"] for r in rows] == [caption(s) for s in scenes]
    assert [int(r["objects"]) for r in rows] == [len(s.objects) for s in scenes]
    assert [r["file"] for r in rows] == ["scene_0000.png", "scene_0001.png", "scene_0002.png"]
    render_to_folder(tmp_path / "b", 3, seed=11, objects=None, size=32)
    for row in rows:
        assert (tmp_path / "a" / row["file"]).read_bytes() == (tmp_path / "b" / row["file"]).read_bytes()


def test_render_scenes_maps_each_file_to_its_scene(tmp_path):
    scenes = render_scenes(tmp_path, 2, seed=4)
    assert list(scenes) == [tmp_path / "scene_0000.png", tmp_path / "scene_0001.png"]
    assert list(scenes.values()) == sample_scenes(2, 4, objects=1) and all(p.is_file() for p in scenes)


def test_truth_rows_feed_attribute_accuracy(tmp_path):
    render_to_folder(tmp_path / "scenes", 2, seed=5)
    truth = read_truth(tmp_path / "scenes")
    assert sorted(truth) == ["scene_0000.png", "scene_0001.png"]
    assert all(isinstance(t, Truth) and set(t.attributes()) == {"color", "shape", "size", "position"}
               for t in truth.values())
    captions = [t.caption for t in truth.values()]
    assert attribute_accuracy(captions, list(truth.values()))["exact"] == 1.0
    assert attribute_accuracy(["a small thing"] * 2, list(truth.values()))["color"] == 0.0


def test_a_folder_without_truth_has_none_and_a_foreign_csv_is_refused(tmp_path):
    assert read_truth(tmp_path) == {}
    (tmp_path / "captions.csv").write_text("file,caption\nx.png,a red square\n")
    with pytest.raises(ValueError, match="lacks the columns color, position, shape, size"):
        read_truth(tmp_path)
