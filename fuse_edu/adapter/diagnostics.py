"""Is the adapter any good? Three checks the paper leaves to future work (DESIGN.md §1).

- ``heldout_fit_error``: per bucket, ||X_A * T_K - X_B|| / ||X_B|| on words the fit never saw.
- ``translation_accuracy``: carry a word's A slice through T_K and ask which B word it lands nearest.
- ``first_order_check``: does the FUSE gradient predict how a secondary model's loss changes when one
  prompt token is swapped? Spearman correlation of predicted versus true loss changes, next to the
  same prediction from random directions of equal norm (the control, which should be near 0).
"""

from __future__ import annotations

from typing import Callable

import torch

from fuse_edu.adapter.fuse_adapter import FuseAdapter, tokenizer_and_table
from fuse_edu.adapter.words import bucket_words, word_tensor


def heldout_fit_error(adapter: FuseAdapter, src, dst, words: list[str]) -> dict[int, tuple[int, float]]:
    """{K: (n_words, relative residual)} on ``words`` (pass words not used in fitting)."""
    src_tok, src_table = tokenizer_and_table(src, "src")
    dst_tok, dst_table = tokenizer_and_table(dst, "dst")
    errors = {}
    for K, bucket in bucket_words(words, src_tok, dst_tok, adapter.max_subtokens).items():
        if len(bucket):
            X_A = word_tensor(bucket.src_ids, src_table.to(adapter.T[K]))   # (n, d_A, K)
            X_B = word_tensor(bucket.dst_ids, dst_table.to(adapter.T[K]))   # (n, d_B, K)
            residual = torch.linalg.vector_norm(adapter.map_words(X_A) - X_B) / torch.linalg.vector_norm(X_B)
            errors[K] = (len(bucket), float(residual))
    return errors


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
