"""Property tests (hypothesis) for word alignment on arbitrary Unicode text, what ``align_words`` promises:
the words are ``text.split()``'s; every id of ``tokenizer(text)`` belongs to exactly one word, in order; the
tokens' character offsets cover every word; and GPT-2's byte-level ids decode back to the text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuse_edu.text import align_words
from fuse_edu.text.alignment import word_spans

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# any code point but surrogates, biased toward the whitespace, marks and symbols that make alignment hard
PIECE = st.one_of(st.characters(exclude_categories=("Cs",)),
                  st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1d\x85\xa0\u2028\u3000\u200b\u0301!'")),
                  st.sampled_from(["turquoise", "hexagon", "ﬁ", "Ａ", "😀", "🇫🇷", "e\u0301", "&amp;", "'s", "  "]))
TEXT = st.lists(PIECE, max_size=16).map("".join)


def concatenated(aligned) -> list[int]:
    return [i for word in aligned for i in word.token_ids]


@pytest.mark.parametrize("name", ["gpt2", "clip", "bert"])
@PROPERTY
@given(text=TEXT)
@example(text="!\x1c! a")            # GPT-2 keeps "\x1c" inside one token: a straddling token
@example(text="  two  spaces ")
def test_every_id_belongs_to_exactly_one_word_in_order(request, name, text):
    tokenizer = request.getfixturevalue(name)
    aligned = align_words(text, tokenizer)
    assert [word.word for word in aligned] == text.split()
    if aligned:  # text without words aligns to [], by contract, whatever ids its whitespace has
        assert concatenated(aligned) == tokenizer(text, add_special_tokens=False)["input_ids"]


@PROPERTY
@given(text=TEXT)
def test_gpt2_offsets_cover_every_word_and_its_ids_decode_to_the_text(gpt2, text):
    encoding = gpt2(text, add_special_tokens=False, return_offsets_mapping=True)
    covered = np.zeros(len(text) + 1, dtype=np.int64)
    for start, end in encoding["offset_mapping"]:
        covered[start] += 1
        covered[end] -= 1
    inside = np.cumsum(covered)[:len(text)] > 0                       # (n_chars,) some token's offsets hold it
    for start, end in word_spans(text).tolist():
        assert inside[start:end].all(), (text, start, end)
    ids = concatenated(align_words(text, gpt2)) if text.split() else encoding["input_ids"]
    assert gpt2.decode(ids, clean_up_tokenization_spaces=False) == text
