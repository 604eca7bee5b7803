"""AutoDAN: grow a readable prompt token by token, scoring every token for the new slot by -gradient +
readability, evaluating the best candidates exactly; growing unfinished prompts but reporting finished ones;
whole words; refinement. Most tests use ``ToyObjective`` (tests/support.py), whose right answers can be worked
out by hand; the last ones run the real Objective on a tiny GPT-2 and on the toy preset."""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim.autodan import AutoDAN
from tests.support import EndingToyObjective, ToyObjective, count_syncs, everything, toy_autodan as autodan

STRATEGIES = {
    "greedy": lambda o, **kw: autodan(o, **kw),
    "beam": lambda o, **kw: autodan(o, strategy="beam", beam_width=3, **kw),
    "ucs": lambda o, **kw: autodan(o, strategy="ucs", beam_width=2, **kw),
}


@pytest.mark.parametrize("weight", [0.0, 1.0, 50.0])
def test_autodan_picks_the_token_with_the_best_gradient_plus_readability_score(weight):
    objective = ToyObjective(kind="linear")
    # Linear loss: d loss / d one-hot[0, v] = E_v . target_0 wherever it is taken; the LM starts from row V.
    gradient = objective.embedding_table @ objective.target[0]  # (V,)
    expected = (-gradient + weight * objective.bigram[-1]).argmax()
    scores = autodan(objective, readability_weight=weight).slot_scores(
        torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
        objective.bigram[-1:])  # (1, V)
    torch.testing.assert_close(scores[0], -gradient + weight * objective.bigram[-1])
    # With one candidate per slot, the exact evaluation can only confirm the score's choice.
    result = autodan(objective, prompt_length=1, candidates_per_step=1, readability_weight=weight).run()
    assert result.best_ids == [int(expected)]


def test_autodan_readability_weight_trades_loss_for_lm_log_prob():
    objective = ToyObjective(kind="linear")
    plain = autodan(objective, prompt_length=1, candidates_per_step=1, readability_weight=0.0).run()
    readable = autodan(objective, prompt_length=1, candidates_per_step=1, readability_weight=50.0).run()
    assert readable.best_ids == [int(objective.bigram[-1].argmax())]  # the LM's favourite
    assert plain.best_loss < readable.best_loss


def test_autodan_greedy_finds_the_nearest_row_per_slot_and_lowers_the_loss():
    objective = ToyObjective()
    result = autodan(objective, candidates_per_step=40, readability_weight=0.0).run()  # every token evaluated
    distance = torch.cdist(objective.target[:4], objective.embedding_table)  # (4, V)
    assert result.best_ids == distance.argmin(1).tolist()
    random_prompts = torch.randint(40, (64, 4), generator=torch.Generator().manual_seed(0))
    assert result.best_loss < objective.evaluate(random_prompts, torch.ones_like(random_prompts))[0].min()
    assert [row["length"] for row in result.history] == [1, 2, 3, 4]
    assert result.steps == 4 and result.evaluations == 4 * 40 and result.best_text.split() == [
        f"t{i}" for i in result.best_ids]


def test_variable_length_reports_the_best_prefix_of_any_length():
    objective = ToyObjective()
    objective.target[2:] += 100.0  # slots 3 and 4 cannot be filled well: the best prompt stops before them
    fixed = autodan(objective, readability_weight=0.0).run()
    free = autodan(objective, readability_weight=0.0, variable_length=True).run()
    assert len(fixed.best_ids) == 4 and len(free.best_ids) <= 2
    prefixes = torch.tensor([fixed.best_ids])  # (1, 4): greedy kept these, so each prefix was evaluated
    prefix_losses = [float(objective.evaluate(prefixes[:, :n], torch.ones(1, n))[0]) for n in (1, 2, 3, 4)]
    assert free.best_ids == fixed.best_ids[: len(free.best_ids)]
    assert free.best_loss == pytest.approx(min(prefix_losses)) and free.best_loss < fixed.best_loss
    assert free.evaluations == fixed.evaluations  # the prefixes were evaluated anyway


@pytest.mark.parametrize("variable_length", [False, True])
def test_autodan_grows_unfinished_prompts_and_reports_finished_ones(variable_length):
    """Scored as finished at every step, growth would pick tokens that end well at every slot (the toy
    version of "antsandsansthe"): growth must follow ``without_end()``, and only the report the whole loss."""
    closed = EndingToyObjective()
    result = autodan(closed, candidates_per_step=40, readability_weight=0.0, variable_length=variable_length).run()
    grown = autodan(closed.opened, candidates_per_step=40, readability_weight=0.0).run()  # every token evaluated
    distance = torch.cdist(closed.target[:4], closed.embedding_table)  # (4, V)
    assert grown.best_ids == distance.argmin(1).tolist()  # open growth: the nearest row per slot
    # Each step evaluated the grown prefix + every token; the report is the best of them as finished prompts
    # (of the full length, or with variable length of any length), with no extra evaluation.
    evaluated = [grown.best_ids[:n - 1] + [v] for n in ([4] if not variable_length else [1, 2, 3, 4]) for v in range(40)]
    losses = [float(closed.evaluate(torch.tensor([ids]), torch.ones(1, len(ids)))[0]) for ids in evaluated]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert result.best_ids == evaluated[best] and result.best_loss == pytest.approx(losses[best])
    assert result.best_ids[:-1] == grown.best_ids[:len(result.best_ids) - 1]  # grown along the open path
    assert result.evaluations == grown.evaluations == 4 * 40


