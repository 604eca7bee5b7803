"""The toy world: the offline default that makes the whole FUSE loop runnable and measurable.

Procedural scenes with a known true caption (``scenes``), their English (``captions``), and the
``fuse-edu toyworld render`` command (``render_cli``). Tiny models trained on this world live beside
them. Importing this package loads only Pillow, never torch.
"""

from fuse_edu.toyworld.captions import (
    NEGATIVE_WORDS, POSITIVE_WORDS, SENTIMENTS, candidate_captions, caption, caption_corpus, captions,
    sentiment_caption,
)
from fuse_edu.toyworld.scenes import (
    COLORS, POSITIONS, SHAPES, SIZES, Scene, SceneObject, all_combinations, render_scene, sample_scenes,
    split_combinations,
)

__all__ = [
    "COLORS", "NEGATIVE_WORDS", "POSITIONS", "POSITIVE_WORDS", "SENTIMENTS", "SHAPES", "SIZES", "Scene",
    "SceneObject", "all_combinations", "candidate_captions", "caption", "caption_corpus", "captions",
    "render_scene", "sample_scenes", "sentiment_caption", "split_combinations",
]
