"""The alignment viewer: type a text, see how each tokenizer cuts each whitespace word (and its count k).

Pieces are shown as they read (``fuse_edu.text.readable_pieces``): a leading space as "␣", never a
tokenizer's private spelling such as GPT-2's "Ġ" or byte glyphs like "Ã¯".
"""

from __future__ import annotations

import html

import ipywidgets as widgets
from transformers import PreTrainedTokenizerBase

from fuse_edu.text import WordAlignment, readable_pieces


def alignment_table_html(text: str, tokenizers: dict[str, PreTrainedTokenizerBase]) -> str:
    """An HTML table: one row per word, one column per tokenizer with its sub-tokens and count k."""
    view = WordAlignment.from_text(text, tokenizers)
    counts = view.counts()
    header = "".join(f"<th>{html.escape(name)} (k)</th>" for name in tokenizers)
    rows = []
    for i, word in enumerate(view.words):
        cells = []
        for name, tokenizer in tokenizers.items():
            pieces = readable_pieces(tokenizer, view.token_ids[name][i])
            shown = " ".join(f"<code>{html.escape(p)}</code>" for p in pieces)
            cells.append(f"<td>{shown} ({counts[name][i]})</td>")
        rows.append(f"<tr><td><b>{html.escape(word)}</b></td>{''.join(cells)}</tr>")
    if not rows:
        return "<i>no words: type something</i>"
    return f"<table><tr><th>word</th>{header}</tr>{''.join(rows)}</table>"


def alignment_viewer(tokenizers: dict[str, PreTrainedTokenizerBase], text: str = "a turquoise hexagon") -> widgets.VBox:
    """A text box; as you type, a table shows how each tokenizer cuts each whitespace word."""
    box = widgets.Text(value=text, description="text", continuous_update=True,
                       layout=widgets.Layout(width="90%"))
    table = widgets.HTML(value=alignment_table_html(text, tokenizers))

    def refresh(change: dict) -> None:
        table.value = alignment_table_html(change["new"], tokenizers)

    box.observe(refresh, names="value")
    return widgets.VBox([box, table])
