"""Crossing tokenizers with a FUSE gradient: exact forward, adapter-mapped backward.

Forward (exact): decode the prompt's A tokens to text, re-tokenize with B, look up B's embeddings.
Backward (FUSE): re-tokenization has no derivative, so for every word we map the upstream gradient
on its B sub-tokens, G_B (1 x d_B x K), to A's space as G_B * T_K^T and keep its first k_A rows.

Everything index-like is planned on the CPU during the forward pass (``TranslationPlan``), and the
backward pass is one gather and one batched t-product per bucket, then a single gather into A's
positions: no Python loop per word or per prompt, no boolean masking (which would force a
host-device sync).

Which A tokens form a word is read from A's *vocabulary*, not by re-tokenizing: an optimiser may
produce token sequences that are not the canonical tokenization of their text (GCG swaps single
tokens), and re-tokenizing would then misplace gradients. A token starts a new word when it carries
text and whitespace separates it from the previous token; pure-whitespace tokens join the next word
(the same rules as ``fuse_edu.text.align_words``). Special tokens belong to no word.

Long-word fallback, named: a word whose K = max(k_A, k_B) exceeds ``max_subtokens`` is treated as a
bag: the sum of its B sub-token gradients is mapped through T_1 and shared equally by its A sub-tokens.
Deterministic, and it reduces to the exact gradient when T_1 is the identity and k_A = k_B = 1.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from fuse_edu.adapter.fuse_adapter import FuseAdapter
from fuse_edu.batching import pad_right
from fuse_edu.text.alignment import token_owners, word_spans

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceVocabulary:
    """Per-id facts about tokenizer A's vocabulary, for splitting id sequences into words on the device."""

    has_text: torch.Tensor      # (V,) bool: the token decodes to some non-whitespace character
    starts_space: torch.Tensor  # (V,) bool: its text begins with whitespace
    ends_space: torch.Tensor    # (V,) bool: its text ends with whitespace
    special: torch.Tensor       # (V,) bool: special tokens belong to no word

    @classmethod
    @functools.lru_cache(maxsize=8)
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> "SourceVocabulary":
        pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], clean_up_tokenization_spaces=False)
        has_text = torch.tensor([bool(p.strip()) for p in pieces])
        starts = torch.tensor([p[:1].isspace() for p in pieces])
        ends = torch.tensor([p[-1:].isspace() for p in pieces])
        special = torch.zeros(len(tokenizer), dtype=torch.bool)
        special[[i for i in tokenizer.all_special_ids if i < len(tokenizer)]] = True
        return cls(has_text & ~special, starts, ends, special)

    def word_index(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) index of each token's word within its prompt (-1: padding or special), and (B,) word counts."""
        ids = ids.cpu()
        real = mask.cpu().bool() & ~self.special[ids]                          # (B, T)
        has_text = self.has_text[ids] & real                                   # (B, T)
        separated = self.starts_space[ids].clone()                             # (B, T)
        separated[:, 1:] |= self.ends_space[ids[:, :-1]] & real[:, :-1]
        separated[:, 0] = True
        # the first text token of a row starts a word even if nothing separates it from a special token
        first_text = has_text & (has_text.long().cumsum(1) == 1)
        starts = has_text & (separated | first_text)                           # (B, T)
        n_words = starts.sum(1)                                                # (B,)
        started = starts.long().cumsum(1)                                      # (B, T)
        index = torch.where(has_text, started - 1, started)                    # whitespace joins the next word
        index = torch.minimum(index, (n_words - 1).clamp(min=0).unsqueeze(1))  # trailing whitespace: last word
        index[~real | (n_words == 0).unsqueeze(1)] = -1
        return index, n_words


@dataclass
class TranslationPlan:
    """Gather indices for one batch, flat over (prompt, position).

    Backward builds one row per (word, sub-token) slot, bucket by bucket, then one row per A token of
    a long word, then a zero row. Every A token owns exactly one slot (or none), so A's gradient is a
    single gather from those rows (``src_gather``): no scatter-add, which is slow on the CPU.
    """

    dst_pos: dict[int, torch.Tensor]   # K -> (m_K, K) flat B positions of each word's sub-tokens, -1 = padding
    src_gather: torch.Tensor           # (B*T_A,) row of each A token in the stacked gradient rows
    long_dst: tuple[torch.Tensor, torch.Tensor]  # (B token positions, their long-word index)
    long_src: tuple[torch.Tensor, torch.Tensor]  # (long-word index of each long-word A token, 1/k_A)
    n_long: int

    def to(self, device: torch.device) -> "TranslationPlan":
        move = lambda ts: tuple(t.to(device, non_blocking=True) for t in ts)  # noqa: E731
        return TranslationPlan({K: p.to(device, non_blocking=True) for K, p in self.dst_pos.items()},
                               self.src_gather.to(device, non_blocking=True), move(self.long_dst),
                               move(self.long_src), self.n_long)


