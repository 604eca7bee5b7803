"""AutoDAN, PEZ and the search strategies (greedy, beam, uniform-cost).

Most tests use ``ToyObjective``: a few lines of tensor algebra with the Objective's interface, whose
right answers can be worked out by hand. The last ones run the real ``fuse_edu.objectives.Objective``
on a tiny random GPT-2 (the GCG "make it say X" loss), to check the methods against the real thing.
"""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from fuse_edu.optim.autodan import AutoDAN
from fuse_edu.optim.pez import PEZ
from fuse_edu.optim.search import Beam, Greedy, Prompts, UniformCost, make_strategy


class NumberTokenizer:
    """Decodes token i as " t<i>"; enough for ``RunResult.best_text``."""

    eos_token_id = None

    def decode(self, ids, **kwargs):
        return "".join(f" t{i}" for i in ids)


class ToyObjective:
    """loss(prompt) = mean_t |E[id_t] - target_t|^2 (``kind="quadratic"``, >= 0, best token per slot: the row
    nearest target_t) or mean_t E[id_t] . target_t (``kind="linear"``: its gradient does not depend on where it
    is taken, so AutoDAN's scores can be predicted exactly). The "LM" is a random bigram table."""

    def __init__(self, vocab: int = 40, dim: int = 8, length: int = 6, kind: str = "quadratic", seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.embedding_table = torch.randn(vocab, dim, generator=g)  # (V, d)
        self.target = torch.randn(length, dim, generator=g)  # (L, d)
        self.bigram = torch.randn(vocab + 1, vocab, generator=g).log_softmax(-1)  # (V+1, V); row V: start
        self.kind, self.tokenizer, self.device = kind, NumberTokenizer(), torch.device("cpu")
        self.forward_rows = 0  # prompts passed through ``losses`` (PEZ's evaluations are these)
        self.evaluated_rows = 0  # prompts passed to ``evaluate`` (AutoDAN's exact evaluations)

    def losses(self, ids, mask, embeds=None):
        embeds = self.embedding_table[ids] if embeds is None else embeds  # (B, T, d)
        target = self.target[: ids.shape[1]]  # (T, d)
        per_position = ((embeds - target) ** 2).sum(-1) if self.kind == "quadratic" else (embeds * target).sum(-1)
        m = mask.float()  # (B, T)
        fit = (per_position * m).sum(1) / m.sum(1).clamp(min=1)  # (B,)
        self.forward_rows += ids.shape[0]
        return fit, {"fit": fit}

    @torch.no_grad()
    def evaluate(self, ids, mask, chunk_size=256):
        self.evaluated_rows += ids.shape[0]
        parts = [self.losses(i, m)[0] for i, m in zip(ids.split(chunk_size), mask.split(chunk_size))]
        return torch.cat(parts), {"fit": torch.cat(parts)}

    def embedding_gradient(self, ids, mask):
        embeds = self.embedding_table[ids].clone().requires_grad_(True)
        with torch.enable_grad():
            loss, _ = self.losses(ids, mask, embeds)
            return torch.autograd.grad(loss.sum(), embeds)[0]  # (B, T, d)

    def one_hot_gradient(self, ids, mask):
        return self.embedding_gradient(ids, mask) @ self.embedding_table.T  # (B, T, V)

    @torch.no_grad()
    def next_token_logprobs(self, ids, mask):
        lengths = mask.long().sum(1)  # (B,)
        last = ids.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)  # (B,)
        last = torch.where(lengths > 0, last, torch.full_like(last, self.bigram.shape[0] - 1))
        return self.bigram[last]  # (B, V)


def everything(objective):
    return torch.ones(objective.embedding_table.shape[0], dtype=torch.bool)


def autodan(objective, **kwargs):
    kwargs = {"prompt_length": 4, "batch_size": 8, "allowed": everything(objective), "progress": False, **kwargs}
    return AutoDAN(objective, **kwargs)


def pez(objective, **kwargs):
    kwargs = {"prompt_length": 4, "allowed": everything(objective), "progress": False, **kwargs}
    return PEZ(objective, **kwargs)


# ---------------------------------------------------------------------------------------------- AutoDAN

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
    result = autodan(objective, prompt_length=1, batch_size=1, readability_weight=weight).run()
    assert result.best_ids == [int(expected)]


