"""What every ``fuse-edu`` command shares: exit codes, argument types, and the one-line error path.

Errors are one line on stderr, ``fuse-edu COMMAND: error: ...``, never a traceback. Argument types refuse a
bad value while argparse parses, so a typo costs a second, not a model load.
"""

from __future__ import annotations

import argparse
import math
import sys

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def fail(command: str, message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print ``fuse-edu COMMAND: error: MESSAGE`` on stderr and return ``code`` (the exit status)."""
    print(f"fuse-edu {command}: error: {message}", file=sys.stderr)
    return code


def warn(command: str, message: str) -> None:
    print(f"fuse-edu {command}: warning: {message}", file=sys.stderr)


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``, else argparse's one-line error and exit 2."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def int_in_range(minimum: int, maximum: int, what: str = "an integer"):
    """An argparse type: an integer from ``minimum`` to ``maximum``, else one line naming the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} from {minimum} to {maximum}, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be {what} from {minimum} to {maximum}, got {value}")
        return value
    parse.__name__ = f"integer in [{minimum}, {maximum}]"
    return parse


# NumPy's legacy global seed is 32 bits wide, the narrowest of the generators a run seeds
SEED_MAX = 2**32 - 1
seed = int_in_range(0, SEED_MAX, "a seed")


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (nan and inf refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def name_value(kind):
    """An argparse type for ``NAME=VALUE`` with VALUE read by ``kind`` (float: ``clip=2.0``; str: ``sentiment=positive``)."""
    def parse(text: str) -> tuple[str, object]:
        name, sep, value = text.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            return name.strip(), kind(value.strip())
        except ValueError:
            example = "clip=2.0" if kind is float else "sentiment=positive"
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. {example}), got {text!r}") from None
    return parse


def print_line(text: str) -> None:
    """A result line on stdout that does not tear a progress bar on stderr."""
    from tqdm.auto import tqdm

    tqdm.write(text, file=sys.stdout)
