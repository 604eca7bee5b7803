"""Is the adapter any good? Checks the paper leaves to future work.

- ``heldout_fit_error``: per bucket, ||X_A * T_K - X_B|| / ||X_B|| on the words you pass (pass words the fit
  never saw for a held-out error, the fitted words for the in-sample error).
- ``translation_accuracy``: carry a word's A slice through T_K and ask which B word it lands nearest.
- ``split_words``, ``fitted_words``, ``fit_report``, ``heldout_translation_accuracy``: the same two questions
  asked honestly. A diagnostic of generalisation needs words the fit never saw: ``fitted_words`` rebuilds
  exactly which words each bucket was fitted on (checked against the word list's hash the adapter stores),
  ``fit_report`` puts the in-sample and held-out error of every bucket side by side with both word counts,
  and ``heldout_translation_accuracy`` ranks only held-out words, with the fitted count beside it.
- ``first_order_check``: does the FUSE gradient predict how a secondary model's loss changes when one
  prompt token is swapped? Spearman correlation of predicted versus true loss changes, next to the
  same prediction from random directions of equal norm (the control, which should be near 0).
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Callable

import torch

from fuse_edu.adapter.fuse_adapter import FuseAdapter, tokenizer_and_table
from fuse_edu.adapter.words import bucket_words, word_tensor


def heldout_fit_error(adapter: FuseAdapter, src, dst, words: list[str]) -> dict[int, tuple[int, float]]:
    """{K: (n_words, relative residual)} on ``words`` (pass words not used in fitting)."""
    src_tok, src_table = tokenizer_and_table(src, "src")
    dst_tok, dst_table = tokenizer_and_table(dst, "dst")
    return {K: (len(bucket), _bucket_error(adapter, bucket, src_table, dst_table))
            for K, bucket in bucket_words(words, src_tok, dst_tok, adapter.max_subtokens).items() if len(bucket)}


def _bucket_error(adapter: FuseAdapter, bucket, src_table: torch.Tensor, dst_table: torch.Tensor) -> float:
    """||X_A * T_K - X_B|| / ||X_B|| over one bucket's words."""
    T = adapter.T[bucket.K]
    X_A = word_tensor(bucket.src_ids, src_table.to(T))   # (n, d_A, K)
    X_B = word_tensor(bucket.dst_ids, dst_table.to(T))   # (n, d_B, K)
    return float(torch.linalg.vector_norm(adapter.map_words(X_A) - X_B) / torch.linalg.vector_norm(X_B))


def translation_accuracy(adapter: FuseAdapter, src, dst, words: list[str], K: int = 1,
                         top: int = 5) -> dict[str, float]:
    """Top-1 and top-``top`` accuracy of finding each word's own B slice nearest (cosine) to X_A * T_K,
    among the B slices of all ``words`` in bucket K; chance is 1 / n."""
    src_tok, src_table = tokenizer_and_table(src, "src")
    dst_tok, dst_table = tokenizer_and_table(dst, "dst")
    bucket = bucket_words(words, src_tok, dst_tok, adapter.max_subtokens)[K]
    if len(bucket) < 2:
        raise ValueError(f"translation_accuracy: bucket K={K} has {len(bucket)} of these words; need at least 2")
    mapped = adapter.map_words(word_tensor(bucket.src_ids, src_table.to(adapter.T[K]))).flatten(1)  # (n, d_B*K)
    target = word_tensor(bucket.dst_ids, dst_table.to(adapter.T[K])).flatten(1)                      # (n, d_B*K)
    scores = torch.nn.functional.normalize(mapped, dim=1) @ torch.nn.functional.normalize(target, dim=1).T  # (n, n)
    ranks = (scores > scores.diagonal().unsqueeze(1)).sum(1)                                          # (n,)
    return {"n": len(bucket), "top1": float((ranks == 0).float().mean()),
            f"top{top}": float((ranks < top).float().mean()), "chance_top1": 1 / len(bucket)}


