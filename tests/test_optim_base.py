"""The one optimiser contract (``fuse_edu.optim.base.Optimiser``): every method is looked up by name, built with
the same arguments, stepped by hand or run the same way, returns a ``RunResult``, and obeys one budget rule.
All four methods run on the same real objective (a tiny GPT-2 asked to say " square")."""

from __future__ import annotations

import inspect

import pytest
import torch

from fuse_edu.captioning import CaptionSettings
from fuse_edu.models import PRESETS
from fuse_edu.optim import METHODS, STRATEGIES, Optimiser, RunResult, method, strategy
from fuse_edu.optim.loop import CandidateSearch

NAMES = list(METHODS)  # gcg, autodan, pez, random
ROW_KEYS = {"step", "best_loss", "step_loss", "evaluations"}
K = 8  # candidates per step


def build(objective, name, **kwargs):
    settings = dict(prompt_length=3, candidates_per_step=K, seed=0, budget=None, allowed="word", chunk_size=256,
                    progress=False) | kwargs
    return method(name)(objective, **settings)


# ----------------------------------------------------------------------------------------- the registry

def test_registry_names_methods_and_strategies_and_says_what_is_missing(monkeypatch):
    assert NAMES == ["gcg", "autodan", "pez", "random"]
    for name in NAMES:
        cls = method(name)
        assert issubclass(cls, Optimiser) and cls.name == name
    assert [strategy(name).name for name in STRATEGIES] == list(STRATEGIES) == ["greedy", "beam", "ucs"]
    with pytest.raises(ValueError, match="unknown method 'adam'; accepted: gcg, autodan, pez, random"):
        method("adam")
    with pytest.raises(ValueError, match="unknown strategy 'dfs'; accepted: greedy, beam, ucs"):
        strategy("dfs")
    monkeypatch.setitem(METHODS, "pez", ("fuse_edu.optim.not_here", "PEZ"))
    with pytest.raises(NotImplementedError, match="method 'pez' is not available .*fuse_edu.optim.not_here is missing"):
        method("pez")


@pytest.mark.parametrize("name", NAMES)
def test_class_attributes_describe_the_method(name):
    cls = method(name)
    assert cls.default_candidates == (1 if name == "pez" else 64)
    assert isinstance(cls.options, tuple) and all(isinstance(o, str) for o in cls.options)
    accepted = set(inspect.signature(cls.__init__).parameters)
    if issubclass(cls, CandidateSearch):  # GCG and random search pass the shared knobs on (**search)
        accepted |= set(inspect.signature(CandidateSearch.__init__).parameters)
    assert set(cls.options) <= accepted, set(cls.options) - accepted
    common = ["objective", "prompt_length", "candidates_per_step", "seed", "budget", "allowed", "chunk_size",
              "progress"]
    assert list(inspect.signature(cls.__init__).parameters)[1:len(common) + 1] == common
    assert inspect.signature(cls.__init__).parameters["prompt_length"].default == 8
    assert inspect.signature(cls.__init__).parameters["candidates_per_step"].default is None


def test_renamed_knobs_are_gone():
    from fuse_edu.optim import PEZ, AutoDAN

    assert "batch_size" not in inspect.signature(AutoDAN.__init__).parameters  # now candidates_per_step
    assert "restarts" not in inspect.signature(PEZ.__init__).parameters        # now candidates_per_step


# ----------------------------------------------------------------------------------------- running

@pytest.mark.parametrize("name", NAMES)
def test_every_method_is_built_and_run_the_same_way(say_square, name):
    seen = []
    result = build(say_square, name).run(2, callback=seen.append)
    assert isinstance(result, RunResult) and result.steps == 2
    assert seen == result.history and all(ROW_KEYS | {"seconds"} <= set(row) for row in result.history)
    assert [row["step"] for row in result.history][-2:] == [1, 2]
    assert result.evaluations == result.history[-1]["evaluations"] > 0
    assert 1 <= len(result.best_ids) <= 3 and result.term_losses.keys() == {"target"}
    assert result.best_text == say_square.texts(torch.tensor([result.best_ids]))[0].strip()
    total, terms = say_square.evaluate(torch.tensor([result.best_ids]))
    assert result.best_loss == pytest.approx(float(total[0]), rel=1e-4)  # the reported loss is exact
    assert result.term_losses["target"] == pytest.approx(float(terms["target"][0]), rel=1e-4)
    assert set(result.as_row()) == {"caption", "loss", "loss_target", "evaluations", "seconds", "steps"}


