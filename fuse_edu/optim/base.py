"""What every prompt optimiser shares: the run loop's contract, the result it returns, the budget.

An optimiser searches over prompts in the primary model's token space for a low ``Objective`` loss.
``run(steps)`` returns a ``RunResult``; ``budget`` caps the number of candidate prompts evaluated
exactly (the currency for comparing methods at equal cost), so a run stops at ``steps`` or when the
next step would overspend the budget, whichever comes first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch


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