def split_words(words: list[str], heldout_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded random split of ``words`` into (fit words, held-out words), each in the list's own order.

    The two parts are disjoint and together give ``words`` back (duplicates are dropped first); the same
    arguments give the same split on any machine (Python's ``random.Random``, not the global generator).
    """
    if not (isinstance(heldout_fraction, (int, float)) and 0 < heldout_fraction < 1):
        raise ValueError(f"split_words: heldout_fraction must be a number strictly between 0 and 1, "
                         f"got {heldout_fraction!r}")
    unique = list(dict.fromkeys(words))
    if len(unique) < 2:
        raise ValueError(f"split_words: need at least 2 distinct words to split, got {len(unique)}")
    n_heldout = min(max(1, round(heldout_fraction * len(unique))), len(unique) - 1)
    heldout = set(random.Random(seed).sample(range(len(unique)), n_heldout))
    return ([w for i, w in enumerate(unique) if i not in heldout], [w for i, w in enumerate(unique) if i in heldout])


def _check_word_list(adapter: FuseAdapter, words: list[str], fn: str) -> None:
    """``words`` must be the very list ``adapter`` was fitted on (its sha256 is in ``adapter.info``)."""
    stored = adapter.info.get("words_sha256")
    if stored is None or "words_per_bucket" not in adapter.info:
        raise ValueError(f"{fn}: the adapter's info has no words_sha256 / words_per_bucket; it was not made by "
                         "FuseAdapter.fit, so the words it was fitted on cannot be rebuilt")
    if hashlib.sha256("\n".join(words).encode()).hexdigest() != stored:
        raise ValueError(f"{fn}: these {len(words)} words are not the list the adapter was fitted on (their sha256 "
                         "differs from adapter.info['words_sha256']); pass that exact list, in order")


def _fitted_buckets(adapter: FuseAdapter, src_tok, dst_tok, words: list[str], fn: str) -> dict:
    _check_word_list(adapter, words, fn)
    return bucket_words(words, src_tok, dst_tok, adapter.max_subtokens, int(adapter.info["words_per_bucket"]))


def fitted_words(adapter: FuseAdapter, src, dst, words: list[str]) -> dict[int, list[str]]:
    """{K: the words bucket K of ``adapter`` was fitted on}, rebuilt from ``words``, the list it was fitted on.

    ``FuseAdapter.fit`` keeps only the first ``words_per_bucket`` words of each bucket, so the fitted words
    are a subset of the list; this applies the same rule. ``words`` is checked against the hash of the word
    list the adapter stores: another list is a ValueError, not a silently wrong split.
    """
    src_tok, _ = tokenizer_and_table(src, "src")
    dst_tok, _ = tokenizer_and_table(dst, "dst")
    return {K: bucket.words for K, bucket in _fitted_buckets(adapter, src_tok, dst_tok, words, "fitted_words").items()}


def fit_report(adapter: FuseAdapter, src, dst, words: list[str], heldout: list[str]) -> dict[int, dict]:
    """Per bucket K, the in-sample and the held-out relative error side by side, with both word counts.

    ``words``: the list ``adapter`` was fitted on (checked, see ``fitted_words``); ``heldout``: candidate
    words, of which every word in ``words`` is dropped, so a held-out word is one the fit never saw.
    Returns ``{K: {"n_fit", "fit_error", "n_heldout", "heldout_error"}}``; an error is NaN where its count is
    0. In-sample error far below held-out error is overfitting; the two close together and both high is
    underfitting (the map cannot represent the data: more words would not lower either much).
    """
    src_tok, src_table = tokenizer_and_table(src, "src")
    dst_tok, dst_table = tokenizer_and_table(dst, "dst")
    fitted = _fitted_buckets(adapter, src_tok, dst_tok, words, "fit_report")
    seen = set(words)
    unseen = bucket_words([w for w in dict.fromkeys(heldout) if w not in seen], src_tok, dst_tok,
                          adapter.max_subtokens)

    def error(bucket) -> float:
        return _bucket_error(adapter, bucket, src_table, dst_table) if len(bucket) else math.nan

    return {K: {"n_fit": len(fitted[K]), "fit_error": error(fitted[K]),
                "n_heldout": len(unseen[K]), "heldout_error": error(unseen[K])}
            for K in range(1, adapter.max_subtokens + 1)}


def heldout_translation_accuracy(adapter: FuseAdapter, src, dst, words: list[str], heldout: list[str], K: int = 1,
                                 top: int = 5) -> dict[str, float]:
    """``translation_accuracy`` on held-out words only, with the fitted and held-out counts beside it.

    ``words``: the list ``adapter`` was fitted on (checked, see ``fitted_words``); every word in it is dropped
    from ``heldout`` first, so the mapped words are ones the fit never saw, ranked among each other (chance:
    1 / n_heldout). Returns ``translation_accuracy``'s keys plus ``n_fit`` (the words bucket K was fitted
    on) and ``n_heldout``.
    """
    _check_word_list(adapter, words, "heldout_translation_accuracy")
    if K not in adapter.T:
        raise ValueError(f"heldout_translation_accuracy: K={K} is not a bucket of this adapter "
                         f"(buckets 1..{adapter.max_subtokens})")
    fitted_counts = {int(k): n for k, n in adapter.info.get("words_per_bucket_fitted", {}).items()}
    seen = set(words)
    result = translation_accuracy(adapter, src, dst, [w for w in dict.fromkeys(heldout) if w not in seen], K, top)
    return {**result, "n_fit": fitted_counts.get(K, 0), "n_heldout": result["n"]}


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation (ties broken by order; our values are continuous)."""
    rank = lambda v: v.argsort().argsort().double()  # noqa: E731
    return float(torch.corrcoef(torch.stack([rank(x), rank(y)]))[0, 1])


def first_order_check(loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                      table: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, candidates: torch.Tensor,
                      swaps: int, generator: torch.Generator) -> dict:
    """Predicted versus true loss change over ``swaps`` random single-token swaps.

    ``loss_fn(ids, embeds, mask, rows) -> (B,)`` is a secondary model's loss of prompts in A's tokens
    (through the FUSE translator); ``rows`` says which original prompt each row derives from, for
    per-prompt context such as that prompt's image. Its gradient at ``embeds = table[ids]`` is the
    FUSE gradient. A swap replaces
    token ``ids[b, i]`` by a token drawn from ``candidates``; its first-order predicted change is
    ``grad[b, i] . (table[new] - table[old])``.
    """
    embeds = table[ids].detach().clone().requires_grad_(True)                  # (B, T, d_A)
    base = loss_fn(ids, embeds, mask, torch.arange(ids.shape[0]))              # (B,)
    (grad,) = torch.autograd.grad(base.sum(), embeds)                           # (B, T, d_A)
    lengths = mask.sum(1)
    rows = torch.randint(0, ids.shape[0], (swaps,), generator=generator)        # (S,)
    cols = (torch.rand(swaps, generator=generator) * lengths[rows]).long()      # (S,) a real position
    new = candidates[torch.randint(0, len(candidates), (swaps,), generator=generator)]  # (S,)
    step = table[new] - table[ids[rows, cols]]                                  # (S, d_A)
    predicted = (grad[rows, cols] * step).sum(1)                                # (S,)
    noise = torch.randn(grad.shape, generator=generator, dtype=grad.dtype)
    noise = noise * grad.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True)
    predicted_random = (noise[rows, cols] * step).sum(1)                        # (S,)
    swapped = ids[rows].clone()
    swapped[torch.arange(swaps), cols] = new
    with torch.no_grad():
        actual = loss_fn(swapped, table[swapped], mask[rows], rows) - base.detach()[rows]  # (S,)
    return {"spearman_fuse": spearman(predicted, actual), "spearman_random": spearman(predicted_random, actual),
            "predicted": predicted.detach(), "predicted_random": predicted_random, "actual": actual, "swaps": swaps}
