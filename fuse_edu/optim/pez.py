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
noise of ``init_noise`` times the table's RMS around it, so restarts explore different neighbourhoods.
``candidates_per_step`` independent prompts (restarts) run side by side as one batch. Each step evaluates
that many projected prompts, one forward pass each, and that is what the budget counts. Everything runs on
the objective's device; the host sees one small tensor per step.

**Variable length (our addition, ``variable_length=True``).** The paper's PEZ optimises a fixed number of
positions, so every caption would be exactly ``prompt_length`` tokens ("a small blue cross and a large
blue"). Here each restart also has a length ℓ, starting where the LM's greedy prompt ends: the loss and its
gradient are taken at the projection's first ℓ tokens, the first ℓ - 1 and ℓ + 1 tokens are scored too
(three evaluations per restart and step), and ℓ moves to the best of the three. The slots past ℓ keep their
continuous values, so the next word is there when the prompt grows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fuse_edu.optim.base import Budget, Optimiser, RunResult, Stopwatch
from fuse_edu.optim.candidates import greedy_prompt
from fuse_edu.optim.search import BestPrompt, Prompts

METRICS = ("cosine", "l2")
INITS = ("lm", "random")
OPTIMIZERS = ("adamw", "sgd")


class PEZ(Optimiser):
    """Continuous prompts, gradient at their nearest-row projection (module docstring).

    ``candidates_per_step``: prompts optimised side by side (restarts), each projected and evaluated every
    step. Other arguments: ``Optimiser`` and the module docstring.
    """

    name = "pez"
    default_candidates = 1
    options = ("lr", "weight_decay", "optimizer", "metric", "init", "init_noise", "variable_length")

    def __init__(self, objective, prompt_length: int = 8, candidates_per_step: int | None = None, seed: int = 0,
                 budget: int | None = None, allowed: str | torch.Tensor = "word", chunk_size: int = 256,
                 progress: bool = True, lr: float = 0.1, weight_decay: float = 0.1, optimizer: str = "adamw",
                 metric: str = "cosine", init: str = "lm", init_noise: float = 1.0, variable_length: bool = False):
        super().__init__(objective, prompt_length, candidates_per_step, seed=seed, budget=budget, allowed=allowed,
                         chunk_size=chunk_size, progress=progress)
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
        self.variable_length = bool(variable_length)
        self.check_budget(budget, self.candidates_per_step, variable_length=self.variable_length)
        self.lr, self.weight_decay, self.optimizer_name, self.metric = float(lr), float(weight_decay), optimizer, metric
        self.init, self.init_noise = init, float(init_noise)
        table = objective.embedding_table.detach()  # (V, d)
        self.allowed_rows = table[self.allowed_ids].float()  # (A, d) what projection may land on
        # Precomputed once: the unit rows (cosine) or half squared norms (l2: argmax x.e - |e|^2 / 2).
        self.allowed_keys = F.normalize(self.allowed_rows, dim=-1) if metric == "cosine" else self.allowed_rows
        self.allowed_bias = (torch.zeros(len(self.allowed_ids), device=self.device) if metric == "cosine"
                             else 0.5 * self.allowed_rows.pow(2).sum(1))  # (A,)
        # The LM's greedy prompt, once: T LM calls of initialisation, not part of any step.
        self.lm_ids, self.lm_length = (greedy_prompt(objective, prompt_length, self.allowed,
                                                     stop_at_end=self.variable_length)
                                       if init == "lm" else (None, prompt_length))  # (T,), int
        self.reset()

    @classmethod
    def first_step_cost(cls, candidates_per_step: int, variable_length: bool = False, **options) -> int:
        return candidates_per_step * (3 if variable_length else 1)

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
        shape = (self.candidates_per_step, self.prompt_length)
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
        self.length = torch.full((shape[0],), self.lm_length, dtype=torch.long, device=self.device)  # (B,)
        if self.optimizer_name == "adamw":
            self.optimizer = torch.optim.AdamW([self.soft], lr=self.lr, weight_decay=self.weight_decay)
        else:
            self.optimizer = torch.optim.SGD([self.soft], lr=self.lr, weight_decay=self.weight_decay)
        self.budget, self.steps_done, self.best, self.term_names = Budget(self.budget_cap), 0, None, []

    def step(self) -> dict:
        """Project, take loss and gradient at the projection, move the continuous prompt; one history row."""
        ids, rows = self.project(self.soft.detach())  # (B, T), (B, T, d)
        rows = rows.to(self.objective.embedding_table.dtype).requires_grad_(True)
        positions = torch.arange(self.prompt_length, device=self.device)  # (T,)
        mask = (positions < self.length[:, None]).long()  # (B, T): the first ℓ tokens of each restart
        with torch.enable_grad():
            loss, terms = self.objective.losses(ids, mask, embeds=rows)  # (B,) exact loss of the projected prompts
            (grad,) = torch.autograd.grad(loss.sum(), rows)  # (B, T, d): rows are independent, the sum keeps each
        self.budget.spend(ids.shape[0])
        self.optimizer.zero_grad(set_to_none=True)
        self.soft.grad = grad.to(self.soft.dtype)  # straight through: the projection's gradient moves P
        self.optimizer.step()

        self.term_names = list(terms)
        term_losses = torch.stack([terms[k].detach().float() for k in self.term_names], dim=1)  # (B, n_terms)
        scored = Prompts(ids, self.length.clone(), loss.detach().float(), loss.detach().float(), term_losses)
        if self.variable_length:
            scored = self._other_lengths(ids, scored)
        if self.best is None:
            self.best = BestPrompt(self.prompt_length, len(self.term_names), self.device,
                                   longest_first=not self.variable_length)
        self.best.update(scored)
        self.steps_done += 1
        values = torch.stack([self.best.prompt.loss[0], scored.loss.min()]).tolist()  # the step's one sync
        return {"step": self.steps_done, "best_loss": values[0], "step_loss": values[1],
                "evaluations": self.budget.spent}

    @torch.no_grad()
    def _other_lengths(self, ids: torch.Tensor, at_length: Prompts) -> Prompts:
        """Score each restart's projection one token shorter and longer too; move ℓ to the best of the three.
        ids (B, T); ``at_length``: the B prompts scored at ℓ. Returns all 3B scored prompts."""
        B = ids.shape[0]
        lengths = torch.cat([(self.length - 1).clamp(min=1), (self.length + 1).clamp(max=self.prompt_length)])  # (2B,)
        both = ids.repeat(2, 1)                                                                    # (2B, T)
        mask = (torch.arange(self.prompt_length, device=self.device) < lengths[:, None]).long()   # (2B, T)
        loss, terms = self.objective.evaluate(both, mask, chunk_size=self.chunk_size)             # (2B,)
        self.budget.spend(both.shape[0])
        term_losses = torch.stack([terms[k].float() for k in self.term_names], dim=1)            # (2B, n_terms)
        scored = Prompts.cat([at_length, Prompts(both, lengths, loss.float(), loss.float(), term_losses)])  # (3B,)
        choice = scored.loss.view(3, B).argmin(0)                                                 # (B,) 0: ℓ, 1: ℓ-1, 2: ℓ+1
        self.length = scored.lengths.view(3, B).gather(0, choice[None])[0]                        # (B,)
        return scored

    def step_cost(self) -> int:
        return self.candidates_per_step * (3 if self.variable_length else 1)

    def result(self, history: list[dict], clock: Stopwatch) -> RunResult:
        return self.result_of(self.best.prompt, int(self.best.prompt.lengths[0]), history, clock)
