"""Zero-shot captioning with FUSE: for each image, the prompt the LM finds fluent and the image roles find true.

The prompt lives in the primary LM's tokens; every other role of the objective (CLIP, a classifier steered
toward a label) scores it through a FUSE adapter. The preset's models and adapters are loaded once and
shared by every image (``Captioner``); each image gets its own objective and one optimiser run. Only the
roles the task uses are loaded: a classifier nobody steers toward a label is never read, so a broken or
missing one cannot stop plain captioning.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from fuse_edu.captioning.images import open_image
from fuse_edu.captioning.settings import CaptionSettings
from fuse_edu.captioning.vocabulary import allowed_tokens, swap_words
from fuse_edu.models import DEFAULT_PRESET, DualEncoder, Preset, PresetSpec, load_preset, preset_spec
from fuse_edu.objective import ablated_adapters, build_objective, objective_roles
from fuse_edu.optim import RunResult, method
from fuse_edu.progress import progress_bar


def check_prompt_fits(preset: Preset, roles: list[str], prompt_length: int, prefix: str = "") -> None:
    """ValueError unless BOS + prefix + a caption of ``prompt_length`` primary tokens + an end token fits every
    role's text positions (an opaque index error deep in a model otherwise). A role's count assumes one of
    its tokens per primary token; a caption it cuts finer can still overflow it near the limit."""
    prefix_tokens = len(preset.lm.tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0
    for role in roles:
        limit = preset.models[role].max_positions
        if limit is not None and prefix_tokens + prompt_length + 2 > limit:
            raise ValueError(f"--prompt-length {prompt_length} does not fit the {preset.name} preset's {role}, which "
                             f"reads {limit} tokens: with the prefix ({prefix_tokens} tokens), BOS and an end token, "
                             f"use --prompt-length {max(1, limit - prefix_tokens - 2)} or less")


def roles_to_load(spec: PresetSpec, labels) -> PresetSpec:
    """``spec`` with only the roles a captioning objective with these labels reads: the primary, every image
    role, and each labelled role."""
    keep = {role: source for role, source in spec.models.items()
            if role == spec.primary or issubclass(source.kind, DualEncoder) or role in labels}
    return dataclasses.replace(spec, models=keep)


class Captioner:
    """A preset's models and FUSE adapters, loaded once; ``caption(image)`` runs one optimisation.

    ``preset``: a loaded ``Preset``, or a name or spec to load on ``device``. Every setting is checked
    (``CaptionSettings.check``) before anything loads.
    """

    def __init__(self, preset: Preset | str = DEFAULT_PRESET, settings: CaptionSettings | None = None,
                 device: str | torch.device = "cpu", progress: bool = True):
        self.settings = settings or CaptionSettings()
        spec = preset.spec if isinstance(preset, Preset) else preset_spec(preset)
        self.settings.check(spec)
        self.optimiser_class = method(self.settings.method)
        self.preset = preset if isinstance(preset, Preset) else load_preset(
            roles_to_load(spec, self.settings.labels), device=device)
        self.progress = progress
        labels = self.settings.labels
        for role, label in labels.items():
            self.preset.models[role].label_index(label)  # ValueError listing the labels, before any work
        self.roles = objective_roles(self.preset, images=True, labels=labels)
        check_prompt_fits(self.preset, self.roles, self.settings.prompt_length, self.settings.prefix)
        self.vocabulary = self.settings.vocabulary_for(spec)
        self.allowed = allowed_tokens(self.preset, self.vocabulary, labels)                  # (V,)
        self.words = swap_words(self.preset, self.vocabulary, self.allowed, labels)
        self.weights = {role: weight for role, weight in self.settings.objective_weights(spec).items()
                        if role in self.preset.models}  # a weight of a role left unloaded weighs nothing
        self.initial = None  # the LM's greedy start, computed by the first run: it does not depend on the image
        self.adapters = ablated_adapters(self.preset, self.roles[1:], self.settings.adapter, seed=self.settings.seed)
        # a vocabulary too small for one step of this method is a ValueError here, not a crash mid-run
        self.optimiser_class.check_vocabulary(int(self.allowed.sum()), **self.method_kwargs())

    @property
    def columns(self) -> list[str]:
        """The columns of ``caption_files``' rows, in order: the objective's terms decide the loss_* ones."""
        return ["file", "caption", "loss", *(f"loss_{role}" for role in self.roles), "evaluations", "seconds",
                "steps", "error"]

    def objective(self, images: list[Image.Image]):
        s = self.settings
        return build_objective(self.preset, images=images, labels=s.labels, weights=self.weights, prefix=s.prefix,
                               adapters=self.adapters, end=s.end, per=s.per)

    def method_kwargs(self) -> dict:
        """The settings this method takes: the common knobs, and those of its ``options`` that are set."""
        s, options = self.settings, self.optimiser_class.options
        kwargs = {"prompt_length": s.prompt_length, "candidates_per_step": s.candidates_per_step, "seed": s.seed,
                  "budget": s.budget, "allowed": self.allowed}
        with_words = bool(self.words) and s.variable_length
        offered = {"variable_length": s.variable_length, "init_text": s.init_text, "topk": s.topk,
                   "strategy": s.strategy, "initial": self.initial,
                   "words": self.words if with_words else None, "word_share": s.word_share if with_words else None}
        kwargs.update({k: v for k, v in offered.items() if k in options and v is not None})
        kwargs.update(s.options)
        return kwargs

    def caption(self, images: Image.Image | list[Image.Image]) -> RunResult:
        """The best prompt for one image (or one prompt for several images together); a term that gave a NaN
        or infinite loss during the run is a ``NonFiniteLossError`` naming it (a RuntimeError)."""
        start = time.perf_counter()
        images = [images] if isinstance(images, Image.Image) else list(images)
        objective = self.objective(images)
        optimiser = self.optimiser_class(objective, progress=self.progress, **self.method_kwargs())
        if "initial" in self.optimiser_class.options:
            self.initial = (optimiser.initial_ids, optimiser.initial_length)
        result = optimiser.run(self.settings.steps, patience=self.settings.patience)
        objective.check_finite()  # a NaN loss ranked nothing we may report: NonFiniteLossError names its term
        result.seconds = time.perf_counter() - start  # the whole job per image: objective, initial prompt, run
        return result


def caption_files(paths: list[Path], captioner: Captioner, progress: bool = True,
                  on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """One row per image, in order: file, caption, loss, loss_<role>..., evaluations, seconds, steps, error.

    An image that cannot be read gets a row with only ``file`` and ``error`` (the message) and the run goes on;
    ``error`` is None on every other row. Any other failure ends the run (an exception), so a bug is not
    repeated quietly on every image. ``on_row`` sees each row as soon as it is done: write it there, and an
    interrupted run keeps what it finished.
    """
    rows = []
    for path in progress_bar(paths, show=progress, desc="captioning", unit="image"):
        try:
            image = open_image(path)
        except ValueError as error:
            row = {"file": str(path), "error": str(error)}
        else:
            row = {"file": str(path), **captioner.caption(image).as_row(), "error": None}
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows
