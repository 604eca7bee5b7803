"""AutoDAN (Zhu et al. 2023): grow a readable prompt one token at a time.

Each step appends one token to the prompt(s) a search strategy chooses to expand:

1. The new slot starts with a token sampled from the primary LM's next-token distribution (over the
   allowed tokens), so the gradient below is taken at a plausible point; the seed picks the sample.
2. Every allowed token v is scored for the slot by  score(v) = -g_v + w * log p_LM(v | prefix + prompt),
   where g_v = dL/d(one-hot)[slot, v] is the first-order change of the loss when the slot holds v (lower
   is better, hence the minus) and the log-prob keeps the text readable; w is ``readability_weight``.
3. The ``batch_size`` top-scoring tokens become candidate prompts, evaluated exactly in one batched,
   chunked ``objective.evaluate`` call. With ``refine_steps`` > 0 the slot is set to the best candidate
   so far, the gradient is taken again there and the next top tokens not yet tried are evaluated.
4. The search strategy (``fuse_edu.optim.search``: greedy, beam, ucs) keeps the children it wants.

The run reports the lowest-loss prompt of length ``prompt_length`` (the search grows every prompt that
far), or, with ``variable_length=True``, the lowest-loss prompt of any length up to it: every prefix
was evaluated exactly on the way, so a shorter caption that ends well costs nothing extra to find.

**Growing is not finishing.** An objective may score the end of the text (``LMTerm(end=True)``: the
caption must be a whole sentence). Every prompt AutoDAN ranks while growing is unfinished by design, so
ranking them as finished sentences picks fragments that happen to end well, token after token, and
grows nonsense ("antsandsansthe"). So the gradient, the candidates and the strategy all use
``objective.without_end()``, while the reported prompt is the best under the whole objective: each
candidate's evaluation gives both losses at once (``objective.evaluate_growing``), so this costs no
extra evaluation. Without an end term the two objectives are one and nothing changes.

**Whole words (our addition, off unless ``words`` is given).** Growing token by token cannot reach a
word the tokenizer splits: "a small yellow hex" is a poor caption on the way to "hexagon", so the
candidate " hex" loses to " heart" and "agon" is never tried (DESIGN.md §4 trap 1, the trap GCG's word
swaps answer). Given a word list, a candidate token that begins exactly one listed word of several
sub-tokens is written with the rest of that word in the same step: the child of "a small yellow" via
" hex" is "a small yellow hexagon", evaluated once, like any other candidate. Ranking is unchanged
(the gradient and the log-prob of the first sub-token); children then differ in length, so prompts are
held ``prompt_length`` wide, a word that does not fit is cut, and a full prompt's children rewrite its
last token.
Captioning the toy preset turns it on (``fuse_edu.caption``) with the same word list as the word swaps.

g comes from ``objective.one_hot_gradient``, the same gradient GCG ranks swaps by, gathered at the slot.
It already holds the fluency term's own path, -lm_weight/n * log p(v | prefix) (the LM scores the slot's
token as well as reading it), so ``readability_weight`` is readability *on top of* what the objective
asks for: 0 means "trust the objective", larger trades loss for more likely text. All candidate work is
gather/scatter/topk on the objective's device; the host sees one small tensor per step (the numbers
logged in ``history``).
Evaluations counted in the budget are the exact candidate evaluations; gradient passes are not, as in GCG.
"""

from __future__ import annotations

import torch

from fuse_edu.optim.base import Budget, RunResult, SteppedRun
from fuse_edu.optim.search import BestPrompt, Prompts, SearchStrategy, make_strategy
from fuse_edu.optim.candidates import allowed_token_mask


