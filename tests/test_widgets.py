"""Widgets are checked headless, at the level of their models: set a value, read the output model."""

import pytest
import torch

from fuse_edu.adapter import FuseAdapter
from fuse_edu.optim import RandomSearch
from fuse_edu.optim.base import Budget, Optimiser, RunResult
from fuse_edu.widgets import AdapterExplorer, LossPlot, adapter_explorer, alignment_viewer, run_with_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_alignment_viewer_follows_the_text_box(gpt2, clip):
    viewer = alignment_viewer({"gpt2": gpt2, "clip": clip}, text="a cube")
    box, table = viewer.children
    assert "cube" in table.value and "turquoise" not in table.value
    box.value = "a turquoise cube"
    assert "turquoise" in table.value and "(3)" in table.value  # GPT-2: ␣tur qu oise
    box.value = "   "
    assert "no words" in table.value


# ---------------------------------------------------------------------- adapter explorer

CANDIDATES = ["turquoise", "square", "circle", "magenta", "hexagon", "crescent", "red", "blue", "large",
              "small", "triangle", "lavender"]


@pytest.fixture(scope="module")
def words():
    from fuse_edu.adapter import default_words

    return CANDIDATES + [w for w in default_words(3000) if w not in CANDIDATES]


@pytest.fixture(scope="module")
def self_adapter(gpt2, words):
    """A model mapped to itself: every T_K is (close to) the t-identity, so each word's nearest is itself."""
    table = torch.randn(len(gpt2), 24, generator=torch.Generator().manual_seed(0))   # (V, d)
    side = (gpt2, table)
    return FuseAdapter.fit(side, side, words=words, max_subtokens=3, cache=False), side


def test_adapter_explorer_finds_each_word_itself_when_a_model_is_mapped_to_itself(self_adapter, words):
    adapter, side = self_adapter
    explorer = AdapterExplorer(adapter, side, side, words)
    for word in ("square", "turquoise", "hexagon"):
        info = explorer.nearest(word, top=3)
        assert info["nearest"][0][0] == word and info["nearest"][0][1] == pytest.approx(1.0, abs=1e-4), info
    assert explorer.nearest("turquoise")["K"] == 3  # " tur" "qu" "oise"


def test_adapter_explorer_widget_follows_the_word_box(self_adapter, words, gpt2, clip):
    adapter, side = self_adapter
    viewer = adapter_explorer(adapter, side, side, words, word="square", top=2)
    (box, top_box), view = viewer.children[0].children, viewer.children[1]
    assert "<b>square</b>" in view.value and "bucket K = 1" in view.value
    box.value = "turquoise"
    assert "<b>turquoise</b>" in view.value and "A sub-tokens (3)" in view.value and "bucket K = 3" in view.value
    assert view.value.count("<tr><td>") == 2
    top_box.value = 4
    assert view.value.count("<tr><td>") == 4
    box.value = "antidisestablishmentarianism"  # more sub-tokens than max_subtokens = 3
    assert "no adapter" in view.value
    box.value = "two words"
    assert "type one word" in view.value


def test_adapter_explorer_shows_both_tokenizers_pieces(gpt2, clip, words):
    """Across tokenizers k_A and k_B differ: GPT-2 cuts " turquoise" in three, CLIP keeps it whole."""
    A = (gpt2, torch.randn(len(gpt2), 16, generator=torch.Generator().manual_seed(1)))
    B = (clip, torch.randn(len(clip), 8, generator=torch.Generator().manual_seed(2)))
    adapter = FuseAdapter.fit(A, B, words=words, max_subtokens=3, cache=False)
    info = AdapterExplorer(adapter, A, B, words).nearest("turquoise", top=5)
    assert info["a_pieces"] == ["␣tur", "qu", "oise"] and info["b_pieces"] == ["turquoise"] and info["K"] == 3
    assert len(info["nearest"]) == 5 and all(-1 <= c <= 1 for _, c in info["nearest"])


def test_adapter_explorer_refuses_an_empty_candidate_list(self_adapter):
    adapter, side = self_adapter
    with pytest.raises(ValueError, match="candidate words"):
        AdapterExplorer(adapter, side, side, [])


# ---------------------------------------------------------------------- live loss plot


