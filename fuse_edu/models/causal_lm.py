"""``CausalLM``: any ``AutoModelForCausalLM`` as a fluency loss, written on input embeddings.

In FUSE the causal LM is usually the *primary* model A: the prompt lives in its token space, and its
negative log-likelihood of prefix + prompt keeps the optimised text readable (CLIP alone rates
"... and and square square" highly). Nothing here knows an architecture by name: the model's own
forward takes ``inputs_embeds``, and ``logits_to_keep`` (when the model accepts it) limits the
vocabulary projection, the most expensive matmul of a small LM, to the positions that predict a target.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from fuse_edu.hub import load_from_hub_or_path
from fuse_edu.batching import pad_right
from fuse_edu.models.base import OFFLINE_HINT, FrozenModel, check_right_padded, resolve_tokenizer


class CausalLM(FrozenModel):
    """A frozen causal LM: mean next-token NLL of chosen positions, from input embeddings."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase):
        super().__init__(model, tokenizer)
        self._slices_logits = "logits_to_keep" in inspect.signature(model.forward).parameters

    @classmethod
    def load(cls, name_or_path: str | Path, tokenizer: PreTrainedTokenizerBase | str | None = None,
             device: str | torch.device = "cpu") -> "CausalLM":
        """``load_causal_lm``: by hub id or local folder."""
        return load_causal_lm(name_or_path, tokenizer=tokenizer, device=device)

    @property
    def start_id(self) -> int | None:
        """The id a text starts from when the tokenizer adds none: BOS, else EOS (GPT-2's convention), else None."""
        tokenizer = self.tokenizer
        return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id

    def nll_from_embeddings(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                            target_mask: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        """Mean next-token NLL over the positions where ``target_mask`` is 1, one value per row: (B,).

        inputs_embeds (B, T, d), attention_mask (B, T) right-padded, target_mask (B, T), and target_ids
        (B, T): the token at each position, read only where target_mask is 1. The embeddings alone cannot
        say which token a position holds (a PEZ or one-hot mixture is no row of the table), so the ids
        the loss scores come separately. The token at position t is predicted from positions < t, so
        position 0 can never be a target.
        """
        check_right_padded(attention_mask)
        target_mask = target_mask.bool()  # (B, T)
        if target_mask.shape != attention_mask.shape or target_ids.shape != attention_mask.shape:
            raise ValueError(
                f"target_mask {tuple(target_mask.shape)} and target_ids {tuple(target_ids.shape)} must both match "
                f"attention_mask {tuple(attention_mask.shape)}"
            )
        if target_mask[:, 0].any():
            raise ValueError("target_mask[:, 0] must be 0: the first token has nothing before it to be predicted from")
        if (target_mask & ~attention_mask.bool()).any():
            raise ValueError("target_mask marks a padded position (attention_mask 0 there)")
        if not target_mask.any(dim=1).all():
            raise ValueError(f"rows {target_mask.any(dim=1).logical_not().nonzero().flatten().tolist()} have no target")

        predicts = target_mask[:, 1:]  # (B, T-1): position t predicts the token at t + 1
        keep = predicts.any(dim=0).nonzero().flatten()  # (K,) positions whose logits some row needs
        logits = self.logits_at(inputs_embeds, attention_mask, keep)  # (B, K, V)
        targets = target_ids.to(logits.device)[:, keep + 1]  # (B, K)
        weights = predicts[:, keep].to(logits.device)  # (B, K)
        targets = targets.masked_fill(~weights, 0)  # positions kept for another row: any valid id, weighted 0
        token_nll = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # (B, K)
        return (token_nll * weights).sum(dim=1) / weights.sum(dim=1)  # (B,)

    loss_from_embeddings = nll_from_embeddings  # the name every wrapper shares

    def logits_at(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                  keep: torch.Tensor | int) -> torch.Tensor:
        """Logits at positions ``keep`` only, (B, K, V): a (K,) index tensor (the union over the batch, since
        the model takes one list), or an int K for the last K positions. Only those positions go through the
        vocabulary projection, the most expensive matmul of a small LM."""
        inputs_embeds = inputs_embeds.to(self.device, self.embedding_table.dtype)  # (B, T, d)
        attention_mask = attention_mask.to(self.device)  # (B, T)
        keep = keep.to(self.device) if isinstance(keep, torch.Tensor) else keep
        if self._slices_logits:
            out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                             logits_to_keep=keep, use_cache=False)
            return out.logits  # (B, K, V)
        out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False)
        return out.logits[:, keep] if isinstance(keep, torch.Tensor) else out.logits[:, -keep:]  # (B, K, V)

    def next_token_logits(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits of the token after each row's last real position, (B, V), from embeddings (B, T, d) and a
        right-padded mask (B, T). Projects only that row of each sequence: the (B, T, V) logits are never formed."""
        inputs_embeds = inputs_embeds.to(self.device, self.embedding_table.dtype)            # (B, T, d)
        attention_mask = attention_mask.to(self.device)                                      # (B, T)
        hidden = self.model.base_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                       use_cache=False).last_hidden_state                    # (B, T, d)
        last = attention_mask.sum(1) - 1                                                     # (B,)
        final = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]            # (B, d)
        return self.model.get_output_embeddings()(final)                                     # (B, V)

    @torch.no_grad()
    def nll(self, texts: list[str], prefix: str = "") -> torch.Tensor:
        """Mean NLL of each text's tokens after ``prefix``, (B,): how readable the LM finds each text.

        The text is appended to the prefix verbatim and the joined string is tokenized once, as the LM
        would see it ("A photo of" + " a red circle"). A token counts as the text's when it ends inside
        the text, so a token straddling the join is scored. The tokenizer's own special tokens are kept
        (Llama's <s>); when the first scored token would open the sequence, the tokenizer's BOS (else
        EOS, GPT-2's "<|endoftext|>" convention) is put in front so it has a context. A tokenizer with
        neither cannot score its first token, and it is left out.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts must be a list of strings, got {texts!r:.80}")
        encoded = self.tokenizer([prefix + text for text in texts], truncation=True, return_offsets_mapping=True)
        start_id = self.start_id
        rows, target_rows = [], []
        for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"]):
            is_target = [end > len(prefix) and end > start for start, end in offsets]
            if is_target and is_target[0]:
                if start_id is not None:
                    ids, is_target = [start_id, *ids], [False, *is_target]
                else:
                    is_target[0] = False
            rows.append(ids)
            target_rows.append([int(t) for t in is_target])
        batch = pad_right(rows, self.tokenizer.pad_token_id or 0, self.device)
        target_mask = pad_right(target_rows, 0, self.device)["input_ids"].bool()  # (B, T); padding is not a target
        return self.nll_from_embeddings(self.embed(batch["input_ids"]), batch["attention_mask"], target_mask,
                                        batch["input_ids"])


def load_causal_lm(name_or_path: str | Path, tokenizer: PreTrainedTokenizerBase | str | None = None,
                   device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> CausalLM:
    """Any causal LM by hub id or local folder; ``tokenizer`` defaults to the one saved beside the model.

    ``dtype`` defaults to float32 because checkpoints may be stored in float16 (the toy world's are), which
    is slow and imprecise on a CPU.
    """
    model = load_from_hub_or_path(AutoModelForCausalLM.from_pretrained, str(name_or_path), OFFLINE_HINT, dtype=dtype)
    return CausalLM(model, resolve_tokenizer(tokenizer, name_or_path)).to(device)
