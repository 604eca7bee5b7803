"""The tokenizer assets: a missing asset package names what to install; a changed asset file is refused."""

from __future__ import annotations

import pytest

from fuse_edu.text import MissingAssetError, load_tokenizer
from fuse_edu.text import assets as assets_module
from fuse_edu.text.assets import Asset, AssetChecksumError


def test_missing_asset_package_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(assets_module.ASSETS, "clip", Asset("clip", "open_clip_torch", "no_such_module_xyz", "f", "0", ""))
    with pytest.raises(MissingAssetError, match="pip install --no-deps open_clip_torch"):
        load_tokenizer("clip")


def test_changed_asset_is_refused(monkeypatch):
    real = assets_module.ASSETS["gpt2"]
    monkeypatch.setitem(assets_module.ASSETS, "gpt2", Asset("gpt2", real.pip_package, real.module, real.relative_path, "0" * 64, ""))
    with pytest.raises(AssetChecksumError, match="sha256"):
        load_tokenizer("gpt2")

