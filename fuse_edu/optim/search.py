"""Search strategies: which prompts to keep, and which to expand next, when a prompt grows token by token.

A method that grows prompts (AutoDAN) turns each prompt it expands into a set of children, one per
candidate token, each with an exact loss. A strategy decides what survives:

- ``Greedy``         keep the single lowest-loss child.
- ``Beam(width)``    keep the ``width`` lowest-loss children, over all parents together, and expand them all.
- ``UniformCost``    a priority queue of partial prompts of every length; expand the cheapest, stop when
                     the cheapest thing left is a finished prompt (Dijkstra / uniform-cost search).

**Cost, for uniform-cost search.** The cost of a partial prompt p_1..p_L is its *accumulated loss*:
the sum of the exact losses of its prefixes, loss(p_1) + loss(p_1 p_2) + ... + loss(p_1..p_L). Appending
a token adds one edge whose cost is the loss of the longer prefix. The objective's terms (LM NLL,
CLIP 1 - cos, classifier cross-entropy) are all >= 0 with non-negative weights, so edge costs are >= 0,
costs never decrease along a path, and the first finished prompt UCS pops is the cheapest finished
prompt reachable through the candidate sets (before the frontier cap prunes anything). It prefers
prompts whose every prefix already scores well.

Its catch: a prefix of length L costs about L times a typical loss, so every short prefix is cheaper
than any longer one and uncapped UCS explores level by level, like breadth-first search, spending its
budget on short prompts. The frontier cap is what makes it usable: the cap drops the most expensive,
i.e. deepest, prompts first, so with ``frontier_cap`` F it works through about F prompts per level, a
beam of width F ranked by accumulated loss instead of the last loss; ``frontier_cap == beam_width``
is exactly that beam search. (A* would add an estimate of the cost still to come: an exercise.)

Also here: ``Prompts`` (a batch of right-padded prompts with their losses and costs), ``make_strategy``
(a strategy by its command-line name) and ``BestPrompt`` (which prompt a run reports).

Everything stays on the device: children are ranked with ``topk``/``sort``, never in a Python loop.
A strategy that needs a number on the host (UCS: how many live prompts are queued, whether it is done)
returns it from ``accept`` as a small tensor, so the method can fetch it in its one sync per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STRATEGIES = ("greedy", "beam", "ucs")


@dataclass
class Prompts:
    """A batch of right-padded prompts in the primary model's tokens, on one device.

    ``ids`` is padded to the longest length a search may reach, so prompts of different lengths (UCS)
    share one tensor; ``lengths`` says how many tokens of each row are real.
    """

    ids: torch.Tensor      # (N, M) long, M = max_length
    lengths: torch.Tensor  # (N,) long
    loss: torch.Tensor     # (N,) exact objective loss; inf for a prompt never evaluated (the empty root)
    cost: torch.Tensor     # (N,) accumulated loss along the path (see module docstring)
    terms: torch.Tensor    # (N, n_terms) unweighted per-term losses, in the objective's order

    def __len__(self) -> int:
        return self.ids.shape[0]

    def take(self, index: torch.Tensor | slice) -> "Prompts":
        return Prompts(self.ids[index], self.lengths[index], self.loss[index], self.cost[index], self.terms[index])

    @staticmethod
    def cat(parts: list["Prompts"]) -> "Prompts":
        parts = [p for p in parts if len(p)] or parts[:1]  # an empty part may lack the term columns (the root)
        return Prompts(*(torch.cat([getattr(p, name) for p in parts]) for name in
                         ("ids", "lengths", "loss", "cost", "terms")))

    @staticmethod
    def root(max_length: int, n_terms: int, device: torch.device) -> "Prompts":
        """The empty prompt every search starts from."""
        return Prompts(torch.zeros(1, max_length, dtype=torch.long, device=device),
                       torch.zeros(1, dtype=torch.long, device=device),
                       torch.full((1,), float("inf"), device=device), torch.zeros(1, device=device),
                       torch.full((1, n_terms), float("inf"), device=device))

    def mask(self, width: int) -> torch.Tensor:
        """Attention mask of the first ``width`` columns, (N, width): 1 on real tokens."""
        return (torch.arange(width, device=self.ids.device)[None] < self.lengths[:, None]).long()  # (N, width)


class SearchStrategy:
    """Interface: ``start(root)``, then per step ``expand()`` -> prompts to grow, ``accept(children)``."""

    name = "strategy"

    def __init__(self, max_length: int):
        self.max_length = max_length
        self.finished = False

    def start(self, root: Prompts) -> None:
        raise NotImplementedError

    def expand(self) -> Prompts:
        """The prompts to grow this step (removed from the frontier); their number is known on the host."""
        raise NotImplementedError

    def accept(self, children: Prompts) -> torch.Tensor:
        """Take this step's evaluated children; return device scalars the host must see (maybe none)."""
        raise NotImplementedError

    def synced(self, values: list[float]) -> None:
        """Receive ``accept``'s tensor on the host after the step's single sync."""

    @property
    def frontier_size(self) -> int:
        """Prompts queued (beam: kept), on the host."""
        raise NotImplementedError

    @property
    def expand_size(self) -> int:
        """How many prompts the next ``expand()`` returns, on the host: what the next step will cost."""
        return self.frontier_size


