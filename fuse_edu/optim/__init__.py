"""Prompt optimisers: every one takes an ``Objective`` and returns a ``RunResult`` from ``run(steps)``.

- ``GCG``           gradient-ranked single-token swaps, scored exactly (``gcg``)
- ``RandomSearch``  the no-gradient baseline, L0 or L2 neighbourhoods (``random_search``)
- ``AutoDAN``, ``PEZ`` and the search strategies greedy / beam / ucs (``autodan``, ``pez``, ``search``)

``method(name)`` and ``strategy(name)`` look a class up by its command-line name, importing its module
only then, so a missing or broken module fails with a message naming it, not at ``import fuse_edu.optim``.
"""

from __future__ import annotations

import importlib

from fuse_edu.optim.base import Budget, RunResult, Stopwatch, check_weights

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


__all__ = ["METHODS", "STRATEGIES", "Budget", "RunResult", "Stopwatch", "check_weights", "method", "strategy"]
