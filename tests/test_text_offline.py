"""``load_tokenizer``: the offline tokenizers give the same ids as their source tokenizers (ugly strings too),
their builds are cached by content hash, and bad names fail clearly and fast."""

from __future__ import annotations

import json
import logging
import time

import pytest
from transformers import PreTrainedTokenizerFast

import fuse_edu.hub
from fuse_edu.text import assets as assets_module
from fuse_edu.text import load_tokenizer
from tests.ugly_strings import HAND_PICKED, random_strings

STRINGS = HAND_PICKED + random_strings(400, seed=1234)


# ----------------------------------------------------------------------------------------- ids

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


def test_clip_batch_equals_single(clip):
    batch = clip(STRINGS[:50], add_special_tokens=False)["input_ids"]
    assert batch == [clip(t, add_special_tokens=False)["input_ids"] for t in STRINGS[:50]]


def test_bert_ids_equal_pure_python_wordpiece(bert, reference_wordpiece):
    for text in STRINGS:
        ours = bert(text, add_special_tokens=False)["input_ids"]
        assert ours == reference_wordpiece(text, add_special_tokens=False)["input_ids"], repr(text)



# ----------------------------------------------------------------------------------------- loading

@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_EDU_CACHE", str(tmp_path))
    return tmp_path


def test_build_is_cached_and_reused(fresh_cache):
    first = load_tokenizer("gpt2")
    entries = list((fresh_cache / "tokenizers").iterdir())
    assert [e.name for e in entries] == [f"gpt2-{assets_module.ASSETS['gpt2'].sha256[:16]}"]
    assert load_tokenizer("gpt2")("cached?")["input_ids"] == first("cached?")["input_ids"]


def test_corrupt_cache_is_rebuilt(fresh_cache, caplog):
    load_tokenizer("clip")
    (entry,) = (fresh_cache / "tokenizers").iterdir()
    (entry / "tokenizer.json").write_text("{ not json")
    (entry / "vocab.json").unlink(missing_ok=True)
    tokenizer = load_tokenizer("clip")
    assert tokenizer("a red cube", add_special_tokens=False)["input_ids"] == [320, 736, 11353]
    assert "rebuilding" in caplog.text


def test_two_swapped_ids_in_a_cached_tokenizer_are_caught_and_rebuilt(fresh_cache, caplog):
    text = "a turquoise hexagon"
    expected = load_tokenizer("gpt2")(text)["input_ids"]
    (entry,) = (fresh_cache / "tokenizers").iterdir()
    data = json.loads((entry / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    first, second = (load_tokenizer("gpt2").convert_ids_to_tokens(i) for i in expected[:2])
    vocab[first], vocab[second] = vocab[second], vocab[first]  # valid JSON, a valid tokenizer, other ids
    (entry / "tokenizer.json").write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert load_tokenizer("gpt2")(text)["input_ids"] == expected
    (notice,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert str(entry / "tokenizer.json") in notice and "rebuilding" in notice and "\n" not in notice


@pytest.mark.parametrize("offline_env", [True, False])
def test_unknown_name_offline_fails_fast_and_lists_offline_names(monkeypatch, offline_env):
    if offline_env:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:  # no offline flag, but the hub endpoint refuses connections: must not retry for a minute
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    fuse_edu.hub.hub_reachable.cache_clear()
    start = time.perf_counter()
    with pytest.raises(fuse_edu.hub.HubUnreachableError) as error:
        load_tokenizer("someone/no-such-tokenizer")
    fuse_edu.hub.hub_reachable.cache_clear()
    assert time.perf_counter() - start < 10
    message = str(error.value)
    assert "gpt2, clip, bert" in message and "network" in message and "someone/no-such-tokenizer" in message


def test_local_path_passes_through(tmp_path):
    load_tokenizer("bert").save_pretrained(tmp_path)
    assert load_tokenizer(str(tmp_path))("Hello")["input_ids"] == [101, 7592, 102]


@pytest.mark.parametrize("bad", ["", None, 3])
def test_bad_names_are_rejected(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        load_tokenizer(bad)
