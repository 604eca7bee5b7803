"""PEZ (Wen et al. 2023, "hard prompts made easy"): optimise continuous embeddings, always score their projection.

The prompt is a continuous matrix P (T, d) in the primary model's embedding space. Each step:

1. project every position to its nearest *allowed* vocabulary row (cosine similarity by default, as the
   PEZ authors do; ``metric="l2"`` for Euclidean): ids (T,) and rows E[ids] (T, d);
2. compute the loss and its gradient AT THE PROJECTION, i.e. with the hard prompt E[ids] as input; the
   loss is an exact evaluation of the projected prompt (secondary models see its decoded text);
3. hand that gradient to P, as if it had been computed at P (a straight-through step), and let AdamW
   (the paper's choice) or SGD move P;
4. keep the lowest-loss projected prompt seen.

Because the gradient is taken where the model actually is (a real prompt), not at P, the continuous
point never drifts into regions of embedding space no token can reach.

Where it starts matters a great deal with a small vocabulary the models know only partly (the toy
world): from random tokens (``init="random"``, the paper's choice) PEZ spends its steps among words the
LM finds absurd. ``init="lm"`` (default) starts where GCG does, at the primary LM's greedy continuation of
its prefix (``candidates.greedy_prompt``); restart 0 starts exactly there and the others at Gaussian
noise of ``init_noise`` times the table's RMS around it, so restarts explore different neighbourhoods. ``restarts`` independent prompts
run side by side as one batch. Each step evaluates ``restarts`` projected prompts, one forward pass each,
and that is what the budget counts. Everything runs on the objective's device; the host sees one small
tensor per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fuse_edu.optim.base import Budget, RunResult, SteppedRun
from fuse_edu.optim.candidates import allowed_token_mask, greedy_prompt
from fuse_edu.optim.search import BestPrompt, Prompts

METRICS = ("cosine", "l2")
INITS = ("lm", "random")
OPTIMIZERS = ("adamw", "sgd")


class PEZ(SteppedRun):
    """Continuous prompt, gradient at its nearest-row projection (module docstring)."""

    def __init__(self, objective, prompt_length: int = 8, restarts: int = 1, lr: float = 0.1,
                 weight_decay: float = 0.1, optimizer: str = "adamw", metric: str = "cosine",
                 allowed: torch.Tensor | str = "word", init: str = "lm", init_noise: float = 1.0, seed: int = 0,
                 budget: int | None = None, progress: bool = True):
        for label, value, least in (("prompt_length", prompt_length, 1), ("restarts", restarts, 1), ("seed", seed, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{label} must be an int >= {least}, got {value!r}"
                                 + (": PEZ optimises a fixed number of positions" if label == "prompt_length" else ""))
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        for label, value in (("lr", lr), ("weight_decay", weight_decay), ("init_noise", init_noise)):
            if not isinstance(value, (int, float)) or not torch.isfinite(torch.tensor(float(value))) or value < 0:
                raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
        if lr == 0:
            raise ValueError("lr must be > 0, or the continuous prompt never moves")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        Budget(budget)  # validates the cap
        if budget is not None and budget < restarts:
            raise ValueError(f"budget {budget} is smaller than one PEZ step, which evaluates restarts = {restarts} "
                             "projected prompts")
        self.objective, self.prompt_length, self.restarts = objective, prompt_length, restarts
        self.lr, self.weight_decay, self.optimizer_name, self.metric = float(lr), float(weight_decay), optimizer, metric
        self.seed, self.budget_cap, self.progress, self.device = seed, budget, progress, objective.device
        self.init, self.init_noise = init, float(init_noise)
        table = objective.embedding_table.detach()  # (V, d)
        allowed = (allowed_token_mask(objective.tokenizer, allowed, size=table.shape[0]) if isinstance(allowed, str)
                   else torch.as_tensor(allowed)).to(self.device, torch.bool)  # (V,)
        if allowed.shape != (table.shape[0],):
            raise ValueError(f"allowed must be a kind name or a bool mask of shape ({table.shape[0]},), "
                             f"got {tuple(allowed.shape)}")
        self.allowed_ids = allowed.nonzero().squeeze(1)  # (A,) one sync, at construction
        if len(self.allowed_ids) == 0:
            raise ValueError("no token is allowed, so there is nothing to project onto")
        self.allowed_rows = table[self.allowed_ids].float()  # (A, d) what projection may land on
        # Precomputed once: the unit rows (cosine) or half squared norms (l2: argmax x.e - |e|^2 / 2).
        self.allowed_keys = F.normalize(self.allowed_rows, dim=-1) if metric == "cosine" else self.allowed_rows
        self.allowed_bias = (torch.zeros(len(self.allowed_ids), device=self.device) if metric == "cosine"
                             else 0.5 * self.allowed_rows.pow(2).sum(1))  # (A,)
        # The LM's greedy prompt, once: T LM calls of initialisation, not part of any step.
        self.lm_ids = greedy_prompt(objective, prompt_length, allowed)[0] if init == "lm" else None  # (T,)

    def project(self, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest allowed row of every position: embeds (B, T, d) -> ids (B, T), rows (B, T, d).

        cosine: argmax over rows e of x.e / |e| (|x| is the same for every e, so it is left out);
        l2:     argmin |x - e|^2 = argmax x.e - |e|^2 / 2.
        """
        similarity = embeds.float() @ self.allowed_keys.T - self.allowed_bias  # (B, T, A)
        nearest = similarity.argmax(-1)  # (B, T) index into the allowed rows
        return self.allowed_ids[nearest], self.allowed_rows[nearest]  # (B, T), (B, T, d)

    def reset(self) -> None:
        """Back to the starting point (``init``), a fresh optimiser and budget (``run`` calls this)."""
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        shape = (self.restarts, self.prompt_length)
        if self.init == "random":
            pick = torch.randint(len(self.allowed_ids), shape, generator=self.generator, device=self.device)  # (B, T)
            start = self.allowed_rows[pick]  # (B, T, d)
        else:
            start = self.objective.embedding_table.detach()[self.lm_ids].float().expand(*shape, -1)  # (B, T, d)
            scale = self.init_noise * self.allowed_rows.pow(2).mean().sqrt()  # () noise in units of the table's RMS
            noise = torch.randn(start.shape, generator=self.generator, device=self.device) * scale  # (B, T, d)
            noise[0] = 0.0  # restart 0: the LM's prompt itself
            start = start + noise
        self.soft = start.clone().requires_grad_(True)  # (B, T, d) the continuous prompt
        if self.optimizer_name == "adamw":
            self.optimizer = torch.optim.AdamW([self.soft], lr=self.lr, weight_decay=self.weight_decay)
        else:
            self.optimizer = torch.optim.SGD([self.soft], lr=self.lr, weight_decay=self.weight_decay)
        self.budget, self.steps_done, self.best, self.term_names = Budget(self.budget_cap), 0, None, []

    def step(self) -> dict:
        """Project, take loss and gradient at the projection, move the continuous prompt; one history row."""
        ids, rows = self.project(self.soft.detach())  # (B, T), (B, T, d)
        rows = rows.to(self.objective.embedding_table.dtype).requires_grad_(True)
        mask = torch.ones_like(ids)  # (B, T) every position is a real token
        with torch.enable_grad():
            loss, terms = self.objective.losses(ids, mask, embeds=rows)  # (B,) exact loss of the projected prompts
            (grad,) = torch.autograd.grad(loss.sum(), rows)  # (B, T, d): rows are independent, the sum keeps each
        self.budget.spend(ids.shape[0])
        self.optimizer.zero_grad(set_to_none=True)
        self.soft.grad = grad.to(self.soft.dtype)  # straight through: the projection's gradient moves P
        self.optimizer.step()

        self.term_names = list(terms)
        scored = Prompts(ids, torch.full((ids.shape[0],), self.prompt_length, device=self.device),
                         loss.detach().float(), loss.detach().float(),
                         torch.stack([terms[k].detach().float() for k in self.term_names], dim=1))
        if self.best is None:
            self.best = BestPrompt(self.prompt_length, len(self.term_names), self.device)
        self.best.update(scored)
        self.steps_done += 1
        values = torch.stack([self.best.prompt.loss[0], scored.loss.min()]).tolist()  # the step's one sync
        return {"step": self.steps_done, "best_loss": values[0], "step_loss": values[1],
                "evaluations": self.budget.spent}

    def run(self, steps: int = 100, callback=None) -> RunResult:
        """``steps`` PEZ steps, fewer if the next one would overspend the budget; ``callback(row)``, if given,
        receives each step's history row as it is made."""
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        self.reset()
        history, clock = self._loop(steps, steps, "pez", lambda: self.restarts, callback=callback)
        return self._result(self.prompt_length, history, clock)
