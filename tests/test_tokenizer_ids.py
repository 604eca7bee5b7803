"""The offline tokenizers give the same ids as their source tokenizers, on ugly strings too."""

from __future__ import annotations

import pytest
from transformers import PreTrainedTokenizerFast

from tests.ugly_strings import HAND_PICKED, random_strings

STRINGS = HAND_PICKED + random_strings(400, seed=1234)


@pytest.mark.parametrize("name", ["gpt2", "clip", "bert"])
def test_offline_tokenizers_are_fast_hf_tokenizers(name, request):
    tokenizer = request.getfixturevalue(name)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)


def test_gpt2_ids_equal_tiktoken(gpt2, reference_tiktoken):
    for text in STRINGS:
        ours = gpt2(text, add_special_tokens=False)["input_ids"]
        assert ours == reference_tiktoken.encode(text, allowed_special="all"), repr(text)


def test_gpt2_round_trips_bytes(gpt2):
    for text in STRINGS:
        assert gpt2.decode(gpt2(text)["input_ids"]) == text, repr(text)


def test_gpt2_special_ids(gpt2):
    assert len(gpt2) == 50257 and gpt2.eos_token == "<|endoftext|>" and gpt2.eos_token_id == 50256


def test_clip_ids_equal_open_clip(clip, reference_open_clip):
    for text in STRINGS:
        ours = clip(text, add_special_tokens=False)["input_ids"]
        assert ours == reference_open_clip.encode(text), repr(text)


def test_clip_special_tokens_wrap_the_text(clip, reference_open_clip):
    ids = clip("A photo of a Cat")["input_ids"]
    assert ids[0] == reference_open_clip.sot_token_id == 49406
    assert ids[-1] == reference_open_clip.eot_token_id == 49407
    assert len(clip) == 49408


def test_clip_cleaning_matters():
    """The reason ``CLIPCleaningTokenizer`` exists: plain HF CLIP differs on ligatures and entities."""
    from fuse_edu.text import clean_clip_text

    assert clean_clip_text("  ﬁne &amp;amp;  ＦＵＬＬ\tWidth ") == "fine & full width"


def test_clip_batch_equals_single(clip):
    batch = clip(STRINGS[:50], add_special_tokens=False)["input_ids"]
    assert batch == [clip(t, add_special_tokens=False)["input_ids"] for t in STRINGS[:50]]


def test_bert_ids_equal_pure_python_wordpiece(bert, reference_wordpiece):
    for text in STRINGS:
        ours = bert(text, add_special_tokens=False)["input_ids"]
        assert ours == reference_wordpiece(text, add_special_tokens=False)["input_ids"], repr(text)


def test_clip_plain_ascii_shortcut_equals_full_cleaning():
    """``clean_clip_text`` skips ftfy for printable ASCII without "&"; that must change nothing."""
    import html
    import random
    import string

    import ftfy

    from fuse_edu.text import clean_clip_text

    rng = random.Random(5)
    alphabet = string.printable.replace("&", "").replace("\x0b", "").replace("\x0c", "")
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        full = " ".join(html.unescape(html.unescape(ftfy.fix_text(text))).split()).lower()
        assert clean_clip_text(text) == full, repr(text)
