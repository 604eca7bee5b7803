"""How tokens read: each token's own text, decoded, with a leading space shown as "␣".

Tokenizers keep their pieces in private spellings: byte-level BPE writes a leading space as "Ġ" and a
non-ASCII letter as two bytes ("Ã¯"), CLIP's BPE ends a word with "</w>", WordPiece starts a continuation
with "##". A table for people shows what each piece writes instead: " lav" is "␣lav", "agon</w>" is
"agon", "##agon" stays "##agon" (WordPiece's own, readable mark). A byte-level piece that holds part of a
multi-byte character decodes to nothing readable; it is shown as its bytes, "<0xC3>".
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase
from transformers.convert_slow_tokenizer import bytes_to_unicode

SPACE = "␣"
_BYTE_OF = {glyph: byte for byte, glyph in bytes_to_unicode().items()}  # byte-level BPE's glyph -> byte


def _raw_bytes(piece: str) -> str:
    """A byte-level piece's bytes, printable ASCII as itself, a space as "␣", any other byte as "<0xHH>"."""
    piece = piece.removesuffix("</w>")
    if not all(c in _BYTE_OF for c in piece):
        return piece
    shown = []
    for byte in (_BYTE_OF[c] for c in piece):
        shown.append(SPACE if byte == 0x20 else chr(byte) if 0x20 < byte < 0x7F else f"<0x{byte:02X}>")
    return "".join(shown)


def readable_pieces(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> list[str]:
    """One readable string per token id (module docstring)."""
    out = []
    for token_id in ids:
        text = tokenizer.decode([int(token_id)], clean_up_tokenization_spaces=False)
        if "\ufffd" in text:  # part of a multi-byte character: show the bytes it holds
            text = _raw_bytes(tokenizer.convert_ids_to_tokens(int(token_id)))
        elif text[:1].isspace():
            text = SPACE + text[1:]
        out.append(text.rstrip() or text)
    return out
