"""AutoDAN (Zhu et al. 2023): grow a readable prompt one token at a time.

Each step appends one token to the prompt(s) a search strategy chooses to expand:

1. The new slot starts with a token sampled from the primary LM's next-token distribution (over the
   allowed tokens), so the gradient below is taken at a plausible point; the seed picks the sample.
2. Every allowed token v is scored for the slot by  score(v) = -g_v + w * log p_LM(v | prefix + prompt),
   where g_v = dL/d(one-hot)[slot, v] is the first-order change of the loss when the slot holds v (lower
   is better, hence the minus) and the log-prob keeps the text readable; w is ``readability_weight``.
3. The ``candidates_per_step`` top-scoring tokens become candidate prompts, evaluated exactly in one batched,
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
candidate " hex" loses to " heart" and "agon" is never tried (the problem GCG's word swaps answer). Given
a word list, a candidate token that begins a listed word of several sub-tokens is written with the rest of
a listed word in the same step: of the words it begins, the one the LM continues it with
(``word_moves.lm_word_choice``). The child of "a small yellow" via " hex" is "a small yellow hexagon",
evaluated once, like any other candidate. Ranking is unchanged (the gradient and the log-prob of the first
sub-token); children then differ in length, so prompts are held ``prompt_length`` wide, a word that does
not fit is cut, and a full prompt's children rewrite its last token. A captioner turns it on with the word
list its word swaps use.

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

from fuse_edu.optim.base import Budget, Optimiser, RunResult, Stopwatch, int_at_least
from fuse_edu.optim.search import BestPrompt, Prompts, SearchStrategy, make_strategy
from fuse_edu.optim.word_moves import WordTable, lm_word_choice


class AutoDAN(Optimiser):
    """Grow a prompt token by token, scoring candidates by -gradient + w * LM log-prob (module docstring).

    ``candidates_per_step``: tokens tried per expanded prompt and refinement. Default: 64, or with a budget
    the most that lets the strategy grow a prompt to full length within it (``candidates_for``), and never
    more than the allowed tokens. ``strategy``, ``beam_width``, ``frontier_cap``: ``search.make_strategy``
    (or a ready ``SearchStrategy``). Other arguments: ``Optimiser``.
    """

    name = "autodan"
    can_finish = True
    options = ("strategy", "beam_width", "frontier_cap", "refine_steps", "readability_weight", "variable_length",
               "words")

    def __init__(self, objective, prompt_length: int = 8, candidates_per_step: int | None = None, seed: int = 0,
                 budget: int | None = None, allowed: str | torch.Tensor = "word", chunk_size: int = 256,
                 progress: bool = True, readability_weight: float = 1.0, strategy: str | SearchStrategy = "greedy",
                 beam_width: int | None = None, frontier_cap: int | None = None, refine_steps: int = 0,
                 variable_length: bool = False, words: list[str] | None = None):
        self.refine_steps = int_at_least(refine_steps, "refine_steps", 0)
        super().__init__(objective, prompt_length, candidates_per_step, seed=seed, budget=budget, allowed=allowed,
                         chunk_size=chunk_size, progress=progress)
        n_allowed = len(self.allowed_ids)
        if candidates_per_step is None:  # the default, capped so that every try is a different allowed token
            derived = self.candidates_for(None, budget, prompt_length=prompt_length, strategy=strategy,
                                          beam_width=beam_width, refine_steps=self.refine_steps)
            self.candidates_per_step = max(1, min(derived, n_allowed // (1 + self.refine_steps)))
        weight = torch.tensor(float(readability_weight)) if isinstance(readability_weight, (int, float)) else None
        if weight is None or not torch.isfinite(weight):
            raise ValueError(f"readability_weight must be a finite number, got {readability_weight!r}")
        self.max_length, self.readability_weight = prompt_length, float(weight)
        self.variable_length = bool(variable_length)
        # grow under the objective for unfinished prompts; report under the whole one (module docstring)
        self.growth = objective.without_end() if hasattr(objective, "without_end") else objective
        self.closes = self.growth is not objective
        vocab = objective.embedding_table.shape[0]
        self.words = WordTable.of(objective.tokenizer, list(words), size=vocab, device=self.device) if words else None
        if self.words is not None:  # (V,) tokens that begin a listed word of several sub-tokens
            self.begins_longer = torch.zeros(vocab, dtype=torch.bool, device=self.device)
            self.begins_longer[self.words.ids[self.words.lengths > 1, 0]] = True
        tries = self.candidates_per_step * (1 + self.refine_steps)
        if n_allowed < tries:
            raise ValueError(f"candidates_per_step x (1 + refine_steps) = {tries} candidates per slot, but only "
                             f"{n_allowed} tokens are allowed")
        if isinstance(strategy, SearchStrategy):
            if strategy.max_length != prompt_length or beam_width is not None or frontier_cap is not None:
                raise ValueError(f"a ready strategy brings its own settings: its max_length ({strategy.max_length}) "
                                 f"must equal prompt_length ({prompt_length}), and beam_width/frontier_cap must be None")
            self.strategy = strategy
        else:
            self.strategy = make_strategy(strategy, prompt_length, beam_width, frontier_cap)
        self.check_budget(budget, self.candidates_per_step, refine_steps=self.refine_steps)
        self.reset()

    @classmethod
    def candidates_for(cls, candidates_per_step: int | None = None, budget: int | None = None,
                       prompt_length: int = 8, strategy: str | SearchStrategy = "greedy",
                       beam_width: int | None = None, refine_steps: int = 0, **options) -> int:
        """With a budget and no number given: the most candidates per expanded prompt (at most the default) that
        let the strategy grow a prompt to ``prompt_length`` tokens within the budget. Greedy expands one prompt
        per step, beam one then ``beam_width`` per step, ucs ``beam_width`` per step; too few candidates per slot
        is better than a caption cut off after two tokens."""
        if candidates_per_step is not None or budget is None:
            return super().candidates_for(candidates_per_step, budget)
        name = strategy.name if isinstance(strategy, SearchStrategy) else strategy
        width = getattr(strategy, "width", getattr(strategy, "pop_width", None)) or beam_width or 4
        expansions = {"greedy": prompt_length, "beam": 1 + (prompt_length - 1) * width}.get(name, prompt_length * width)
        return max(1, min(cls.default_candidates, budget // (expansions * (1 + refine_steps))))

    @classmethod
    def first_step_cost(cls, candidates_per_step: int, refine_steps: int = 0, **options) -> int:
        return candidates_per_step * (1 + refine_steps)  # the first step expands the empty prompt alone

    @classmethod
    def check_vocabulary(cls, allowed_count: int, candidates_per_step: int | None = None, refine_steps: int = 0,
                         **options) -> None:
        tries = (candidates_per_step or 1) * (1 + refine_steps)  # the default shrinks to fit
        if allowed_count < tries:
            raise ValueError(f"AutoDAN tries candidates_per_step x (1 + refine_steps) = {tries} tokens per slot, "
                             f"but this vocabulary allows {allowed_count}; lower --candidates or widen the vocabulary")

    @property
    def expected_steps(self) -> int | None:
        return self.max_length if self.strategy.name != "ucs" else None

    # ---- one step -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start from the empty prompt (the constructor and ``run`` call this)."""
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.budget, self.steps_done = Budget(self.budget_cap), 0
        self.strategy.start(Prompts.root(self.max_length, 0, self.device))
        self.best = None  # BestPrompt, once the objective's term names are known
        self.term_names: list[str] = []

    def step_cost(self) -> int:
        """Candidate evaluations the next step will spend (known on the host without a sync)."""
        return self.strategy.expand_size * self.candidates_per_step * (1 + self.refine_steps)

    def finished(self) -> bool:
        return self.strategy.finished

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
        width = self.max_length if self.words is not None else min(self.max_length, self.steps_done + 1)
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
            top = scores.topk(self.candidates_per_step, dim=-1).indices  # (N, K)
            tried.scatter_(1, top, True)
            cand = ids.repeat_interleave(self.candidates_per_step, 0)  # (N*K, W)
            cand.scatter_(1, slot.repeat_interleave(self.candidates_per_step)[:, None], top.reshape(-1, 1))
            lengths = slot.repeat_interleave(self.candidates_per_step) + 1  # (N*K,)
            if self.words is not None:
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
                                    parents.cost.repeat_interleave(self.candidates_per_step) + loss.float(), term_losses))
            reported.append(Prompts(padded, lengths, finished.float(), finished.float(), term_losses))
            # Refine around each parent's best token so far, over all iterations (later ones try new tokens only).
            step_loss, step_i = loss.float().view(n, self.candidates_per_step).min(1)  # (N,), (N,)
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
        """Write the rest of a listed word after each candidate's new token: cand (C, W), lengths (C,) with the
        token last, token (C,) -> the completed candidates and their lengths (a word too long is cut at W)."""
        W = cand.shape[1]
        table = self.words
        word = lm_word_choice(self.growth, cand, lengths - 1, token, table, self.generator)     # (C,)
        extra = torch.where(self.begins_longer[token], table.lengths[word] - 1, 0)            # (C,) pieces to add
        after = torch.arange(W, device=self.device)[None] - lengths[:, None]                  # (C, W) slot - first free slot
        write = (after >= 0) & (after < extra[:, None])                                       # (C, W)
        rest = table.ids[word[:, None], (after + 1).clamp(0, table.ids.shape[1] - 1)]          # (C, W)
        return torch.where(write, rest, cand), (lengths + extra).clamp(max=W)

    def result(self, history: list[dict], clock: Stopwatch) -> RunResult:
        return self.result_of(self.best.prompt, history[-1]["length"], history, clock)
