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
"""

from __future__ import annotations

import torch

from fuse_edu.optim.candidates import lm_top_tokens, single_swap_candidates, top_k_replacements
from fuse_edu.optim.loop import CandidateSearch
from fuse_edu.optim.word_moves import WORD_SCORES, word_swap_scores

ACCEPT_RULES = ("best", "improve")


class GCG(CandidateSearch):
    """``GCG(objective, prompt_length).run(steps) -> RunResult``; see the module docstring.

    ``topk``: swaps considered per position. ``candidates_per_step``: how many of the T*topk swaps are
    scored each step. ``word_score``: how a whole-word swap is ranked, ``"first"`` or ``"sum"`` of its
    sub-tokens' gradients (``word_swap_scores``). Other arguments: ``CandidateSearch``.
    """

    name = "gcg"

    def __init__(self, objective, prompt_length: int = 6, topk: int = 64, candidates_per_step: int = 128,
                 seed: int = 0, budget: int | None = None, init_text: str | None = None,
                 allowed: str | torch.Tensor = "word", accept: str = "best", chunk_size: int = 256,
                 progress: bool = True, variable_length: bool = False, edit_share: float = 0.25,
                 words: list[str] | None = None, word_share: float = 0.25,
                 initial: tuple[torch.Tensor, int] | None = None, word_score: str = "first"):
        if accept not in ACCEPT_RULES:
            raise ValueError(f"accept must be one of {', '.join(ACCEPT_RULES)}, got {accept!r}")
        if word_score not in WORD_SCORES:
            raise ValueError(f"word_score must be one of {', '.join(WORD_SCORES)}, got {word_score!r}")
        self.word_score = word_score
        self.accept_rule = accept
        super().__init__(objective, prompt_length, candidates_per_step, seed=seed, budget=budget,
                         init_text=init_text, allowed=allowed, chunk_size=chunk_size, progress=progress,
                         variable_length=variable_length, edit_share=edit_share, words=words,
                         word_share=word_share, initial=initial)
        n_allowed = len(self.allowed_ids)
        if not isinstance(topk, int) or isinstance(topk, bool) or not 1 <= topk < n_allowed:
            raise ValueError(f"topk must be an int from 1 to {n_allowed - 1} (the allowed tokens but the current one), "
                             f"got {topk!r}")
        self.topk = topk

    def propose(self, n: int) -> torch.Tensor:
        mask = (torch.arange(self.prompt_length, device=self.current.device) < self.length).long()  # (T,)
        grad = self.objective.one_hot_gradient(self.current[None], mask[None])[0]                   # (T, V)
        self.grad = grad                                                                           # word swaps reuse it
        replacements = top_k_replacements(grad, self.current, self.allowed, self.topk)            # (T, k)
        length = self.length if self.variable_length else None
        return single_swap_candidates(self.current, replacements, n, self.generator, length)     # (n, T)

    def propose_word_swaps(self, m: int, is_start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Half: the (position, word) pairs with the most negative first-order loss change, as for tokens.
        Half: drawn at random. For a word of several sub-tokens the first-order guess is poor (the LM scores
        " lav" + "ender" as if "ender" followed the old word), so the gradient alone kept missing
        multi-token colours on toy scenes; the random half finds them (measured on 5 scenes: 1 of 5
        colours missed instead of 2)."""
        ranked = m - m // 2
        scores = word_swap_scores(self.grad, self.current, is_start, end, self.words, self.word_score)  # (T, n_words)
        flat = scores.flatten().topk(min(ranked, scores.numel()), largest=False).indices           # (ranked,)
        n_words = scores.shape[1]
        start, word = super().propose_word_swaps(m - len(flat), is_start, end)                     # the random half
        return torch.cat([flat // n_words, start]), torch.cat([flat % n_words, word])

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
