"""Procedural scenes of the toy world: coloured shapes on a plain background, with known attributes.

Because every image is generated from a small record (shape, colour, size, position of each object),
we know its true caption exactly, which is what makes FUSE-guided captioning *measurable* offline.
This module samples those records and renders them; ``captions.py`` turns them into English.

The lexicon deliberately mixes plain words with rarer ones (turquoise, magenta, lavender, hexagon,
crescent) that GPT-2, CLIP and BERT cut into different numbers of sub-tokens: with one-token words
only, the cross-tokenizer part of FUSE would never be exercised.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from dataclasses import dataclass

from PIL import Image, ImageDraw

# Hues spread around the colour wheel plus two off-hue colours (brown, white); neighbours differ in
# hue or lightness enough that a 64-px render leaves no doubt. No grey or black: the background is a
# dark-to-mid grey, so those would vanish into it.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 230, 40),
    "green": (40, 170, 50),
    "turquoise": (64, 224, 208),
    "blue": (30, 70, 230),
    "magenta": (230, 30, 220),
    "lavender": (200, 170, 255),
    "brown": (140, 80, 30),
    "white": (250, 250, 250),
}

# Shapes with distinct outlines at ~20 px; no pentagon/octagon (they blur into circle and hexagon).
SHAPES: tuple[str, ...] = ("square", "circle", "triangle", "star", "hexagon", "crescent", "cross", "heart")

SIZES: tuple[str, ...] = ("small", "large")

# Object diameter as a fraction of the image side, by number of objects in the scene. Two objects
# must share the image without much overlap, so "large" shrinks most there; "small" stays above 30%
# of the image so a 64-px star is still a star, and "large" stays clearly larger in both cases.
SIZE_FRACTION: dict[int, dict[str, float]] = {
    1: {"small": 0.36, "large": 0.6},
    2: {"small": 0.32, "large": 0.46},
}

# Position words read off the object's centre: thirds of the image, as a person would say it.
POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right",
)

MIN_RENDER_SIZE = 8  # below this a shape is a handful of pixels and no longer recognisable
_SUPERSAMPLE = 4   # draw 4x larger and box-filter down: smooth edges, and PIL makes it deterministic
_MARGIN = 0.03     # keep a sliver of background between an object and the image border


@dataclass(frozen=True)
class SceneObject:
    """One coloured shape. ``x``, ``y`` are its centre in [0, 1] image coordinates (y grows downward)."""

    shape: str
    color: str
    size: str
    x: float
    y: float

    def __post_init__(self) -> None:
        for field, value, allowed in (("shape", self.shape, SHAPES), ("color", self.color, tuple(COLORS)),
                                      ("size", self.size, SIZES)):
            if value not in allowed:
                raise ValueError(f"unknown {field} {value!r}; accepted: {', '.join(allowed)}")
        if not (0.0 <= self.x <= 1.0 and 0.0 <= self.y <= 1.0):
            raise ValueError(f"object centre must lie in [0, 1]^2, got ({self.x}, {self.y})")

    @property
    def position(self) -> str:
        """Where the centre lies, in thirds: "top left", "top", ..., "center", ..., "bottom right"."""
        col = "left" if self.x < 1 / 3 else "right" if self.x > 2 / 3 else ""
        row = "top" if self.y < 1 / 3 else "bottom" if self.y > 2 / 3 else ""
        return f"{row} {col}".strip() or "center"

    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "size": self.size, "position": self.position}


@dataclass(frozen=True)
class Scene:
    """One image's ground truth: its objects, in caption order (left to right, or top to bottom)."""

    objects: tuple[SceneObject, ...]
    background: tuple[int, int, int]

    def __post_init__(self) -> None:
        # sizes are defined per object count (SIZE_FRACTION), so only those counts can be rendered
        if len(self.objects) not in SIZE_FRACTION:
            raise ValueError(f"a scene holds {' or '.join(map(str, SIZE_FRACTION))} objects, got {len(self.objects)}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be an RGB triple in 0..255, got {self.background!r}")

    def attributes(self) -> dict[str, str]:
        """The first object's attributes: ``{"color", "shape", "size", "position"}``."""
        return self.objects[0].attributes()

    def all_attributes(self) -> list[dict[str, str]]:
        """Every object's attributes, in caption order."""
        return [obj.attributes() for obj in self.objects]


