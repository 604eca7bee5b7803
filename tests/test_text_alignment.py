"""``align_words`` and ``subtoken_counts``: every token in exactly one word, by the stated rules."""

from __future__ import annotations

import time

import ftfy
import pytest

from fuse_edu.text import WordAlignment, align_words, subtoken_counts
from tests.ugly_strings import HAND_PICKED, random_strings

STRINGS = HAND_PICKED + random_strings(300, seed=99)
NAMES = ["gpt2", "clip", "bert"]


@pytest.mark.parametrize("name", NAMES)
def test_words_in_order_and_ids_partitioned(name, request):
    tokenizer = request.getfixturevalue(name)
    for text in STRINGS:
        aligned = align_words(text, tokenizer)
        assert [a.word for a in aligned] == text.split(), repr(text)
        flat = [i for a in aligned for i in a.token_ids]
        expected = tokenizer(text, add_special_tokens=False)["input_ids"]
        if text.split():
            assert flat == expected, repr(text)
        else:
            assert aligned == []


def test_gpt2_word_tokens_decode_to_the_word(gpt2):
    """GPT-2 is byte-lossless, so each word's tokens must decode to that word plus whitespace."""
    for text in STRINGS:
        for word, ids in align_words(text, gpt2):
            assert gpt2.decode(ids).strip() == word, (repr(text), word)


@pytest.mark.parametrize("name", ["clip", "bert"])
def test_word_tokens_equal_the_word_tokenized_alone(name, request):
    """CLIP and WordPiece never let a token cross whitespace, so a word alone tokenizes the same."""
    tokenizer = request.getfixturevalue(name)
    for text in HAND_PICKED:
        if ftfy.fix_text(text) != text or "&" in text:  # ftfy and HTML unescaping read context
            continue
        for word, ids in align_words(text, tokenizer):
            assert ids == tokenizer(word, add_special_tokens=False)["input_ids"], (repr(text), word)


def test_pure_whitespace_tokens_attach_to_the_next_word(gpt2):
    aligned = align_words("a   b", gpt2)  # GPT-2: "a", "  " (whitespace token), " b"
    assert aligned[0].token_ids == gpt2("a", add_special_tokens=False)["input_ids"]
    assert gpt2.decode(aligned[1].token_ids) == "   b"


def test_trailing_whitespace_attaches_to_the_last_word(gpt2):
    aligned = align_words("a b   ", gpt2)
    assert gpt2.decode(aligned[-1].token_ids) == " b   "


def test_straddling_token_belongs_to_its_first_word():
    """A token whose text covers two words goes to the first; the second gets no tokens (rule 3)."""

    class OneTokenForEverything:  # a tokenizer that reads "x\x1cy" as one token
        def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
            return {"input_ids": [7], "offset_mapping": [(0, len(text))]}

    aligned = align_words("x\x1cy", OneTokenForEverything())
    assert aligned == [("x", [7]), ("y", [])]


def test_whitespace_only_text_has_no_words(gpt2):
    assert align_words("  \t\n ", gpt2) == [] and align_words("", gpt2) == []


def test_out_of_order_offsets_are_an_error():
    class Backwards:
        def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
            return {"input_ids": [1, 2], "offset_mapping": [(2, 3), (0, 1)]}

    with pytest.raises(RuntimeError, match="out of order"):
        align_words("a b", Backwards())


@pytest.mark.parametrize("name", NAMES)
def test_subtoken_counts_match_alignment_in_a_sentence(name, request):
    tokenizer = request.getfixturevalue(name)
    words = "a turquoise hexagon beside the magenta crescent looks lovely".split()
    aligned = align_words("The " + " ".join(words), tokenizer)[1:]
    assert subtoken_counts(words, tokenizer).tolist() == [len(a.token_ids) for a in aligned]


def test_subtoken_counts_are_vectorised(gpt2, clip, bert):
    from wordfreq import top_n_list

    words = top_n_list("en", 50_000)
    for tokenizer in (gpt2, clip, bert):
        start = time.perf_counter()
        counts = subtoken_counts(words, tokenizer)
        seconds = time.perf_counter() - start
        # WordPiece drops lone combining marks ("͡") entirely: a word can have zero sub-tokens
        assert counts.shape == (50_000,) and counts.min() >= (0 if tokenizer is bert else 1)
        assert seconds < 20, f"{type(tokenizer).__name__}: {seconds:.1f} s for 50k words"


def test_subtoken_counts_reject_non_words(gpt2):
    with pytest.raises(ValueError, match="'two words'"):
        subtoken_counts(["fine", "two words"], gpt2)
    assert subtoken_counts([], gpt2).shape == (0,)


def test_word_alignment_across_tokenizers(gpt2, clip, bert):
    view = WordAlignment.from_text("a turquoise hexagon", {"gpt2": gpt2, "clip": clip, "bert": bert})
    assert view.words == ["a", "turquoise", "hexagon"]
    counts = view.counts()
    assert counts["clip"] == subtoken_counts(view.words, clip).tolist()
    assert counts["gpt2"][1] > counts["clip"][1]  # the lesson of notebook 01: the cuts differ
    assert "turquoise" in view.table({"gpt2": gpt2, "clip": clip, "bert": bert})


@pytest.mark.parametrize("name", NAMES)
def test_batch_token_ids_equal_calling_the_tokenizer(name, request):
    from fuse_edu.text import batch_token_ids

    tokenizer = request.getfixturevalue(name)
    assert batch_token_ids(tokenizer, STRINGS) == tokenizer(STRINGS, add_special_tokens=False)["input_ids"]


def test_batch_token_ids_ignore_padding_and_truncation_left_on_the_backend():
    """MiniLM's tokenizer.json pads every text to 128 ids; a freshly loaded tokenizer's backend keeps that
    until the first ``tokenizer(...)`` call resets it. Word lists must be cut the same either way."""
    from fuse_edu.text import batch_token_ids, load_tokenizer

    bert = load_tokenizer("bert")
    words = ["red", "turquoise", "unbelievably"]
    expected = [bert.convert_tokens_to_ids(bert.tokenize(w)) for w in words]  # this call resets the backend
    assert len(expected[2]) > 1
    backend = bert.backend_tokenizer
    backend.enable_padding(length=128, pad_id=0, pad_token="[PAD]")
    backend.enable_truncation(max_length=2)
    try:
        assert batch_token_ids(bert, [" " + w for w in words]) == expected
        assert subtoken_counts(words, bert).tolist() == [len(ids) for ids in expected]
        assert backend.padding["length"] == 128 and backend.truncation["max_length"] == 2  # left as found
    finally:
        backend.no_padding()
        backend.no_truncation()
