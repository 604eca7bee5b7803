"""What every candidate-batch optimiser (GCG, random search) shares: the initial prompt, the moves besides
the method's own, scoring, and the result.

A subclass says only how one step proposes candidates (``propose``) and which prompt the next step starts
from (``accept``); the run loop is ``Optimiser.run``.

**Fixed or variable length.** A prompt is ``prompt_length`` slots and a length: the first ``length`` slots
are the prompt, the rest are masked out. With ``variable_length=False`` (classic GCG) the length is
always ``prompt_length``. With ``variable_length=True`` it is at most that: the initial prompt is the
LM's greedy continuation up to where the LM would end the text, and each step also proposes deletions
and insertions (``edit_share`` of the candidates) besides the method's own moves, so a caption can grow
a word that the tokenizer splits in three (" tur" "qu" "oise") or drop one. The length is a 0-d tensor
on the device, like the loss, so this adds no sync.

**Word swaps.** Given ``words``, ``word_share`` of the candidates replace one whole word of the prompt by a
word of the list, whatever either's number of sub-tokens (``word_moves``): the method says which
(``propose_word_swaps``: GCG ranks them by the gradient, random search draws them). ``CandidateSearch``
does the rest the same way for every method, so GCG and random search are compared on equal terms: the
same initial prompt, the same evaluation count (the initial prompt costs one evaluation, each step
``candidates_per_step``), the same history columns.

One host-device sync per step, in ``_row``: the history row and the progress bar need a number.
"""

from __future__ import annotations

import torch

from fuse_edu.optim.base import Budget, Optimiser, RunResult, Stopwatch
from fuse_edu.optim.candidates import delete_at, greedy_prompt, insert_at, random_below
from fuse_edu.optim.word_moves import WordTable, word_starts, word_swap


def device_generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device``: candidates are drawn where they are used, with no transfer."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator(device=device).manual_seed(seed)


