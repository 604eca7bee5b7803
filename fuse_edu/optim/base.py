"""The contract every prompt optimiser keeps, the one loop that runs it, and what a run returns.

An optimiser searches the primary model's token space for a prompt with a low ``Objective`` loss. Every
method (GCG, AutoDAN, PEZ, random search) is constructed the same way,
``Method(objective, prompt_length=..., candidates_per_step=..., seed=..., budget=..., allowed=...)``, and
run the same way, ``run(steps, patience=None, callback=None) -> RunResult``. A method provides:

- ``step()``: one step, returning its history row (``step``, ``best_loss``, ``step_loss``,
  ``evaluations``, ...); the step's one host-device sync happens there;
- ``step_cost()``: exact evaluations the next step will spend, known on the host;
- ``first_step_cost(candidates_per_step, **options)``: the same for the first step, before any objective
  exists, so a budget too small for one step is refused before models load (``check_budget``);
- ``reset()``, and optionally ``start()`` (work before the first step, e.g. scoring the initial prompt),
  ``finished()`` (a method that ends by itself, e.g. a prompt grown to full length) and ``result()``.

``budget`` caps exact candidate evaluations, the currency for comparing methods at equal cost: a run stops
after ``steps`` steps, when the next step would overspend the budget, when the method is finished, or
with ``patience``, once that many steps in a row have not lowered the best loss. Gradient passes are not
counted.

``options`` names the optional knobs a method takes beyond the common ones, so a caller holding settings
for every method (``fuse_edu.captioning``) passes each method exactly what it understands.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from fuse_edu.optim.candidates import allowed_token_mask
from fuse_edu.progress import progress_bar


@dataclass
class RunResult:
    """Outcome of one optimisation run."""

    best_text: str
    best_ids: list[int]
    best_loss: float
    term_losses: dict[str, float]          # per-model losses of the best prompt, unweighted
    evaluations: int                        # candidate prompts evaluated exactly
    seconds: float
    steps: int
    history: list[dict] = field(default_factory=list)  # one row per step: step, best_loss, evaluations, seconds, ...

    def as_row(self) -> dict:
        """Flat dict for CSV/JSON output."""
        return {"caption": self.best_text, "loss": self.best_loss,
                **{f"loss_{name}": value for name, value in self.term_losses.items()},
                "evaluations": self.evaluations, "seconds": self.seconds, "steps": self.steps}


class Budget:
    """Counts exact candidate evaluations against an optional cap."""

    def __init__(self, cap: int | None):
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise ValueError(f"budget must be a positive int or None, got {cap!r}")
        self.cap, self.spent = cap, 0

    def allows(self, n: int) -> bool:
        return self.cap is None or self.spent + n <= self.cap

    def spend(self, n: int) -> None:
        self.spent += n


class Stopwatch:
    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def int_at_least(value, what: str, least: int = 1) -> int:
    """``value`` if it is an int >= ``least`` (not a bool), else a ValueError naming ``what``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{what} must be an int >= {least}, got {value!r}")
    return value


