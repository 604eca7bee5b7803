"""The algebra diagrams: each returns a Figure with the panels and cells it promises, and refuses bad input clearly."""

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fuse_edu.figures.algebra import circular_convolution_figure, lateral_slice_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cells(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def renders(fig: Figure) -> bool:
    """The figure draws to PNG without pyplot or a display."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue().startswith(PNG_MAGIC)


# ---------------------------------------------------------------------- lateral slices


def test_lateral_slice_draws_both_models_padded_to_K():
    fig = lateral_slice_figure(["␣tur", "qu", "oise"], ["turquoise"], n_dims=4, word=" turquoise")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    a, b = fig.axes
    assert len(cells(a)) == len(cells(b)) == 3 * 4  # K = max(3, 1) columns, n_dims rows
    padding = [p for p in cells(b) if p.get_hatch()]
    assert len(padding) == 2 * 4 and not any(p.get_hatch() for p in cells(a))  # B pads 2 positions, A none
    assert [t.get_text() for t in b.get_xticklabels()] == ["turquoise", "pad", "pad"]
    assert [t.get_text() for t in a.get_xticklabels()] == ["␣tur", "qu", "oise"]
    assert renders(fig)


def test_lateral_slice_with_values_caps_dims_and_shows_them():
    rng = np.random.default_rng(0)
    values_a = rng.normal(size=(2, 3))                   # (k_A, d_A): only 3 dims to show
    values_b = torch.randn(1, 5, dtype=torch.float32)    # (k_B, d_B), a torch tensor
    fig = lateral_slice_figure(["hex", "agon"], ["hexagon"], K=4, values_a=values_a, values_b=values_b, n_dims=8)
    a, b = fig.axes
    assert len(cells(a)) == 4 * 3 and len(cells(b)) == 4 * 5  # each panel draws min(n_dims, its d) rows
    assert len([p for p in cells(a) if p.get_hatch()]) == 2 * 3 and len([p for p in cells(b) if p.get_hatch()]) == 3 * 5
    fig = lateral_slice_figure(["hex", "agon"], ["hexagon"], values_a=values_a, values_b=values_b, n_dims=2)
    assert [len(cells(ax)) for ax in fig.axes] == [2 * 2, 2 * 2]  # n_dims below both d
    assert f"{values_a[1, 2]:.2f}" in [t.get_text() for t in a.texts]
    assert renders(fig)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pieces_a=["tur", "qu", "oise"], pieces_b=["turquoise"], K=2), r"K = 2 is smaller than the number of pieces"),
        (dict(pieces_a=[], pieces_b=["a"]), r"at least one piece"),
        (dict(pieces_a=["a"], pieces_b=["b"], n_dims=0), r"n_dims"),
        (dict(pieces_a=["a"], pieces_b=["b"], K=40), r"too long to draw"),
        (dict(pieces_a=["a", "b"], pieces_b=["c"], values_a=np.zeros((3, 4))), r"3 rows for 2 pieces"),
        (dict(pieces_a=["a"], pieces_b=["c"], values_b=np.zeros(4)), r"2-D"),
        (dict(pieces_a=["a"], pieces_b=["c"], values_a=[[np.nan, 1.0]]), r"NaN"),
    ],
)
def test_lateral_slice_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lateral_slice_figure(**kwargs)


# ---------------------------------------------------------------------- circular convolution


def test_circular_convolution_draws_the_circulant_and_both_tubes():
    fig = circular_convolution_figure([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 0.0], k=1)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    circ, b, c = fig.axes
    assert len(cells(circ)) == 4 * 4 + 1 and len(cells(b)) == 4 and len(cells(c)) == 4 + 1  # cells + frames
    # a unit impulse at position 1 rotates a by one place: c = [4, 1, 2, 3]
    assert [t.get_text() for t in c.texts] == ["4", "1", "2", "3"]
    # the circulant's first row is a[0], a[3], a[2], a[1]: each cell names the a[m] it holds
    assert [t.get_text().split("\n")[0] for t in circ.texts[:4]] == ["a[0]", "a[3]", "a[2]", "a[1]"]
    caption = fig.get_supxlabel()
    assert caption.startswith("c[1] = a[0] b[1] + a[1] b[0] + a[2] b[3] + a[3] b[2]") and caption.endswith("= 1")
    assert renders(fig)


def test_circular_convolution_matches_the_t_product_of_tubes():
    from fuse_edu.tensor import tprod

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 1, 5, generator=gen, dtype=torch.float64), torch.randn(1, 1, 5, generator=gen, dtype=torch.float64)
    fig = circular_convolution_figure(a, b, k=4)                           # 1 x 1 x n3 tubes are accepted
    shown = [float(t.get_text()) for t in fig.axes[2].texts]
    assert np.allclose(shown, tprod(a, b).flatten().numpy(), atol=0.006)   # drawn to 2 places


@pytest.mark.parametrize(
    "a, b, k, message",
    [
        ([1, 2, 3], [1, 2], 0, r"same length"),
        ([1, 2, 3], [1, 2, 3], 3, r"k must be an output position in 0\.\.2"),
        ([[1, 2], [3, 4]], [1, 2], 0, r"must be a tube"),
        ([], [], 0, r"cannot be drawn"),
        (list(range(20)), list(range(20)), 0, r"cannot be drawn"),
        (["x", "y"], [1, 2], 0, r"must be numbers"),
    ],
)
def test_circular_convolution_rejects_bad_input(a, b, k, message):
    with pytest.raises(ValueError, match=message):
        circular_convolution_figure(a, b, k=k)


def test_figures_leave_pyplot_alone():
    """Built without pyplot: nothing is registered as an open figure, nothing is shown."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    lateral_slice_figure(["a"], ["b"])
    circular_convolution_figure([1, 2], [3, 4])
    assert plt.get_fignums() == before