def test_autodan_readability_weight_trades_loss_for_lm_log_prob():
    objective = ToyObjective(kind="linear")
    plain = autodan(objective, prompt_length=1, batch_size=1, readability_weight=0.0).run()
    readable = autodan(objective, prompt_length=1, batch_size=1, readability_weight=50.0).run()
    assert readable.best_ids == [int(objective.bigram[-1].argmax())]  # the LM's favourite
    assert plain.best_loss < readable.best_loss


def test_autodan_greedy_finds_the_nearest_row_per_slot_and_lowers_the_loss():
    objective = ToyObjective()
    result = autodan(objective, batch_size=40, readability_weight=0.0).run()  # every token evaluated
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


class EndingToyObjective(ToyObjective):
    """ToyObjective that also scores how the prompt ends, + end_weight * |E[last token] - stop|^2, like an LM
    term with end=True; ``without_end()`` is the plain ToyObjective on the same table and targets."""

    def __init__(self, end_weight: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.end_weight, self.stop = end_weight, torch.randn(self.embedding_table.shape[1],
                                                             generator=torch.Generator().manual_seed(7))  # (d,)
        self.opened = ToyObjective(**kwargs)

    def losses(self, ids, mask, embeds=None):
        embeds = self.embedding_table[ids] if embeds is None else embeds  # (B, T, d)
        fit, _ = super().losses(ids, mask, embeds)  # (B,)
        last = (mask.long().sum(1) - 1).clamp(min=0)  # (B,)
        ending = ((embeds[torch.arange(ids.shape[0]), last] - self.stop) ** 2).sum(-1)  # (B,)
        total = fit + self.end_weight * ending
        return total, {"fit": total}

    def without_end(self):
        return self.opened

    def evaluate_growing(self, ids, mask, chunk_size=256):
        return (self.opened.evaluate(ids, mask, chunk_size)[0], *self.evaluate(ids, mask, chunk_size))


@pytest.mark.parametrize("variable_length", [False, True])
def test_autodan_grows_unfinished_prompts_and_reports_finished_ones(variable_length):
    """Scored as finished at every step, growth would pick tokens that end well at every slot (the toy
    version of "antsandsansthe"): growth must follow ``without_end()``, and only the report the whole loss."""
    closed = EndingToyObjective()
    result = autodan(closed, batch_size=40, readability_weight=0.0, variable_length=variable_length).run()
    grown = autodan(closed.opened, batch_size=40, readability_weight=0.0).run()  # every token evaluated
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


def test_autodan_captions_a_toy_scene_under_the_caption_objective():
    """The captioning objective scores the end of text (``end=True``). Ranked as finished sentences, the
    growing prompts of every scene used to collapse to a fragment ("at"); grown as unfinished text, AutoDAN
    names a dev scene's colour and shape (a dev seed of benchmarks/heldout_captioning.py, not its held-out one)."""
    from fuse_edu.caption import CaptionSettings, Captioner
    from fuse_edu.metrics import attribute_accuracy
    from fuse_edu.toyworld import render_scene, sample_scenes

    scene = sample_scenes(5, 4242, objects=1)[4]
    assert (scene.objects[0].color, scene.objects[0].shape) == ("magenta", "star")
    captioner = Captioner("toy", CaptionSettings(method="autodan"), progress=False)
    result = captioner.caption(render_scene(scene))
    named = attribute_accuracy([result.best_text], [scene])
    assert named["color"] == 1.0 and named["shape"] == 1.0, result.best_text
    # 8 steps, each trying every allowed token once: the 64 asked for are capped at the lexicon's 51
    assert captioner.allowed_count == 51 and result.evaluations == 8 * 51


def test_whole_word_growth_completes_split_words_in_one_step(gpt2):
    """Given words, a token that begins one split word brings the rest of it: " hex" -> " hexagon"."""
    from fuse_edu.optim.autodan import word_completions

    completion, extra = word_completions(gpt2, ["hexagon", "red", "turquoise"], len(gpt2), "cpu")
    hexagon, turquoise = gpt2(" hexagon")["input_ids"], gpt2(" turquoise")["input_ids"]
    assert len(hexagon) == 2 and len(turquoise) == 3
    assert extra[hexagon[0]] == 1 and completion[hexagon[0], 0] == hexagon[1]
    assert extra[turquoise[0]] == 2 and completion[turquoise[0]].tolist() == turquoise[1:]
    assert extra[gpt2(" red")["input_ids"][0]] == 0 and int((extra > 0).sum()) == 2
    grower = AutoDAN.__new__(AutoDAN)                       # complete_words needs only the tables
    grower.completion, grower.extra, grower.device = completion, extra, "cpu"
    cand = torch.tensor([[1, 2, hexagon[0], 0, 0], [1, 2, 3, turquoise[0], 9]])  # (2, W=5)
    done, lengths = grower.complete_words(cand, torch.tensor([3, 4]), torch.tensor([hexagon[0], turquoise[0]]))
    assert done.tolist() == [[1, 2, *hexagon, 0], [1, 2, 3, turquoise[0], turquoise[1]]]  # the second cut at W
    assert lengths.tolist() == [4, 5]
    shared, shared_extra = word_completions(gpt2, ["hexagon", "hexagons"], len(gpt2), "cpu")
    assert int(shared_extra.sum()) == 0                     # one first token, two words: complete neither


def test_autodan_reaches_a_split_shape_word_on_a_toy_scene():
    """" hexagon" is " hex" + "agon". Grown token by token, "a small yellow hex" lost to "heart" and the
    caption was "a small yellow heart and a small circle"; with whole words the child via " hex" is
    "a small yellow hexagon" (a dev scene of benchmarks/heldout_captioning.py)."""
    from fuse_edu.caption import CaptionSettings, Captioner
    from fuse_edu.toyworld import caption, render_scene, sample_scenes

    scene = sample_scenes(2, 4242, objects=1)[1]
    assert caption(scene) == "a small yellow hexagon"
    result = Captioner("toy", CaptionSettings(method="autodan"), progress=False).caption(render_scene(scene))
    assert " hexagon" in " " + result.best_text, result.best_text


def test_refinement_evaluates_new_tokens_only_and_never_does_worse():
    objective = ToyObjective()
    once = autodan(objective, batch_size=4, readability_weight=0.0).run()
    refined = autodan(objective, batch_size=4, readability_weight=0.0, refine_steps=2).run()
    assert refined.evaluations == 3 * once.evaluations
    assert refined.best_loss <= once.best_loss + 1e-6


def test_beam_width_one_equals_greedy():
    objective = ToyObjective()
    greedy = autodan(objective, strategy="greedy").run()
    beam = autodan(objective, strategy="beam", beam_width=1).run()
    assert beam.best_ids == greedy.best_ids and beam.best_loss == greedy.best_loss
    assert [r["best_loss"] for r in beam.history] == [r["best_loss"] for r in greedy.history]


def test_wider_beam_is_at_least_as_good_here():
    objective = ToyObjective(length=4)
    greedy = autodan(objective, batch_size=4, readability_weight=1.0).run()
    beam = autodan(objective, batch_size=4, readability_weight=1.0, strategy="beam", beam_width=4).run()
    assert beam.best_loss <= greedy.best_loss + 1e-6
    assert beam.history[-1]["frontier"] == 4


def test_ucs_expands_in_cost_order_and_stops_at_the_cheapest_finished_prompt():
    objective = ToyObjective()
    method = autodan(objective, prompt_length=3, batch_size=3, strategy="ucs", beam_width=1, frontier_cap=1000)
    result = method.run()
    popped = torch.cat(method.strategy.expanded_costs)  # cost of each prompt, in the order UCS expanded them
    assert (popped[1:] >= popped[:-1]).all()  # edge costs (losses) are >= 0: never a cheaper one later
    assert method.strategy.finished and result.steps < 1 + 3 + 9  # stopped before expanding the whole tree
    answer = method.strategy.best_goal_cost
    assert popped[-1] <= answer <= method.strategy.frontier.cost[0]  # nothing queued is cheaper than the answer


def test_ucs_finds_the_cheapest_finished_prompt_of_a_whole_tree():
    """Three tokens, prompts of length 3, a made-up loss per prefix: UCS's answer equals brute force."""
    loss_of = lambda prefix: (7 * sum((i + 1) * (t + 1) for i, t in enumerate(prefix)) % 5) + 0.5  # noqa: E731
    strategy = UniformCost(max_length=3, pop_width=1, frontier_cap=100)
    strategy.start(Prompts.root(3, 1, torch.device("cpu")))
    expansions = 0
    while not strategy.finished:
        parent = strategy.expand()
        length = int(parent.lengths[0])
        ids = parent.ids.repeat(3, 1)  # (3, 3) one child per token
        ids[:, length] = torch.arange(3)
        loss = torch.tensor([loss_of(row[: length + 1].tolist()) for row in ids])
        children = Prompts(ids, parent.lengths.repeat(3) + 1, loss, parent.cost + loss, loss[:, None])
        strategy.synced(strategy.accept(children).tolist())
        expansions += 1
    paths = [(a, b, c) for a in range(3) for b in range(3) for c in range(3)]
    cost_of = {p: loss_of(p[:1]) + loss_of(p[:2]) + loss_of(p) for p in paths}
    brute = min(cost_of.values())
    assert float(strategy.best_goal_cost) == pytest.approx(brute)
    assert cost_of[tuple(strategy.best_goal.ids[0].tolist())] == pytest.approx(brute)
    assert expansions < 1 + 3 + 9  # and it got there without expanding every prefix


def test_ucs_pops_the_cheapest_queued_prompts_first():
    strategy = UniformCost(max_length=3, pop_width=2, frontier_cap=8)
    strategy.start(Prompts.root(3, 1, torch.device("cpu")))
    assert strategy.expand().lengths.tolist() == [0]
    costs = torch.tensor([5.0, 1.0, 3.0, 2.0])
    children = Prompts(torch.arange(12).reshape(4, 3), torch.ones(4, dtype=torch.long), costs, costs,
                       costs[:, None])
    strategy.synced(strategy.accept(children).tolist())
    assert strategy.frontier_size == 4 and not strategy.finished
    assert strategy.expand().cost.tolist() == [1.0, 2.0]
    assert strategy.expand().cost.tolist() == [3.0, 5.0]


def test_ucs_frontier_cap_drops_the_most_expensive():
    strategy = UniformCost(max_length=3, pop_width=1, frontier_cap=2)
    strategy.start(Prompts.root(3, 1, torch.device("cpu")))
    strategy.expand()
    costs = torch.tensor([5.0, 1.0, 3.0])
    strategy.synced(strategy.accept(Prompts(torch.zeros(3, 3, dtype=torch.long), torch.ones(3, dtype=torch.long),
                                            costs, costs, costs[:, None])).tolist())
    assert strategy.frontier_size == 2 and strategy.frontier.cost.tolist() == [1.0, 3.0]


def test_greedy_and_beam_keep_the_lowest_loss_children():
    loss = torch.tensor([0.5, 0.1, 0.3, 0.2])
    children = Prompts(torch.zeros(4, 2, dtype=torch.long), torch.ones(4, dtype=torch.long), loss, loss, loss[:, None])
    for strategy, kept in ((Greedy(2), [0.1]), (Beam(2, 3), [0.1, 0.2, 0.3])):
        strategy.start(Prompts.root(2, 1, torch.device("cpu")))
        strategy.accept(children)
        assert strategy.expand().loss.tolist() == pytest.approx(kept)


# ---------------------------------------------------------------------------------------------- PEZ

@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_pez_projection_returns_table_rows_and_nearest_ids(metric):
    objective = ToyObjective()
    allowed = torch.zeros(40, dtype=torch.bool)
    allowed[::3] = True  # only every third token may be used
    method = pez(objective, metric=metric, allowed=allowed)
    points = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1))
    ids, rows = method.project(points)
    table = objective.embedding_table
    torch.testing.assert_close(rows, table[ids])
    if metric == "cosine":
        closeness = F.normalize(points, dim=-1) @ F.normalize(table, dim=-1).T  # (2, 5, V)
    else:
        closeness = -torch.cdist(points, table[None].expand(2, -1, -1))  # (2, 5, V)
    assert torch.equal(ids, closeness.masked_fill(~allowed, float("-inf")).argmax(-1))


