"""Captioning: ``CaptionSettings.check`` refuses what a preset and a method cannot run before any model loads,
naming the value and what is accepted; a ``Captioner`` over the tiny preset has the columns, weights and
method arguments its settings and preset call for; the preset's words become token masks and swap lists.
(Images on disk: test_captioning_images.py; rows on disk: test_captioning_rows.py; the toy preset end to end:
test_cli_caption.py.)"""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from fuse_edu.captioning import CaptionSettings, Captioner, allowed_tokens, caption_files, check_prompt_fits, swap_words
from fuse_edu.models import PRESETS, Preset, SequenceClassifier
from fuse_edu.optim import RunResult
from fuse_edu.toyworld import policy as toy_policy
from tests.tiny import tiny_spec

TOY = PRESETS["toy"]  # a spec: checking settings against it loads nothing
# one step within a tiny budget, on the tiny preset's toy lexicon: a caption run takes a second, not ten
FAST = dict(steps=1, budget=9, candidates_per_step=8, prompt_length=3, vocabulary="lexicon")


# ----------------------------------------------------------------------------------------- settings

def test_default_settings_pass_on_both_presets():
    for spec in PRESETS.values():
        CaptionSettings().check(spec)
    assert CaptionSettings().objective_weights(TOY) == TOY.weights == {"lm": 1.0, "clip": 4.0, "sentiment": 1.0}
    assert CaptionSettings(weights={"clip": 2.0}).objective_weights(TOY) == {"lm": 1.0, "clip": 2.0, "sentiment": 1.0}


@pytest.mark.parametrize("settings, message", [
    (dict(method="adam"), "unknown method 'adam'; accepted: gcg, autodan, pez, random"),
    (dict(strategy="beam"), r"method 'gcg' takes no search strategy.*\(got 'beam'\)"),
    (dict(method="autodan", strategy="dfs"), "unknown strategy 'dfs'; accepted: greedy, beam, ucs"),
    (dict(options={"beam_width": 2}), "method 'gcg' takes no option beam_width; its options are .*topk"),
    (dict(method="pez", options={"topk": 4}), "method 'pez' takes no option topk; its options are lr, "),
    (dict(labels={"clip": "red"}), "a label for clip, which preset 'toy' has no classifier role for; its "
                                   "classifier roles are sentiment"),
    (dict(weights={"clipp": 1.0}), r"unknown weight name\(s\) clipp; accepted: lm, clip, sentiment"),
    (dict(weights={"sentiment": 2.0}), "a weight for sentiment needs a label for it to steer toward"),
    (dict(weights={"lm": -1.0}), "weight of 'lm' must be a finite number >= 0, got -1.0"),
    (dict(budget=64), "budget 64 is smaller than one gcg step, which needs 65 evaluations with 64 candidates"),
    (dict(budget=16, candidates_per_step=16), "budget 16 is smaller than one gcg step, which needs 17 evaluations"),
    (dict(method="autodan", candidates_per_step=8, budget=15, options={"refine_steps": 1}),
     "budget 15 is smaller than one autodan step, which needs 16 evaluations"),
    (dict(steps=-1), "steps must be an integer >= 0, got -1"),
    (dict(prompt_length=0), "prompt_length must be an integer >= 1, got 0"),
    (dict(patience=0), "patience must be an integer >= 1 or None, got 0"),
    (dict(candidates_per_step=True), "candidates_per_step must be an integer >= 1 or None, got True"),
])
def test_check_refuses_naming_the_value_and_what_is_accepted(settings, message):
    with pytest.raises(ValueError, match=message):
        CaptionSettings(**settings).check(TOY)


def test_options_a_method_declares_are_accepted():
    CaptionSettings(method="autodan", strategy="beam", options={"beam_width": 2, "refine_steps": 1}).check(TOY)
    CaptionSettings(method="random", options={"mode": "l2"}).check(TOY)
    CaptionSettings(method="pez", budget=1, options={"lr": 0.5}).check(TOY)  # one restart: one evaluation a step
    CaptionSettings(labels={"sentiment": "positive"}, weights={"sentiment": 2.5, "clip": 0.0}).check(TOY)


# ----------------------------------------------------------------------------------------- the captioner

def test_a_captioner_s_columns_and_weights_follow_its_roles(tiny_preset):
    plain = Captioner(tiny_preset, CaptionSettings(**FAST), progress=False)
    assert plain.roles == ["lm", "clip"] and plain.weights == {"lm": 1.0, "clip": 4.0, "sentiment": 1.0}
    assert plain.columns == ["file", "caption", "loss", "loss_lm", "loss_clip", "evaluations", "seconds", "steps",
                             "error"]
    steered = Captioner(tiny_preset, CaptionSettings(**FAST, labels={"sentiment": "positive"},
                                                      weights={"sentiment": 2.5}), progress=False)
    assert steered.roles == ["lm", "clip", "sentiment"] and steered.weights["sentiment"] == 2.5
    assert steered.columns[3:6] == ["loss_lm", "loss_clip", "loss_sentiment"]


def test_method_kwargs_pass_each_method_only_what_it_takes(tiny_preset):
    common = {"prompt_length", "candidates_per_step", "seed", "budget", "allowed"}
    for name, options, expected in [("gcg", {}, {"topk": 4, "init_text": " a"}),
                                    ("autodan", {"beam_width": 2}, {"strategy": "beam", "beam_width": 2}),
                                    ("pez", {"lr": 0.3}, {"lr": 0.3})]:
        settings = CaptionSettings(**{**FAST, "budget": None}, method=name, topk=4, init_text=" a", options=options,
                                   strategy="beam" if name == "autodan" else None)
        captioner = Captioner(tiny_preset, settings, progress=False)
        kwargs = captioner.method_kwargs()
        assert common <= set(kwargs) and set(kwargs) - common <= set(captioner.optimiser_class.options), kwargs
        assert expected.items() <= kwargs.items(), (name, kwargs)
        assert kwargs["prompt_length"] == 3 and kwargs["candidates_per_step"] == 8