class Beam(SearchStrategy):
    """Keep the ``width`` lowest-loss children of all parents together; expand every one next step."""

    name = "beam"

    def __init__(self, max_length: int, width: int):
        super().__init__(max_length)
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"beam_width must be a positive int, got {width!r}")
        self.width = width

    def start(self, root: Prompts) -> None:
        self.beam, self.depth, self.finished = root, 0, False

    def expand(self) -> Prompts:
        return self.beam

    def accept(self, children: Prompts) -> torch.Tensor:
        keep = torch.topk(children.loss, min(self.width, len(children)), largest=False, sorted=True).indices  # (W,)
        self.beam = children.take(keep)
        self.depth += 1  # every beam prompt has the same length, so the host can count it
        self.finished = self.depth >= self.max_length
        return children.loss.new_zeros(0)

    @property
    def frontier_size(self) -> int:
        return len(self.beam)


class Greedy(Beam):
    """Keep the single lowest-loss child. Written out (argmin) rather than ``Beam(width=1)``, so a test can
    check that the two agree."""

    name = "greedy"

    def __init__(self, max_length: int):
        super().__init__(max_length, width=1)

    def accept(self, children: Prompts) -> torch.Tensor:
        self.beam = children.take(children.loss.argmin().reshape(1))
        self.depth += 1
        self.finished = self.depth >= self.max_length
        return children.loss.new_zeros(0)