class _FuseGradient(torch.autograd.Function):
    """Identity on B's exact embeddings going forward; the FUSE map going backward."""

    @staticmethod
    def forward(ctx, src_embeds, dst_embeds, plan: TranslationPlan, adapter: FuseAdapter):
        ctx.plan, ctx.adapter, ctx.src_shape = plan, adapter, src_embeds.shape
        return dst_embeds.clone()

    @staticmethod
    def backward(ctx, grad_dst):
        B, T_A, d_A = ctx.src_shape
        plan, T_dtype = ctx.plan, ctx.adapter.T[1].dtype
        flat_dst = grad_dst.reshape(-1, grad_dst.shape[-1]).to(T_dtype)       # (B*T_B, d_B)
        rows = []
        for K, dst_pos in plan.dst_pos.items():                               # at most max_subtokens buckets
            keep = (dst_pos >= 0).unsqueeze(-1).to(T_dtype)                   # (m, K, 1)
            G_B = flat_dst[dst_pos.clamp(min=0)] * keep                       # (m, K, d_B), zero-padded to K
            G_A = ctx.adapter.gradient(G_B.transpose(1, 2)).transpose(1, 2)   # (m, K, d_A); rows >= k_A never gathered
            rows.append(G_A.reshape(-1, d_A))
        if plan.n_long:
            dst_pos, dst_word = plan.long_dst
            src_word, share = plan.long_src
            summed = flat_dst.new_zeros(plan.n_long, flat_dst.shape[1])        # (L, d_B)
            summed.index_add_(0, dst_word, flat_dst[dst_pos])
            per_word = summed @ ctx.adapter.T[1][:, :, 0].T                   # (L, d_A)
            rows.append(per_word[src_word] * share.unsqueeze(1).to(T_dtype))
        rows.append(flat_dst.new_zeros(1, d_A))                               # for tokens in no word
        grad_src = torch.cat(rows)[plan.src_gather]                           # (B*T_A, d_A)
        return grad_src.reshape(B, T_A, d_A).to(grad_dst.dtype), None, None, None


class FuseTranslator:
    """Carries prompts from tokenizer A (``src``) to model B (``dst``) with a FUSE backward pass.

    ``adapter=None`` keeps the exact forward and drops the backward: B's embeddings come back detached, so
    model B scores prompts but sends no gradient to A (the "no adapter" ablation).
    """

    def __init__(self, src_tokenizer: PreTrainedTokenizerBase, dst_tokenizer: PreTrainedTokenizerBase,
                 dst_table: torch.Tensor, adapter: FuseAdapter | None):
        self.src_tokenizer, self.dst_tokenizer, self.adapter = src_tokenizer, dst_tokenizer, adapter
        self.dst_table = dst_table.detach()
        self.vocabulary = SourceVocabulary.of(src_tokenizer)

    def texts(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> list[str]:
        rows = [ids[m.bool()].tolist() for ids, m in zip(src_ids.cpu(), src_mask.cpu())]
        return self.src_tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def __call__(self, src_ids: torch.Tensor, src_embeds: torch.Tensor, src_mask: torch.Tensor):
        """B's embeddings of the decoded prompts, (B, T_B, d_B), their ids and mask (right-padded).

        ``src_embeds`` (B, T_A, d_A) may require grad; the gradient reaching it is the FUSE gradient.
        """
        texts = self.texts(src_ids, src_mask)
        encoded = self.dst_tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        dst_ids = [list(ids) for ids in encoded["input_ids"]]
        padded = pad_right(dst_ids, pad_id=0, allow_empty=True)               # a prompt may give no B tokens
        ids, mask = padded["input_ids"], padded["attention_mask"]              # (B, T_B) each, CPU
        dst_exact = self.dst_table[ids.to(self.dst_table.device)].to(src_embeds.device)  # (B, T_B, d_B)
        dst_exact = dst_exact * mask.to(src_embeds.device).unsqueeze(-1).to(dst_exact.dtype)
        if self.adapter is None:  # no backward: nothing to plan
            return dst_exact, ids.to(src_embeds.device), mask.to(src_embeds.device)
        plan = self.plan(texts, src_ids, src_mask, encoded["offset_mapping"], ids.shape[1]).to(src_embeds.device)
        out = _FuseGradient.apply(src_embeds, dst_exact, plan, self.adapter)
        return out, ids.to(src_embeds.device), mask.to(src_embeds.device)

    def plan(self, texts, src_ids, src_mask, dst_offsets, dst_width) -> TranslationPlan:
        B, T_A = src_ids.shape
        src_word, n_words = self.vocabulary.word_index(src_ids, src_mask)       # (B, T_A), (B,)
        dst_word, dst_n_words = _dst_word_index(texts, dst_offsets, dst_width)  # (B, T_B), (B,)
        mismatch = (n_words != dst_n_words).nonzero().flatten().tolist()
        if mismatch:  # a token with whitespace inside it: its words cannot be matched, so no gradient
            log.warning("FuseTranslator: prompts %s split into different word counts on the two sides; "
                        "they get no FUSE gradient", mismatch)
            src_word[mismatch] = -1
            dst_word[mismatch] = -1
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), n_words.cumsum(0)[:-1]])  # (B,) first word of row
        src_g = torch.where(src_word >= 0, src_word + offsets[:, None], -1).reshape(-1).numpy()
        dst_g = torch.where(dst_word >= 0, dst_word + offsets[:, None], -1).reshape(-1).numpy()
        return build_plan(src_g, dst_g, int(n_words.sum()), self.adapter.max_subtokens)


