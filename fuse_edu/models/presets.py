"""Presets: one name picks a set of models by role, and the word policy that goes with them.

A preset is a ``{role: model}`` mapping plus policy. The first role is the *primary* model A, a causal LM
in whose tokens the prompt lives; every other role is a secondary model B that the objective reaches
through a FUSE adapter. The policy says which words the adapters are fitted on, which words a caption
may use (a closed lexicon, when the preset has one) and which whole words a search may swap in.

- ``toy`` (default): the toy world's tiny models, shipped inside the package, offline, loads in seconds.
- ``paper``: the models of the FUSE paper's demonstration (GPT2-Medium, CLIP ViT-B/32) and a well-known
  sentiment model. Needs the Hugging Face hub, or those models in the local hub cache.

Adding a secondary model is one ``ModelSource`` entry here: its wrapper class (``kind``) decides which
objective term it joins (``fuse_edu.objective.build``). Code outside this module and ``fuse_edu.toyworld``
never names a preset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import PreTrainedModel
from transformers.utils import logging as hf_logging

from fuse_edu.models.base import FrozenModel, resolve_device
from fuse_edu.models.causal_lm import CausalLM
from fuse_edu.models.checkpoints import CheckpointError, check_checkpoint, check_weights_match
from fuse_edu.models.classifier import SequenceClassifier
from fuse_edu.models.dual_encoder import DualEncoder
from fuse_edu.text import load_tokenizer
from fuse_edu.toyworld import policy as toy_policy

DEFAULT_PRESET = "toy"
TOY_WEIGHTS = Path(__file__).resolve().parent.parent / "toyworld" / "weights"
TRAIN_COMMAND = "python -m fuse_edu.toyworld.train"
TRAIN_SENTIMENT_COMMAND = "python -m fuse_edu.toyworld.train_sentiment"


@dataclass(frozen=True)
class ModelSource:
    """Where one role's model comes from, and how much its term weighs by default.

    ``kind``: the wrapper class (``CausalLM``, ``DualEncoder``, ``SequenceClassifier``). ``source``: a hub id,
    a local folder, or a function that builds the model. ``tokenizer``: a name for ``load_tokenizer``; None
    means the tokenizer saved beside the model (a builder must name one). ``rebuild``: for checkpoints we
    ship, the command that recreates them, quoted when they are missing or corrupt. ``weight``: the default
    weight of this role's term in an objective.
    """

    kind: type[FrozenModel]
    source: str | Path | Callable[[], PreTrainedModel]
    tokenizer: str | None = None
    rebuild: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class WordPolicy:
    """What a preset says about words. Every field is optional; None means the general default.

    ``adapter_words()``: the words to fit its adapters on (None: ``FuseAdapter``'s wordfreq list).
    ``lexicon(labels)``: the closed set of words a caption may use, given the labels it is steered toward
    (None: the preset has no lexicon). ``opening_words()``: lexicon words a text may open with, which alone
    keep their start-of-text spelling. ``swap_words(labels)``: words a search may swap in whole.
    """

    adapter_words: Callable[[], list[str]] | None = None
    lexicon: Callable[[Mapping[str, str]], list[str]] | None = None
    opening_words: Callable[[], list[str]] | None = None
    swap_words: Callable[[Mapping[str, str]], list[str]] | None = None


@dataclass(frozen=True)
class PresetSpec:
    """A preset before loading: ``models`` maps each role to its source, the first role being the primary."""

    name: str
    description: str
    models: dict[str, ModelSource]
    words: WordPolicy = field(default_factory=WordPolicy)

    def __post_init__(self):
        if not self.models:
            raise ValueError(f"preset {self.name!r} names no models")
        if not issubclass(next(iter(self.models.values())).kind, CausalLM):
            raise ValueError(f"preset {self.name!r}: the first role, {self.primary!r}, is the primary model "
                             f"and must be a CausalLM (the prompt lives in its tokens)")

    @property
    def primary(self) -> str:
        return next(iter(self.models))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def weights(self) -> dict[str, float]:
        """{role: default weight of its term}."""
        return {role: source.weight for role, source in self.models.items()}

    def with_role(self, role: str, source: ModelSource) -> "PresetSpec":
        """This preset with one more (or a replaced) role."""
        return dataclasses.replace(self, models={**self.models, role: source})


@dataclass
class Preset:
    """A loaded preset: ``models[role]`` is a model wrapper; ``preset.lm`` (the primary), ``preset.clip``
    and any other role read as attributes."""

    spec: PresetSpec
    models: dict[str, FrozenModel] = field(repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def primary(self) -> CausalLM:
        return self.models[self.spec.primary]

    @property
    def lm(self) -> CausalLM:
        """The primary model (the prompt's token space), whatever its role is called."""
        return self.primary

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def weights(self) -> dict[str, float]:
        return self.spec.weights

    @property
    def words(self) -> WordPolicy:
        return self.spec.words

    def __getattr__(self, role: str) -> FrozenModel:
        models = self.__dict__.get("models", {})
        if role in models:
            return models[role]
        raise AttributeError(f"preset has no role {role!r}; its roles are {', '.join(models) or 'none'}")


def _build_toy_sentiment() -> PreTrainedModel:
    from fuse_edu.toyworld.sentiment_model import build_toy_sentiment_model

    return build_toy_sentiment_model()


PRESETS: dict[str, PresetSpec] = {
    "toy": PresetSpec(
        name="toy",
        description="tiny GPT-2, tiny CLIP and a MiniLM sentiment classifier trained on the toy world; offline",
        models={
            "lm": ModelSource(CausalLM, TOY_WEIGHTS / "toy-lm", tokenizer="gpt2", rebuild=TRAIN_COMMAND),
            "clip": ModelSource(DualEncoder, TOY_WEIGHTS / "toy-clip", tokenizer="clip", rebuild=TRAIN_COMMAND,
                                weight=4.0),
            "sentiment": ModelSource(SequenceClassifier, _build_toy_sentiment, tokenizer="bert",
                                     rebuild=TRAIN_SENTIMENT_COMMAND),
        },
        words=WordPolicy(adapter_words=toy_policy.adapter_words, lexicon=toy_policy.caption_words,
                         opening_words=toy_policy.opening_words, swap_words=toy_policy.swap_words),
    ),
    "paper": PresetSpec(
        name="paper",
        description="the FUSE paper's GPT2-Medium and CLIP ViT-B/32, plus DistilBERT SST-2; needs the hub",
        models={
            "lm": ModelSource(CausalLM, "gpt2-medium", tokenizer="gpt2"),
            "clip": ModelSource(DualEncoder, "openai/clip-vit-base-patch32", tokenizer="clip", weight=4.0),
            "sentiment": ModelSource(SequenceClassifier, "distilbert-base-uncased-finetuned-sst-2-english"),
        },
    ),
}


def preset_spec(name: str | PresetSpec = DEFAULT_PRESET) -> PresetSpec:
    """The spec a name refers to (a spec passes through); an unknown name is a ValueError listing the presets."""
    if isinstance(name, PresetSpec):
        return name
    if name in PRESETS:
        return PRESETS[name]
    choices = "; ".join(f"{key}: {spec.description}" for key, spec in PRESETS.items())
    raise ValueError(f"unknown preset {name!r}; presets are {choices}")


def load_model(role: str, source: ModelSource, device: str | torch.device = "cpu") -> FrozenModel:
    """One role's model, wrapped, on ``device``; shipped checkpoints are checked first (``checkpoints``)."""
    device = resolve_device(device)
    if callable(source.source):  # a builder: the toy sentiment model
        try:
            model = source.source()
        except (ImportError, OSError, ValueError, RuntimeError, SafetensorError) as error:
            raise CheckpointError(f"the {role} model could not be built ({type(error).__name__}: {error}); "
                                  f"rebuild it with: {source.rebuild}") from error
        return source.kind(model.to(dtype=torch.float32), load_tokenizer(source.tokenizer)).to(device)
    if source.rebuild is None:
        return source.kind.load(source.source, tokenizer=source.tokenizer, device=device)
    check_checkpoint(Path(source.source), source.rebuild)
    wrapper = source.kind.load(source.source, tokenizer=source.tokenizer, device=device)
    check_weights_match(wrapper.model, Path(source.source) / "model.safetensors", source.rebuild)
    return wrapper


def load_preset(name: str | PresetSpec = DEFAULT_PRESET, device: str | torch.device = "cpu") -> Preset:
    """Load every model a preset names (see ``PRESETS``), primary first."""
    spec = preset_spec(name)
    with _quiet_weight_loading():
        return Preset(spec, {role: load_model(role, source, device) for role, source in spec.models.items()})


@contextmanager
def _quiet_weight_loading():
    """Without transformers' per-tensor "Loading weights" bars: for small checkpoints they are noise, and in a
    notebook they are stored as widget outputs that nbval then compares. This also hides the hub's download
    bars while the paper preset loads (transformers switches both together)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