@pytest.mark.parametrize("word, length, kept", [("hexagon", 3, 2), ("turquoise", 2, 2)])
def test_whole_words_grow_a_split_word_in_one_step(say_red_square, gpt2, word, length, kept):
    """With words, the child via " hex" is the whole " hexagon" (" hex" + "agon"), evaluated once like any other
    candidate; a word longer than the prompt's room is cut (" tur" + "qu" of " turquoise" in 2 slots)."""
    ids = gpt2(" " + word)["input_ids"]
    allowed = torch.zeros(len(gpt2), dtype=torch.bool)
    allowed[ids[0]] = True                                   # the only token it may start a word with
    result = AutoDAN(say_red_square, prompt_length=length, candidates_per_step=1, allowed=allowed, words=[word],
                     progress=False).run(1)
    assert result.steps == 1 and result.evaluations == 1 and result.best_ids == ids[:kept]


def test_refinement_evaluates_new_tokens_only_and_never_does_worse():
    objective = ToyObjective()
    once = autodan(objective, candidates_per_step=4, readability_weight=0.0).run()
    refined = autodan(objective, candidates_per_step=4, readability_weight=0.0, refine_steps=2).run()
    assert refined.evaluations == 3 * once.evaluations
    assert refined.best_loss <= once.best_loss + 1e-6


def test_the_default_candidates_try_each_allowed_token_once_per_slot():
    objective = ToyObjective()  # 40 tokens, every one allowed
    assert AutoDAN(objective, allowed=everything(objective), progress=False).candidates_per_step == 40
    assert AutoDAN(objective, allowed=everything(objective), refine_steps=1, progress=False).candidates_per_step == 20
    assert autodan(objective).candidates_per_step == 8  # asked for: kept


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_run(name):
    runs = [STRATEGIES[name](ToyObjective(), seed=3).run(6) for _ in range(2)]
    assert runs[0].best_ids == runs[1].best_ids and runs[0].history[-1]["best_loss"] == runs[1].history[-1]["best_loss"]
    assert [r["step_loss"] for r in runs[0].history] == [r["step_loss"] for r in runs[1].history]


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("cap", [19, 40, 101])
def test_budget_is_never_exceeded_and_counts_every_exact_evaluation(name, cap):
    objective = ToyObjective()
    method = STRATEGIES[name](objective, budget=cap)
    result = method.run(1000)
    assert result.evaluations <= cap and result.history[-1]["evaluations"] == result.evaluations
    # every prompt scored exactly; gradient passes are not evaluations
    assert objective.evaluated_rows == result.evaluations
    assert method.strategy.finished or cap - result.evaluations < method.step_cost()


@pytest.mark.parametrize("kwargs, match", [
    ({"budget": 7}, "budget 7 is smaller than one autodan step, which needs 8 evaluations with 8 candidates"),
    ({"prompt_length": 0}, "prompt_length must be an int >= 1"),
    ({"readability_weight": float("nan")}, "readability_weight must be a finite number"),
    ({"candidates_per_step": 41}, r"candidates_per_step x \(1 \+ refine_steps\) = 41 .*only 40 tokens are allowed"),
    ({"candidates_per_step": 21, "refine_steps": 1}, "= 42 candidates per slot"),
    ({"refine_steps": -1}, "refine_steps must be an int >= 0"),
    ({"strategy": "dfs"}, "unknown search strategy 'dfs'"),
    ({"beam_width": 3}, "greedy keeps one prompt"),
    ({"strategy": "beam", "beam_width": 0}, "beam_width must be a positive int"),
    ({"strategy": "beam", "frontier_cap": 9}, "frontier_cap applies only to strategy 'ucs'"),
    ({"strategy": "ucs", "beam_width": 4, "frontier_cap": 2}, "frontier_cap .* at least"),
    ({"allowed": torch.ones(7, dtype=torch.bool)}, r"a kind name or a \(40,\) bool mask .* got torch.bool \(7,\)"),
])
def test_bad_inputs_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        autodan(ToyObjective(), **kwargs)


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_step_syncs_host_and_device_once(name, monkeypatch):
    """On a GPU every .item()/.tolist()/bool()/int()/float()/.nonzero() of a tensor waits for the device;
    a step may do that once (its history row). Counted here on the CPU by wrapping those methods."""
    method = STRATEGIES[name](ToyObjective(), seed=1)
    method.step()  # the first step of UCS differs from the rest; count a later one
    syncs = count_syncs(monkeypatch)
    method.step()
    monkeypatch.undo()
    assert [name for name, _, _ in syncs] == ["tolist"], syncs


