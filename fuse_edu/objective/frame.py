"""The prompt frame: how one model sees a prompt, its special tokens and its own prefix/suffix text around the prompt.

FUSE hands each model the prompt's embeddings; the model still expects its usual frame (CLIP wants
``<start_of_text> ... <end_of_text>``, BERT ``[CLS] ... [SEP]``, GPT-2 nothing), and an objective may
add text of its own around the prompt ("a photo of ..."). ``Frame.of`` reads the special tokens off
the tokenizer itself (tokenize "x" with and without them), so no model's ids are hard-coded.
``Frame.apply`` places the frame around right-padded prompt embeddings in one batched scatter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Frame:
    prefix_ids: tuple[int, ...]
    suffix_ids: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase, prefix_text: str = "", suffix_text: str = "") -> "Frame":
        """The tokenizer's own special tokens, plus ``prefix_text`` / ``suffix_text`` inside them."""
        bare = tokenizer("x", add_special_tokens=False)["input_ids"]
        full = tokenizer("x", add_special_tokens=True)["input_ids"]
        start = next((i for i in range(len(full) - len(bare) + 1) if full[i:i + len(bare)] == bare), None)
        if start is None:
            raise ValueError(f"cannot find the text inside {type(tokenizer).__name__}'s special tokens: {full} vs {bare}")
        encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"] if text else []  # noqa: E731
        return cls(tuple(full[:start] + encode(prefix_text)), tuple(encode(suffix_text) + full[start + len(bare):]))

    def apply(self, embeds: torch.Tensor, mask: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame right-padded prompts: embeds (B, T, d), mask (B, T) -> (B, p+T+s, d) and its mask.

        The suffix goes right after each row's last real token, so rows stay right-padded.
        """
        B, T, d = embeds.shape
        p, s = len(self.prefix_ids), len(self.suffix_ids)
        lengths = mask.long().sum(1)                                                     # (B,)
        prefix = table[list(self.prefix_ids)].to(embeds).expand(B, p, d)                 # (B, p, d)
        body = embeds * mask.unsqueeze(-1).to(embeds.dtype)                               # (B, T, d)
        framed = torch.cat([prefix, body, embeds.new_zeros(B, s, d)], dim=1)              # (B, p+T+s, d)
        if s:
            where = p + lengths.unsqueeze(1) + torch.arange(s, device=embeds.device)      # (B, s)
            suffix = table[list(self.suffix_ids)].to(embeds).expand(B, s, d)              # (B, s, d)
            framed = framed.scatter(1, where.unsqueeze(-1).expand(B, s, d), suffix)
        framed_mask = torch.arange(p + T + s, device=embeds.device) < (p + s + lengths).unsqueeze(1)  # (B, p+T+s)
        return framed, framed_mask.long()

    def apply_ids(self, ids: torch.Tensor, mask: torch.Tensor, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The same frame on token ids, on the ids' device: (B, T) -> (B, p+T+s) and its mask.

        What the model would see as text, position for position with ``apply``; padding holds ``pad_id``.
        """
        B, T = ids.shape
        p, s = len(self.prefix_ids), len(self.suffix_ids)
        lengths = mask.long().sum(1, keepdim=True)                                              # (B, 1)
        prefix = torch.tensor(self.prefix_ids, dtype=torch.long, device=ids.device).expand(B, p)  # (B, p)
        framed = torch.cat([prefix, ids * mask.long(), ids.new_zeros(B, s)], dim=1)               # (B, p+T+s)
        if s:
            where = p + lengths + torch.arange(s, device=ids.device)                              # (B, s)
            suffix = torch.tensor(self.suffix_ids, dtype=torch.long, device=ids.device).expand(B, s)
            framed = framed.scatter(1, where, suffix)
        framed_mask = (torch.arange(p + T + s, device=ids.device) < p + s + lengths).long()       # (B, p+T+s)
        return framed.masked_fill(framed_mask == 0, pad_id), framed_mask