class UniformCost(SearchStrategy):
    """Uniform-cost search over partial prompts; cost = accumulated loss (module docstring).

    The frontier is a tensor kept sorted by cost, so popping the cheapest is a slice. ``pop_width`` prompts
    are expanded per step (1 is the textbook algorithm; more fills the device's batch). The frontier keeps
    at most ``frontier_cap`` prompts, dropping the most expensive, which bounds memory but gives up the
    optimality guarantee. Finished prompts (length ``max_length``) are never expanded: the best one's cost
    is remembered, and the search is done once no queued prompt is cheaper.
    """

    name = "ucs"

    def __init__(self, max_length: int, pop_width: int = 1, frontier_cap: int = 256):
        super().__init__(max_length)
        for label, value in (("beam_width (prompts UCS expands per step)", pop_width), ("frontier_cap", frontier_cap)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        if frontier_cap < pop_width:
            raise ValueError(f"frontier_cap ({frontier_cap}) must be at least beam_width ({pop_width})")
        self.pop_width, self.frontier_cap = pop_width, frontier_cap

    def start(self, root: Prompts) -> None:
        self.frontier, self.live, self.finished = root, 1, False
        self.best_goal: Prompts | None = None  # UCS's own answer: the cheapest finished prompt so far
        self.expanded_costs: list[torch.Tensor] = []  # (n,) per step, on the device: UCS pops in cost order

    def expand(self) -> Prompts:
        n = self.expand_size
        popped, self.frontier = self.frontier.take(slice(0, n)), self.frontier.take(slice(n, None))
        self.live -= n
        self.expanded_costs.append(popped.cost)
        return popped

    def accept(self, children: Prompts) -> torch.Tensor:
        goal = children.lengths >= self.max_length  # (C,) finished prompts: remembered, never queued
        goal_cost = torch.where(goal, children.cost, torch.full_like(children.cost, float("inf")))  # (C,)
        challenger = children.take(goal_cost.argmin().reshape(1))
        challenger.cost = goal_cost.min().reshape(1)  # inf when no child is finished
        if self.best_goal is None:
            self.best_goal = challenger
        else:
            self.best_goal = _where(challenger.cost < self.best_goal.cost, challenger, self.best_goal)
        queued = children.take(slice(None))
        queued.cost = torch.where(goal, torch.full_like(children.cost, float("inf")), children.cost)  # dead rows
        merged = Prompts.cat([self.frontier, queued])
        order = torch.sort(merged.cost, stable=True).indices[: self.frontier_cap]  # (F,) cheapest first
        self.frontier = merged.take(order)
        live = torch.isfinite(self.frontier.cost).sum()  # () dead rows sort last, so live rows are a prefix
        cheapest = self.frontier.cost[0] if len(self.frontier) else children.cost.new_full((), float("inf"))
        done = (self.best_goal_cost <= cheapest) | (live == 0)
        return torch.stack([live.to(children.cost.dtype), done.to(children.cost.dtype)])

    def synced(self, values: list[float]) -> None:
        self.live, self.finished = int(values[0]), bool(values[1])

    @property
    def best_goal_cost(self) -> torch.Tensor:
        """() accumulated cost of the cheapest finished prompt so far; inf before there is one."""
        return self.best_goal.cost[0] if self.best_goal is not None else torch.tensor(float("inf"))

    @property
    def frontier_size(self) -> int:
        return self.live

    @property
    def expand_size(self) -> int:
        return min(self.pop_width, self.live)


def make_strategy(name: str, max_length: int, beam_width: int | None = None,
                  frontier_cap: int | None = None) -> SearchStrategy:
    """A strategy by name, as ``--strategy`` gives it. ``beam_width``: prompts kept (beam) or expanded per
    step (ucs), default 4; ``frontier_cap`` (ucs only): default 4 x beam_width (module docstring: a large
    cap makes UCS breadth-first)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown search strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if frontier_cap is not None and name != "ucs":
        raise ValueError(f"frontier_cap applies only to strategy 'ucs', not {name!r}")
    if name == "greedy":
        if beam_width not in (None, 1):
            raise ValueError(f"greedy keeps one prompt; beam_width={beam_width!r} makes sense only for beam or ucs")
        return Greedy(max_length)
    width = 4 if beam_width is None else beam_width
    if name == "beam":
        return Beam(max_length, width)
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"beam_width must be a positive int, got {width!r}")
    return UniformCost(max_length, width, 4 * width if frontier_cap is None else frontier_cap)


def _where(condition: torch.Tensor, a: Prompts, b: Prompts) -> Prompts:
    """Row-wise choice between two batches of the same size, on the device: a where ``condition`` (N,)."""
    fields = ("ids", "lengths", "loss", "cost", "terms")
    return Prompts(*(torch.where(condition.reshape(-1, *[1] * (getattr(a, f).ndim - 1)), getattr(a, f), getattr(b, f))
                     for f in fields))


class BestPrompt:
    """The prompt a run reports, kept on the device and updated with tensor ops (so tracking never syncs).

    ``longest_first=True`` (a prompt of the length asked for): the lowest exact loss among the *longest*
    prompts evaluated so far; a longer prompt beats a shorter one whatever their losses. ``False`` (the
    length is only a maximum): the lowest loss of any length, which suits an objective that scores the
    end of the text, where an unfinished caption pays for it.
    """

    def __init__(self, max_length: int, n_terms: int, device: torch.device, longest_first: bool = True):
        self.prompt = Prompts.root(max_length, n_terms, device)
        self.prompt.lengths -= 1  # -1: anything evaluated beats "nothing yet"
        self.longest_first = longest_first

    def update(self, children: Prompts) -> None:
        best = self.prompt
        if self.longest_first:
            longest = children.lengths.max()  # ()
            loss = torch.where(children.lengths == longest, children.loss, torch.full_like(children.loss, float("inf")))
            i = loss.argmin().reshape(1)  # (1,) the best of the longest children
            better = (longest > best.lengths) | ((longest == best.lengths) & (loss[i] < best.loss))  # (1,)
        else:
            i = children.loss.argmin().reshape(1)  # (1,)
            better = (children.loss[i] < best.loss) | (best.lengths < 0)  # (1,)
        self.prompt = _where(better, children.take(i), best)