@pytest.mark.parametrize("name", NAMES)
def test_a_step_by_hand_right_after_construction_returns_its_history_row(say_square, name):
    optimiser = build(say_square, name)
    assert isinstance(optimiser.step_cost(), int) and optimiser.step_cost() > 0
    row = optimiser.step()
    assert ROW_KEYS <= set(row) and row["step"] == 1 and optimiser.steps_done == 1
    assert row["best_loss"] <= row["step_loss"] + 1e-6
    assert row["evaluations"] == optimiser.budget.spent == type(optimiser).first_step_cost(K)


@pytest.mark.parametrize("name", NAMES)
def test_steps_none_needs_something_that_stops_the_run(say_square, name):
    optimiser = build(say_square, name)
    if name == "autodan":  # it stops by itself, once the prompt is grown to full length
        assert optimiser.can_finish and optimiser.run().steps == 3
        return
    with pytest.raises(ValueError, match=f"{name} never stops by itself: give steps, patience or a budget"):
        optimiser.run()
    assert optimiser.run(patience=1).steps >= 1


@pytest.mark.parametrize("name", NAMES)
def test_bad_step_counts_are_refused(say_square, name):
    optimiser = build(say_square, name)
    with pytest.raises(ValueError, match="steps must be an int >= 0, got -1"):
        optimiser.run(-1)
    with pytest.raises(ValueError, match="patience must be an int >= 1, got 0"):
        optimiser.run(3, patience=0)


@pytest.mark.parametrize("name", NAMES)
def test_zero_steps_reports_the_start_or_says_there_is_none(say_square, name):
    """GCG and random search score their initial prompt, so ``run(0)`` reports it; AutoDAN and PEZ have no prompt
    before their first step, so ``run(0)`` is a ValueError naming steps, and so is the setting."""
    cls = method(name)
    if cls.scores_a_start:
        result = build(say_square, name).run(0)
        assert isinstance(result, RunResult) and result.steps == 0 and result.evaluations == 1
    else:
        with pytest.raises(ValueError, match="steps"):
            build(say_square, name).run(0)
        with pytest.raises(ValueError, match="steps must be >= 1"):
            CaptionSettings(method=name, steps=0).check(PRESETS["toy"])


# ----------------------------------------------------------------------------------------- the budget rule

@pytest.mark.parametrize("name", NAMES)
def test_one_budget_rule_before_and_after_models_load(say_square, name):
    cls = method(name)
    needed = cls.first_step_cost(K)
    assert needed == (K + 1 if issubclass(cls, CandidateSearch) else K)  # GCG and random also score the start
    cls.check_budget(None, K)
    cls.check_budget(needed, K)
    message = (f"budget {needed - 1} is smaller than one {name} step, which needs {needed} evaluations with {K} "
               f"candidates per step")
    with pytest.raises(ValueError, match=message):
        cls.check_budget(needed - 1, K)  # no objective needed: a command line refuses it before loading models
    with pytest.raises(ValueError, match=message):
        build(say_square, name, budget=needed - 1)
    result = build(say_square, name, budget=needed).run()  # a budget alone can stop a run
    assert result.steps == 1 and result.evaluations <= needed


def test_the_budget_rule_uses_the_method_s_default_candidates_and_options(say_square):
    gcg, autodan, pez = method("gcg"), method("autodan"), method("pez")
    with pytest.raises(ValueError, match="budget 64 is smaller than one gcg step, which needs 65 evaluations with 64"):
        gcg.check_budget(64)
    assert autodan.first_step_cost(8, refine_steps=2) == 24  # each refinement tries new tokens
    with pytest.raises(ValueError, match="budget 20 is smaller than one autodan step, which needs 24 evaluations"):
        autodan.check_budget(20, 8, refine_steps=2)
    pez.check_budget(1)  # one restart by default: one evaluation a step
    for name in NAMES:
        with pytest.raises(ValueError, match="budget must be a positive int or None, got 0"):
            build(say_square, name, budget=0)
