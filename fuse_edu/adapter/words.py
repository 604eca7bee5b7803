"""Words as third-order tensors, and the bucket rule that decides which adapter T_K a word uses.

Tokenizer A cuts word w into k_A(w) sub-tokens, B into k_B(w). In model A the word is a lateral
slice 1 x d_A x K: its sub-token embedding rows laid along the third mode, zero-padded to K. Both
slices of a word must share K, so

    **bucket rule:** a word belongs to bucket K = max(k_A(w), k_B(w)); both sides are zero-padded to K.

Words are tokenized as they appear mid-sentence (after a space), like ``subtoken_counts``; words that
a tokenizer deletes entirely (k = 0, e.g. a lone combining mark in WordPiece) have no slice and are
skipped. Everything is batched: one tokenizer call per word list, one gather per bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from fuse_edu.text import batch_token_ids


@dataclass(frozen=True)
class Bucket:
    """The words of one bucket K with both tokenizers' sub-token ids, padded with -1 to K."""

    K: int
    words: list[str]
    src_ids: torch.Tensor  # (n, K) long, -1 = padding
    dst_ids: torch.Tensor  # (n, K) long, -1 = padding

    def __len__(self) -> int:
        return len(self.words)


def padded_ids(token_ids: list[list[int]], K: int) -> torch.Tensor:
    """(n, K) long tensor of the first K ids of each list, -1 where a list is shorter."""
    out = np.full((len(token_ids), K), -1, dtype=np.int64)
    lengths = np.fromiter((min(len(ids), K) for ids in token_ids), dtype=np.int64, count=len(token_ids))
    rows = np.repeat(np.arange(len(token_ids)), lengths)
    cols = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.zeros(0, dtype=np.int64)
    flat = [i for ids, n in zip(token_ids, lengths) for i in ids[:n]]
    out[rows, cols] = flat
    return torch.from_numpy(out)


def word_tensor(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(n, d, K) lateral slices: row k of word i is ``table[ids[i, k]]``, zero where ids is -1."""
    mask = (ids >= 0).to(table.dtype)                     # (n, K)
    rows = table[ids.clamp(min=0).to(table.device)]       # (n, K, d)
    rows = rows * mask.to(table.device).unsqueeze(-1)     # (n, K, d)
    return rows.permute(0, 2, 1).contiguous()             # (n, d, K)


def bucket_words(words: list[str], src_tokenizer: PreTrainedTokenizerBase, dst_tokenizer: PreTrainedTokenizerBase,
                 max_subtokens: int, words_per_bucket: int | None = None) -> dict[int, Bucket]:
    """Group ``words`` into buckets K = 1..max_subtokens by the bucket rule, keeping list order.

    ``words_per_bucket`` keeps the first that many words of each bucket (word lists come sorted by
    frequency, so these are the most common). Words whose K exceeds ``max_subtokens`` are left out:
    they are served by the long-word fallback at gradient time, not fitted.
    """
    texts = [" " + w for w in words]
    src, dst = batch_token_ids(src_tokenizer, texts), batch_token_ids(dst_tokenizer, texts)
    k_src = np.fromiter(map(len, src), dtype=np.int64, count=len(words))
    k_dst = np.fromiter(map(len, dst), dtype=np.int64, count=len(words))
    bucket_of = np.maximum(k_src, k_dst)
    bucket_of[(k_src == 0) | (k_dst == 0)] = 0  # a side with no sub-tokens has no slice
    buckets = {}
    for K in range(1, max_subtokens + 1):
        members = np.flatnonzero(bucket_of == K)[:words_per_bucket]
        buckets[K] = Bucket(K, [words[i] for i in members], padded_ids([src[i] for i in members], K),
                            padded_ids([dst[i] for i in members], K))
    return buckets