def _radius(size: str, n_objects: int) -> float:
    return SIZE_FRACTION[n_objects][size] / 2


def _sample_object(rng: random.Random, allowed: list[tuple[str, str]], n_objects: int,
                   x_range: tuple[float, float], y_range: tuple[float, float]) -> SceneObject:
    color, shape = rng.choice(allowed)
    size = rng.choice(SIZES)
    r = _radius(size, n_objects) + _MARGIN
    x, y = (_centre_in_slot(rng, lo, hi, r) for lo, hi in (x_range, y_range))
    # rounded so records print cleanly and compare equal after a trip through CSV or JSON
    return SceneObject(shape=shape, color=color, size=size, x=round(x, 4), y=round(y, 4))


def _centre_in_slot(rng: random.Random, lo: float, hi: float, r: float) -> float:
    """A centre, uniform over those that keep an object of radius r inside [lo, hi]; the middle of
    the slot when the object is wider than the slot (a large object in half an image)."""
    return rng.uniform(lo + r, hi - r) if hi - lo > 2 * r else (lo + hi) / 2


def _sample_scene(rng: random.Random, n_objects: int, allowed: list[tuple[str, str]]) -> Scene:
    # Background: a grey between dark and mid with a faint tint, so models cannot key on one exact
    # pixel value, yet every colour in COLORS (white and yellow included) stands out against it.
    grey = rng.randint(60, 120)
    background = tuple(min(255, max(0, grey + rng.randint(-8, 8))) for _ in range(3))
    if n_objects == 1:
        objects = (_sample_object(rng, allowed, 1, (0.0, 1.0), (0.0, 1.0)),)
    else:
        # Two objects get one half of the image each (left|right or top|bottom), so they cannot overlap
        # much; the first in caption order is the left (or top) one, which makes the caption unique.
        horizontal = rng.random() < 0.5
        halves = ((0.0, 0.5), (0.5, 1.0))
        while True:
            objects = tuple(
                _sample_object(rng, allowed, 2, half if horizontal else (0.0, 1.0), (0.0, 1.0) if horizontal else half)
                for half in halves
            )
            # "a small red square and a small red square" is not a caption anyone would write
            if (objects[0].color, objects[0].shape) != (objects[1].color, objects[1].shape):
                break
    return Scene(objects=objects, background=background)  # type: ignore[arg-type]


def all_combinations() -> list[tuple[str, str]]:
    """Every (color, shape) pair, in lexicon order."""
    return [(color, shape) for color in COLORS for shape in SHAPES]


