"""The stored open-vocabulary result is what its own rows say: recomputed here from the captions it kept.

The held-out run takes most of an hour; re-checking it takes seconds. The scenes come back from the recorded
seeds, every "objects named" verdict is recomputed from the stored caption, every run stays within its
budget, and the summary (accuracies, intervals, CLIP losses, the time curves) is recomputed from the rows.
"""

from __future__ import annotations

import json

import pytest

from fuse_edu.metrics import objects_named
from fuse_edu.toyworld import caption, sample_scenes
from tests.support import load_benchmark, stored_result


@pytest.fixture(scope="module")
def stored():
    return stored_result("open_vocabulary")


def as_runs(raw: dict) -> dict:
    """A stored run with its budget keys back as ints, as ``summarise`` receives them."""
    return {(key if key == "time" else int(key)): value for key, value in raw.items()}


def test_held_out_seeds_are_not_the_dev_seeds_and_settings_are_the_frozen_ones(stored):
    bench = load_benchmark("open_vocabulary")
    assert stored["seeds"] == bench.HELDOUT_SEEDS and stored["dev_seeds"] == bench.DEV_SEEDS
    assert not set(stored["seeds"].values()) & set(stored["dev_seeds"].values())
    assert stored["settings"] == bench.SETTINGS and stored["default_budget"] == bench.DEFAULT_BUDGET
    assert stored["default_budget"] in stored["budgets"]


def test_every_stored_caption_belongs_to_its_scene_and_verdict(stored):
    for which, per_set in stored["runs"].items():
        scenes = sample_scenes(len(per_set["truths"]), stored["seeds"][which], objects=1 if which == "single" else 2)
        assert per_set["truths"] == [caption(s) for s in scenes]
        for name, run in per_set["runs"].items():
            for budget in stored["budgets"]:
                records = run[str(budget)]
                assert len(records) == len(scenes), (which, name, budget)
                for record, scene in zip(records, scenes):
                    assert record["evaluations"] <= budget, (which, name, budget, record)
                    assert record["named"] == objects_named(record["caption"], scene), (which, name, record)


def test_summary_is_recomputed_from_the_rows(stored):
    bench = load_benchmark("open_vocabulary")
    results = {"sets": {w: {"truths": s["truths"], "runs": {n: as_runs(r) for n, r in s["runs"].items()}}
                        for w, s in stored["runs"].items()},
               "ablation": {a: as_runs(r) for a, r in stored["ablation_runs"].items()}}
    recomputed = json.loads(json.dumps(bench.summarise(results, stored["budgets"])))
    assert recomputed == stored["summary"]
    assert stored["ablation_runs"]["fuse"] == stored["runs"]["single"]["runs"]["open/gcg"]
