"""Presets: one name picks the causal LM, the CLIP-like model and the sentiment classifier together.

- ``toy`` (default): the toy world's tiny models, shipped inside the package, offline, loads in seconds.
- ``paper``: the models of the FUSE paper's demonstration (GPT2-Medium, CLIP ViT-B/32) and a well-known
  sentiment model. Needs the Hugging Face hub, or those models in the local hub cache.

Both go through the same public loaders; a preset is only a list of names. The paper preset's LM and
CLIP use our offline tokenizers, which give the same ids as the hub's, without a download; for CLIP they
are closer to the original, because they include OpenAI/open_clip's text cleaning (``fuse_edu.text``).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from transformers import PreTrainedModel
from transformers.utils import logging as hf_logging

from fuse_edu.models.base import resolve_device
from fuse_edu.models.causal_lm import CausalLM, load_causal_lm
from fuse_edu.models.classifier import SequenceClassifier, load_sequence_classifier
from fuse_edu.models.dual_encoder import DualEncoder, load_dual_encoder
from fuse_edu.text import load_tokenizer

DEFAULT_PRESET = "toy"
TOY_WEIGHTS = Path(__file__).resolve().parent.parent / "toyworld" / "weights"
TRAIN_COMMAND = "python -m fuse_edu.toyworld.train"
TRAIN_SENTIMENT_COMMAND = "python -m fuse_edu.toyworld.train_sentiment"
CHECKPOINT_FILES = ("config.json", "model.safetensors")


class CheckpointError(OSError):
    """A checkpoint that ships with fuse_edu is missing or unreadable; the message says how to rebuild it."""


@dataclass(frozen=True)
class ModelSource:
    """Where one model of a preset comes from.

    ``source``: a hub id, a local folder, or a function that builds the model. ``tokenizer``: a name for
    ``load_tokenizer``; None means the tokenizer saved beside the model (a builder must name one). ``rebuild``: for checkpoints we
    ship, the command that recreates them, quoted when they are missing or corrupt.
    """

    source: str | Path | Callable[[], PreTrainedModel]
    tokenizer: str | None = None
    rebuild: str | None = None


@dataclass(frozen=True)
class PresetSpec:
    name: str
    description: str
    lm: ModelSource
    clip: ModelSource
    sentiment: ModelSource


@dataclass
class Preset:
    """The three loaded models a preset names."""

    name: str
    lm: CausalLM = field(repr=False)
    clip: DualEncoder = field(repr=False)
    sentiment: SequenceClassifier = field(repr=False)


def _build_toy_sentiment() -> PreTrainedModel:
    # Imported on use: the toy world's sentiment module is only needed by the toy preset.
    from fuse_edu.toyworld.sentiment_model import build_toy_sentiment_model

    return build_toy_sentiment_model()


PRESETS: dict[str, PresetSpec] = {
    "toy": PresetSpec(
        name="toy",
        description="tiny GPT-2, tiny CLIP and a MiniLM sentiment classifier trained on the toy world; offline",
        lm=ModelSource(TOY_WEIGHTS / "toy-lm", tokenizer="gpt2", rebuild=TRAIN_COMMAND),
        clip=ModelSource(TOY_WEIGHTS / "toy-clip", tokenizer="clip", rebuild=TRAIN_COMMAND),
        sentiment=ModelSource(_build_toy_sentiment, tokenizer="bert", rebuild=TRAIN_SENTIMENT_COMMAND),
    ),
    "paper": PresetSpec(
        name="paper",
        description="the FUSE paper's GPT2-Medium and CLIP ViT-B/32, plus DistilBERT SST-2; needs the hub",
        lm=ModelSource("gpt2-medium", tokenizer="gpt2"),
        clip=ModelSource("openai/clip-vit-base-patch32", tokenizer="clip"),
        sentiment=ModelSource("distilbert-base-uncased-finetuned-sst-2-english"),
    ),
}

_LOADERS = {"lm": load_causal_lm, "clip": load_dual_encoder, "sentiment": load_sequence_classifier}
_WRAPPERS = {"lm": CausalLM, "clip": DualEncoder, "sentiment": SequenceClassifier}


def check_checkpoint(folder: Path, rebuild: str) -> None:
    """Fail early, naming the file, when a shipped checkpoint folder is missing, incomplete or unreadable.

    Reads only config.json and the safetensors header, so it costs milliseconds.
    """
    folder = Path(folder)
    for name in CHECKPOINT_FILES:
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {path} is missing; rebuild it with: {rebuild}")
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


def _load(role: str, source: ModelSource, device: torch.device):
    if callable(source.source):  # a builder: the toy sentiment model
        try:
            model = source.source()
        except (ImportError, OSError, ValueError, RuntimeError, SafetensorError) as error:
            raise CheckpointError(f"the {role} model could not be built ({type(error).__name__}: {error}); "
                                  f"rebuild it with: {source.rebuild}") from error
        return _WRAPPERS[role](model.to(dtype=torch.float32), load_tokenizer(source.tokenizer)).to(device)
    if source.rebuild is None:
        return _LOADERS[role](source.source, tokenizer=source.tokenizer, device=device)
    check_checkpoint(Path(source.source), source.rebuild)
    wrapper = _LOADERS[role](source.source, tokenizer=source.tokenizer, device=device)
    check_weights_match(wrapper.model, Path(source.source) / "model.safetensors", source.rebuild)
    return wrapper


def check_weights_match(model: torch.nn.Module, weights_file: Path, rebuild: str) -> None:
    """Every weight of ``model`` came from ``weights_file``, and the file held nothing else.

    transformers fills weights a file lacks with random numbers and only logs it, so another model's
    checkpoint (valid, but the wrong tensors) would load "fine" and caption nonsense. A weight tied to one
    the file holds (the LM's output head shares the token table) counts as loaded.
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


def load_preset(name: str | PresetSpec = DEFAULT_PRESET, device: str | torch.device = "cpu") -> Preset:
    """Load the LM, the CLIP-like model and the sentiment classifier a preset names (see ``PRESETS``)."""
    if isinstance(name, PresetSpec):
        spec = name
    elif name in PRESETS:
        spec = PRESETS[name]
    else:
        choices = "; ".join(f"{key}: {spec.description}" for key, spec in PRESETS.items())
        raise ValueError(f"unknown preset {name!r}; presets are {choices}")
    device = resolve_device(device)
    with _quiet_weight_loading():
        return Preset(spec.name, lm=_load("lm", spec.lm, device), clip=_load("clip", spec.clip, device),
                      sentiment=_load("sentiment", spec.sentiment, device))


@contextmanager
def _quiet_weight_loading():
    """Without transformers' per-tensor "Loading weights" bars: for three small checkpoints they are noise,
    and in a notebook they are stored as widget outputs that nbval then compares. This also hides the hub's
    download bars while the paper preset loads (transformers switches both together)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
