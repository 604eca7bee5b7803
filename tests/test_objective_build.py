"""``build_objective``: one term per role that has something to aim at, weighted by the preset unless told
otherwise, adapters fitted on the preset's own words and cached; ``objective_roles`` and ``fit_adapter``."""

from __future__ import annotations

import math

import pytest
import torch

from fuse_edu.objective import TARGET, ClassifierTerm, CLIPTerm, LMTerm, build_objective, fit_adapter, objective_roles


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_EDU_CACHE", str(tmp_path))
    return tmp_path


def test_build_objective_assembles_terms_and_refuses_unknown_weights(tiny_preset, image_features, cache):
    objective = build_objective(tiny_preset, image_features=image_features, labels={"sentiment": "positive"},
                                weights={"clip": 2.0}, prefix="a photo of")
    assert [t.name for t in objective.terms] == ["lm", "clip", "sentiment"]
    assert [type(t) for t in objective.terms] == [LMTerm, CLIPTerm, ClassifierTerm]
    assert objective.weights == {"lm": 1.0, "clip": 2.0, "sentiment": 1.0}  # the others keep the preset's
    assert objective.terms[1].prefix == "a photo of"  # CLIP reads the caption as the LM writes it
    assert objective.terms[2].label == "positive"
    assert list((cache / "adapters").glob("*.safetensors"))  # adapters are cached on disk
    with pytest.raises(ValueError, match=r"unknown weight names \['clipp'\]; accepted: lm, clip, sentiment, target"):
        build_objective(tiny_preset, weights={"clipp": 1.0})
    with pytest.raises(ValueError, match="weight of 'lm'"):
        build_objective(tiny_preset, weights={"lm": -math.inf})


def test_default_weights_are_the_preset_s_own(tiny_preset, image_features, cache):
    objective = build_objective(tiny_preset, image_features=image_features, labels={"sentiment": "negative"})
    assert objective.weights == tiny_preset.weights == {"lm": 1.0, "clip": 4.0, "sentiment": 1.0}


def test_without_images_or_labels_only_the_lm_scores(tiny_preset, cache):
    objective = build_objective(tiny_preset)
    assert [t.name for t in objective.terms] == ["lm"] and not list(cache.glob("adapters/*"))  # nothing fitted


def test_a_target_adds_an_lm_term_after_the_prompt(tiny_preset, cache):
    objective = build_objective(tiny_preset, target=" red square", weights={TARGET: 2.5}, end=True, per="word")
    assert [t.name for t in objective.terms] == ["lm", TARGET] == ["lm", "target"]
    fluency, target = objective.terms
    assert target.target == " red square" and target.weight == 2.5 and fluency.target is None
    assert fluency.end and fluency.per == "word"  # end and per shape the fluency term
    assert build_objective(tiny_preset, target=" x").weights[TARGET] == 1.0


def test_clip_prefix_and_suffix_frame_the_caption_for_clip_alone(tiny_preset, image_features, clip_adapter, cache):
    objective = build_objective(tiny_preset, image_features=image_features, prefix="a photo of",
                                clip_prefix="", clip_suffix=".", adapters={"clip": clip_adapter})
    lm_term, clip_term = objective.terms
    assert lm_term.prefix == "a photo of" and (clip_term.prefix, clip_term.suffix) == ("", ".")
    assert objective.routes[1].translator.adapter is clip_adapter  # a given adapter is used, not refitted
    assert not list(cache.glob("adapters/*"))


def test_objective_roles_follow_images_and_labels(tiny_preset):
    assert objective_roles(tiny_preset, images=False) == ["lm"]
    assert objective_roles(tiny_preset, images=True) == ["lm", "clip"]
    assert objective_roles(tiny_preset, images=False, labels={"sentiment": "positive"}) == ["lm", "sentiment"]
    assert objective_roles(tiny_preset, images=True, labels={"sentiment": "positive"}) == ["lm", "clip", "sentiment"]
    with pytest.raises(ValueError, match="labels for clip, which is not a classifier role of preset 'tiny'; "
                                         "its classifier roles are sentiment"):
        objective_roles(tiny_preset, images=True, labels={"clip": "red"})


def test_fit_adapter_fits_on_the_preset_s_adapter_words(tiny_preset, clip_adapter, cache):
    """``clip_adapter`` was fitted directly on ``small_words``, the tiny preset's word policy: the same T_K."""
    fitted = fit_adapter(tiny_preset, "clip")
    assert fitted.T.keys() == clip_adapter.T.keys()
    assert all(torch.equal(fitted.T[k], clip_adapter.T[k]) for k in fitted.T)
    for role in ("lm", "vision"):
        with pytest.raises(ValueError, match=f"no secondary role '{role}' in preset 'tiny'; its secondary roles "
                                             "are clip, sentiment"):
            fit_adapter(tiny_preset, role)


def test_an_unknown_label_lists_the_classifier_s_labels(tiny_preset, cache):
    with pytest.raises(ValueError, match="unknown label 'joyful'; this classifier's labels are: negative, positive"):
        build_objective(tiny_preset, labels={"sentiment": "joyful"})
