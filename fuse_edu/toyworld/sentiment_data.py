"""Labelled English phrases for the toy sentiment classifier, with labels from the VADER lexicon.

Labels come from a real, human-rated source rather than from our own word lists: VADER's
``vader_lexicon.txt`` (Hutto & Gilbert 2014, MIT licence, shipped in the ``vaderSentiment`` pip package)
gives each of ~7,500 tokens the mean valence that ten raters assigned on a -4..+4 scale. We keep the
plain lowercase words (no emoticons like ``:-)``), drop near-neutral ones (|valence| < 1.0, where the
raters' mean is noise: "straight" 0.9, "stops" -0.6), drop words English text hardly uses (wordfreq
Zipf < 2.0: "aayf", "cheerfullest") and label the rest by the sign.

A word becomes training data in ordinary English contexts ("the food was {w}", "i feel {w}") and on
its own. Evaluation must measure English the head never saw, so the split is two-way disjoint:

    words      : a hashed 20% of the lexicon is held out          (never seen in any context)
    templates  : HELDOUT_TEMPLATES share no template with TRAIN_TEMPLATES

and held-out phrases pair held-out words with held-out templates only. Words the toy world's captions
lean on ("lovely", "ugly", ...) are kept on the training side, so the held-out score is not inflated by
them and the captions are not left to chance. ``HANDWRITTEN`` is a small extra check of whole
sentences whose sentiment no single lexicon word decides.

Negation ("not good") is left out: VADER handles it with a rule, not a label, and the optimiser only
needs the classifier to read the polarity of the words a caption contains.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import random
import re
from dataclasses import dataclass
from pathlib import Path

from fuse_edu.cache import sha256_file
from fuse_edu.install_assets import INSTALL_COMMAND, install_missing
from fuse_edu.text.assets import MissingAssetError

LABELS = ("negative", "positive")  # index = class id; matches the model's id2label
MIN_ABS_VALENCE = 1.0  # VADER's mean rating on -4..+4; below this the raters barely lean either way
MIN_ZIPF = 2.0  # wordfreq's log10 frequency per billion words: 2.0 is about once per 10 million
HELDOUT_WORD_FRACTION = 0.2
LEXICON_PACKAGE = "vaderSentiment"  # pip name; the importable module has the same name
LEXICON_SHA256 = "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5"  # vaderSentiment 3.3.2
SPLIT_SEED = 0  # the word split is part of the data's definition: change it and the bar moves

# Contexts with no sentiment of their own, so the label is the word's. A lexicon word may be any part
# of speech; adjective slots read naturally for most and stay understandable for the rest.
# Training contexts are frames x nouns, varied widely so the head cannot learn a fixed sentence's
# nuisance direction (a context that leans positive whatever the word). No noun or frame of
# HELDOUT_TEMPLATES appears here.
TRAIN_FRAMES = (
    "the {n} was {w}", "the {n} is {w}", "this {n} is so {w}", "i thought the {n} was {w}",
    "a {w} {n}", "what a {w} {n}", "my {n} looks {w}", "people say the {n} is {w}",
    "honestly, the {n} was {w}", "that {n} sounds {w}", "the {n} here is {w}", "it was a {w} {n}",
)
TRAIN_NOUNS = (
    "food", "movie", "hotel", "service", "party", "song", "game", "house", "car", "dinner", "job",
    "class", "city", "room", "story", "coffee", "team", "garden", "day", "week", "concert", "holiday",
    "teacher", "idea", "plan", "picture", "shop", "weekend",
)
TRAIN_SENTENCES = (  # contexts about people and feelings, which frames over things do not cover
    "i feel {w}", "she seemed {w}", "he is {w}", "we were {w}", "they looked {w}", "it was {w}",
    "this is {w}", "so {w}", "honestly, {w}", "they said it was {w}", "you are {w}", "that was really {w}",
)
# Descriptions of coloured objects, the shape of toy-world captions ("an ugly small red square"), over
# everyday things, so size and colour words do not sway the label of "a dismal small green hexagon".
# No toy shape is used, so judging toy captions is still a transfer, not a lookup.
OBJECT_FRAMES = ("a {w} {obj}", "a photo of a {w} {obj}", "there is a {w} {obj}", "a {w} {obj} and a {obj2}")
OBJECT_SIZES = ("small", "large", "big", "tiny", "")
OBJECT_COLOURS = ("red", "blue", "green", "yellow", "orange", "purple", "pink", "grey", "black", "white", "brown")
OBJECT_THINGS = ("box", "ball", "chair", "lamp", "kite", "cup", "hat", "door", "car", "flower", "vase", "rug")
N_OBJECT_TEMPLATES = 64


def _object_templates(n: int = N_OBJECT_TEMPLATES) -> tuple[str, ...]:
    rng = random.Random("object-templates")  # fixed: templates are part of the data's definition

    def obj() -> str:
        words = (rng.choice(OBJECT_SIZES), rng.choice(OBJECT_COLOURS), rng.choice(OBJECT_THINGS))
        return " ".join(w for w in words if w)  # size "" means no size word
    return tuple(rng.choice(OBJECT_FRAMES).format(w="{w}", obj=obj(), obj2=obj()) for _ in range(n))


TRAIN_TEMPLATES = ("{w}",) + TRAIN_SENTENCES + tuple(
    frame.replace("{n}", noun) for frame in TRAIN_FRAMES for noun in TRAIN_NOUNS) + _object_templates()
HELDOUT_TEMPLATES = (
    "the weather today is {w}",
    "our trip was {w}",
    "everyone thought the show was {w}",
    "the new phone feels {w}",
    "i found the book {w}",
    "such a {w} evening",
    "my neighbour seems {w}",
    "the meeting was {w}",
    "the kids were {w} all afternoon",
    "yesterday's lecture was {w}",
    "to be fair, the place felt {w}",
    "our new flat is {w}",
)

# Sentiment words toy-world captions use (captions.py's lists and a few more); always on the
# training side (see module docstring). A literal, not an import of captions.py: the split is part of
# the shipped head's data and must not move when caption wording changes. Words VADER lacks or rates
# near-neutral (enchanting, wretched, gloomy) are simply not in the lexicon.
TOY_WORLD_WORDS = (
    "lovely", "beautiful", "cheerful", "delightful", "wonderful", "joyous", "blissful", "enchanting",
    "serene", "pretty", "nice", "charming", "pleasant", "happy", "bright",
    "ugly", "awful", "gloomy", "dreadful", "dreary", "dismal", "horrid", "wretched", "horrible", "nasty",
    "dull", "sad", "terrible", "grim", "miserable", "boring",
)

# Ordinary sentences whose sentiment is obvious to a person; 20 of each label.
HANDWRITTEN = (
    ("i had a great time at the party last night", 1),
    ("this is the best pizza i have ever eaten", 1),
    ("thank you so much, you made my day", 1),
    ("the kids loved the new playground", 1),
    ("what a beautiful sunset over the sea", 1),
    ("she was thrilled with her exam results", 1),
    ("the staff were friendly and very helpful", 1),
    ("i am so proud of my little brother", 1),
    ("this song always cheers me up", 1),
    ("we enjoyed every minute of the holiday", 1),
    ("the garden looks gorgeous in spring", 1),
    ("he gave a brilliant speech at the wedding", 1),
    ("my new shoes are really comfortable", 1),
    ("the concert was absolutely amazing", 1),
    ("i feel calm and relaxed today", 1),
    ("our team won the final, what a game", 1),
    ("the soup was delicious and warm", 1),
    ("it is a pleasure to work with you", 1),
    ("the puppy is adorable", 1),
    ("everything went perfectly", 1),
    ("the food was cold and tasteless", 0),
    ("i waited two hours and nobody helped me", 0),
    ("this is the worst film i have ever seen", 0),
    ("my phone broke again, i am so annoyed", 0),
    ("the hotel room was dirty and smelled bad", 0),
    ("he was rude to everyone at the table", 0),
    ("i feel lonely and tired", 0),
    ("the flight was delayed and then cancelled", 0),
    ("what a horrible day at work", 0),
    ("the instructions were confusing and useless", 0),
    ("she cried when she heard the sad news", 0),
    ("the traffic this morning was a nightmare", 0),
    ("i hate waiting in long queues", 0),
    ("the product stopped working after a week", 0),
    ("that was a boring and pointless meeting", 0),
    ("the weather has been miserable all week", 0),
    ("they lost the match badly", 0),
    ("i am worried about the exam", 0),
    ("the neighbours were noisy all night", 0),
    ("the ending of the book was disappointing", 0),
)


@dataclass(frozen=True)
class Phrase:
    text: str
    label: int  # index into LABELS
    word: str  # the lexicon word that decides the label ("" for handwritten sentences)
    template: str


def lexicon_path() -> Path:
    """``vader_lexicon.txt`` inside the installed ``vaderSentiment``, found without importing it (its
    module imports ``requests``, which we do not need); a different file is an error, since it would
    silently change every label."""
    spec = importlib.util.find_spec(LEXICON_PACKAGE)
    failure = None
    if spec is None:
        failure = install_missing()
        spec = importlib.util.find_spec(LEXICON_PACKAGE)
    path = Path(list(spec.submodule_search_locations)[0]) / "vader_lexicon.txt" if spec else None
    if path is None or not path.is_file():
        raise MissingAssetError(f"the toy sentiment data needs the VADER lexicon from the pip package "
                                f"{LEXICON_PACKAGE!r}, which is not installed"
                                f"{f' and could not be installed now ({failure})' if failure else ''}; "
                                f"run: {INSTALL_COMMAND}")
    if sha256_file(path) != LEXICON_SHA256:
        raise RuntimeError(f"{path} is not the vaderSentiment 3.3.2 lexicon the labels were defined on "
                           f"(sha256 differs); run: pip install --no-deps {LEXICON_PACKAGE}==3.3.2")
    return path


@functools.lru_cache(maxsize=4)  # wordfreq's table is slow to load; callers must not mutate the dict
def load_vader_lexicon(min_abs_valence: float = MIN_ABS_VALENCE, min_zipf: float = MIN_ZIPF) -> dict[str, float]:
    """Word -> VADER mean valence, for plain lowercase words with |valence| >= ``min_abs_valence``
    and English frequency >= ``min_zipf``."""
    from wordfreq import zipf_frequency

    text = lexicon_path().read_text(encoding="utf-8")
    lexicon = {}
    for line in text.splitlines():
        token, valence = line.split("\t")[:2]
        if (re.fullmatch(r"[a-z]+", token) and abs(float(valence)) >= min_abs_valence
                and zipf_frequency(token, "en") >= min_zipf):
            lexicon[token] = float(valence)
    return lexicon


def split_words(lexicon: dict[str, float], seed: int = SPLIT_SEED,
                heldout_fraction: float = HELDOUT_WORD_FRACTION) -> tuple[list[str], list[str]]:
    """(train words, held-out words): disjoint and sorted.

    Each word's side is decided by a hash of (seed, word) alone, so pinning one more word to the
    training side, or a lexicon change, moves only the words concerned, never the whole split.
    """
    def held_out(word: str) -> bool:
        digest = hashlib.sha256(f"{seed}:{word}".encode()).digest()
        return word not in TOY_WORLD_WORDS and int.from_bytes(digest[:8], "big") < heldout_fraction * 2**64

    heldout = sorted(w for w in lexicon if held_out(w))
    return sorted(set(lexicon) - set(heldout)), heldout


def _phrase(word: str, template: str, lexicon: dict[str, float]) -> Phrase:
    text = re.sub(r"\ba (?=[aeiou])", "an ", template.format(w=word))  # "an awful day", as people write
    return Phrase(text, int(lexicon[word] > 0), word, template)


def training_phrases(templates_per_word: int = 5, seed: int = 0) -> list[Phrase]:
    """Each training word alone plus in ``templates_per_word`` seeded contexts from TRAIN_TEMPLATES.

    A few contexts per word (rather than all ~400) keeps encoding short; across 3,000 words every
    context is still seen many times.
    """
    lexicon = load_vader_lexicon()
    train_words, _ = split_words(lexicon)
    rng = random.Random(seed)
    contextual = TRAIN_TEMPLATES[1:]
    phrases = []
    for word in train_words:
        phrases.append(_phrase(word, "{w}", lexicon))
        for template in rng.sample(contextual, templates_per_word):
            phrases.append(_phrase(word, template, lexicon))
    return phrases


def heldout_phrases(templates_per_word: int = 2, seed: int = 0, max_words: int | None = None) -> list[Phrase]:
    """Held-out words in held-out contexts: the phrases the quality bar is measured on.

    ``max_words`` takes a seeded subset of the held-out words (same for a given seed), for quick checks.
    """
    lexicon = load_vader_lexicon()
    _, words = split_words(lexicon)
    rng = random.Random(seed)
    if max_words is not None and max_words < len(words):
        words = sorted(rng.sample(words, max_words))
    return [_phrase(word, template, lexicon)
            for word in words for template in rng.sample(HELDOUT_TEMPLATES, templates_per_word)]


def handwritten_phrases() -> list[Phrase]:
    return [Phrase(text, label, "", "handwritten") for text, label in HANDWRITTEN]
