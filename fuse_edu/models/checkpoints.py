"""Checks on checkpoints that ship with fuse_edu: fail early, naming the file and the command that rebuilds it.

transformers loads a folder that holds *another* model's tensors "fine", filling what it lacks with random
weights and only logging it; a caption run would then exit 0 with nonsense. These checks read the config
and the safetensors header and, when the folder's parent holds a ``SHA256SUMS`` manifest (the shipped toy
weights do), check every listed file's sha256: a flipped bit or a NaN written into a weight is an error
naming the file and both digests, not a wrong caption. The hashing (13 MB) is done once per process.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from fuse_edu.cache import MANIFEST, check_manifest

CHECKPOINT_FILES = ("config.json", "model.safetensors")


class CheckpointError(OSError):
    """A checkpoint that ships with fuse_edu is missing or unreadable; the message says how to rebuild it."""


def check_checkpoint(folder: Path, rebuild: str) -> None:
    """A ``CheckpointError`` naming the file when ``folder`` is missing a file, or its config or weights are unreadable."""
    folder = Path(folder)
    for name in CHECKPOINT_FILES:
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {path} is missing; rebuild it with: {rebuild}")
    manifest = folder.parent / MANIFEST
    if manifest.is_file():
        try:
            check_manifest(folder, manifest)
        except (OSError, ValueError) as error:
            raise CheckpointError(f"checkpoint file {error}; rebuild it with: {rebuild}") from error
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint file {folder / 'config.json'} is unreadable ({error}); "
                              f"rebuild it with: {rebuild}") from error
    if not isinstance(config, dict) or "model_type" not in config:
        raise CheckpointError(f"checkpoint file {folder / 'config.json'} names no model_type, so it is not a "
                              f"transformers config; rebuild it with: {rebuild}")
    try:
        with safe_open(str(folder / "model.safetensors"), framework="pt"):
            pass  # opening parses the header and checks it against the file's length
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"checkpoint file {folder / 'model.safetensors'} is corrupt ({error}); "
                              f"rebuild it with: {rebuild}") from error


def check_weights_match(model: torch.nn.Module, weights_file: Path, rebuild: str) -> None:
    """Every weight of ``model`` came from ``weights_file``, and the file held nothing else.

    A weight tied to one the file holds (an LM's output head sharing the token table) counts as loaded.
    """
    with safe_open(str(weights_file), framework="pt") as handle:
        in_file = set(handle.keys())
    state = model.state_dict()
    unexpected = sorted(in_file - set(state))
    loaded_storage = {state[k].data_ptr() for k in in_file & set(state)}
    missing = sorted(k for k in set(state) - in_file if state[k].data_ptr() not in loaded_storage)
    if unexpected or missing:
        example = (unexpected or missing)[:3]
        raise CheckpointError(f"checkpoint file {weights_file} does not fit its config: {len(missing)} weights "
                              f"missing, {len(unexpected)} unexpected (e.g. {', '.join(example)}); "
                              f"rebuild it with: {rebuild}")
