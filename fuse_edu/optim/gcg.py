"""GCG, Greedy Coordinate Gradient (Zou et al. 2023): gradient-ranked single-token swaps, scored exactly.

One step:

1. the gradient of the loss w.r.t. the prompt's one-hot token matrix, (T, V), from one backward pass
   and one matmul (``Objective.one_hot_gradient``); through FUSE for the secondary models;
2. per position, the k allowed tokens whose gradient is most negative: a first-order guess at which
   swaps lower the loss (``top_k_replacements``);
3. a batch of distinct single-swap candidates drawn from those T*k swaps on the device;
4. every candidate scored exactly; the next step starts from the batch's best, even when it is worse
   than the current prompt, as in the paper (``accept="improve"`` keeps only improvements instead).

The gradient only ranks swaps; step 4 decides. That is why an approximate (FUSE) gradient is enough.

With ``variable_length=True`` (``fuse_edu.optim.loop``) a step also tries deletions and insertions; a slot
being inserted has no gradient yet, so its tokens come from the LM's top-k next tokens after the prefix
before it (AutoDAN's readability prior), and the gradient keeps ranking the swaps.

**Whole words (our addition).** Given a word list, part of each batch replaces a whole word: the gradient
ranks the words' first sub-tokens at each word start, exactly as it ranks single tokens, and the primary
LM's own continuation of that first token picks which listed word it begins (``word_moves.lm_word_choice``).
Single-token swaps cannot reach " lavender" (" lav" + "ender"): "a small lav heart" is worse than where
they started.
"""

from __future__ import annotations

import torch

from fuse_edu.optim.candidates import lm_top_tokens, single_swap_candidates, top_k_replacements
from fuse_edu.optim.loop import CandidateSearch
from fuse_edu.optim.word_moves import first_tokens, lm_word_choice

ACCEPT_RULES = ("best", "improve")


class GCG(CandidateSearch):
    """``GCG(objective, prompt_length).run(steps) -> RunResult``; see the module docstring.

    ``topk``: swaps considered per position. ``candidates_per_step``: how many of the T*topk swaps are
    scored each step. ``accept``: "best" (the paper) or "improve". Other arguments (``search``):
    ``CandidateSearch``.
    """

    name = "gcg"

    options = CandidateSearch.options + ("topk", "accept")

    def __init__(self, objective, prompt_length: int = 8, candidates_per_step: int | None = None, seed: int = 0,
                 budget: int | None = None, allowed: str | torch.Tensor = "word", chunk_size: int = 256,
                 progress: bool = True, topk: int = 16, accept: str = "best", **search):
        if accept not in ACCEPT_RULES:
            raise ValueError(f"accept must be one of {', '.join(ACCEPT_RULES)}, got {accept!r}")
        self.accept_rule = accept
        super().__init__(objective, prompt_length, candidates_per_step, seed=seed, budget=budget, allowed=allowed,
                         chunk_size=chunk_size, progress=progress, **search)
        n_allowed = len(self.allowed_ids)
        if not isinstance(topk, int) or isinstance(topk, bool) or not 1 <= topk < n_allowed:
            raise ValueError(f"topk must be an int from 1 to {n_allowed - 1} (the allowed tokens but the current one), "
                             f"got {topk!r}")
        self.topk = topk
        self.first_tokens = first_tokens(self.words) if self.words is not None else None

    @classmethod
    def check_vocabulary(cls, allowed_count: int, candidates_per_step: int | None = None, topk: int = 16,
                         **options) -> None:
        if allowed_count < topk + 1:
            raise ValueError(f"GCG with topk {topk} needs at least {topk + 1} allowed tokens (the current one and "
                             f"{topk} others), but this vocabulary allows {allowed_count}; lower --topk or widen "
                             f"the vocabulary")

    def propose(self, n: int) -> torch.Tensor:
        mask = (torch.arange(self.prompt_length, device=self.current.device) < self.length).long()  # (T,)
        grad = self.objective.one_hot_gradient(self.current[None], mask[None])[0]                   # (T, V)
        self.grad = grad                                                                           # word swaps reuse it
        replacements = top_k_replacements(grad, self.current, self.allowed, self.topk)            # (T, k)
        length = self.length if self.variable_length else None
        return single_swap_candidates(self.current, replacements, n, self.generator, length)     # (n, T)

    def propose_word_swaps(self, m: int, is_start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As for single tokens: at each word start, the ``topk`` first sub-tokens of listed words with the most
        negative first-order loss change, and a random draw of m (word start, first token) pairs among them.
        Each pair becomes the listed word the LM continues its first token with (``lm_word_choice``): a
        first-order score ranks " lav" well for a lavender shape, but cannot tell lavender from lava."""
        unique, _ = self.first_tokens                                                              # (U,)
        own = self.grad.gather(1, self.current[:, None])                                           # (T, 1)
        scores = self.grad[:, unique] - own                                                        # (T, U)
        k = min(self.topk, len(unique))
        top = scores.topk(k, dim=1, largest=False).indices                                         # (T, k)
        keys = torch.rand(top.numel(), generator=self.generator, device=top.device)                # (T*k,)
        keys = keys + 2.0 * ~is_start.repeat_interleave(k)                                         # word starts first
        pick = keys.topk(min(m, top.numel()), largest=False).indices                               # (m,)
        start, first = pick // k, unique[top.flatten()[pick]]                                      # (m,) each
        return start, lm_word_choice(self.objective, self.current, start, first, self.words, self.generator)

    def insertion_tokens(self, positions: torch.Tensor) -> torch.Tensor:
        top = lm_top_tokens(self.objective, self.current, self.allowed, self.topk)                  # (T, k)
        pick = torch.randint(self.topk, positions.shape, generator=self.generator, device=positions.device)
        return top[positions, pick]                                                                # (m,)

    def accept(self, ids: torch.Tensor, length: torch.Tensor, loss: torch.Tensor) -> None:
        if self.accept_rule == "best":
            self.current, self.length, self.current_loss = ids, length, loss
        else:  # only an improvement moves the prompt; torch.where keeps it on the device
            better = loss < self.current_loss
            self.current = torch.where(better, ids, self.current)
            self.length = torch.where(better, length, self.length)
            self.current_loss = torch.where(better, loss, self.current_loss)
