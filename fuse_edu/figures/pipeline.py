"""The FUSE pipeline across two tokenizers, as one picture: the exact forward and the adapter-mapped backward.

Bottom row: the prompt in model A's tokens, grouped into words. Top row: the same words as model B's
tokenizer cuts them. Forward (left to right, up): decode A's tokens to text, re-tokenize with B, look up B's
embeddings, B's loss. Backward (down): each word's gradient on its B tokens, zero-padded to
K = max(k_A, k_B), is mapped through that bucket's adapter, G_B * T_K^T, and its first k_A rows land on
the word's A tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

_A, _B, _WORD = "#cfe2f3", "#f9e0c7", "#e6e6e6"


def pipeline_figure(words: Sequence[str], pieces_a: Sequence[Sequence[str]], pieces_b: Sequence[Sequence[str]],
                    names: tuple[str, str] = ("A", "B")) -> Figure:
    """The pipeline for a prompt of ``words``, with each word's ``pieces_a`` in model A and ``pieces_b`` in B.

    ``pieces_a[i]`` / ``pieces_b[i]``: the readable sub-tokens of word i (``fuse_edu.text.readable_pieces``).
    Every word needs at least one piece on each side; a ValueError names the first that has none.
    """
    if not len(words) == len(pieces_a) == len(pieces_b) or not words:
        raise ValueError(f"give one list of pieces per word on each side: {len(words)} words, "
                         f"{len(pieces_a)} and {len(pieces_b)} piece lists")
    for word, a, b in zip(words, pieces_a, pieces_b):
        if not a or not b:
            raise ValueError(f"word {word!r} has no pieces in {'A' if not a else 'B'}; every word needs at least one")
    widths = [max(len(a), len(b)) for a, b in zip(pieces_a, pieces_b)]  # K of each word
    total = sum(widths) + (len(words) - 1) * 0.6
    figure = Figure(figsize=(max(6.0, 1.05 * total + 2.2), 4.2))
    ax = figure.add_subplot()
    ax.set_xlim(-2.0, total + 0.2)
    ax.set_ylim(-0.4, 4.6)
    ax.axis("off")
    x = 0.0
    for word, a, b, K in zip(words, pieces_a, pieces_b, widths):
        ax.add_patch(Rectangle((x - 0.05, 1.55), K - 0.1 + 0.1, 1.0, facecolor=_WORD, edgecolor="none"))
        ax.text(x + K / 2 - 0.05, 2.05, f"{word!r}\nK = {K}", ha="center", va="center", fontsize=8)
        for row, pieces, colour in ((0.2, a, _A), (3.0, b, _B)):
            for j in range(K):
                padding = j >= len(pieces)
                ax.add_patch(Rectangle((x + j, row), 0.9, 0.9, facecolor="white" if padding else colour,
                                       edgecolor="grey", hatch="//" if padding else None, linewidth=0.8))
                ax.text(x + j + 0.45, row + 0.45, "pad" if padding else pieces[j], ha="center", va="center",
                        fontsize=7, color="grey" if padding else "black")
        ax.add_patch(FancyArrowPatch((x + 0.25, 1.15), (x + 0.25, 2.95), arrowstyle="-|>", mutation_scale=9,
                                     color="#2b7a2b"))
        ax.add_patch(FancyArrowPatch((x + K - 0.35, 2.95), (x + K - 0.35, 1.15), arrowstyle="-|>",
                                     mutation_scale=9, color="#b03030"))
        x += K + 0.6
    ax.text(-1.9, 0.65, f"{names[0]}'s tokens\n(the prompt)", fontsize=8, va="center")
    ax.text(-1.9, 3.45, f"{names[1]}'s tokens", fontsize=8, va="center")
    ax.text(0, 4.35, "forward (green): decode, re-tokenize, look up B's embeddings, exactly", fontsize=8,
            color="#2b7a2b")
    ax.text(0, 4.05, "backward (red): G_B zero-padded to K, mapped by G_B * T_K^T, first k_A rows kept",
            fontsize=8, color="#b03030")
    figure.tight_layout()
    return figure
