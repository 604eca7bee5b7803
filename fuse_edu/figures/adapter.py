"""Diagrams of a fitted FUSE adapter: where T_K keeps its weight, where a word's gradient lands, how well it fits.

- ``slice_norm_heatmap``: one row per bucket K, one column per frontal slice k of T_K; each cell is the share
  of ||T_K||_F^2 held by T_K[:, :, k]. Slice 0 sends sub-token position i to position i; slice k sends i to
  i + k (mod K), so the off-diagonal columns are how much the adapter mixes positions.
- ``subtoken_gradient_bars``: for a few words, one bar per sub-token of model A: the norm of the gradient row
  the FUSE map gives it (optionally, above it, the norms of model B's gradient rows it came from).
- ``fit_error_bars``: per bucket K, the relative fit error on the words the fit used next to the error on
  held-out words, with both word counts (optionally a second panel for a control pair).

Each function returns a ``matplotlib.figure.Figure`` built without pyplot (no global figure state, nothing
shown, safe on a headless machine); in a notebook, leave it as a cell's last value to display it. Inputs are
lists, NumPy arrays or torch tensors (any device); a malformed input is a ValueError that names it. Nothing
here imports the rest of ``fuse_edu``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from fuse_edu.figures.inputs import as_finite_array

__all__ = ["fit_error_bars", "slice_norm_heatmap", "subtoken_gradient_bars"]

REPORT_KEYS = ("n_fit", "fit_error", "n_heldout", "heldout_error")
FIT_COLOUR, HELDOUT_COLOUR = "#4c72b0", "#dd8452"


def _bucket_key(K: object, name: str) -> int:
    if isinstance(K, bool) or not isinstance(K, (int, np.integer, str)) or not str(K).isdigit() or int(K) < 1:
        raise ValueError(f"{name} has key {K!r}; buckets are ints K >= 1")
    return int(K)


# --------------------------------------------------------------------------- (a) slice norms of T_K


def slice_norm_heatmap(T: object, *, title: str | None = None) -> Figure:
    """Share of ||T_K||_F^2 in each frontal slice T_K[:, :, k], one row per bucket K.

    ``T``: a mapping ``{K: tensor (d_A, d_B, K)}`` or anything with such a mapping as ``.T`` (a
    ``FuseAdapter``). Rows sum to 1; cells with k >= K do not exist and are left blank. Under the t-product,
    slice k carries sub-token position i of A to position i + k (mod K) of B, so column 0 is "same
    position" and the others are circular shifts.
    """
    buckets = getattr(T, "T", T)
    if not isinstance(buckets, Mapping) or not buckets:
        raise ValueError(f"T must be a non-empty mapping {{K: tensor (d_A, d_B, K)}} or have one as .T, "
                         f"got {type(T).__name__}")
    shares: dict[int, np.ndarray] = {}
    for key, tensor in buckets.items():
        K = _bucket_key(key, "T")
        array = as_finite_array(tensor, f"T[{K}]")
        if array.ndim != 3 or array.shape[2] != K:
            raise ValueError(f"T[{K}] must have shape (d_A, d_B, {K}), got {array.shape}")
        energy = np.square(array).sum(axis=(0, 1))  # (K,)
        if energy.sum() == 0:
            raise ValueError(f"T[{K}] is all zeros; its slice shares are undefined")
        shares[K] = energy / energy.sum()
    ks = sorted(shares)
    width = max(ks)
    grid = np.full((len(ks), width), np.nan)
    for row, K in enumerate(ks):
        grid[row, :K] = shares[K]

    figure = Figure(figsize=(1.2 + 0.9 * width, 0.9 + 0.55 * len(ks)), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for row, K in enumerate(ks):
        for k in range(K):
            value = grid[row, k]
            ax.text(k, row, f"{value:.2f}", ha="center", va="center", fontsize=9,
                    color="black" if value > 0.6 else "white")
    ax.set_xticks(range(width), [f"k={k}" for k in range(width)])
    ax.set_yticks(range(len(ks)), [f"K={K}" for K in ks])
    ax.set_xlabel("frontal slice k of T_K (A position i -> B position i + k mod K)")
    ax.set_ylabel("bucket")
    ax.set_title(title or "share of ||T_K||² in each frontal slice")
    figure.colorbar(image, ax=ax, label="share of ||T_K||²")
    return figure


# --------------------------------------------------------------------------- (b) gradient rows per sub-token


def subtoken_gradient_bars(words: Sequence[str], pieces: Sequence[Sequence[str]], norms: Sequence[object], *,
                           dst_pieces: Sequence[Sequence[str]] | None = None, dst_norms: Sequence[object] | None = None,
                           names: tuple[str, str] = ("model A", "model B"), title: str | None = None) -> Figure:
    """Bars of per-sub-token gradient norms, grouped by word.

    ``words[i]`` is cut by model A into ``pieces[i]``; ``norms[i][j]`` is the norm of the FUSE gradient row
    of piece j (the mapped G_B * T_K^T row). With ``dst_pieces`` / ``dst_norms`` (model B's pieces of the
    same words and the norms of B's gradient rows) a panel above shows where the gradient came from.
    """
    words = list(words)
    if not words:
        raise ValueError("words must name at least one word")

    def check(pieces_, norms_, what: str) -> list[np.ndarray]:
        if len(pieces_) != len(words) or len(norms_) != len(words):
            raise ValueError(f"{what}pieces and {what}norms need one entry per word ({len(words)} words), got "
                             f"{len(pieces_)} and {len(norms_)}")
        arrays = []
        for word, word_pieces, word_norms in zip(words, pieces_, norms_):
            values = as_finite_array(word_norms, f"{what}norms of {word!r}").reshape(-1)
            if len(word_pieces) == 0 or len(values) != len(word_pieces):
                raise ValueError(f"{what}norms of {word!r} must give one value per piece ({len(word_pieces)} pieces), "
                                 f"got {len(values)}")
            if np.any(values < 0):
                raise ValueError(f"{what}norms of {word!r} must be >= 0 (they are norms), got {values.tolist()}")
            arrays.append(values)
        return arrays

    panels = [(names[0], pieces, check(pieces, norms, ""))]
    if (dst_pieces is None) != (dst_norms is None):
        raise ValueError("dst_pieces and dst_norms come together: pass both or neither")
    if dst_pieces is not None:
        panels.insert(0, (names[1], dst_pieces, check(dst_pieces, dst_norms, "dst_")))

    figure = Figure(figsize=(max(4.0, 0.55 * max(sum(map(len, p)) for _, p, _ in panels) + 1.5), 2.3 * len(panels)),
                    layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    colours = [f"C{i % 10}" for i in range(len(words))]
    for ax, (name, panel_pieces, panel_norms) in zip(axes, panels):
        x, ticks, labels, centres = 0.0, [], [], []
        for i, (word_pieces, values) in enumerate(zip(panel_pieces, panel_norms)):
            positions = x + np.arange(len(values))
            ax.bar(positions, values, width=0.8, color=colours[i])
            ticks += positions.tolist()
            labels += [str(p) for p in word_pieces]
            centres.append((positions.mean(), words[i]))
            x += len(values) + 0.8  # a gap between words
        ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("gradient row norm")
        ax.set_title(f"{name}: one bar per sub-token", fontsize=10)
        top = max(float(v.max()) for v in panel_norms) or 1.0
        ax.set_ylim(0, 1.25 * top)
        for centre, word in centres:
            ax.text(centre, 1.12 * top, word, ha="center", va="center", fontsize=9, fontweight="bold")
    if title:
        figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------- (c) fit error by bucket


def _report_rows(report: object, name: str) -> dict[int, dict[str, float]]:
    if not isinstance(report, Mapping) or not report:
        raise ValueError(f"{name} must be a non-empty mapping {{K: {{{', '.join(REPORT_KEYS)}}}}} "
                         f"(fuse_edu.adapter.diagnostics.fit_report), got {type(report).__name__}")
    rows = {}
    for key, row in report.items():
        K = _bucket_key(key, name)
        if not isinstance(row, Mapping) or any(k not in row for k in REPORT_KEYS):
            missing = [k for k in REPORT_KEYS if not isinstance(row, Mapping) or k not in row]
            raise ValueError(f"{name}[{K}] lacks {', '.join(missing)}; expected the keys {', '.join(REPORT_KEYS)}")
        values = {k: float(row[k]) for k in REPORT_KEYS}
        for k in ("n_fit", "n_heldout"):
            if not (values[k] >= 0 and float(values[k]).is_integer()):
                raise ValueError(f"{name}[{K}]['{k}'] must be a word count >= 0, got {row[k]!r}")
        for k, count in (("fit_error", "n_fit"), ("heldout_error", "n_heldout")):
            if values[count] > 0 and not (math.isfinite(values[k]) and values[k] >= 0):
                raise ValueError(f"{name}[{K}]['{k}'] must be a finite error >= 0, got {row[k]!r}")
        rows[K] = values
    return rows


def fit_error_bars(report: Mapping, *, control: Mapping | None = None,
                   names: tuple[str, str] = ("adapter", "control"), title: str | None = None) -> Figure:
    """Relative fit error per bucket K on the fitted words next to held-out words, with word counts.

    ``report`` (and ``control``, drawn as a second panel with the same y axis): ``{K: {"n_fit",
    "fit_error", "n_heldout", "heldout_error"}}`` as ``fuse_edu.adapter.diagnostics.fit_report`` returns.
    The y axis is logarithmic; the dashed line at 1 is the error of predicting zero. A bucket with no
    held-out words has an empty held-out bar marked "n=0".
    """
    panels = [(names[0], _report_rows(report, "report"))]
    if control is not None:
        panels.append((names[1], _report_rows(control, "control")))
        if sorted(panels[0][1]) != sorted(panels[1][1]):
            raise ValueError(f"control has buckets {sorted(panels[1][1])}, report has {sorted(panels[0][1])}; "
                             "they must match")
    ks = sorted(panels[0][1])
    positive = [row[k] for _, rows in panels for row in rows.values() for k in ("fit_error", "heldout_error")
                if row[k] > 0 and math.isfinite(row[k])]
    low, high = (min(positive), max(positive)) if positive else (0.1, 1.0)
    floor = 10 ** math.floor(math.log10(min(low, 0.5)) - 0.3)

    figure = Figure(figsize=(3.4 * len(panels) + 0.8, 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    x = np.arange(len(ks))
    for ax, (name, rows) in zip(axes, panels):
        series = ((-0.2, "fit_error", "n_fit", "fitted words (in-sample)", FIT_COLOUR),
                  (0.2, "heldout_error", "n_heldout", "held-out words", HELDOUT_COLOUR))
        for offset, key, count, label, colour in series:
            heights = [rows[K][key] if rows[K][count] > 0 else floor for K in ks]
            ax.bar(x + offset, heights, width=0.4, color=colour, label=label)
            for position, K in zip(x + offset, ks):
                if rows[K][count] == 0:
                    ax.text(position, floor * 1.3, "n=0", ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_ylim(floor, max(high, 1.0) * 3)
        ax.set_xticks(x, [f"K={K}\n{int(rows[K]['n_fit'])} | {int(rows[K]['n_heldout'])}" for K in ks], fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("bucket; words fitted | held out")
    axes[0].set_ylabel("||X_A * T_K - X_B|| / ||X_B||")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(title or "fit error by bucket: fitted vs held-out words (dashed: predicting zero)", fontsize=10)
    return figure
