"""Zero-shot captioning with FUSE: for each image, the prompt that the LM finds fluent and CLIP finds true.

The prompt lives in the LM's tokens; CLIP scores it through a FUSE adapter (``build_objective``). One
objective per image, one optimiser run per objective, one row per image. The preset's models and its
adapters are loaded once and shared by every image (``Captioner``).

``CaptionSettings`` holds every knob with the defaults that caption toy scenes well within 30 s per image
on 2 CPU cores; the command line (``caption_cli``) only fills it in. Measured on 16 toy scenes with the
defaults: about 10 steps before patience stops a run, 4-5 s per image on one idle core. Twice the steps
and candidates found the same captions: the search is not what limits them, the models are.
"""

from __future__ import annotations

import inspect
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, UnidentifiedImageError

from fuse_edu.optim import RunResult, method

# Objective weights for captioning; lm: fluency (NLL per word), clip: 1 - cos with the image. On 16 toy
# scenes (trial CLIP): clip 2 -> 9/16 exact captions, 4 -> 10/16, 8 -> 10/16 but size words dropped.
CAPTION_WEIGHTS: dict[str, float] = {"lm": 1.0, "clip": 4.0, "sentiment": 1.0}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class CaptionSettings:
    """How to caption: the method and its budget, the prompt's shape, the objective's weights."""

    method: str = "gcg"
    strategy: str | None = None          # for methods that take a search strategy (greedy, beam, ucs)
    steps: int = 40
    patience: int | None = 8             # stop once this many steps in a row found nothing better
    budget: int | None = None            # cap on exact candidate evaluations per image
    prompt_length: int = 8               # the most LM tokens a caption may use (variable_length: fewer)
    variable_length: bool = True         # captions grow and shrink (fuse_edu.optim.loop)
    allowed: str = "auto"                # "auto": the toy lexicon's tokens for the toy preset, else "pieces"
    end: bool = True                     # the LM scores the end of text: a caption is a whole sentence
    per: str = "word"                    # LM NLL per word, not per token: split words are not favoured
    word_share: float = 0.5              # share of candidates that swap a whole word (toy lexicon)
    candidates_per_step: int = 64
    topk: int = 16                       # GCG: swaps considered per position
    prefix: str = ""
    init_text: str | None = None
    seed: int = 0
    weights: dict[str, float] = field(default_factory=lambda: dict(CAPTION_WEIGHTS))
    sentiment: str | None = None

    def method_kwargs(self, optimiser_class) -> dict:
        """The settings this optimiser's constructor accepts (methods differ: GCG has topk, AutoDAN a strategy)."""
        offered = {"prompt_length": self.prompt_length, "candidates_per_step": self.candidates_per_step,
                   "batch_size": self.candidates_per_step, "topk": self.topk, "seed": self.seed,
                   "budget": self.budget, "init_text": self.init_text, "strategy": self.strategy,
                   "variable_length": self.variable_length}
        accepted = inspect.signature(optimiser_class).parameters
        if self.strategy is not None and "strategy" not in accepted:
            raise ValueError(f"method {self.method!r} takes no search strategy; leave out --strategy "
                             f"(got {self.strategy!r})")
        return {k: v for k, v in offered.items() if k in accepted and (v is not None or k == "budget")}


@dataclass
class ImageScan:
    """What ``scan_images`` found: image files in order, the unreadable ones among them with the reason, and
    the files in named folders that were passed over because their names are not images (``skipped``)."""

    files: list[Path]
    unreadable: dict[Path, str]
    skipped: list[Path]

    @property
    def readable(self) -> list[Path]:
        return [path for path in self.files if path not in self.unreadable]