# ---------------------------------------------------------------------------------------------- the real Objective

def random_prompt_losses(objective, length, n=32):
    from fuse_edu.optim.candidates import allowed_token_mask

    allowed = allowed_token_mask(objective.tokenizer, "word").nonzero().flatten()  # (A,)
    ids = allowed[torch.randint(len(allowed), (n, length), generator=torch.Generator().manual_seed(0))]  # (n, L)
    return objective.evaluate(ids)[0]  # (n,)


def test_slot_scores_use_the_objectives_one_hot_gradient(say_red_square):
    method = AutoDAN(say_red_square, prompt_length=3, readability_weight=0.5, progress=False)
    ids, mask = torch.tensor([[262, 2266, 6616]]), torch.tensor([[1, 1, 1]])
    logprobs = say_red_square.next_token_logprobs(ids[:, :2], mask[:, :2])  # (1, V)
    scores = method.slot_scores(ids, mask, torch.tensor([2]), logprobs)  # (1, V)
    expected = -say_red_square.one_hot_gradient(ids, mask)[:, 2] + 0.5 * logprobs  # (1, V)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "ucs"])
def test_autodan_on_the_real_objective_beats_random_prompts(say_red_square, strategy):
    width = None if strategy == "greedy" else 2
    cap = 2 if strategy == "ucs" else None  # a cost-ordered beam: uncapped UCS would go breadth-first
    result = AutoDAN(say_red_square, prompt_length=3, candidates_per_step=16, readability_weight=0.1,
                     strategy=strategy, beam_width=width, frontier_cap=cap, budget=200, progress=False).run()
    assert result.evaluations <= 200 and len(result.best_ids) == 3
    assert result.best_loss < random_prompt_losses(say_red_square, 3).mean()
    assert result.best_text == say_red_square.texts(torch.tensor([result.best_ids]))[0].strip()
    total, terms = say_red_square.evaluate(torch.tensor([result.best_ids]))
    assert result.best_loss == pytest.approx(float(total[0]), rel=1e-5)
    assert result.term_losses == pytest.approx({name: float(v[0]) for name, v in terms.items()}, rel=1e-5)


# ---------------------------------------------------------------------------------------------- the toy preset

@pytest.mark.slow
def test_autodan_captions_a_toy_scene_under_the_caption_objective(toy_preset):
    """The captioning objective scores the end of text (``end=True``). Ranked as finished sentences, the
    growing prompts of every scene used to collapse to a fragment ("at"); grown as unfinished text, AutoDAN
    names a dev scene's colour and shape (a dev seed, not a held-out one)."""
    from fuse_edu.captioning import CaptionSettings, Captioner
    from fuse_edu.metrics import attribute_accuracy
    from fuse_edu.toyworld import render_scene, sample_scenes

    scene = sample_scenes(5, 4242, objects=1)[4]
    assert (scene.objects[0].color, scene.objects[0].shape) == ("magenta", "star")
    captioner = Captioner(toy_preset, CaptionSettings(method="autodan", vocabulary="lexicon"), progress=False)
    result = captioner.caption(render_scene(scene))
    named = attribute_accuracy([result.best_text], [scene])
    assert named["color"] == 1.0 and named["shape"] == 1.0, result.best_text
    # 8 steps, each trying every allowed token once: the default 64 candidates are capped at the lexicon's 51
    assert int(captioner.allowed.sum()) == 51 and result.evaluations == 8 * 51


@pytest.mark.slow
def test_autodan_reaches_a_split_shape_word_on_a_toy_scene(toy_preset):
    """" hexagon" is " hex" + "agon". Grown token by token, "a small yellow hex" lost to "heart" and the
    caption was "a small yellow heart and a small circle"; with whole words the child via " hex" is
    "a small yellow hexagon" (a dev scene)."""
    from fuse_edu.captioning import CaptionSettings, Captioner
    from fuse_edu.toyworld import caption, render_scene, sample_scenes

    scene = sample_scenes(2, 4242, objects=1)[1]
    assert caption(scene) == "a small yellow hexagon"
    settings = CaptionSettings(method="autodan", vocabulary="lexicon")  # the captions these scenes were tuned on
    result = Captioner(toy_preset, settings, progress=False).caption(render_scene(scene))
    assert " hexagon" in " " + result.best_text, result.best_text