def _dst_word_index(texts: list[str], offsets, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T_B) word index of every B token (-1 padding) by ``align_words``' rules, and (B,) word counts."""
    index = torch.full((len(texts), width), -1, dtype=torch.long)
    counts = torch.zeros(len(texts), dtype=torch.long)
    for b, (text, offs) in enumerate(zip(texts, offsets)):   # numpy per prompt; prompts are short
        spans = word_spans(text)
        counts[b] = len(spans)
        if len(spans) and len(offs):
            owners = token_owners(text, np.asarray(offs, dtype=np.int64).reshape(-1, 2), spans)
            index[b, :len(owners)] = torch.from_numpy(owners)
    return index, counts


def build_plan(src_word: np.ndarray, dst_word: np.ndarray, n_words: int, max_subtokens: int) -> TranslationPlan:
    """Turn flat word indices of A and B tokens (-1 = none) into the gather indices of ``TranslationPlan``."""
    src_pos, dst_pos = np.flatnonzero(src_word >= 0), np.flatnonzero(dst_word >= 0)
    src_w, dst_w = src_word[src_pos], dst_word[dst_pos]       # word of each real token, non-decreasing
    k_src = np.bincount(src_w, minlength=n_words)             # (n_words,)
    k_dst = np.bincount(dst_w, minlength=n_words)
    rank_src = np.arange(len(src_w)) - np.searchsorted(src_w, src_w)  # position of a token inside its word
    rank_dst = np.arange(len(dst_w)) - np.searchsorted(dst_w, dst_w)
    bucket = np.maximum(k_src, k_dst)                         # the bucket rule: K = max(k_A, k_B)
    slot = np.full(len(src_word), -1)                         # stacked-row index of every A position
    dst_mats, offset = {}, 0
    for K in range(1, max_subtokens + 1):
        members = np.flatnonzero(bucket == K)
        if not len(members):
            continue
        row = np.full(n_words, -1)
        row[members] = np.arange(len(members))
        dst_mat = np.full((len(members), K), -1)
        d = row[dst_w] >= 0
        dst_mat[row[dst_w[d]], rank_dst[d]] = dst_pos[d]
        dst_mats[K] = torch.from_numpy(dst_mat)
        s = row[src_w] >= 0
        slot[src_pos[s]] = offset + row[src_w[s]] * K + rank_src[s]
        offset += len(members) * K
    long_words = np.flatnonzero(bucket > max_subtokens)
    long_row = np.full(n_words, -1)
    long_row[long_words] = np.arange(len(long_words))
    s, d = long_row[src_w] >= 0, long_row[dst_w] >= 0
    slot[src_pos[s]] = offset + np.arange(int(s.sum()))
    offset += int(s.sum())
    slot[slot < 0] = offset                                   # the zero row
    share = torch.from_numpy(1.0 / np.maximum(k_src[src_w[s]], 1))
    return TranslationPlan(dst_mats, torch.from_numpy(slot),
                           (torch.from_numpy(dst_pos[d]), torch.from_numpy(long_row[dst_w[d]])),
                           (torch.from_numpy(long_row[src_w[s]]), share), len(long_words))
