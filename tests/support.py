"""Helpers several test files share: the toy-weights skip mark, a command-line runner, a benchmark loader, and
``ToyObjective``, a few lines of tensor algebra with the Objective's interface whose right answers can be worked
out by hand."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from fuse_edu.models.presets import TOY_WEIGHTS

TOY_MISSING = [str(p) for p in (TOY_WEIGHTS / "toy-lm", TOY_WEIGHTS / "toy-clip") if not p.exists()]
needs_toy = pytest.mark.skipif(bool(TOY_MISSING), reason=f"toy weights not built: {TOY_MISSING}; "
                                                          "python -m fuse_edu.toyworld.train builds them")


BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str):
    """``benchmarks/NAME.py`` as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored_result(name: str) -> dict:
    """``benchmarks/results/NAME.json``, or a skip that says which command writes it."""
    path = BENCHMARKS / "results" / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path} not written yet: python benchmarks/{name}.py --write")
    return json.loads(path.read_text())


def run_cli(capsys, *argv, quoting_a_traceback: bool = False) -> tuple[int, str, str]:
    """``fuse-edu ARGV...`` in process: (exit status, stdout, stderr); never a traceback of ours on stderr
    (``quoting_a_traceback``: the message may quote one, e.g. a failed notebook cell's)."""
    from fuse_edu.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own errors, --help and --version
        code = exit_.code
    out, err = capsys.readouterr()
    assert quoting_a_traceback or "Traceback" not in err, err
    return code, out, err


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


class NumberTokenizer:
    """Decodes token i as " t<i>"; enough for ``RunResult.best_text``."""

    eos_token_id = None

    def decode(self, ids, **kwargs):
        return "".join(f" t{i}" for i in ids)


class ToyObjective:
    """loss(prompt) = mean_t |E[id_t] - target_t|^2 (``kind="quadratic"``, >= 0, best token per slot: the row
    nearest target_t) or mean_t E[id_t] . target_t (``kind="linear"``: its gradient does not depend on where it
    is taken, so AutoDAN's scores can be predicted exactly). The "LM" is a random bigram table."""

    def __init__(self, vocab: int = 40, dim: int = 8, length: int = 6, kind: str = "quadratic", seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.embedding_table = torch.randn(vocab, dim, generator=g)  # (V, d)
        self.target = torch.randn(length, dim, generator=g)  # (L, d)
        self.bigram = torch.randn(vocab + 1, vocab, generator=g).log_softmax(-1)  # (V+1, V); row V: start
        self.kind, self.tokenizer, self.device = kind, NumberTokenizer(), torch.device("cpu")
        self.forward_rows = 0  # prompts passed through ``losses`` (PEZ's evaluations are these)
        self.evaluated_rows = 0  # prompts passed to ``evaluate`` (AutoDAN's exact evaluations)

    def losses(self, ids, mask, embeds=None):
        embeds = self.embedding_table[ids] if embeds is None else embeds  # (B, T, d)
        target = self.target[: ids.shape[1]]  # (T, d)
        per_position = ((embeds - target) ** 2).sum(-1) if self.kind == "quadratic" else (embeds * target).sum(-1)
        m = mask.float()  # (B, T)
        fit = (per_position * m).sum(1) / m.sum(1).clamp(min=1)  # (B,)
        self.forward_rows += ids.shape[0]
        return fit, {"fit": fit}

    @torch.no_grad()
    def evaluate(self, ids, mask, chunk_size=256):
        self.evaluated_rows += ids.shape[0]
        parts = [self.losses(i, m)[0] for i, m in zip(ids.split(chunk_size), mask.split(chunk_size))]
        return torch.cat(parts), {"fit": torch.cat(parts)}

    def embedding_gradient(self, ids, mask):
        embeds = self.embedding_table[ids].clone().requires_grad_(True)
        with torch.enable_grad():
            loss, _ = self.losses(ids, mask, embeds)
            return torch.autograd.grad(loss.sum(), embeds)[0]  # (B, T, d)

    def one_hot_gradient(self, ids, mask):
        return self.embedding_gradient(ids, mask) @ self.embedding_table.T  # (B, T, V)

    @torch.no_grad()
    def next_token_logprobs(self, ids, mask):
        lengths = mask.long().sum(1)  # (B,)
        last = ids.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)  # (B,)
        last = torch.where(lengths > 0, last, torch.full_like(last, self.bigram.shape[0] - 1))
        return self.bigram[last]  # (B, V)


class EndingToyObjective(ToyObjective):
    """ToyObjective that also scores how the prompt ends, + end_weight * |E[last token] - stop|^2, like an LM
    term with end=True; ``without_end()`` is the plain ToyObjective on the same table and targets."""

    def __init__(self, end_weight: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.end_weight, self.stop = end_weight, torch.randn(self.embedding_table.shape[1],
                                                             generator=torch.Generator().manual_seed(7))  # (d,)
        self.opened = ToyObjective(**kwargs)

    def losses(self, ids, mask, embeds=None):
        embeds = self.embedding_table[ids] if embeds is None else embeds  # (B, T, d)
        fit, _ = super().losses(ids, mask, embeds)  # (B,)
        last = (mask.long().sum(1) - 1).clamp(min=0)  # (B,)
        ending = ((embeds[torch.arange(ids.shape[0]), last] - self.stop) ** 2).sum(-1)  # (B,)
        total = fit + self.end_weight * ending
        return total, {"fit": total}

    def without_end(self):
        return self.opened

    def evaluate_growing(self, ids, mask, chunk_size=256):
        return (self.opened.evaluate(ids, mask, chunk_size)[0], *self.evaluate(ids, mask, chunk_size))


def everything(objective) -> torch.Tensor:
    """Every token of a ToyObjective allowed."""
    return torch.ones(objective.embedding_table.shape[0], dtype=torch.bool)


def count_syncs(monkeypatch, keep=lambda frame: True) -> list[tuple[str, str, int]]:
    """Start counting host-device syncs: every .item()/.tolist()/bool()/int()/float()/.nonzero() of a tensor,
    as (name, caller's file, line), for callers ``keep(frame)`` accepts. ``monkeypatch.undo()`` stops it."""
    import sys

    syncs = []
    for attribute in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero"):
        original = getattr(torch.Tensor, attribute)

        def counted(self, *args, _original=original, _name=attribute, **kwargs):
            frame = sys._getframe(1)
            if keep(frame):
                syncs.append((_name, frame.f_code.co_filename.rsplit("/", 1)[-1], frame.f_lineno))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, attribute, counted)
    return syncs


def toy_autodan(objective, **kwargs):
    """AutoDAN on a ToyObjective: 4 tokens, 8 candidates a step, every token allowed, no progress bar."""
    from fuse_edu.optim.autodan import AutoDAN

    kwargs = {"prompt_length": 4, "candidates_per_step": 8, "allowed": everything(objective), "progress": False,
              **kwargs}
    return AutoDAN(objective, **kwargs)


def toy_pez(objective, **kwargs):
    """PEZ on a ToyObjective: 4 tokens, every token allowed, no progress bar."""
    from fuse_edu.optim.pez import PEZ

    kwargs = {"prompt_length": 4, "allowed": everything(objective), "progress": False, **kwargs}
    return PEZ(objective, **kwargs)
