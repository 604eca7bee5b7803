"""The toy world: the offline default that makes the whole FUSE loop runnable and measurable.

Procedural scenes with a known true caption (``scenes``), their English (``captions``), scenes as files
(``scene_files``), and the toy preset's word policy (``policy``). Tiny models trained on this world, and
their training code, live beside them. Importing this package loads only Pillow, never torch.
"""

import importlib

from fuse_edu.toyworld.captions import (
    NEGATIVE_WORDS, POSITIVE_WORDS, SENTIMENTS, candidate_captions, caption, caption_corpus, captions,
    opening_words, sentiment_caption, vocabulary, with_article,
)
from fuse_edu.toyworld.scene_files import Truth, read_truth, render_scenes, render_to_folder
from fuse_edu.toyworld.scenes import (
    COLORS, POSITIONS, SHAPES, SIZES, Scene, SceneObject, all_combinations, render_scene, sample_scenes,
    split_combinations,
)

# Names whose modules need torch, imported on first use so that ``import fuse_edu.toyworld`` stays light.
_LAZY = {
    "nearest_tokens": "token_init", "init_token_table": "token_init", "oracle_perplexity": "caption_oracle",
    "build_toy_sentiment_model": "sentiment_model", "train_toy_models": "train", "TOY_LM_DIR": "train",
    "TOY_CLIP_DIR": "train", "clip_accuracy": "evaluate", "clip_confusion": "evaluate",
    "lm_perplexity": "evaluate",
}
_RENAMED = {"train_toy_models": "main"}


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"fuse_edu.toyworld.{_LAZY[name]}")
        return getattr(module, _RENAMED.get(name, name))
    raise AttributeError(f"module 'fuse_edu.toyworld' has no attribute {name!r}")


__all__ = [
    "COLORS", "NEGATIVE_WORDS", "POSITIONS", "POSITIVE_WORDS", "SENTIMENTS", "SHAPES", "SIZES", "Scene",
    "SceneObject", "Truth", "all_combinations", "candidate_captions", "caption", "caption_corpus", "captions",
    "opening_words", "read_truth", "render_scene", "render_scenes", "render_to_folder", "sample_scenes",
    "sentiment_caption", "split_combinations", "vocabulary", "with_article", *_LAZY,
]
