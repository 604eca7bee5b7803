"""Shared fixtures: tokenizers are loaded once per session (each load takes a fraction of a second)."""

from __future__ import annotations

import importlib.util

import pytest

from fuse_edu.text import asset_path, load_tokenizer


@pytest.fixture(scope="session")
def gpt2():
    return load_tokenizer("gpt2")


@pytest.fixture(scope="session")
def clip():
    return load_tokenizer("clip")


@pytest.fixture(scope="session")
def bert():
    return load_tokenizer("bert")


@pytest.fixture(scope="session")
def reference_tiktoken():
    """GPT-2 as tiktoken itself encodes it, from the same ranks file and GPT-2's split pattern."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from fuse_edu.text.offline import GPT2_SPLIT_PATTERN

    ranks = load_tiktoken_bpe(str(asset_path("gpt2")))
    return tiktoken.Encoding("gpt2", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


@pytest.fixture(scope="session")
def reference_open_clip():
    """open_clip's own SimpleTokenizer, loaded from its file: importing the open_clip package would
    pull in torchvision, which we do not install."""
    path = asset_path("clip").parent / "tokenizer.py"
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer()


@pytest.fixture(scope="session")
def reference_wordpiece():
    """transformers' pure-Python BERT tokenizer over the same vocab.txt: an independent implementation."""
    from transformers import BertTokenizerLegacy

    return BertTokenizerLegacy(str(asset_path("bert").parent / "vocab.txt"), do_lower_case=True)