def word_completions(tokenizer, words: list[str], vocab: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """For every token that begins exactly one listed word of several sub-tokens (as spelled mid-sentence,
    " hex" -> " hexagon"), the rest of that word: (V, E) ids padded with 0 and (V,) how many (0: none).
    A first token shared by two listed words completes neither. Built once, on the host, at construction."""
    rows = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    starts: dict[int, list[list[int]]] = {}
    for row in rows:
        starts.setdefault(row[0], []).append(row)
    longest = max([len(r) for r in rows] + [2])
    completion = torch.zeros(vocab, longest - 1, dtype=torch.long)
    extra = torch.zeros(vocab, dtype=torch.long)
    for first, found in starts.items():
        if len(found) == 1 and len(found[0]) > 1 and first < vocab:
            completion[first, :len(found[0]) - 1] = torch.tensor(found[0][1:])
            extra[first] = len(found[0]) - 1
    return completion.to(device), extra.to(device)


class AutoDAN(SteppedRun):
    """Grow a prompt token by token, scoring candidates by -gradient + w * LM log-prob (module docstring)."""

    def __init__(self, objective, prompt_length: int = 8, batch_size: int = 64, readability_weight: float = 1.0,
                 strategy: str | SearchStrategy = "greedy", beam_width: int | None = None,
                 frontier_cap: int | None = None, refine_steps: int = 0, allowed: torch.Tensor | str = "word",
                 chunk_size: int = 256, seed: int = 0, budget: int | None = None, progress: bool = True,
                 variable_length: bool = False, words: list[str] | None = None):
        for label, value, least in (("prompt_length", prompt_length, 1), ("batch_size", batch_size, 1),
                                    ("refine_steps", refine_steps, 0), ("chunk_size", chunk_size, 1),
                                    ("seed", seed, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{label} must be an int >= {least}, got {value!r}")
        weight = torch.tensor(float(readability_weight)) if isinstance(readability_weight, (int, float)) else None
        if weight is None or not torch.isfinite(weight):
            raise ValueError(f"readability_weight must be a finite number, got {readability_weight!r}")
        self.objective, self.max_length, self.batch_size = objective, prompt_length, batch_size
        self.readability_weight, self.refine_steps, self.chunk_size = float(weight), refine_steps, chunk_size
        self.seed, self.progress, self.variable_length = seed, progress, bool(variable_length)
        self.device = objective.device
        # grow under the objective for unfinished prompts; report under the whole one (module docstring)
        self.growth = objective.without_end() if hasattr(objective, "without_end") else objective
        self.closes = self.growth is not objective
        vocab = objective.embedding_table.shape[0]
        self.allowed = (allowed_token_mask(objective.tokenizer, allowed, size=vocab) if isinstance(allowed, str)
                        else torch.as_tensor(allowed)).to(self.device, torch.bool)  # (V,)
        if self.allowed.shape != (vocab,):
            raise ValueError(f"allowed must be a kind name or a bool mask of shape ({vocab},), "
                             f"got {tuple(self.allowed.shape)}")
        self.completion, self.extra = (word_completions(objective.tokenizer, words, vocab, self.device)
                                       if words else (None, None))  # (V, E) rest of each word, (V,) its length
        tries = batch_size * (1 + refine_steps)
        if int(self.allowed.sum()) < tries:  # one sync, at construction
            raise ValueError(f"batch_size x (1 + refine_steps) = {tries} candidates per slot, but only "
                             f"{int(self.allowed.sum())} tokens are allowed")
        if isinstance(strategy, SearchStrategy):
            if strategy.max_length != prompt_length or beam_width is not None or frontier_cap is not None:
                raise ValueError(f"a ready strategy brings its own settings: its max_length ({strategy.max_length}) "
                                 f"must equal prompt_length ({prompt_length}), and beam_width/frontier_cap must be None")
            self.strategy = strategy
        else:
            self.strategy = make_strategy(strategy, prompt_length, beam_width, frontier_cap)
        self.budget_cap = budget
        Budget(budget)  # validates the cap
        if budget is not None and budget < tries:  # the first step expands the empty prompt alone
            raise ValueError(f"budget {budget} is smaller than one AutoDAN step, which evaluates batch_size x "
                             f"(1 + refine_steps) = {tries} candidates")

    # ---- one step -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start from the empty prompt (``run`` calls this; call it yourself before stepping by hand)."""
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.budget, self.steps_done = Budget(self.budget_cap), 0
        self.strategy.start(Prompts.root(self.max_length, 0, self.device))
        self.best = None  # BestPrompt, once the objective's term names are known
        self.term_names: list[str] = []

    def step_cost(self) -> int:
        """Candidate evaluations the next step will spend (known on the host without a sync)."""
        return self.strategy.expand_size * self.batch_size * (1 + self.refine_steps)

    def slot_scores(self, ids: torch.Tensor, mask: torch.Tensor, slot: torch.Tensor,
                    logprobs: torch.Tensor) -> torch.Tensor:
        """score(v) = -g_v + w * log p(v) for every token, at each row's ``slot``: (N, V).

        ids, mask (N, W) with the slot already holding some token; slot (N,); logprobs (N, V) of the LM.
        """
        grad = self.growth.one_hot_gradient(ids, mask)  # (N, W, V)
        grad_slot = grad.gather(1, slot[:, None, None].expand(-1, 1, grad.shape[-1])).squeeze(1)  # (N, V)
        return -grad_slot.float() + self.readability_weight * logprobs.float()  # (N, V)

    def step(self) -> dict:
        """Grow the prompts the strategy expands by one token; return this step's history row."""
        parents = self.strategy.expand()  # N prompts
        n = len(parents)
        # no prompt can be longer after this step; with whole words, lengths differ, so hold them all full width
        width = self.max_length if self.completion is not None else min(self.max_length, self.steps_done + 1)
        # (N,) the new token goes right after each parent's last token (a full prompt: over its last one)
        slot = parents.lengths.clamp(max=self.max_length - 1)
        ids = parents.ids[:, :width].clone()  # (N, W)
        child_mask = (torch.arange(width, device=self.device)[None] <= slot[:, None]).long()  # (N, W)
        # The parents, at least one column wide: the empty root is one masked slot (the objective wants T >= 1).
        context = max(1, width - 1)
        logprobs = self.growth.next_token_logprobs(parents.ids[:, :context], parents.mask(context))  # (N, V)
        logprobs = logprobs.float().masked_fill(~self.allowed, float("-inf"))  # (N, V)
        start = torch.multinomial(logprobs.softmax(-1), 1, generator=self.generator)  # (N, 1)
        ids.scatter_(1, slot[:, None], start)

        best_loss = torch.full((n,), float("inf"), device=self.device)  # (N,)
        best_token = start.squeeze(1)  # (N,)
        tried = torch.zeros(n, self.allowed.shape[0], dtype=torch.bool, device=self.device)  # (N, V)
        children, reported = [], []  # ranked as unfinished prompts (the strategy); as finished (the report)
        for _ in range(1 + self.refine_steps):  # refinement iterations, not a loop over candidates
            scores = self.slot_scores(ids, child_mask, slot, logprobs)  # (N, V)
            scores = scores.masked_fill(~self.allowed | tried, float("-inf"))
            top = scores.topk(self.batch_size, dim=-1).indices  # (N, K)
            tried.scatter_(1, top, True)
            cand = ids.repeat_interleave(self.batch_size, 0)  # (N*K, W)
            cand.scatter_(1, slot.repeat_interleave(self.batch_size)[:, None], top.reshape(-1, 1))
            lengths = slot.repeat_interleave(self.batch_size) + 1  # (N*K,)
            if self.completion is not None:
                cand, lengths = self.complete_words(cand, lengths, top.reshape(-1))
            cand_mask = (torch.arange(width, device=self.device)[None] < lengths[:, None]).long()  # (N*K, W)
            if self.closes:  # (N*K,) as unfinished prompts, to grow by; (N*K,) and terms as finished, to report
                loss, finished, terms = self.objective.evaluate_growing(cand, cand_mask, chunk_size=self.chunk_size)
            else:
                loss, terms = self.objective.evaluate(cand, cand_mask, chunk_size=self.chunk_size)  # (N*K,)
                finished = loss
            self.budget.spend(cand.shape[0])
            self.term_names = list(terms)
            padded = torch.zeros(cand.shape[0], self.max_length, dtype=torch.long, device=self.device)
            padded[:, :width] = cand  # (N*K, M)
            term_losses = torch.stack([terms[k].float() for k in self.term_names], dim=1)  # (N*K, n_terms)
            children.append(Prompts(padded, lengths, loss.float(),
                                    parents.cost.repeat_interleave(self.batch_size) + loss.float(), term_losses))
            reported.append(Prompts(padded, lengths, finished.float(), finished.float(), term_losses))
            # Refine around each parent's best token so far, over all iterations (later ones try new tokens only).
            step_loss, step_i = loss.float().view(n, self.batch_size).min(1)  # (N,), (N,)
            improved = step_loss < best_loss  # (N,)
            best_loss = torch.where(improved, step_loss, best_loss)
            best_token = torch.where(improved, top.gather(1, step_i[:, None]).squeeze(1), best_token)  # (N,)
            ids.scatter_(1, slot[:, None], best_token[:, None])

        children = Prompts.cat(children)
        if self.best is None:
            self.best = BestPrompt(self.max_length, len(self.term_names), self.device,
                                   longest_first=not self.variable_length)
        self.best.update(Prompts.cat(reported))
        host_needs = self.strategy.accept(children)
        self.steps_done += 1
        logged = torch.cat([torch.stack([self.best.prompt.loss[0], children.loss.min(),
                                         self.best.prompt.lengths[0].float()]), host_needs.float()])
        values = logged.tolist()  # the step's one host-device sync
        self.strategy.synced(values[3:])
        return {"step": self.steps_done, "best_loss": values[0], "step_loss": values[1], "length": int(values[2]),
                "evaluations": self.budget.spent, "frontier": self.strategy.frontier_size}

    def complete_words(self, cand: torch.Tensor, lengths: torch.Tensor, token: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the rest of each candidate's word after its new token: cand (C, W), lengths (C,) with the
        token last, token (C,) -> the completed candidates and their lengths (a word too long is cut at W)."""
        W, E = cand.shape[1], self.completion.shape[1]
        extra = self.extra[token]                                                       # (C,)
        after = torch.arange(W, device=self.device)[None] - lengths[:, None]            # (C, W) slot - first free slot
        write = (after >= 0) & (after < extra[:, None])                                 # (C, W)
        rest = self.completion[token].gather(1, after.clamp(0, E - 1))                 # (C, W)
        return torch.where(write, rest, cand), (lengths + extra).clamp(max=W)

    # ---- the run loop ----------------------------------------------------------------------------------

    def run(self, steps: int | None = None, callback=None) -> RunResult:
        """Grow until the strategy finishes, ``steps`` steps are done, or the next step would overspend the budget.

        A step appends one token (greedy, beam) or expands the cheapest queued prompts (ucs), so
        ``steps=None`` means as many as the search needs: ``prompt_length`` for greedy and beam.
        ``callback(row)``, if given, receives each step's history row as it is made.
        """
        if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
            raise ValueError(f"steps must be a positive int or None, got {steps!r}")
        self.reset()
        total = steps if steps is not None else (self.max_length if self.strategy.name != "ucs" else None)
        history, clock = self._loop(steps, total, f"autodan-{self.strategy.name}", self.step_cost,
                                    lambda: self.strategy.finished, callback)
        return self._result(history[-1]["length"], history, clock)
