"""The adapter diagrams: each returns a Figure with the axes and bars it promises, and names a bad input."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fuse_edu.figures.adapter import fit_error_bars, slice_norm_heatmap, subtoken_gradient_bars


def report(n_heldout_4=10):
    return {1: {"n_fit": 100, "fit_error": 0.24, "n_heldout": 30, "heldout_error": 0.25},
            2: {"n_fit": 80, "fit_error": 0.9, "n_heldout": 20, "heldout_error": 0.92},
            3: {"n_fit": 40, "fit_error": 0.01, "n_heldout": n_heldout_4,
                "heldout_error": 2.0 if n_heldout_4 else math.nan}}


# ----------------------------------------------------------------------------------------------- slice norms


def test_slice_norm_heatmap_rows_are_slice_shares():
    g = torch.Generator().manual_seed(0)
    T = {K: torch.randn(5, 4, K, generator=g) for K in (1, 2, 3)}
    T[3][:, :, 1:] = 0  # all of T_3's weight in slice 0
    figure = slice_norm_heatmap(T, title="toy")
    assert isinstance(figure, Figure)
    heatmap = figure.axes[0]
    assert len(figure.axes) == 2  # the heatmap and its colour bar
    grid = np.ma.filled(heatmap.images[0].get_array(), np.nan)
    assert grid.shape == (3, 3)
    assert np.allclose(np.nansum(grid, axis=1), 1.0)
    assert np.isnan(grid[0, 1:]).all() and np.isnan(grid[1, 2])  # slices k >= K do not exist
    assert grid[2, 0] == pytest.approx(1.0)
    assert [t.get_text() for t in heatmap.get_yticklabels()] == ["K=1", "K=2", "K=3"]
    assert heatmap.get_title() == "toy"


def test_slice_norm_heatmap_takes_an_adapter_like_object():
    class Adapter:
        T = {1: np.ones((2, 2, 1)), 2: np.ones((2, 2, 2))}

    assert isinstance(slice_norm_heatmap(Adapter()), Figure)


@pytest.mark.parametrize("T, named", [
    ({}, "T must be"),
    ({2: torch.ones(3, 3, 3)}, "T[2]"),
    ({1: torch.zeros(3, 3, 1)}, "T[1]"),
    ({0: torch.ones(3, 3, 1)}, "key 0"),
    ({1: torch.full((2, 2, 1), float("nan"))}, "T[1]"),
])
def test_slice_norm_heatmap_names_a_bad_input(T, named):
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        slice_norm_heatmap(T)


# ----------------------------------------------------------------------------------------------- gradient bars


def test_subtoken_gradient_bars_one_bar_per_piece():
    words, pieces = ["turquoise", "red"], [[" tur", "qu", "oise"], [" red"]]
    norms = [[1.0, 0.5, 0.2], torch.tensor([2.0])]
    figure = subtoken_gradient_bars(words, pieces, norms)
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    ax = figure.axes[0]
    assert [round(p.get_height(), 6) for p in ax.patches] == [1.0, 0.5, 0.2, 2.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [" tur", "qu", "oise", " red"]
    assert {t.get_text() for t in ax.texts} == {"turquoise", "red"}


def test_subtoken_gradient_bars_with_model_b_adds_a_panel_above():
    figure = subtoken_gradient_bars(["turquoise"], [[" tur", "qu", "oise"]], [[1, 2, 3]],
                                    dst_pieces=[["turquoise</w>"]], dst_norms=[[4]], names=("toy LM", "toy CLIP"))
    top, bottom = figure.axes
    assert len(top.patches) == 1 and len(bottom.patches) == 3
    assert top.get_title().startswith("toy CLIP") and bottom.get_title().startswith("toy LM")


@pytest.mark.parametrize("kwargs, named", [
    (dict(words=[], pieces=[], norms=[]), "words"),
    (dict(words=["a"], pieces=[["a"]], norms=[[1.0, 2.0]]), "norms of 'a'"),
    (dict(words=["a"], pieces=[["a"]], norms=[[-1.0]]), "norms of 'a'"),
    (dict(words=["a", "b"], pieces=[["a"]], norms=[[1.0]]), "pieces and norms"),
    (dict(words=["a"], pieces=[["a"]], norms=[["x"]]), "norms of 'a'"),
    (dict(words=["a"], pieces=[["a"]], norms=[[1.0]], dst_pieces=[["a"]]), "dst_pieces and dst_norms"),
    (dict(words=["a"], pieces=[["a"]], norms=[[1.0]], dst_pieces=[["a"]], dst_norms=[[1.0, 1.0]]), "dst_norms"),
])
def test_subtoken_gradient_bars_names_a_bad_input(kwargs, named):
    with pytest.raises(ValueError, match=named):
        subtoken_gradient_bars(**kwargs)


# ----------------------------------------------------------------------------------------------- fit error


def test_fit_error_bars_two_bars_per_bucket_and_counts_in_the_labels():
    figure = fit_error_bars(report(), title="toy")
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    ax = figure.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 6
    assert heights[:3] == pytest.approx([0.24, 0.9, 0.01]) and heights[3:] == pytest.approx([0.25, 0.92, 2.0])
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["K=1\n100 | 30", "K=2\n80 | 20", "K=3\n40 | 10"]


def test_fit_error_bars_control_panel_and_empty_heldout_bucket():
    figure = fit_error_bars(report(n_heldout_4=0), control=report(), names=("real", "control"))
    left, right = figure.axes
    assert len(left.patches) == len(right.patches) == 6
    assert (left.get_title(), right.get_title()) == ("real", "control")
    assert "n=0" in {t.get_text() for t in left.texts}


@pytest.mark.parametrize("bad, named", [
    ({}, "report must be"),
    ({1: {"n_fit": 3, "fit_error": 0.1}}, "lacks n_heldout, heldout_error"),
    ({1: {"n_fit": 3, "fit_error": -0.1, "n_heldout": 1, "heldout_error": 0.2}}, "fit_error"),
    ({1: {"n_fit": 2.5, "fit_error": 0.1, "n_heldout": 1, "heldout_error": 0.2}}, "n_fit"),
    ({1: {"n_fit": 3, "fit_error": 0.1, "n_heldout": 1, "heldout_error": math.nan}}, "heldout_error"),
    ({"x": {"n_fit": 3, "fit_error": 0.1, "n_heldout": 1, "heldout_error": 0.2}}, "key 'x'"),
])
def test_fit_error_bars_names_a_bad_report(bad, named):
    with pytest.raises(ValueError, match=named):
        fit_error_bars(bad)


def test_fit_error_bars_control_must_have_the_same_buckets():
    control = {K: row for K, row in report().items() if K < 3}
    with pytest.raises(ValueError, match="control has buckets"):
        fit_error_bars(report(), control=control)