class CandidateSearch(Optimiser):
    """Base class: a prompt improved by scoring batches of candidates. See the module docstring.

    ``init_text``: the prompt's first tokens, continued greedily by the LM up to ``prompt_length`` (None:
    all of it greedy). ``initial``: a ready initial prompt, (ids (prompt_length,), length), e.g. another
    run's ``initial_ids, initial_length``: the greedy prompt does not depend on the image, so a captioner
    computes it once. Other arguments: ``Optimiser`` and the module docstring.
    """

    name = "search"
    scores_a_start = True
    options = ("variable_length", "edit_share", "words", "word_share", "init_text", "initial")

    def __init__(self, objective, prompt_length: int = 8, candidates_per_step: int | None = None, seed: int = 0,
                 budget: int | None = None, allowed: str | torch.Tensor = "word", chunk_size: int = 256,
                 progress: bool = True, init_text: str | None = None, variable_length: bool = False,
                 edit_share: float = 0.25, words: list[str] | None = None, word_share: float = 0.25,
                 initial: tuple[torch.Tensor, int] | None = None):
        super().__init__(objective, prompt_length, candidates_per_step, seed=seed, budget=budget, allowed=allowed,
                         chunk_size=chunk_size, progress=progress)
        self.check_budget(budget, self.candidates_per_step)
        self.init_text = init_text
        if not isinstance(edit_share, (int, float)) or not 0 <= edit_share < 1:
            raise ValueError(f"edit_share must be a number in [0, 1), got {edit_share!r}")
        self.variable_length = bool(variable_length)
        # half deletions, half insertions; none when the length is fixed
        self.n_edits = int(edit_share * self.candidates_per_step) // 2 if self.variable_length else 0
        if not isinstance(word_share, (int, float)) or not 0 <= word_share < 1 or edit_share + word_share >= 1:
            raise ValueError(f"word_share must be a number in [0, 1) with edit_share + word_share < 1, "
                             f"got {word_share!r} (edit_share {edit_share!r})")
        if words is not None and not self.variable_length:
            raise ValueError("word swaps change the prompt's length: pass variable_length=True with words")
        self.n_word_swaps = int(word_share * self.candidates_per_step) if words else 0
        rows = objective.embedding_table.shape[0]
        self.words = (WordTable.of(objective.tokenizer, list(words), size=rows, device=self.device)
                      if self.n_word_swaps else None)
        self.generator = device_generator(self.device, seed)
        if initial is None:
            initial = self._initial_prompt()
        elif initial[0].shape != (prompt_length,) or not 1 <= initial[1] <= prompt_length:
            raise ValueError(f"initial must be (ids of shape ({prompt_length},), a length from 1 to {prompt_length}), "
                             f"got ids {tuple(initial[0].shape)} and length {initial[1]!r}")
        self.initial_ids, self.initial_length = initial[0].to(self.device), int(initial[1])  # (T,), int
        self.reset()

    @classmethod
    def first_step_cost(cls, candidates_per_step: int, **options) -> int:
        return candidates_per_step + 1  # the initial prompt, then one step's candidates

    def _initial_prompt(self) -> tuple[torch.Tensor, int]:
        start = None
        if self.init_text is not None:
            start = self.objective.tokenizer(self.init_text, add_special_tokens=False)["input_ids"]
        return greedy_prompt(self.objective, self.prompt_length, self.allowed, start,
                             stop_at_end=self.variable_length)

    def reset(self) -> None:
        """Back to the initial prompt, scored (one evaluation), a fresh budget and a reseeded generator."""
        self.generator.manual_seed(self.seed)
        self.budget, self.steps_done = Budget(self.budget_cap), 0
        self.current = self.initial_ids.clone()                                       # (T,)
        self.length = torch.tensor(self.initial_length, device=self.current.device)   # () on the device
        losses = self.score(self.current[None], self.length[None])                    # (1,)
        self.best_ids, self.best_length, self.best_loss = self.current.clone(), self.length.clone(), losses[0]
        self.current_loss = losses[0]

    # ------------------------------------------------------------------ what a subclass provides
    def propose(self, n: int) -> torch.Tensor:
        """(n, T) candidate prompts of the current length: the method's own moves."""
        raise NotImplementedError

    def insertion_tokens(self, positions: torch.Tensor) -> torch.Tensor:
        """(m,) tokens to insert before ``positions`` (m,); by default random allowed tokens."""
        pick = torch.randint(len(self.allowed_ids), positions.shape, generator=self.generator, device=positions.device)
        return self.allowed_ids[pick]

    def propose_word_swaps(self, m: int, is_start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(m,) word-start positions and (m,) word indices to write there; by default drawn at random."""
        keys = torch.rand(m, self.prompt_length, generator=self.generator, device=is_start.device)
        start = (keys + 2.0 * ~is_start).argmin(1)                                    # (m,) a random word start
        word = torch.randint(len(self.words.lengths), (m,), generator=self.generator, device=is_start.device)
        return start, word

    def accept(self, ids: torch.Tensor, length: torch.Tensor, loss: torch.Tensor) -> None:
        """The step's best candidate (T,), its length and loss: by default the next step starts from it (GCG)."""
        self.current, self.length, self.current_loss = ids, length, loss

    # ------------------------------------------------------------------ the loop
    def score(self, candidates: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Exact losses (n,) of (n, T) candidates whose first ``lengths`` (n,) slots are the prompt; counted
        against the budget."""
        self.budget.spend(candidates.shape[0])
        mask = (torch.arange(candidates.shape[1], device=candidates.device) < lengths[:, None]).long()  # (n, T)
        return self.objective.evaluate(candidates, mask, chunk_size=self.chunk_size)[0]

    def candidates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's (n, T) candidates and their (n,) lengths: the method's moves, plus edits and word swaps."""
        T, m, w = self.prompt_length, self.n_edits, self.n_word_swaps
        moves = self.propose(self.candidates_per_step - 2 * m - w)                    # (n - 2m - w, T)
        lengths = self.length.expand(moves.shape[0])                                  # (n - 2m - w,)
        if w:
            is_start, end = word_starts(self.current, self.length, self.words.starts_word)  # (T,), (T,)
            start, word = self.propose_word_swaps(w, is_start, end)                   # (w,), (w,)
            swapped, swapped_lengths = word_swap(self.current, self.length, start, end[start], word, self.words)
            moves, lengths = torch.cat([moves, swapped]), torch.cat([lengths, swapped_lengths])
        if not m:
            return moves, lengths
        where = random_below(self.length, m, self.generator)                          # (m,) in [0, length)
        deleted = delete_at(self.current, where)                                      # (m, T)
        where = random_below(torch.clamp(self.length + 1, max=T), m, self.generator)  # (m,) in [0, length]
        inserted = insert_at(self.current, where, self.insertion_tokens(where))       # (m, T)
        shorter = torch.clamp(self.length - 1, min=1).expand(m)                       # deleting the only token: a 1-token swap
        longer = torch.clamp(self.length + 1, max=T).expand(m)                        # at full length the last token falls off
        return torch.cat([moves, deleted, inserted]), torch.cat([lengths, shorter, longer])

    def start(self) -> dict:
        """The initial prompt's history row (``reset`` scored it)."""
        return self._row(self.best_loss)

    def step(self) -> dict:
        """One step: propose, score, keep the best; returns the step's history row."""
        candidates, lengths = self.candidates()                                       # (n, T), (n,)
        losses = self.score(candidates, lengths)                                      # (n,)
        i = losses.argmin()
        ids, length, loss = candidates[i], lengths[i], losses[i]
        better = loss < self.best_loss                                                # on the device: no sync
        self.best_ids = torch.where(better, ids, self.best_ids)
        self.best_length = torch.where(better, length, self.best_length)
        self.best_loss = torch.where(better, loss, self.best_loss)
        self.accept(ids, length, loss)
        self.steps_done += 1
        return self._row(loss)

    def _row(self, step_loss: torch.Tensor) -> dict:
        """One history row; the step's single host sync."""
        best, step = torch.stack([self.best_loss, step_loss]).tolist()
        return {"step": self.steps_done, "best_loss": best, "step_loss": step, "evaluations": self.budget.spent}

    def best_so_far(self) -> list[int]:
        return self.best_ids[:int(self.best_length)].tolist()

    def result(self, history: list[dict], clock: Stopwatch) -> RunResult:
        ids = self.best_ids[None, :int(self.best_length)]                             # (1, length)
        total, per_term = self.objective.evaluate(ids)                                # reporting only: not counted
        return RunResult(best_text=self.objective.texts(ids)[0].strip(), best_ids=ids[0].tolist(),
                         best_loss=float(total[0]), term_losses={k: float(v[0]) for k, v in per_term.items()},
                         evaluations=self.budget.spent, seconds=clock.seconds, steps=self.steps_done,
                         history=history)
