"""The adapter explorer: where does the FUSE adapter carry a word?

Pick a word. The explorer shows how model A's tokenizer and model B's cut it (k_A and k_B sub-tokens),
its bucket K = max(k_A, k_B), and the words of a candidate list whose B slices lie nearest (cosine) to
X_A(word) * T_K, the word carried into B's embedding space by ``FuseAdapter.map_words``. A good adapter
puts the word itself first; ``fuse_edu.adapter.translation_accuracy`` is the same question asked of a
whole bucket at once.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from fuse_edu.adapter import FuseAdapter, bucket_words, word_tensor
from fuse_edu.adapter.fuse_adapter import tokenizer_and_table
from fuse_edu.text import readable_pieces


class AdapterExplorer:
    """Nearest-word queries for one adapter; the candidate words' B slices are stacked once per bucket."""

    def __init__(self, adapter: FuseAdapter, src, dst, candidates: list[str]):
        self.adapter = adapter
        self.src_tok, self.src_table = tokenizer_and_table(src, "src")
        self.dst_tok, self.dst_table = tokenizer_and_table(dst, "dst")
        if not candidates:
            raise ValueError("AdapterExplorer needs a non-empty list of candidate words to rank")
        self.targets: dict[int, tuple[list[str], torch.Tensor]] = {}
        for K, bucket in bucket_words(list(dict.fromkeys(candidates)), self.src_tok, self.dst_tok,
                                      adapter.max_subtokens).items():
            if len(bucket):
                X_B = word_tensor(bucket.dst_ids, self.dst_table.to(adapter.T[K]))          # (n, d_B, K)
                self.targets[K] = (bucket.words, torch.nn.functional.normalize(X_B.flatten(1), dim=1))  # (n, d_B*K)

    def pieces(self, word: str) -> tuple[list[str], list[str]]:
        """The word's sub-tokens in A and in B, tokenized mid-sentence (after a space), as the buckets are."""
        return tuple(readable_pieces(tok, tok(" " + word, add_special_tokens=False)["input_ids"])
                     for tok in (self.src_tok, self.dst_tok))

    def nearest(self, word: str, top: int = 5) -> dict:
        """{word, a_pieces, b_pieces, K, nearest: [(candidate, cosine), ...]}; K and nearest are None when the
        word has no adapter (more than ``max_subtokens`` sub-tokens, or none on one side)."""
        a_pieces, b_pieces = self.pieces(word)
        found = {K: b for K, b in bucket_words([word], self.src_tok, self.dst_tok, self.adapter.max_subtokens).items()
                 if len(b)}
        info = {"word": word, "a_pieces": a_pieces, "b_pieces": b_pieces, "K": None, "nearest": None}
        if not found:
            return info
        (K, bucket), = found.items()
        info["K"] = K
        if K not in self.targets:
            info["nearest"] = []
            return info
        X_A = word_tensor(bucket.src_ids, self.src_table.to(self.adapter.T[K]))                  # (1, d_A, K)
        mapped = self.adapter.map_words(X_A)                                                      # (1, d_B, K)
        words, targets = self.targets[K]
        cosine = targets @ torch.nn.functional.normalize(mapped.flatten(1), dim=1)[0]            # (n,)
        best = cosine.topk(min(top, len(words)))
        info["nearest"] = [(words[i], float(c)) for c, i in zip(best.values.tolist(), best.indices.tolist())]
        return info

    def html(self, word: str, top: int = 5) -> str:
        """``nearest`` as an HTML block."""
        word = word.strip()
        if not word or len(word.split()) != 1:
            return "<i>type one word</i>"
        info = self.nearest(word, top)
        code = lambda pieces: " ".join(f"<code>{html.escape(p)}</code>" for p in pieces) or "<i>none</i>"  # noqa: E731
        lines = [f"<b>{html.escape(word)}</b>",
                 f"A sub-tokens ({len(info['a_pieces'])}): {code(info['a_pieces'])}",
                 f"B sub-tokens ({len(info['b_pieces'])}): {code(info['b_pieces'])}"]
        if info["K"] is None:
            lines.append(f"no adapter: more than max_subtokens = {self.adapter.max_subtokens} sub-tokens "
                         f"(or none on one side); the gradient uses the long-word fallback")
        elif not info["nearest"]:
            lines.append(f"bucket K = {info['K']}: no candidate word in this bucket to compare with")
        else:
            rows = "".join(f"<tr><td>{html.escape(w)}</td><td>{c:.3f}</td></tr>" for w, c in info["nearest"])
            lines.append(f"bucket K = {info['K']}; nearest B words to X_A * T_K:"
                         f"<table><tr><th>word</th><th>cosine</th></tr>{rows}</table>")
        return "<br>".join(lines)


def nearest_words(adapter: FuseAdapter, src, dst, word: str, candidates: list[str], top: int = 5) -> dict:
    """One query without a widget: see ``AdapterExplorer.nearest``."""
    return AdapterExplorer(adapter, src, dst, candidates).nearest(word, top)


def adapter_explorer(adapter: FuseAdapter, src, dst, candidates: list[str], word: str = "turquoise",
                     top: int = 5) -> widgets.VBox:
    """A text box for a word; below it, its sub-tokens in A and B and its nearest B words through the adapter.

    ``src``/``dst``: the adapter's two sides, model wrappers or (tokenizer, embedding table) pairs.
    ``candidates``: the words to rank (e.g. the toy lexicon plus frequent English words).
    """
    explorer = AdapterExplorer(adapter, src, dst, candidates)
    box = widgets.Text(value=word, description="word", continuous_update=False)
    top_box = widgets.BoundedIntText(value=top, min=1, max=50, description="top")
    view = widgets.HTML(value=explorer.html(word, top))

    def refresh(_change: dict) -> None:
        view.value = explorer.html(box.value, top_box.value)

    box.observe(refresh, names="value")
    top_box.observe(refresh, names="value")
    return widgets.VBox([widgets.HBox([box, top_box]), view])
