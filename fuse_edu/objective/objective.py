"""The weighted objective: a sum of per-model losses of one prompt, and its gradients.

The prompt lives in the *primary* causal LM's token space (model A). Every term (``terms``) scores it with
one frozen model. A term whose model is not the primary reaches the prompt through a ``FuseTranslator``:
the forward pass is exact (decode A's tokens, re-tokenize with B), the backward pass is the FUSE gradient.

- ``losses``            weighted total (B,) and per-term losses; differentiable w.r.t. the prompt's
                        embeddings or its one-hot matrix;
- ``evaluate``          the no-grad, chunked path optimisers score candidate batches with (bf16 autocast on
                        CUDA, fp32 on the CPU); ``evaluate_growing`` also scores them as unfinished text;
- ``one_hot_gradient``  GCG's d loss / d one-hot token matrix for every vocabulary entry at once;
- ``embedding_gradient`` d loss / d prompt embeddings (PEZ, diagnostics);
- ``next_token_logprobs`` the primary LM's prior over the next token (AutoDAN's readability term);
- ``without_end``       the same objective for unfinished prompts (no end-of-text score).

- ``check_finite``      ``NonFiniteLossError`` naming the first term that has given a NaN or infinite loss.

Every evaluation notes, on the device and without waiting for it, whether a term's loss was NaN or
infinite (a model with a NaN weight would otherwise "win" comparisons it confuses and report a nonsense
caption); ``check_finite`` reads the notes, one sync, at a moment the caller chooses (``Captioner``: after
each run), so an optimiser step still waits for the device only once.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from fuse_edu.adapter import FuseAdapter, FuseTranslator
from fuse_edu.batching import pad_right
from fuse_edu.models import CausalLM, FrozenModel
from fuse_edu.objective.frame import Frame
from fuse_edu.objective.terms import LMTerm, Term, start_id


class NonFiniteLossError(RuntimeError):
    """A term's loss is NaN or infinite; the message names the term and the prompt."""


def check_weights(weights: dict[str, float]) -> None:
    """Objective weights must be finite and non-negative: a ValueError naming the first one that is not."""
    for name, weight in weights.items():
        if (not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight)
                or weight < 0):
            raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {weight!r}")


@dataclass
class _Route:
    """How a term sees the prompt: directly (same model as the primary) or through a translator."""

    term: Term
    translator: FuseTranslator | None = field(default=None)


