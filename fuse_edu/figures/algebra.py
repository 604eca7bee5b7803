"""Diagrams of the t-product algebra: a word as a lateral slice, and the t-product as circular convolution.

- ``lateral_slice_figure``: one word in model A and in model B, each as a lateral slice 1 x d x K: its
  sub-token embedding rows laid along mode 3 (left to right), zero-padded to K; padding is hatched grey.
- ``circular_convolution_figure``: the t-product of two tubes (1 x 1 x n3) as circular convolution,
  c = circ(a) b; the circulant of ``a`` is coloured by which entry a[m] sits in each cell, so the cyclic
  shifts show as wrapped diagonals, and output entry k is framed with the row of circ(a) that makes it.

Each function returns a ``matplotlib.figure.Figure`` built without pyplot (no global figure state, nothing
shown, safe on a headless machine with the Agg backend); in a notebook, leave it as a cell's last value to
display it. Inputs are lists, NumPy arrays or torch tensors (any device), and nothing here imports the rest
of ``fuse_edu`` beyond ``figures.inputs``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fuse_edu.figures.inputs import as_finite_array

__all__ = ["circular_convolution_figure", "lateral_slice_figure"]

MAX_DRAWN = 12  # more cells than this along one side of a grid no longer read as a diagram
PAD_COLOUR, PAD_HATCH = "#d9d9d9", "///"
FRAME_COLOUR = "#d62728"


def _cell(ax, x: float, y: float, colour, *, hatch: str | None = None, text: str = "", fontsize: float = 8,
          text_colour: str = "black") -> None:
    """One unit square centred on (x, y), as a patch with an optional centred label."""
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=colour, edgecolor="white" if hatch is None else "#8c8c8c",
                           hatch=hatch, linewidth=1.0))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=text_colour)


def _grid_axes(ax, n_cols: int, n_rows: int) -> None:
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)  # row 0 at the top, as in a matrix
    ax.set_aspect("equal")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.tick_params(length=0)


# --------------------------------------------------------------------------- a word as a lateral slice


def lateral_slice_figure(
    pieces_a: Sequence[str],
    pieces_b: Sequence[str],
    K: int | None = None,
    *,
    values_a: object = None,
    values_b: object = None,
    n_dims: int = 4,
    word: str | None = None,
    names: tuple[str, str] = ("model A", "model B"),
) -> Figure:
    """A word as a lateral slice 1 x d x K in model A (left) and model B (right).

    Each panel is the slice seen from the front: one column per sub-token position (mode 3, labelled with
    the piece it holds), one row per embedding dimension (mode 2; the first ``n_dims`` are drawn). Columns
    past the word's pieces are the zero padding up to ``K`` (default: the longer of the two cuttings),
    drawn hatched grey.

    ``values_a`` / ``values_b``: optional (k, d) embedding rows, one per piece, as they sit in the model's
    table; given, cells are coloured by value (one shared diverging scale) and show it rounded to 2
    places, else the real cells are drawn plain. A panel with values draws min(n_dims, d) dimensions.

    Raises ValueError when a word has no pieces, when ``K`` is smaller than either number of pieces, or
    when values do not have one row per piece. Each panel has K cell patches per dimension it draws.
    """
    pieces = [list(map(str, pieces_a)), list(map(str, pieces_b))]
    values = [values_a, values_b]
    for side, (these, name) in enumerate(zip(pieces, names)):
        if not these:
            raise ValueError(f"{name}: the word needs at least one piece to draw, got none")
    longest = max(map(len, pieces))
    if K is None:
        K = longest
    if not isinstance(K, (int, np.integer)) or isinstance(K, bool):
        raise ValueError(f"K must be an int, got {K!r}")
    for these, name in zip(pieces, names):
        if K < len(these):
            raise ValueError(f"K = {K} is smaller than the number of pieces in {name} ({len(these)}); "
                             "a lateral slice holds at most K sub-tokens")
    if K > MAX_DRAWN:
        raise ValueError(f"K = {K} is too long to draw; use K <= {MAX_DRAWN}")
    if not isinstance(n_dims, (int, np.integer)) or isinstance(n_dims, bool) or not 1 <= n_dims <= MAX_DRAWN:
        raise ValueError(f"n_dims must be an int in 1..{MAX_DRAWN}, got {n_dims!r}")

    arrays, dims = [], []
    for side, (these, given, name) in enumerate(zip(pieces, values, names)):
        if given is None:
            arrays.append(None)
            dims.append(None)
            continue
        array = as_finite_array(given, f"{name} values")  # (k, d)
        if array.ndim != 2:
            raise ValueError(f"{name} values must be 2-D (one embedding row per piece), got shape {array.shape}")
        if array.shape[0] != len(these):
            raise ValueError(f"{name} values have {array.shape[0]} rows for {len(these)} pieces; "
                             "give one embedding row per piece")
        arrays.append(array)
        dims.append(array.shape[1])
    rows = [n_dims if d is None else min(n_dims, d) for d in dims]  # dims drawn in each panel
    scale = max([np.abs(a[:, :r]).max() for a, r in zip(arrays, rows) if a is not None] + [1e-12])

    fig = Figure(figsize=(2 * max(3.3, 0.75 * K + 1.5), max(2.8, 1.5 + 0.42 * max(rows))), layout="constrained")
    axes = fig.subplots(1, 2)
    cmap = _colormap("RdBu_r")
    for ax, these, array, d, name, shown in zip(axes, pieces, arrays, dims, names, rows):
        for col in range(K):
            for row in range(shown):
                if col >= len(these):
                    _cell(ax, col, row, PAD_COLOUR, hatch=PAD_HATCH, text="0", text_colour="#595959")
                elif array is None:
                    _cell(ax, col, row, "#9ecae1")
                else:
                    value = array[col, row]
                    colour = cmap(0.5 + 0.5 * value / scale)
                    dark = abs(value) > 0.6 * scale
                    _cell(ax, col, row, colour, text=f"{value:.2f}", text_colour="white" if dark else "black")
        _grid_axes(ax, K, max(rows))  # one height for both panels, so their cells are the same size
        labels = [these[col] if col < len(these) else "pad" for col in range(K)]
        ax.set_xticks(range(K), labels, fontsize=9)
        ax.set_yticks(range(shown), [str(i) for i in range(shown)], fontsize=8)
        ax.set_xlabel("sub-token position (mode 3)")
        ax.set_ylabel("embedding dim (mode 2)")
        size = f"1 x {d if d is not None else 'd'} x {K}"
        part = f"\nfirst {shown} of {d} dims shown" if d is not None and d > shown else ""
        ax.set_title(f"{name}: k = {len(these)}, slice {size}{part}", fontsize=10)
    title = f"{word!r} as a lateral slice" if word is not None else "a word as a lateral slice"
    padded = ", zero-padded to K = {K} (hatched)" if K > min(map(len, pieces)) else f", K = {K}"
    fig.suptitle(title + padded.format(K=K), fontsize=11)
    return fig


# --------------------------------------------------------------------------- circular convolution


def circular_convolution_figure(a: object, b: object, k: int = 0) -> Figure:
    """The t-product of two tubes a, b (length n3) as circular convolution: c = circ(a) b.

    Three panels: circ(a), the n3 x n3 circulant whose cell (row, col) holds a[(row - col) mod n3]
    (coloured by that index m, so each cyclic shift of ``a`` is one more column to the right and a[m]
    runs down a wrapped diagonal); the tube b as a column; the result c. Output entry ``k`` is framed
    with the row of circ(a) that makes it, and the caption spells out
    c[k] = sum_m a[m] * b[(k - m) mod n3].

    ``a``, ``b``: 1-D, equal length n3 in 1..12 (or 1 x 1 x n3 tubes). Raises ValueError otherwise, or
    when ``k`` is not in 0..n3-1. Patches: n3 * n3 + 2 * n3 cells, plus 2 frames.
    """
    a, b = _tube(a, "a"), _tube(b, "b")
    n3 = a.shape[0]
    if b.shape[0] != n3:
        raise ValueError(f"a and b must have the same length n3, got {n3} and {b.shape[0]}")
    if not 1 <= n3 <= MAX_DRAWN:
        raise ValueError(f"n3 = {n3} cannot be drawn; use tubes of length 1..{MAX_DRAWN}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k < n3:
        raise ValueError(f"k must be an output position in 0..{n3 - 1}, got {k!r}")

    index = (np.arange(n3)[:, None] - np.arange(n3)[None, :]) % n3  # (n3, n3): which a[m] sits in each cell
    circ = a[index]                                                  # (n3, n3)
    c = circ @ b                                                     # (n3,)

    fig = Figure(figsize=(max(5.5, 2.2 + 0.62 * (n3 + 2.5)), max(2.8, 1.9 + 0.5 * n3)), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=[n3, 1.25, 1.25])
    palette = _colormap("tab20" if n3 > 10 else "tab10")
    ax_circ, ax_b, ax_c = axes
    for row in range(n3):
        for col in range(n3):
            m = int(index[row, col])
            _cell(ax_circ, col, row, (*palette(m)[:3], 0.55), text=f"a[{m}]\n{_num(a[m])}", fontsize=7)
        _cell(ax_b, 0, row, "#e6e6e6", text=_num(b[row]))
        _cell(ax_c, 0, row, "#e6e6e6", text=_num(c[row]))
    ax_circ.add_patch(Rectangle((-0.5, k - 0.5), n3, 1, fill=False, edgecolor=FRAME_COLOUR, linewidth=2.5))
    ax_c.add_patch(Rectangle((-0.5, k - 0.5), 1, 1, fill=False, edgecolor=FRAME_COLOUR, linewidth=2.5))

    _grid_axes(ax_circ, n3, n3)
    ax_circ.set_xticks(range(n3), [str(j) for j in range(n3)], fontsize=8)
    ax_circ.set_yticks(range(n3), [str(i) for i in range(n3)], fontsize=8)
    ax_circ.set_xlabel("column j (multiplies b[j])")
    ax_circ.set_ylabel("output position")
    ax_circ.set_title("circ(a)\ncell (row, j) holds a[(row - j) mod n3]", fontsize=9)
    for ax, label in ((ax_b, "b"), (ax_c, "c = circ(a) b")):
        _grid_axes(ax, 1, n3)
        ax.set_xticks([])
        ax.set_yticks(range(n3), [str(i) for i in range(n3)], fontsize=8)
        ax.set_title(label + "\n", fontsize=9)
    ax_b.set_xlabel("tube b")
    ax_c.set_xlabel("tube c")

    terms = " + ".join(f"a[{m}] b[{(k - m) % n3}]" for m in range(n3))
    fig.suptitle(f"t-product of two tubes = circular convolution (n3 = {n3})", fontsize=11)
    fig.supxlabel(f"c[{k}] = {terms} = {_num(c[k])}", fontsize=9 if n3 <= 6 else 7, color=FRAME_COLOUR)
    return fig


def _tube(values: object, name: str) -> np.ndarray:
    """A tube as a 1-D array: given 1-D, or as a 1 x 1 x n3 tensor."""
    array = as_finite_array(values, name)
    if array.ndim == 3 and array.shape[:2] == (1, 1):
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a tube: 1-D or of shape (1, 1, n3), got shape {array.shape}")
    return array


def _num(x: float) -> str:
    """A number as short as it can be read: integers without a point, others to 2 places."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


def _colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name]
