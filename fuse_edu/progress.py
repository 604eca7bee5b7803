"""Progress bars and notes on stderr: the one place that decides whether they show.

Contract. ``progress_bar(iterable, show=..., **tqdm_kwargs)`` is ``tqdm.auto.tqdm`` on stderr, shown only when
the caller's ``show`` is true and ``bars_wanted()``. ``bars_wanted()``: off under the command line's
``--quiet``, on under ``--verbose``; otherwise on in a Jupyter kernel (where tqdm draws a widget) or when
stderr is a terminal, and off when stderr is a log file or a pipe, which would collect carriage returns and
cursor codes. ``note(text)`` writes an informational line on stderr unless ``--quiet``.
"""

from __future__ import annotations

import sys

QUIET, NORMAL, VERBOSE = -1, 0, 1
_verbosity = NORMAL


def set_verbosity(level: int) -> None:
    """``QUIET``, ``NORMAL`` or ``VERBOSE`` (the command line's ``--quiet`` / ``--verbose``), for this process."""
    global _verbosity
    if level not in (QUIET, NORMAL, VERBOSE):
        raise ValueError(f"verbosity must be QUIET (-1), NORMAL (0) or VERBOSE (1), got {level!r}")
    _verbosity = level


def in_kernel() -> bool:
    """True inside a Jupyter kernel (the test tqdm.auto uses to pick its widget bar)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def bars_wanted() -> bool:
    if _verbosity != NORMAL:
        return _verbosity == VERBOSE
    return in_kernel() or sys.stderr.isatty()


def progress_bar(iterable=None, show: bool = True, **tqdm_kwargs):
    """A tqdm bar on stderr (or a widget in a kernel) that draws nothing unless ``show and bars_wanted()``;
    it still iterates ``iterable`` and accepts ``update``/``set_postfix`` either way."""
    from tqdm.auto import tqdm

    tqdm_kwargs.setdefault("file", sys.stderr)
    return tqdm(iterable, disable=not (show and bars_wanted()), **tqdm_kwargs)


def note(text: str) -> None:
    """One informational line on stderr, silent under ``--quiet``."""
    if _verbosity != QUIET:
        print(text, file=sys.stderr, flush=True)


__all__ = ["NORMAL", "QUIET", "VERBOSE", "bars_wanted", "in_kernel", "note", "progress_bar", "set_verbosity"]