def test_pez_projection_of_a_table_row_is_that_row():
    objective = ToyObjective()
    ids, _ = pez(objective, metric="l2").project(objective.embedding_table[None, [3, 7, 11]])
    assert ids.tolist() == [[3, 7, 11]]


def test_pez_starts_from_the_lms_greedy_prompt_or_random_tokens():
    objective = ToyObjective()
    greedy = [int(objective.bigram[-1].argmax())]
    for _ in range(3):
        greedy.append(int(objective.bigram[greedy[-1]].argmax()))
    method = pez(objective, restarts=3)
    method.reset()
    ids, _ = method.project(method.soft.detach())  # (3, 4)
    assert ids[0].tolist() == greedy  # restart 0: the LM's prompt exactly; the others: noise around it
    assert not torch.equal(method.soft[1], method.soft[0])
    random_start = pez(objective, restarts=3, init="random")
    random_start.reset()
    assert random_start.project(random_start.soft.detach())[0].tolist() != ids.tolist()


def test_pez_lowers_the_loss_and_counts_one_evaluation_per_projected_prompt():
    objective = ToyObjective()
    result = pez(objective, restarts=3, lr=0.3, init="random").run(20)
    first = result.history[0]["step_loss"]
    assert result.best_loss < first
    assert result.evaluations == objective.forward_rows == 60
    assert len(result.best_ids) == 4