class DistanceObjective:
    """Just enough of an Objective for a candidate search: loss = how many slots differ from a target."""

    def __init__(self, target: torch.Tensor, vocab: int = 20):
        self.target, self.embedding_table, self.device = target, torch.randn(vocab, 4), torch.device("cpu")

    def evaluate(self, ids, mask=None, chunk_size=None):
        mask = torch.ones_like(ids) if mask is None else mask
        differ = ((ids != self.target[:ids.shape[1]]) * mask).sum(1).float()              # (n,)
        return differ, {"distance": differ}

    def texts(self, ids, mask=None):
        return [" ".join(map(str, row.tolist())) for row in ids]


def _search(steps_target=(3, 1, 4, 1, 5)):
    objective = DistanceObjective(torch.tensor(steps_target))
    allowed = torch.ones(20, dtype=torch.bool)
    return RandomSearch(objective, prompt_length=5, candidates_per_step=8, allowed=allowed, progress=False,
                        initial=(torch.zeros(5, dtype=torch.long), 5))


def test_loss_plot_redraws_from_a_history():
    plot = LossPlot()
    assert bytes(plot.image.value) == b"" and "no run" in plot.status.value
    plot.update([{"step": 0, "best_loss": 2.0, "evaluations": 1}, {"step": 1, "best_loss": 1.5, "evaluations": 9}],
                label="gcg")
    first = bytes(plot.image.value)  # the widget keeps its bytes as a memoryview
    assert first.startswith(PNG_MAGIC) and "<b>gcg</b>: step 1, 9 evaluations, best loss 1.5000" in plot.status.value
    plot.update([{"step": 0, "best_loss": 3.0, "evaluations": 1}], label="random")
    assert bytes(plot.image.value) != first and "random" in plot.status.value and "gcg" in plot.status.value


def test_loss_plot_follows_a_running_optimiser_step_by_step():
    search, plot = _search(), LossPlot()
    drawn = []
    plot.image.observe(lambda change: drawn.append(change["new"]), names="value")
    result = search.run(6, callback=plot.follow("random"))
    assert len(result.history) == 7                       # the initial prompt, then one row per step
    assert len(drawn) == len(result.history)              # one redraw per row, as it was made
    assert plot.runs["random"] == result.history
    assert f"best loss {result.best_loss:.4f}" in plot.status.value


def test_run_with_plot_and_the_every_option():
    search, plot = _search(), LossPlot(x="step", every=3)
    drawn = []
    plot.image.observe(lambda change: drawn.append(change["new"]), names="value")
    result = run_with_plot(search, 6, plot)
    assert plot.runs["random"] == result.history and 2 <= len(drawn) <= 4  # rows 3 and 6, and the final redraw


def test_loss_plot_refuses_what_it_cannot_follow():
    with pytest.raises(ValueError, match="x must be one of"):
        LossPlot(x="seconds")
    class NoCallback:
        def run(self, steps):
            return []

    with pytest.raises(TypeError, match="callback"):  # every optimiser's run takes one; this object's does not
        run_with_plot(NoCallback(), 1, LossPlot())


class CountDown(Optimiser):
    """The smallest optimiser written to the contract: ``reset``, ``step`` returning its row and ``result``; the
    base class's one loop runs it, with the callback a live plot follows."""

    name = "countdown"

    def __init__(self):
        self.budget_cap, self.progress, self.candidates_per_step = None, False, 4  # 4 evaluations a step
        self.reset()

    def reset(self):
        self.budget, self.steps_done, self.loss = Budget(None), 0, 5.0

    def step(self) -> dict:
        self.steps_done += 1
        self.loss -= 1
        self.budget.spend(self.candidates_per_step)
        return {"step": self.steps_done, "best_loss": self.loss, "step_loss": self.loss,
                "evaluations": self.budget.spent}

    def result(self, history, clock):
        return RunResult("", [], self.loss, {}, self.budget.spent, clock.seconds, self.steps_done, history)


def test_loss_plot_follows_any_optimiser_through_the_one_loop():
    optimiser, plot = CountDown(), LossPlot()
    drawn = []
    plot.image.observe(lambda change: drawn.append(change["new"]), names="value")
    result = run_with_plot(optimiser, 4, plot)
    assert len(result.history) == 4 and len(drawn) >= 4 and plot.runs["countdown"] == result.history
    assert "best loss 1.0000" in plot.status.value and result.evaluations == 16