class Objective:
    """A primary causal LM (the prompt's token space) and weighted terms; see the module docstring."""

    def __init__(self, primary: CausalLM, terms: list[Term]):
        if not isinstance(primary, CausalLM):
            raise TypeError(f"the primary model must be a CausalLM (the prompt lives in its tokens), "
                            f"got {type(primary).__name__}")
        if not terms:
            raise ValueError("an Objective needs at least one term")
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"term names must be distinct (they key the per-term losses), got {names}")
        check_weights({t.name: t.weight for t in terms})
        self.primary, self.terms = primary, list(terms)
        self._non_finite: dict[str, torch.Tensor] = {}  # term name -> () bool: a NaN or inf loss seen
        self.routes = [_Route(t, self._translator(t)) for t in terms]
        # AutoDAN's readability prior reads the primary LM after the fluency term's own frame
        fluency = next((t for t in terms if isinstance(t, LMTerm) and t.model is primary and t.target is None), None)
        self.lm_frame = fluency.frame if fluency else Frame((start_id(primary),), ())

    def without_end(self) -> "Objective":
        """This objective for *unfinished* prompts: every LM term with ``end=True`` becomes ``end=False``.

        A method that grows a prompt token by token (AutoDAN) must rank partial prompts by this one: scored
        as finished sentences, a good start ("a small") loses to a short text that ends well, and growth
        drifts into fragments such as "antsandsansthe". The whole objective still chooses which finished
        prompt to report. Returns ``self`` when no term scores the end; otherwise a new Objective sharing
        the models and the FUSE translators (nothing is refitted or re-planned).
        """
        if not any(isinstance(t, LMTerm) and t.end for t in self.terms):
            return self
        opened = {id(t): t.with_end(False) for t in self.terms if isinstance(t, LMTerm) and t.end}
        variant = copy.copy(self)  # lm_frame stays: next_token_logprobs reads only its prefix
        variant.terms = [opened.get(id(t), t) for t in self.terms]
        variant.routes = [_Route(opened.get(id(r.term), r.term), r.translator) for r in self.routes]
        return variant

    def _translator(self, term: Term) -> FuseTranslator | None:
        if term.model is self.primary:
            return None
        if isinstance(term.adapter, FuseTranslator):
            return term.adapter
        if not isinstance(term.adapter, FuseAdapter):
            raise ValueError(f"term {term.name!r} uses a model other than the primary, so it needs a FuseAdapter "
                             f"(FuseAdapter.fit(primary, model)) or a FuseTranslator, got {term.adapter!r}")
        return FuseTranslator(self.primary.tokenizer, term.model.tokenizer, term.model.embedding_table, term.adapter)

    # ------------------------------------------------------------------ the prompt space
    @property
    def tokenizer(self):
        return self.primary.tokenizer

    @property
    def embedding_table(self) -> torch.Tensor:
        return self.primary.embedding_table  # (V, d_A)

    @property
    def device(self) -> torch.device:
        return self.primary.device

    @property
    def weights(self) -> dict[str, float]:
        return {t.name: float(t.weight) for t in self.terms}

    def texts(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> list[str]:
        """The prompts as text (one host transfer for the whole batch)."""
        ids, mask = _check_batch(ids, mask)
        rows = [row[m.bool()].tolist() for row, m in zip(ids.cpu(), mask.cpu())]
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    # ------------------------------------------------------------------ losses
    def losses(self, ids: torch.Tensor, mask: torch.Tensor | None = None, embeds: torch.Tensor | None = None,
               one_hot: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted total (B,) and unweighted per-term losses {name: (B,)}. Rows are right-padded prompts,
        mask (B, T). Differentiable w.r.t. ``embeds`` (default: the primary's embeddings of ``ids``) or,
        given instead, w.r.t. ``one_hot`` (B, T, V): embeds = one_hot @ table, and the LM fluency term
        also reads it as the tokens it predicts (see ``one_hot_gradient``)."""
        ids, mask = _check_batch(ids, mask)
        if one_hot is not None:
            if embeds is not None:
                raise ValueError("pass embeds or one_hot, not both: one_hot defines the embeddings")
            embeds = one_hot.to(self.embedding_table.dtype) @ self.embedding_table.detach()  # (B, T, d_A)
        return self._losses(ids.to(self.device), mask.to(self.device), embeds, texts=None, one_hot=one_hot)[:2]

    def check_finite(self) -> None:
        """``NonFiniteLossError`` naming the first term that has given a NaN or infinite loss since this
        objective was built (shared with its ``without_end`` variant); one host-device sync."""
        for name, seen in self._non_finite.items():
            if bool(seen):
                raise NonFiniteLossError(f"the {name!r} term gave a NaN or infinite loss: that model's weights or "
                                         f"inputs hold NaN or inf")

    def _note_finite(self, name: str, loss: torch.Tensor) -> None:
        bad = ~torch.isfinite(loss.detach()).all()                                  # () on the device, no sync
        self._non_finite[name] = bad if name not in self._non_finite else self._non_finite[name] | bad

    def _losses(self, ids, mask, embeds, texts: list[str] | None, one_hot=None):
        """``losses``, and the weighted total of the prompts as unfinished text (``without_end``'s), (B,);
        ``texts``, the prompts decoded in advance (``evaluate`` decodes a batch once)."""
        embeds = self.primary.embed(ids) if embeds is None else embeds                  # (B, T, d_A)
        total, unfinished, per_term = 0.0, 0.0, {}
        for route in self.routes:
            if route.translator is None:
                term_ids, term_embeds, term_mask = ids, embeds, mask
            elif torch.is_grad_enabled() and embeds.requires_grad:
                term_embeds, term_ids, term_mask = route.translator(ids, embeds, mask)  # (B, T_B, d_B) FUSE backward
            else:
                if texts is None:
                    texts = self.texts(ids, mask)
                term_ids, term_embeds, term_mask = self._exact(route.term.model, texts)  # same forward, no plan
            direct = one_hot if route.translator is None else None
            loss, open_loss = route.term.loss_and_unfinished(term_ids, term_embeds, term_mask, direct)  # (B,), (B,)
            per_term[route.term.name] = loss.float()
            self._note_finite(route.term.name, loss)
            total = total + route.term.weight * loss.float()
            unfinished = unfinished + route.term.weight * open_loss.float()
        return total, per_term, unfinished

    def _exact(self, model: FrozenModel, texts: list[str]):
        """The translator's forward without its backward plan: re-tokenize the decoded prompts, look up.
        Re-tokenizing text has no device version; the one host transfer per batch is the decoding."""
        rows = model.tokenizer(texts, add_special_tokens=False)["input_ids"]
        # a prompt that re-tokenizes to nothing keeps a masked slot
        padded = pad_right(rows, pad_id=0, device=self.device, allow_empty=True)
        term_ids, term_mask = padded["input_ids"], padded["attention_mask"]            # (B, T_B) each
        table = model.embedding_table
        term_embeds = table[term_ids.to(table.device)].to(self.device)                 # (B, T_B, d_B)
        return term_ids, term_embeds * term_mask.unsqueeze(-1).to(term_embeds.dtype), term_mask

    @torch.no_grad()
    def evaluate(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                 chunk_size: int = 256) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``losses`` without gradients, ``chunk_size`` prompts at a time, in bf16/fp16 autocast on CUDA."""
        return self._evaluate(ids, mask, chunk_size)[:2]

    @torch.no_grad()
    def evaluate_growing(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                         chunk_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """For prompts that may still grow (AutoDAN): the weighted loss as unfinished text, (B,), what
        ``without_end().evaluate`` gives, and the total and per-term losses as finished text, what
        ``evaluate`` gives, all from one evaluation of each prompt."""
        total, per_term, unfinished = self._evaluate(ids, mask, chunk_size)
        return unfinished, total, per_term

    def _evaluate(self, ids, mask, chunk_size):
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        ids, mask = _check_batch(ids, mask)
        ids, mask = ids.to(self.device), mask.to(self.device)
        # secondary models read text: decode the whole batch in one host transfer, not one per chunk
        texts = self.texts(ids, mask) if any(r.translator for r in self.routes) else None
        totals, opens, parts = [], [], {t.name: [] for t in self.terms}
        with _autocast(self.device):
            for start in range(0, ids.shape[0], chunk_size):
                chunk = slice(start, start + chunk_size)
                total, per_term, unfinished = self._losses(ids[chunk], mask[chunk], None, texts and texts[chunk])
                totals.append(total.float())
                opens.append(unfinished.float())
                for name, loss in per_term.items():
                    parts[name].append(loss.float())
        return torch.cat(totals), {name: torch.cat(chunks) for name, chunks in parts.items()}, torch.cat(opens)

    # ------------------------------------------------------------------ gradients and the LM prior
    def embedding_gradient(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """d total / d prompt embeddings, (B, T, d_A); secondary terms contribute their FUSE gradient."""
        ids, mask = _check_batch(ids, mask)
        embeds = self.primary.embed(ids.to(self.device)).detach().requires_grad_(True)  # (B, T, d_A)
        with torch.enable_grad(), _autocast(self.device):
            total, _ = self.losses(ids, mask, embeds)
            (grad,) = torch.autograd.grad(total.sum(), embeds)  # rows are independent: the sum keeps each row's gradient
        return grad                                                                      # (B, T, d_A)

    def one_hot_gradient(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """d total / d one-hot token matrix, (B, T, V): GCG's first-order guess at every swap at once.

        Two paths. Through the embeddings (embeds = one_hot @ table): (d total / d embeds) @ table.T, one
        matmul. And through the LM fluency term's targets: that term also scores each prompt token as the
        token it predicts, -log p(v | prefix), linear in the one-hot, so its gradient is the LM's
        -log-probabilities themselves (AutoDAN adds the same numbers as its readability prior). Autograd
        through ``losses(one_hot=...)`` computes both. (Exact for embedding layers that only look rows up,
        as GPT-2's; a layer that rescales would need its scale.)
        """
        ids, mask = _check_batch(ids, mask)
        table = self.embedding_table.detach()
        one_hot = F.one_hot(ids.to(self.device), table.shape[0]).to(table.dtype).requires_grad_(True)  # (B, T, V)
        with torch.enable_grad(), _autocast(self.device):  # autocast on CUDA, as ``evaluate``; the leaf stays fp32
            total, _ = self.losses(ids, mask, one_hot=one_hot)
            (grad,) = torch.autograd.grad(total.float().sum(), one_hot)  # rows are independent: the sum keeps each row's
        return grad                                                                        # (B, T, V)

    @torch.no_grad()
    def next_token_logprobs(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Primary LM's log p(next token | <bos> + prefix + prompt), (B, V). Reads the last hidden state and
        projects only that row, so the (B, T, V) logits are never formed."""
        ids, mask = _check_batch(ids, mask)
        ids, mask = ids.to(self.device), mask.to(self.device)
        lm, frame = self.primary, self.lm_frame
        # only the frame's prefix: whatever follows the prompt is what this distribution predicts
        framed, framed_mask = Frame(frame.prefix_ids, ()).apply(lm.embed(ids), mask, lm.embedding_table)  # (B, W, d)
        with _autocast(self.device):
            logits = lm.next_token_logits(framed, framed_mask)                              # (B, V)
        return logits.float().log_softmax(-1)


def _check_batch(ids: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or ids.dtype != torch.long:
        raise ValueError(f"ids must be a (B, T) long tensor, got {getattr(ids, 'dtype', type(ids))} "
                         f"{tuple(getattr(ids, 'shape', ()))}")
    if ids.shape[1] == 0:
        raise ValueError("ids has no positions (T = 0): a prompt needs at least one token")
    if mask is None:
        mask = torch.ones_like(ids)
    if mask.shape != ids.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must match ids {tuple(ids.shape)}")
    return ids, mask.long()


def _autocast(device: torch.device):
    """bf16 autocast on CUDA (fp16 where bf16 is unsupported); nothing on CPU, where fp32 is faster and exact."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
