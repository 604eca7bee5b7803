"""Tokenizers and word alignment across tokenizers (DESIGN.md §1 "words as third-order tensors").

- ``load_tokenizer(name)``: ``gpt2``, ``clip``, ``bert`` offline, or any hub id / local path.
- ``align_words(text, tokenizer)``: each whitespace word with the token ids that make it up.
- ``subtoken_counts(words, tokenizer)``: k(w) for a whole word list in one batched call.
- ``WordAlignment``: one text seen through several tokenizers at once.
"""

from fuse_edu.text.alignment import AlignedWord, WordAlignment, align_words, batch_token_ids, subtoken_counts, word_spans
from fuse_edu.text.assets import ASSETS, AssetChecksumError, MissingAssetError, asset_path
from fuse_edu.text.clip_cleaning import CLIPCleaningTokenizer, clean_clip_text
from fuse_edu.text.offline import OFFLINE_TOKENIZERS, load_tokenizer

__all__ = [
    "ASSETS", "AlignedWord", "AssetChecksumError", "batch_token_ids", "CLIPCleaningTokenizer", "MissingAssetError",
    "OFFLINE_TOKENIZERS", "WordAlignment", "align_words", "asset_path", "clean_clip_text",
    "load_tokenizer", "subtoken_counts", "word_spans",
]
