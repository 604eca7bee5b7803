"""English for toy scenes: the canonical caption, templated variants, and a sentiment layer.

The *canonical* caption ("a small turquoise hexagon") is the one right answer a captioner is scored
against; ``candidate_captions`` lists all of them, which is what a CLIP chooses among for its quality
bar. Templated variants and sentiment captions ("an ugly small turquoise hexagon") widen the language
the toy LM learns, so a prompt optimiser has fluent alternatives to move through and a sentiment
model has something to steer.
"""

from __future__ import annotations

import random

from fuse_edu.toyworld.scenes import COLORS, SHAPES, SIZES, Scene, SceneObject, sample_scenes

# Opinion words for the sentiment layer. Plain ones (lovely, ugly) sit beside rarer ones that the
# three tokenizers split differently (joyous, enchanting, gloomy, dismal, wretched): like the rarer
# colours and shapes, they exercise FUSE's cross-tokenizer path. All are unambiguous in a
# general-English sentiment lexicon, so a real classifier agrees with our labels.
POSITIVE_WORDS: tuple[str, ...] = (
    "lovely", "beautiful", "cheerful", "wonderful", "joyous", "blissful", "enchanting", "serene",
)
NEGATIVE_WORDS: tuple[str, ...] = (
    "ugly", "awful", "gloomy", "dreadful", "dreary", "dismal", "horrid", "wretched",
)
SENTIMENTS: dict[str, tuple[str, ...]] = {"positive": POSITIVE_WORDS, "negative": NEGATIVE_WORDS}

# Frames around a noun phrase. Each keeps the phrase's own article, so "a photo of an orange star".
_FRAMES: tuple[str, ...] = ("a photo of {}", "a picture of {}", "an image of {}", "there is {}")


def with_article(phrase: str) -> str:
    """``phrase`` with "a" or "an" in front. Letter-based, which is right for every lexicon word
    (none starts with a silent h or a "you" sound)."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def noun_phrase(obj: SceneObject, *, size: bool = True, opinion: str | None = None) -> str:
    """"a small turquoise hexagon"; adjectives in English order: opinion, size, colour, shape."""
    words = [opinion, obj.size if size else None, obj.color, obj.shape]
    return with_article(" ".join(w for w in words if w))


def position_phrase(position: str) -> str:
    """"on the left", "at the top", "in the top left corner", "in the center"."""
    if position == "center":
        return "in the center"
    if position in ("left", "right"):
        return f"on the {position}"
    if position in ("top", "bottom"):
        return f"at the {position}"
    return f"in the {position} corner"


def _join(phrases: list[str]) -> str:
    return " and ".join(phrases)


def caption(scene: Scene) -> str:
    """The canonical caption: "a small turquoise hexagon", or
    "a small red square and a large blue circle" with the objects in scene order."""
    return _join([noun_phrase(obj) for obj in scene.objects])


def captions(scene: Scene) -> list[str]:
    """Several true English descriptions of ``scene``; the first is ``caption(scene)``.

    The list is fixed for a scene (no randomness), so training code can sample from it with its own rng.
    """
    full = caption(scene)
    bare = _join([noun_phrase(obj, size=False) for obj in scene.objects])  # without size words
    placed = _join([f"{noun_phrase(obj)} {position_phrase(obj.position)}" for obj in scene.objects])
    variants = [full, *(frame.format(full) for frame in _FRAMES), bare, *(frame.format(bare) for frame in _FRAMES[:2]), placed]
    if len(scene.objects) == 1:
        obj = scene.objects[0]
        variants += [f"there is {placed}", f"the {obj.shape} is {obj.color}", f"the {obj.shape} is {obj.size} and {obj.color}"]
    else:
        first, second = (noun_phrase(obj) for obj in scene.objects)
        variants += [f"{first} next to {second}", f"a picture of {placed}"]
    return list(dict.fromkeys(variants))  # drop duplicates, keep order


def candidate_captions(objects: int = 1) -> list[str]:
    """Every canonical caption with ``objects`` objects, in lexicon order (size, colour, shape).

    ``objects=1`` gives all size x colour x shape phrases; ``objects=2`` all ordered pairs whose
    objects differ in colour or shape, as ``sample_scenes`` draws them.
    """
    singles = [(size, color, shape) for size in SIZES for color in COLORS for shape in SHAPES]
    phrases = [with_article(" ".join(t)) for t in singles]
    if objects == 1:
        return phrases
    if objects == 2:
        return [_join([pa, pb]) for a, pa in zip(singles, phrases) for b, pb in zip(singles, phrases)
                if (a[1], a[2]) != (b[1], b[2])]
    raise ValueError(f"objects must be 1 or 2, got {objects!r}")


def sentiment_caption(scene: Scene, sentiment: str, rng: random.Random) -> str:
    """The canonical caption with an opinion word before each object: "a lovely small turquoise
    hexagon", "an ugly small red square and a dismal large blue circle"."""
    if sentiment not in SENTIMENTS:
        raise ValueError(f"unknown sentiment {sentiment!r}; accepted: {', '.join(SENTIMENTS)}")
    words = SENTIMENTS[sentiment]
    return _join([noun_phrase(obj, opinion=rng.choice(words)) for obj in scene.objects])


def _template_texts() -> list[str]:
    """Every template's text for one object in each position (so every position phrase occurs) and for a
    pair: together they use every template; lexicon words fill the slots in the callers."""
    probes = [Scene((SceneObject(SHAPES[0], next(iter(COLORS)), SIZES[0], x, y),), (0, 0, 0))
              for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)]
    probes.append(Scene(probes[0].objects + probes[-1].objects, (0, 0, 0)))
    return [text for scene in probes for text in captions(scene)]


def vocabulary() -> list[str]:
    """Every whitespace word any caption, template or sentiment caption can contain, sorted.

    These are the words the toy models are trained on, so they are the words a toy adapter should be
    fitted on first (rows a tiny model never saw carry little signal), and the rows of notebook 00's
    sub-token-count table.
    """
    words = {w for text in _template_texts() for w in text.split()}
    words |= {"a", "an", *COLORS, *SHAPES, *SIZES, *POSITIVE_WORDS, *NEGATIVE_WORDS}
    return sorted(words)


def opening_words() -> list[str]:
    """The words a caption can start with ("a", "an", "the", "there"), sorted: the first word of every
    template, and both articles (a noun phrase, sentiment captions' too, opens with "a" or "an").

    Only these need their start-of-text spelling in a prompt optimiser's token set. GPT-2 spells "brown"
    at the start of a text differently from " brown" mid-sentence; allowing the no-space form of every
    word would let GCG write "a smallbrown circle", which no caption contains.
    """
    return sorted({text.split()[0] for text in _template_texts()} | {"a", "an"})


def caption_corpus(n: int, seed: int) -> list[str]:
    """``n`` sentences for training the toy LM, one per sampled scene (a mix of one and two objects).

    About 40% canonical captions (the language a captioner must speak), 30% other templates, 30%
    sentiment captions split evenly between positive and negative. Same ``n`` and ``seed``, same list.
    """
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(f"caption_corpus:{seed}")  # a string seed: independent of sample_scenes' stream
    corpus = []
    for scene in sample_scenes(n, seed, objects=None):
        roll = rng.random()
        if roll < 0.4:
            corpus.append(caption(scene))
        elif roll < 0.7:
            corpus.append(rng.choice(captions(scene)[1:]))
        else:
            corpus.append(sentiment_caption(scene, "positive" if roll < 0.85 else "negative", rng))
    return corpus
