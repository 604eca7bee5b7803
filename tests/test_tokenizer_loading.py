"""``load_tokenizer``: offline builds are cached by content hash; bad names and missing assets fail clearly."""

from __future__ import annotations

import time

import pytest

import fuse_edu.hub
from fuse_edu.text import MissingAssetError, load_tokenizer
from fuse_edu.text import assets as assets_module
from fuse_edu.text.assets import AssetChecksumError, Asset


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


def test_missing_asset_package_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(assets_module.ASSETS, "clip", Asset("clip", "open_clip_torch", "no_such_module_xyz", "f", "0", ""))
    with pytest.raises(MissingAssetError, match="pip install --no-deps open_clip_torch"):
        load_tokenizer("clip")


def test_changed_asset_is_refused(monkeypatch):
    real = assets_module.ASSETS["gpt2"]
    monkeypatch.setitem(assets_module.ASSETS, "gpt2", Asset("gpt2", real.pip_package, real.module, real.relative_path, "0" * 64, ""))
    with pytest.raises(AssetChecksumError, match="sha256"):
        load_tokenizer("gpt2")


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
