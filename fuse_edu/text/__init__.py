"""Tokenizers and word alignment across tokenizers: FUSE maps gradients word by word.

- ``load_tokenizer(name)``: ``gpt2``, ``clip``, ``bert`` offline, or any hub id / local path.
- ``align_words(text, tokenizer)``: each whitespace word with the token ids that make it up.
- ``subtoken_counts(words, tokenizer)``: k(w) for a whole word list in one batched call.
- ``WordAlignment``: one text seen through several tokenizers at once.
- ``readable_pieces(tokenizer, ids)``: what each token writes, a leading space shown as "␣".
"""

from fuse_edu.text.alignment import AlignedWord, WordAlignment, align_words, batch_token_ids, subtoken_counts, word_spans
from fuse_edu.text.assets import ASSETS, AssetChecksumError, MissingAssetError, asset_path
from fuse_edu.text.clip_cleaning import CLIPCleaningTokenizer, clean_clip_text
from fuse_edu.text.offline import OFFLINE_TOKENIZERS, load_tokenizer
from fuse_edu.text.pieces import SPACE, readable_pieces

__all__ = [
    "ASSETS", "AlignedWord", "AssetChecksumError", "batch_token_ids", "CLIPCleaningTokenizer", "MissingAssetError",
    "OFFLINE_TOKENIZERS", "WordAlignment", "align_words", "asset_path", "clean_clip_text",
    "SPACE", "load_tokenizer", "readable_pieces", "subtoken_counts", "word_spans",
]
