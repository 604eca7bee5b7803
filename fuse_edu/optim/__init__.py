"""Prompt optimisers: one contract (``base.Optimiser``), four methods, three search strategies.

- ``GCG``           gradient-ranked single-token swaps, scored exactly (``gcg``)
- ``RandomSearch``  the no-gradient baseline, L0 or L2 neighbourhoods (``random_search``)
- ``AutoDAN``       grow a readable prompt token by token (``autodan``), with a search strategy
                    greedy / beam / ucs (``search``)
- ``PEZ``           continuous embeddings projected to the nearest vocabulary row (``pez``)

Every method is built as ``Method(objective, prompt_length=..., candidates_per_step=..., seed=...,
budget=..., allowed=...)`` and run as ``run(steps, patience=None, callback=None) -> RunResult``.
``method(name)`` and ``strategy(name)`` look a class up by its command-line name, importing its module
only then. A new method is one module and one line in ``METHODS``.
"""

from __future__ import annotations

import importlib

from fuse_edu.optim.base import Budget, Optimiser, RunResult, Stopwatch
from fuse_edu.optim.candidates import (
    ALLOWED_KINDS, allowed_token_mask, greedy_prompt, l0_candidates, l2_candidates, lm_top_tokens,
    single_swap_candidates, top_k_replacements, words_token_mask,
)
from fuse_edu.optim.loop import device_generator
from fuse_edu.optim.word_moves import WordTable, first_tokens, lm_word_choice, word_starts, word_swap

# command-line name -> (module, class)
METHODS: dict[str, tuple[str, str]] = {
    "gcg": ("fuse_edu.optim.gcg", "GCG"),
    "autodan": ("fuse_edu.optim.autodan", "AutoDAN"),
    "pez": ("fuse_edu.optim.pez", "PEZ"),
    "random": ("fuse_edu.optim.random_search", "RandomSearch"),
}
STRATEGIES: dict[str, tuple[str, str]] = {
    "greedy": ("fuse_edu.optim.search", "Greedy"),
    "beam": ("fuse_edu.optim.search", "Beam"),
    "ucs": ("fuse_edu.optim.search", "UniformCost"),
}


def _lookup(table: dict[str, tuple[str, str]], name: str, what: str):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; accepted: {', '.join(table)}")
    module_name, class_name = table[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise NotImplementedError(f"{what} {name!r} is not available in this version of fuse_edu "
                                  f"({module_name} is missing)") from None
    if not hasattr(module, class_name):
        raise NotImplementedError(f"{what} {name!r} is not available: {module_name} has no {class_name}")
    return getattr(module, class_name)


def method(name: str):
    """The optimiser class for a command-line name: gcg, autodan, pez, random."""
    return _lookup(METHODS, name, "method")


def strategy(name: str):
    """The search-strategy class for a command-line name: greedy, beam, ucs."""
    return _lookup(STRATEGIES, name, "strategy")


def __getattr__(name: str):
    """``from fuse_edu.optim import GCG`` (or AutoDAN, PEZ, ...) imports only that optimiser's module."""
    for table in (METHODS, STRATEGIES):
        for module_name, class_name in table.values():
            if class_name == name:
                return getattr(importlib.import_module(module_name), class_name)
    raise AttributeError(f"module 'fuse_edu.optim' has no attribute {name!r}")


__all__ = ["ALLOWED_KINDS", "METHODS", "STRATEGIES", "Budget", "Optimiser", "RunResult", "Stopwatch", "WordTable",
           "allowed_token_mask", "device_generator", "greedy_prompt", "l0_candidates", "l2_candidates",
           "lm_top_tokens", "method", "single_swap_candidates", "strategy", "top_k_replacements",
           "first_tokens", "lm_word_choice", "word_starts", "word_swap", "words_token_mask"]
