"""What every prompt optimiser shares: the run loop's contract, the result it returns, the budget.

An optimiser searches over prompts in the primary model's token space for a low ``Objective`` loss.
``run(steps)`` returns a ``RunResult``; ``budget`` caps the number of candidate prompts evaluated
exactly (the currency for comparing methods at equal cost), so a run stops at ``steps`` or when the
next step would overspend the budget, whichever comes first.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm


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
    history: list[dict] = field(default_factory=list)  # one dict per step: step, best_loss, evaluations, seconds, ...

    def as_row(self) -> dict:
        """Flat dict for CSV/JSON output."""
        return {"caption": self.best_text, "loss": self.best_loss,
                **{f"loss_{name}": value for name, value in self.term_losses.items()},
                "evaluations": self.evaluations, "seconds": self.seconds, "steps": self.steps}


class Budget:
    """Counts exact candidate evaluations against an optional cap."""

    def __init__(self, cap: int | None):
        if cap is not None and (not isinstance(cap, int) or cap < 1):
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


def check_weights(weights: dict[str, float]) -> None:
    """Objective weights must be finite and non-negative."""
    for name, weight in weights.items():
        if not isinstance(weight, (int, float)) or not torch.isfinite(torch.tensor(float(weight))) or weight < 0:
            raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {weight!r}")


class SteppedRun:
    """The run loop AutoDAN and PEZ share around their own ``step``, and the result they build.

    A subclass has ``objective``, ``budget`` (a ``Budget``), ``steps_done``, ``progress``, ``best`` (a
    ``search.BestPrompt``), ``term_names``, and a ``step()`` returning the step's history row with at least
    ``best_loss`` and ``evaluations``. (GCG and random search share ``loop.CandidateSearch`` instead: their
    loop also has an initial prompt to score and a patience rule.)
    """

    def _loop(self, steps: int | None, total: int | None, desc: str, cost: Callable[[], int],
              finished: Callable[[], bool] = lambda: False,
              callback: Callable[[dict], None] | None = None) -> tuple[list[dict], Stopwatch]:
        """Step until ``finished()``, ``steps`` steps are done, or the next step's ``cost()`` would overspend
        the budget. One history row a step, with ``seconds`` since the loop began, handed to ``callback`` as
        it is made (a live plot: ``fuse_edu.widgets.LossPlot``); a tqdm bar on stderr."""
        clock, history = Stopwatch(), []
        with tqdm(total=total, desc=desc, file=sys.stderr, disable=not self.progress, leave=False) as bar:
            while not finished() and (steps is None or self.steps_done < steps):
                if not self.budget.allows(cost()):
                    break
                row = self.step()
                row["seconds"] = clock.seconds
                history.append(row)
                if callback is not None:
                    callback(row)
                bar.update(1)
                bar.set_postfix(loss=f"{row['best_loss']:.3f}", evals=row["evaluations"])
        return history, clock

    def _result(self, length: int, history: list[dict], clock: Stopwatch) -> RunResult:
        """The ``RunResult`` of ``self.best``: its first ``length`` tokens, loss and per-term losses."""
        best = self.best.prompt
        best_ids = best.ids[0, :length].tolist()
        text = self.objective.tokenizer.decode(best_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return RunResult(best_text=text.strip(), best_ids=best_ids, best_loss=history[-1]["best_loss"],
                         term_losses=dict(zip(self.term_names, best.terms[0].tolist())),
                         evaluations=self.budget.spent, seconds=clock.seconds, steps=self.steps_done, history=history)