# ---------------------------------------------------------------------------------------------- all methods

METHODS = {
    "autodan-greedy": lambda o, **kw: autodan(o, **kw),
    "autodan-beam": lambda o, **kw: autodan(o, strategy="beam", beam_width=3, **kw),
    "autodan-ucs": lambda o, **kw: autodan(o, strategy="ucs", beam_width=2, **kw),
    "pez": lambda o, **kw: pez(o, restarts=4, **kw),
}


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_run(name):
    runs = [METHODS[name](ToyObjective(), seed=3).run(6) for _ in range(2)]
    assert runs[0].best_ids == runs[1].best_ids and runs[0].history[-1]["best_loss"] == runs[1].history[-1]["best_loss"]
    assert [r["step_loss"] for r in runs[0].history] == [r["step_loss"] for r in runs[1].history]


@pytest.mark.parametrize("name", METHODS)
def test_callback_receives_each_history_row_as_it_is_made(name):
    seen = []
    result = METHODS[name](ToyObjective(), seed=3).run(6, callback=seen.append)
    assert seen == result.history and len(seen) == result.steps


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("cap", [19, 40, 101])
def test_budget_is_never_exceeded_and_counts_every_exact_evaluation(name, cap):
    objective = ToyObjective()
    method = METHODS[name](objective, budget=cap)
    result = method.run(1000)
    assert result.evaluations <= cap and result.history[-1]["evaluations"] == result.evaluations
    if name == "pez":  # one forward pass per projected prompt, which is its exact evaluation
        assert objective.forward_rows == result.evaluations
        assert cap - result.evaluations < method.restarts  # it stopped only when the next step did not fit
    else:  # every prompt scored exactly; gradient passes are not evaluations
        assert objective.evaluated_rows == result.evaluations
        assert method.strategy.finished or cap - result.evaluations < method.step_cost()


