"""Random search: the honest baseline. No gradient; random candidates near the best prompt so far.

If a gradient-guided method does not beat this at the same number of exact evaluations, its gradient
is not helping. Two neighbourhoods:

- ``l0``: change up to ``radius`` random positions to random allowed tokens (``l0_candidates``);
- ``l2``: add Gaussian noise of norm ``radius`` to the prompt's embeddings and project every position
  to its nearest allowed row (``l2_candidates``). A radius means nothing until it is compared with how
  far apart the rows are, and in d dimensions a random push mostly moves *sideways* to the nearest
  other row: the number of positions that change jumps from none to all over a narrow range of radii.
  So the default radius is calibrated at set-up, by bisection, to change ``L0_RADIUS`` positions per
  candidate on average, the same neighbourhood size as the default L0 ball.

Each step starts from the best prompt found so far (hill climbing): with no gradient to follow, moving
to a worse prompt has nothing to recommend it.
"""

from __future__ import annotations

import torch

from fuse_edu.optim.candidates import l0_candidates, l2_candidates
from fuse_edu.optim.loop import CandidateSearch

MODES = ("l0", "l2")
L0_RADIUS = 2


class RandomSearch(CandidateSearch):
    """``RandomSearch(objective, prompt_length, mode="l0"|"l2").run(steps) -> RunResult``; other arguments
    (``search``): ``CandidateSearch``."""

    name = "random"

    options = CandidateSearch.options + ("mode", "radius")

    def __init__(self, objective, prompt_length: int = 8, candidates_per_step: int | None = None, seed: int = 0,
                 budget: int | None = None, allowed: str | torch.Tensor = "word", chunk_size: int = 256,
                 progress: bool = True, mode: str = "l0", radius: float | None = None, **search):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        super().__init__(objective, prompt_length, candidates_per_step, seed=seed, budget=budget, allowed=allowed,
                         chunk_size=chunk_size, progress=progress, **search)
        self.mode = mode
        self.allowed_table = objective.embedding_table.detach()[self.allowed_ids]     # (A, d)
        if radius is None:
            radius = L0_RADIUS if mode == "l0" else self.calibrate_l2_radius(L0_RADIUS)
        if mode == "l0" and (not isinstance(radius, int) or isinstance(radius, bool) or radius < 1):
            raise ValueError(f"an l0 radius is a number of positions, a positive int; got {radius!r}")
        if mode == "l2" and (not isinstance(radius, (int, float)) or not radius > 0 or radius == float("inf")):
            raise ValueError(f"an l2 radius must be a finite number > 0, got {radius!r}")
        self.radius = radius

    @torch.no_grad()
    def calibrate_l2_radius(self, changed: float, sample: int = 32, iterations: int = 12) -> float:
        """The L2 radius at which a candidate changes ``changed`` positions on average (set-up only).

        Bisection on log(radius) between 1e-3 and 1e3 times the table's mean row norm; each probe
        draws ``sample`` candidates from a generator of its own, so the run's random stream is untouched.
        """
        embeds = self.objective.embedding_table.detach()[self.current]                # (T, d)
        scale = float(self.allowed_table.float().norm(dim=1).mean())
        low, high = scale * 1e-3, scale * 1e3
        probe = torch.Generator(device=embeds.device)
        for i in range(iterations):
            radius = (low * high) ** 0.5
            probe.manual_seed(self.seed + i)
            candidates = l2_candidates(embeds, sample, radius, self.allowed_ids, self.allowed_table, probe)
            mean_changed = float((candidates != self.current).float().sum(1).mean())
            low, high = (radius, high) if mean_changed < changed else (low, radius)
        return (low * high) ** 0.5

    def propose(self, n: int) -> torch.Tensor:
        length = self.length if self.variable_length else None
        if self.mode == "l0":
            return l0_candidates(self.current, n, self.radius, self.allowed_ids, self.generator, length)  # (n, T)
        embeds = self.objective.embedding_table.detach()[self.current]                                   # (T, d)
        return l2_candidates(embeds, n, self.radius, self.allowed_ids, self.allowed_table, self.generator,
                             length=length)

    def accept(self, ids: torch.Tensor, length: torch.Tensor, loss: torch.Tensor) -> None:
        # hill climbing from the best so far
        self.current, self.length, self.current_loss = self.best_ids, self.best_length, self.best_loss