def resolve_allowed(objective, allowed: str | torch.Tensor) -> torch.Tensor:
    """(V,) bool on the objective's device: a kind for ``allowed_token_mask``, or a mask given as is."""
    rows = objective.embedding_table.shape[0]
    if isinstance(allowed, str):
        return allowed_token_mask(objective.tokenizer, allowed, size=rows, device=objective.device)
    mask = torch.as_tensor(allowed)
    if mask.dtype != torch.bool or mask.shape != (rows,) or not mask.any():
        raise ValueError(f"allowed must be a kind name or a ({rows},) bool mask with some True entry, "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    return mask.to(objective.device)


class Optimiser:
    """Base class of every prompt optimiser; see the module docstring for the contract."""

    name = "optimiser"
    default_candidates = 64
    options: tuple[str, ...] = ()

    def __init__(self, objective, prompt_length: int, candidates_per_step: int | None = None, seed: int = 0,
                 budget: int | None = None, allowed: str | torch.Tensor = "word", chunk_size: int = 256,
                 progress: bool = True):
        self.objective = objective
        self.prompt_length = int_at_least(prompt_length, "prompt_length")
        self.candidates_per_step = int_at_least(
            self.default_candidates if candidates_per_step is None else candidates_per_step, "candidates_per_step")
        self.seed = int_at_least(seed, "seed", 0)
        self.chunk_size = int_at_least(chunk_size, "chunk_size")
        self.budget_cap = Budget(budget).cap
        self.progress = progress
        self.device = objective.device
        self.allowed = resolve_allowed(objective, allowed)                           # (V,)
        self.allowed_ids = self.allowed.nonzero().flatten()                          # (A,) one sync, at set-up
        self.steps_done = 0

    # ------------------------------------------------------------------ the budget rule, once
    @classmethod
    def first_step_cost(cls, candidates_per_step: int, **options) -> int:
        """Exact evaluations the first step spends with these settings (no objective needed)."""
        return candidates_per_step

    @classmethod
    def candidates_for(cls, candidates_per_step: int | None = None, budget: int | None = None, **options) -> int:
        """The candidates per step a run uses: the number given, else the method's default (which may depend
        on the budget and the method's options)."""
        return cls.default_candidates if candidates_per_step is None else candidates_per_step

    @classmethod
    def check_budget(cls, budget: int | None, candidates_per_step: int | None = None, **options) -> None:
        """ValueError unless ``budget`` (None: no cap) pays for one step of this method with these settings."""
        if budget is None:
            return
        candidates = cls.candidates_for(candidates_per_step, budget, **options)
        needed = cls.first_step_cost(candidates, **options)
        if budget < needed:
            raise ValueError(f"budget {budget} is smaller than one {cls.name} step, which needs {needed} "
                             f"evaluations with {candidates} candidates per step")

    @classmethod
    def check_vocabulary(cls, allowed_count: int, candidates_per_step: int | None = None, **options) -> None:
        """ValueError unless ``allowed_count`` allowed tokens are enough for one step with these settings."""
        if allowed_count < 1:
            raise ValueError(f"no token is allowed, so {cls.name} has nothing to write a prompt with")

    # ------------------------------------------------------------------ what a method provides
    def reset(self) -> None:
        """Back to the start: a fresh budget, a reseeded generator, no steps done."""
        raise NotImplementedError

    def start(self) -> dict | None:
        """Work before the first step, as a history row (or None when there is none)."""
        return None

    def step(self) -> dict:
        """One step; returns its history row."""
        raise NotImplementedError

    def step_cost(self) -> int:
        """Exact evaluations the next step will spend, on the host."""
        return self.candidates_per_step

    def finished(self) -> bool:
        """True once the method has nothing left to do (most methods never are)."""
        return False

    can_finish = False       # whether ``finished`` can ever become True by itself
    scores_a_start = False   # whether ``start`` scores a prompt before the first step (so steps=0 has a result)
    expected_steps = None    # the number of steps a run without a cap takes, when known (progress bar)

    def result(self, history: list[dict], clock: Stopwatch) -> RunResult:
        raise NotImplementedError

    def best_so_far(self) -> list[int]:
        """The best prompt found so far, as token ids ([] before any): one host sync, for a ``callback`` that
        records how a run progresses, never for an inner loop."""
        best = getattr(self, "best", None)
        if best is None:
            return []
        return best.prompt.ids[0, :int(best.prompt.lengths[0])].tolist()

    # ------------------------------------------------------------------ the one loop
    def run(self, steps: int | None = None, patience: int | None = None,
            callback: Callable[[dict], None] | None = None) -> RunResult:
        """Steps from a fresh start until ``steps`` are done (None: no limit), the next step would overspend
        the budget, the method is finished, or ``patience`` steps in a row found nothing better.
        ``callback(row)``, if given, receives each history row as it is made (a live plot)."""
        if steps is not None:
            int_at_least(steps, "steps", 0)
        if patience is not None:
            int_at_least(patience, "patience")
        if steps is None and patience is None and self.budget_cap is None and not self.can_finish:
            raise ValueError(f"{self.name} never stops by itself: give steps, patience or a budget")
        clock, history = Stopwatch(), []
        self.reset()

        def record(row: dict) -> None:
            row["seconds"] = clock.seconds
            history.append(row)
            if callback is not None:
                callback(row)

        first = self.start()
        if first is not None:
            record(first)
        best, since_better = (first["best_loss"] if first else math.inf), 0
        total = steps if steps is not None else self.expected_steps
        with progress_bar(total=total, desc=self.name, unit="step", show=self.progress, leave=False) as bar:
            while (steps is None or self.steps_done < steps) and not self.finished():
                if not self.budget.allows(self.step_cost()):
                    break
                row = self.step()
                record(row)
                bar.update(1)
                bar.set_postfix(loss=f"{row['best_loss']:.3f}", evals=row["evaluations"])
                since_better = 0 if row["best_loss"] < best else since_better + 1
                best = min(best, row["best_loss"])
                if patience is not None and since_better >= patience:
                    break
        if not history:
            raise ValueError(f"{self.name} ran no step (steps={steps}) and has no prompt before its first step: "
                             f"give steps >= 1")
        return self.result(history, clock)

    def result_of(self, best, length: int, history: list[dict], clock: Stopwatch) -> RunResult:
        """A ``RunResult`` from a kept best prompt (``search.Prompts`` of one row): its first ``length``
        tokens, its loss (the history's) and its per-term losses."""
        best_ids = best.ids[0, :length].tolist()
        text = self.objective.tokenizer.decode(best_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return RunResult(best_text=text.strip(), best_ids=best_ids, best_loss=history[-1]["best_loss"],
                         term_losses=dict(zip(self.term_names, best.terms[0].tolist())),
                         evaluations=self.budget.spent, seconds=clock.seconds, steps=self.steps_done, history=history)