@pytest.mark.parametrize("name, kwargs, match", [
    ("autodan-greedy", {"budget": 7}, "smaller than one AutoDAN step"),
    ("pez", {"budget": 3}, "smaller than one PEZ step"),
    ("pez", {"prompt_length": 0}, "prompt_length must be an int >= 1"),
    ("autodan-greedy", {"prompt_length": 0}, "prompt_length must be an int >= 1"),
    ("autodan-greedy", {"readability_weight": float("nan")}, "readability_weight must be a finite number"),
    ("autodan-greedy", {"batch_size": 41}, "only 40 tokens are allowed"),
    ("autodan-greedy", {"strategy": "dfs"}, "unknown search strategy 'dfs'"),
    ("autodan-greedy", {"beam_width": 3}, "greedy keeps one prompt"),
    ("autodan-greedy", {"strategy": "beam", "beam_width": 0}, "beam_width must be a positive int"),
    ("autodan-greedy", {"strategy": "beam", "frontier_cap": 9}, "frontier_cap applies only to strategy 'ucs'"),
    ("autodan-greedy", {"strategy": "ucs", "beam_width": 4, "frontier_cap": 2}, "frontier_cap .* at least"),
    ("autodan-greedy", {"allowed": torch.ones(7, dtype=torch.bool)}, r"shape \(40,\)"),
    ("autodan-greedy", {"strategy": Beam(5, 2)}, r"its max_length \(5\) must equal prompt_length \(4\)"),
    ("pez", {"metric": "dot"}, "unknown metric 'dot'"),
    ("pez", {"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
    ("pez", {"init": "zeros"}, "unknown init 'zeros'"),
    ("pez", {"init_noise": float("inf")}, "init_noise must be a finite number"),
    ("pez", {"lr": -1.0}, "lr must be a finite number >= 0"),
    ("pez", {"allowed": torch.zeros(40, dtype=torch.bool)}, "no token is allowed"),
])
def test_bad_inputs_raise_clear_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        METHODS[name](ToyObjective(), **kwargs) if name == "pez" else autodan(ToyObjective(), **kwargs)


def test_run_refuses_a_bad_step_count():
    with pytest.raises(ValueError, match="steps must be a positive int"):
        autodan(ToyObjective()).run(0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        pez(ToyObjective()).run(-1)


def test_a_ready_strategy_can_be_passed_in():
    result = autodan(ToyObjective(), strategy=UniformCost(4, pop_width=2, frontier_cap=2)).run()
    assert len(result.best_ids) == 4


def test_make_strategy_defaults():
    assert make_strategy("beam", 5).width == 4
    ucs = make_strategy("ucs", 5, beam_width=2)
    assert (ucs.pop_width, ucs.frontier_cap) == (2, 8)


# ---------------------------------------------------------------------------------------------- the real Objective

@pytest.fixture(scope="module")
def real_objective(gpt2):
    """fuse_edu's Objective on a tiny random GPT-2 with the real tokenizer: make the LM say " red square"
    after the prompt, plus a little fluency. A wide initialisation gives the random LM opinions to exploit."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from fuse_edu.models import CausalLM
    from fuse_edu.objectives import LMTerm, Objective

    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64, vocab_size=50257, initializer_range=0.3)
    lm = CausalLM(GPT2LMHeadModel(config), gpt2)
    return Objective(lm, [LMTerm(lm, prefix=" a photo of", target=" red square"),
                          LMTerm(lm, 0.2, prefix=" a photo of")])


def random_prompt_losses(objective, length, n=32):
    from fuse_edu.optim.candidates import allowed_token_mask

    allowed = allowed_token_mask(objective.tokenizer, "word").nonzero().flatten()  # (A,)
    ids = allowed[torch.randint(len(allowed), (n, length), generator=torch.Generator().manual_seed(0))]  # (n, L)
    return objective.evaluate(ids)[0]  # (n,)


def test_slot_scores_use_the_objectives_one_hot_gradient(real_objective):
    method = AutoDAN(real_objective, prompt_length=3, readability_weight=0.5, progress=False)
    ids, mask = torch.tensor([[262, 2266, 6616]]), torch.tensor([[1, 1, 1]])
    logprobs = real_objective.next_token_logprobs(ids[:, :2], mask[:, :2])  # (1, V)
    scores = method.slot_scores(ids, mask, torch.tensor([2]), logprobs)  # (1, V)
    expected = -real_objective.one_hot_gradient(ids, mask)[:, 2] + 0.5 * logprobs  # (1, V)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "ucs"])
def test_autodan_on_the_real_objective_beats_random_prompts(real_objective, strategy):
    width = None if strategy == "greedy" else 2
    cap = 2 if strategy == "ucs" else None  # a cost-ordered beam: uncapped UCS would go breadth-first
    result = AutoDAN(real_objective, prompt_length=3, batch_size=16, readability_weight=0.1, strategy=strategy,
                     beam_width=width, frontier_cap=cap, budget=200, progress=False).run()
    assert result.evaluations <= 200 and len(result.best_ids) == 3
    assert result.best_loss < random_prompt_losses(real_objective, 3).mean()
    assert result.best_text == real_objective.texts(torch.tensor([result.best_ids]))[0].strip()
    total, terms = real_objective.evaluate(torch.tensor([result.best_ids]))
    assert result.best_loss == pytest.approx(float(total[0]), rel=1e-5)
    assert result.term_losses == pytest.approx({name: float(v[0]) for name, v in terms.items()}, rel=1e-5)


def test_pez_on_the_real_objective_lowers_the_loss(real_objective):
    result = PEZ(real_objective, prompt_length=3, restarts=4, progress=False).run(12)
    assert result.evaluations == 48 and len(result.best_ids) == 3
    assert result.best_loss < result.history[0]["step_loss"]
    total, _ = real_objective.evaluate(torch.tensor([result.best_ids]))
    assert result.best_loss == pytest.approx(float(total[0]), rel=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_a_step_syncs_host_and_device_once(name, monkeypatch):
    """On a GPU every .item()/.tolist()/bool()/int()/float()/.nonzero() of a tensor waits for the device;
    a step may do that once (its history row). Counted here on the CPU by wrapping those methods. Not
    counted: torch.optim reading Adam's step counter, which torch keeps on the CPU so that it never syncs."""
    method = METHODS[name](ToyObjective(), seed=1)
    method.reset()
    method.step()  # the first step of UCS differs from the rest; count a later one
    syncs = []
    for attribute in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero"):
        original = getattr(torch.Tensor, attribute)

        def counted(self, *args, _original=original, _name=attribute, **kwargs):
            if "torch/optim/" not in sys._getframe(1).f_code.co_filename:
                syncs.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, attribute, counted)
    method.step()
    monkeypatch.undo()
    assert syncs == ["tolist"]