def scan_images(paths: list[str | Path]) -> ImageScan:
    """Image files named directly, or found (sorted, not recursively) in named folders, each opened once.

    In a folder, a file whose suffix is not an image's (``IMAGE_SUFFIXES``: notes.txt, captions.csv) is
    ``skipped``; one with an image suffix that Pillow cannot read is ``unreadable``. A file named directly is
    an image whatever its suffix. A missing path, or a folder without image files, is a ValueError naming it.
    """
    files: list[Path] = []
    skipped: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file())
            images = [p for p in inside if p.suffix.lower() in IMAGE_SUFFIXES]
            if not images:
                raise ValueError(f"folder {path} has no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(images)
            skipped.extend(p for p in inside if p.suffix.lower() not in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"image path {path} does not exist")
    unreadable = {}
    for path in files:
        try:
            open_image(path)  # checked before any model loads: bad input shows in a second
        except ValueError as error:
            unreadable[path] = str(error)
    return ImageScan(files, unreadable, skipped)


def check_budget(method: str, budget: int | None, candidates: int) -> None:
    """ValueError when ``budget`` cannot pay for one step of ``method`` with ``candidates`` per step, so the
    command line refuses it in a second instead of after the models load. The optimisers check the same
    (``fuse_edu.optim``); this mirrors their rule for the settings the caption commands pass: GCG and random
    search score the initial caption plus the candidates, AutoDAN the candidates, PEZ one projection."""
    if budget is None:
        return
    needed = {"gcg": candidates + 1, "random": candidates + 1, "autodan": candidates}.get(method, 1)
    if budget < needed:
        raise ValueError(f"budget {budget} is smaller than one {method} step, which needs {needed} evaluations "
                         f"with {candidates} candidates per step")


def check_prompt_fits(preset, prompt_length: int, prefix: str = "") -> None:
    """ValueError unless BOS + prefix + a caption of ``prompt_length`` LM tokens + an end token fits the LM's
    and CLIP's text positions (an opaque index error deep in the model otherwise). CLIP's count assumes one
    CLIP token per LM token, which holds for the toy lexicon; a caption CLIP cuts finer than the LM can still
    overflow CLIP near the limit (nothing truncates it)."""
    prefix_tokens = len(preset.lm.tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0
    for role in ("lm", "clip"):
        limit = getattr(preset, role).max_positions
        if limit is not None and prefix_tokens + prompt_length + 2 > limit:
            raise ValueError(f"--prompt-length {prompt_length} does not fit the {preset.name} preset's {role}, which "
                             f"reads {limit} tokens: with the prefix ({prefix_tokens} tokens), BOS and an end token, "
                             f"use --prompt-length {max(1, limit - prefix_tokens - 2)} or less")


def find_images(paths: list[str | Path]) -> list[Path]:
    """The image files ``scan_images`` finds; a missing path, an empty folder or an unreadable image is a
    ValueError naming it (for callers that want all or nothing; the command line uses ``scan_images``)."""
    scan = scan_images(paths)
    if scan.unreadable:
        raise ValueError(next(iter(scan.unreadable.values())))
    return scan.files


def open_image(path: Path) -> Image.Image:
    """The image as RGB, or a ValueError naming the file."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from None


def allowed_tokens(preset, kind: str, sentiment: str | None = None) -> str | torch.Tensor:
    """The tokens a caption may use: a kind for ``allowed_token_mask``, or for ``auto`` a preset's default.

    Toy preset: the tokens of the toy caption lexicon as spelled mid-sentence, plus the start-of-text
    spelling of the words a caption opens with ("a", "an", "the", "there"; ``words_token_mask``). The toy
    models were trained on nothing else, so other tokens only add noise to the search; with 51 tokens
    (74 with a sentiment's opinion words) instead of ~30,000, GCG's top-k per position holds the words
    that matter. Other presets: ``pieces``, lower-case words and word pieces (a split word such as
    " turquoise" can be spelled).
    """
    if kind != "auto":
        return kind
    if preset.name == "toy":
        from fuse_edu.optim.candidates import words_token_mask
        from fuse_edu.toyworld.captions import opening_words

        return words_token_mask(preset.lm.tokenizer, toy_caption_words(sentiment),
                                size=preset.lm.embedding_table.shape[0], start_words=opening_words())
    return "pieces"


def toy_caption_words(sentiment: str | None) -> list[str]:
    """The toy lexicon a caption may use: opinion words ("lovely", "dismal") only when a sentiment is asked
    for. The toy LM and CLIP both saw sentiment captions, so without this a neutral caption drifts to
    "a lovely large turquoise square": one more cheap word lowers the LM's per-word NLL."""
    from fuse_edu.toyworld.captions import NEGATIVE_WORDS, POSITIVE_WORDS, vocabulary

    opinions = set() if sentiment is not None else set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    return [w for w in vocabulary() if w not in opinions]


def swap_words(preset, sentiment: str | None = None) -> list[str] | None:
    """Words for whole-word swaps (``fuse_edu.optim.word_moves``). Toy preset: the words that describe a
    scene, sizes, colours and shapes (and the opinion words of a requested sentiment); five of its
    eighteen colours and shapes are two or three GPT-2 tokens, which token swaps cannot reach. Other
    words of the lexicon stay reachable by token moves. About 20 words instead of the whole lexicon's
    ~55: a drawn swap hits the right (word, slot) pair three times as often (measured: " turquoise"
    found after 16 steps with the lexicon). None (token moves only) for other presets."""
    if preset.name != "toy":
        return None
    from fuse_edu.toyworld import COLORS, SENTIMENTS, SHAPES, SIZES

    return [*SIZES, *COLORS, *SHAPES, *(SENTIMENTS[sentiment] if sentiment in SENTIMENTS else ())]


class Captioner:
    """A preset's models and FUSE adapters, loaded once; ``caption(image)`` runs one optimisation."""

    def __init__(self, preset="toy", settings: CaptionSettings | None = None, device: str | torch.device = "cpu",
                 progress: bool = True):
        # imported here, not at the top: the command line's --help and argument errors need no transformers
        from fuse_edu.models import Preset, load_preset
        from fuse_edu.objectives import fit_preset_adapter

        self.settings = settings or CaptionSettings()
        self.optimiser_class = method(self.settings.method)        # unknown or missing method: fail before loading
        self.settings.method_kwargs(self.optimiser_class)          # a strategy the method cannot take: likewise
        self.preset = preset if isinstance(preset, Preset) else load_preset(preset, device=device)
        self.progress = progress
        self.allowed = allowed_tokens(self.preset, self.settings.allowed, self.settings.sentiment)
        self.allowed_count = int(self.allowed.sum()) if isinstance(self.allowed, torch.Tensor) else None
        self.words = swap_words(self.preset, self.settings.sentiment)
        self.initial = None
        if self.settings.sentiment is not None:
            self.preset.sentiment.label_index(self.settings.sentiment)  # ValueError listing the labels, before any work
        check_prompt_fits(self.preset, self.settings.prompt_length, self.settings.prefix)
        self.adapters = {"clip": fit_preset_adapter(self.preset, self.preset.clip)}
        if self.settings.sentiment is not None:
            self.adapters["sentiment"] = fit_preset_adapter(self.preset, self.preset.sentiment)

    @property
    def columns(self) -> list[str]:
        """The columns of ``caption_files``' rows, in order: the objective's terms decide the loss_* ones."""
        terms = ["lm", "clip", *(["sentiment"] if self.settings.sentiment is not None else [])]
        return ["file", "caption", "loss", *(f"loss_{t}" for t in terms), "evaluations", "seconds", "steps", "error"]

    def objective(self, images: list[Image.Image]):
        from fuse_edu.objectives import build_objective

        s = self.settings
        return build_objective(self.preset, images=images, sentiment=s.sentiment, weights=s.weights,
                               prefix=s.prefix, adapters=self.adapters, end=s.end,
                               per=s.per)

    def caption(self, images: Image.Image | list[Image.Image]) -> RunResult:
        """The best prompt for one image (or one prompt for several images together)."""
        start = time.perf_counter()
        images = [images] if isinstance(images, Image.Image) else list(images)
        kwargs = self.settings.method_kwargs(self.optimiser_class)
        accepted = inspect.signature(self.optimiser_class).parameters
        if "allowed" in accepted:
            kwargs["allowed"] = self.allowed
            if "batch_size" in kwargs and self.allowed_count is not None:
                # AutoDAN tries batch_size tokens per slot, so no more than are allowed (the toy lexicon: 51)
                kwargs["batch_size"] = min(kwargs["batch_size"], self.allowed_count)
        if "words" in accepted and self.words and self.settings.variable_length:
            kwargs["words"] = self.words  # GCG and random search: word swaps; AutoDAN: whole-word growth
            if "word_share" in accepted:
                kwargs["word_share"] = self.settings.word_share
        if "initial" in accepted and self.initial is not None:
            kwargs["initial"] = self.initial  # the LM's greedy start does not depend on the image
        optimiser = self.optimiser_class(self.objective(images), progress=self.progress, **kwargs)
        if "initial" in accepted:
            self.initial = (optimiser.initial_ids, optimiser.initial_length)
        run_parameters = inspect.signature(optimiser.run).parameters
        if "patience" in run_parameters and self.settings.patience is not None:
            result = optimiser.run(self.settings.steps, patience=self.settings.patience)
        else:
            result = optimiser.run(self.settings.steps)
        result.seconds = time.perf_counter() - start  # the whole job per image: objective, initial prompt, run
        return result


def caption_files(paths: list[Path], captioner: Captioner, progress: bool = True,
                  on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """One row per image, in order: file, caption, loss, loss_<term>..., evaluations, seconds, steps, error.

    An image that cannot be read gets a row with only ``file`` and ``error`` (the message) and the run goes on;
    ``error`` is None on every other row. Any other failure ends the run (an exception), so a bug is not
    repeated quietly on every image. ``on_row`` sees each row as soon as it is done: write it there, and an
    interrupted run keeps what it finished.
    """
    from tqdm.auto import tqdm

    rows = []
    for path in tqdm(paths, desc="captioning", unit="image", file=sys.stderr, disable=not progress):
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