def test_a_caption_is_a_run_result_weighted_as_the_settings_say(tiny_preset):
    captioner = Captioner(tiny_preset, CaptionSettings(**FAST, weights={"clip": 2.0}), progress=False)
    result = captioner.caption(Image.new("RGB", (64, 64), "red"))
    assert isinstance(result, RunResult) and result.evaluations <= 9 and result.steps == 1
    assert set(result.term_losses) == {"lm", "clip"} and result.seconds > 0
    assert result.best_loss == pytest.approx(result.term_losses["lm"] + 2.0 * result.term_losses["clip"], rel=1e-4)


def test_caption_files_gives_an_error_row_for_an_unreadable_image_and_goes_on(tmp_path):
    class Fixed:
        def caption(self, image):
            return RunResult("a red square", [1], 1.5, {"lm": 0.5}, 10, 0.1, 1)

    Image.new("RGB", (8, 8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    seen = []
    rows = caption_files([tmp_path / "bad.png", tmp_path / "good.png"], Fixed(), progress=False, on_row=seen.append)
    assert seen == rows and [r["file"].rsplit("/", 1)[-1] for r in rows] == ["bad.png", "good.png"]
    assert set(rows[0]) == {"file", "error"} and "cannot read image" in rows[0]["error"]
    assert rows[1]["caption"] == "a red square" and rows[1]["loss_lm"] == 0.5 and rows[1]["error"] is None


def test_a_label_the_classifier_lacks_lists_its_labels(tiny_preset, tiny_classifier):
    moody = SequenceClassifier(tiny_classifier.model, tiny_classifier.tokenizer, labels=("joy", "anger"))
    preset = Preset(tiny_preset.spec, {**tiny_preset.models, "sentiment": moody})
    with pytest.raises(ValueError, match="unknown label 'positive'; this classifier's labels are: joy, anger"):
        Captioner(preset, CaptionSettings(labels={"sentiment": "positive"}), progress=False)


def test_a_prompt_too_long_for_a_model_says_how_long_it_may_be(tiny_preset):
    check_prompt_fits(tiny_preset, ["lm", "clip"], 73)  # the tiny CLIP reads 77 tokens: BOS + 73 + end fits
    with pytest.raises(ValueError, match="--prompt-length 76 does not fit the tiny preset's clip, which reads 77 "
                                         r"tokens: .* use --prompt-length 75 or less"):
        check_prompt_fits(tiny_preset, ["lm", "clip"], 76)
    with pytest.raises(ValueError, match="use --prompt-length 72 or less"):
        check_prompt_fits(tiny_preset, ["lm", "clip"], 74, prefix="a photo of")  # the prefix takes 3 more


# ----------------------------------------------------------------------------------------- vocabulary

@pytest.fixture
def toy_words_preset(tiny_preset):
    """The toy preset's word policy over the tiny models (same tokenizers): no toy weights needed."""
    return Preset(TOY, dict(tiny_preset.models))


def test_the_lexicon_is_the_toy_caption_words_as_tokens(toy_words_preset, gpt2):
    neutral = allowed_tokens(toy_words_preset, "lexicon")
    happy = allowed_tokens(toy_words_preset, "lexicon", {"sentiment": "positive"})
    assert neutral.shape == (len(gpt2),) and int(neutral.sum()) == 51  # what AutoDAN's toy captions try per slot
    lovely = gpt2(" lovely")["input_ids"]
    assert not neutral[lovely].any() and happy[lovely].all() and bool((neutral <= happy).all())
    word = allowed_tokens(toy_words_preset, "word")
    assert word.shape == neutral.shape and int(word.sum()) > 10_000


def test_swap_words_come_from_the_preset_s_policy(toy_words_preset):
    labels = {"sentiment": "negative"}
    allowed = allowed_tokens(toy_words_preset, "lexicon", labels)
    assert swap_words(toy_words_preset, "lexicon", allowed, labels) == toy_policy.swap_words(labels)
    assert set(toy_policy.swap_words(labels)) > set(toy_policy.swap_words({}))  # the sentiment's words join
    only_colours = torch.zeros_like(allowed)
    for ids in toy_words_preset.lm.tokenizer([" red", " blue"], add_special_tokens=False)["input_ids"]:
        only_colours[ids] = True
    assert swap_words(toy_words_preset, "lexicon", only_colours, labels) == ["red", "blue"]  # never a forbidden token


def test_a_preset_without_a_lexicon_has_none_to_offer(tiny_preset):
    open_preset = Preset(tiny_spec(lexicon=False), dict(tiny_preset.models))
    with pytest.raises(ValueError, match="preset 'tiny' has no lexicon"):
        allowed_tokens(open_preset, "lexicon")
    with pytest.raises(ValueError, match="preset 'tiny' has no lexicon"):
        CaptionSettings(vocabulary="lexicon").check(open_preset.spec)
    assert CaptionSettings().vocabulary_for(open_preset.spec) == CaptionSettings().vocabulary_for(TOY) == "open"
    unset = CaptionSettings(vocabulary=None)  # None: the preset's lexicon when it has one
    assert unset.vocabulary_for(TOY) == unset.vocabulary_for(tiny_preset.spec) == "lexicon"
    assert unset.vocabulary_for(open_preset.spec) == "open"
    opened = allowed_tokens(open_preset, "open")
    assert int(opened.sum()) > 40_000 and bool((allowed_tokens(tiny_preset, "lexicon") <= opened).all())