def split_combinations(held_out: float = 0.15, seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split (color, shape) pairs into (seen, held_out) so models can be tested on unseen combinations.

    Every colour and every shape still appears in the seen part: a held-out pair tests
    *composition* of known words, not a word the model never met.
    """
    if not 0.0 <= held_out < 1.0:
        raise ValueError(f"held_out must be in [0, 1), got {held_out}")
    rng = random.Random(seed)
    pairs = all_combinations()
    rng.shuffle(pairs)
    held: list[tuple[str, str]] = []
    target = round(held_out * len(pairs))
    for pair in pairs:
        if len(held) == target:
            break
        rest = [p for p in pairs if p not in held and p != pair]
        if {c for c, _ in rest} == set(COLORS) and {s for _, s in rest} == set(SHAPES):
            held.append(pair)
    seen = [p for p in all_combinations() if p not in held]
    return seen, sorted(held, key=all_combinations().index)


def sample_scenes(n: int, seed: int, objects: int | None = 1, *,
                  combinations: Collection[tuple[str, str]] | None = None) -> list[Scene]:
    """``n`` random scenes, identical for the same arguments on any machine.

    ``objects`` is 1 or 2 objects per scene, or None for an even mix. ``combinations`` restricts every
    object to the given (color, shape) pairs, e.g. the ``seen`` half of ``split_combinations``.
    """
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if objects not in (1, 2, None):
        raise ValueError(f"objects must be 1, 2 or None (a mix of both), got {objects!r}")
    allowed = sorted(set(combinations) if combinations is not None else all_combinations(),
                     key=all_combinations().index)
    unknown = [p for p in allowed if p not in all_combinations()]
    if not allowed or unknown:
        raise ValueError(f"combinations must be non-empty (color, shape) pairs from the lexicon; bad: {unknown}")
    # random.Random, not numpy or torch: its sequence is fixed by the seed across versions and platforms
    rng = random.Random(seed)
    counts = [objects or rng.choice((1, 2)) for _ in range(n)]
    if 2 in counts and len(allowed) < 2:
        raise ValueError("two-object scenes need at least two allowed (color, shape) combinations")
    return [_sample_scene(rng, k, allowed) for k in counts]


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Outline of ``shape`` centred at (cx, cy), fitting in a circle of radius r (pixels). Not for
    circle or crescent, which are drawn as ellipses."""
    if shape == "square":
        h = r * 0.8  # a square as wide as the circle looks bigger; 0.8 evens out the visual size
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":  # enlarged by 1.15 and centred on its box: an inscribed one looks too small
        k = 1.15 * r
        return [(cx + k * math.cos(a), cy + k * 0.25 + k * math.sin(a))
                for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if shape == "hexagon":  # pointy sides left and right, flat top: unlike a circle even when blurred
        return [(cx + r * math.cos(k * math.pi / 3), cy + r * math.sin(k * math.pi / 3)) for k in range(6)]
    if shape == "star":  # five points; a fat inner radius so small stars stay stars, not asterisks
        radii = [r * 1.08 if k % 2 == 0 else r * 0.5 for k in range(10)]
        return [(cx + radii[k] * math.cos(-math.pi / 2 + k * math.pi / 5),
                 cy + r * 0.1 + radii[k] * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
    if shape == "cross":  # a plus sign with arms a third of the width
        a, b = r * 0.9, r * 0.3
        return [(cx - b, cy - a), (cx + b, cy - a), (cx + b, cy - b), (cx + a, cy - b), (cx + a, cy + b),
                (cx + b, cy + b), (cx + b, cy + a), (cx - b, cy + a), (cx - b, cy + b), (cx - a, cy + b),
                (cx - a, cy - b), (cx - b, cy - b)]
    if shape == "heart":  # the classic parametric heart, scaled to span about 2r
        points = []
        for k in range(64):
            t = 2 * math.pi * k / 64
            hx = 16 * math.sin(t) ** 3
            hy = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            points.append((cx + hx * r / 16, cy - hy * r / 16 - r * 0.1))
        return points
    raise ValueError(f"no polygon for shape {shape!r}")


def _draw_mask(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "crescent":  # a disc with a bite out of its right side, opening to the right
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        bx = cx + r * 0.5
        draw.ellipse([bx - r * 0.85, cy - r * 0.85, bx + r * 0.85, cy + r * 0.85], fill=0)
    else:
        draw.polygon(shape_polygon(shape, cx, cy, r), fill=255)


def render_scene(scene: Scene, size: int = 64) -> Image.Image:
    """The scene as a ``size`` x ``size`` RGB image; same scene and size give identical pixels."""
    if not isinstance(size, int) or size < MIN_RENDER_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_RENDER_SIZE} pixels, got {size!r}")
    big = size * _SUPERSAMPLE
    image = Image.new("RGB", (big, big), tuple(scene.background))
    n = len(scene.objects)
    for obj in scene.objects:
        # each shape gets its own mask so the crescent's bite never erases a neighbouring object
        mask = Image.new("L", (big, big), 0)
        _draw_mask(ImageDraw.Draw(mask), obj.shape, obj.x * big, obj.y * big, _radius(obj.size, n) * big)
        image.paste(COLORS[obj.color], (0, 0, big, big), mask)
    return image.resize((size, size), Image.Resampling.BOX)
