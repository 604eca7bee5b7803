"""Draw the README's diagrams into docs/figures/ (PNG), from the same functions the notebooks show.

Usage: python scripts/make_figures.py [OUT_DIR]   (default: docs/figures)

Offline and deterministic: the pieces come from the offline tokenizers, the adapter heatmap from the toy
preset's cached adapter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from fuse_edu.figures.adapter import slice_norm_heatmap
from fuse_edu.figures.algebra import circular_convolution_figure, lateral_slice_figure
from fuse_edu.figures.pipeline import pipeline_figure
from fuse_edu.models import load_preset
from fuse_edu.objective import fit_adapter
from fuse_edu.text import load_tokenizer, readable_pieces


def pieces(tokenizer, word: str) -> list[str]:
    return readable_pieces(tokenizer, tokenizer(" " + word, add_special_tokens=False)["input_ids"])


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("docs/figures")
    out.mkdir(parents=True, exist_ok=True)
    gpt2, clip = load_tokenizer("gpt2"), load_tokenizer("clip")
    words = "a small lavender hexagon".split()
    figures = {
        "pipeline": pipeline_figure(words, [pieces(gpt2, w) for w in words], [pieces(clip, w) for w in words],
                                    names=("GPT-2", "CLIP")),
        "lateral_slice": lateral_slice_figure(pieces(gpt2, "turquoise"), pieces(clip, "turquoise"),
                                              word="turquoise", names=("GPT-2", "CLIP")),
        "circular_convolution": circular_convolution_figure([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 0.0], k=1),
    }
    toy = load_preset("toy")
    adapter = fit_adapter(toy, "clip")
    figures["adapter_slices"] = slice_norm_heatmap({K: T.float() for K, T in adapter.T.items()},
                                                   title="toy LM -> toy CLIP")
    for name, figure in figures.items():
        path = out / f"{name}.png"
        figure.savefig(path, dpi=100)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(sys.argv[1:]))
