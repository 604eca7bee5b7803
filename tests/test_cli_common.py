"""What every ``fuse-edu`` command shares (``fuse_edu.cli.common``): exit codes, argument types that refuse a bad
value while argparse parses, and the one-line error and result paths."""

from __future__ import annotations

import argparse

import pytest

from fuse_edu.cli.common import (EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, EXIT_SOME_FAILED, fail,
                                 int_at_least, name_value, non_negative_float, print_line)


def test_exit_codes():
    assert (EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_SOME_FAILED, EXIT_INTERRUPTED) == (0, 1, 2, 3, 130)


def test_fail_prints_one_line_and_returns_the_code(capsys):
    assert fail("caption", "no readable image") == EXIT_BAD_INPUT
    assert fail("demo", "a model broke", EXIT_RUN_FAILED) == EXIT_RUN_FAILED
    assert capsys.readouterr().err == ("fuse-edu caption: error: no readable image\n"
                                       "fuse-edu demo: error: a model broke\n")


def test_int_at_least():
    at_least_one = int_at_least(1)
    assert at_least_one("3") == 3 and at_least_one.__name__ == "integer >= 1"
    with pytest.raises(argparse.ArgumentTypeError, match="must be an integer >= 1, got 0"):
        at_least_one("0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer >= 1, got '2.5'"):
        at_least_one("2.5")
    assert int_at_least(0)("0") == 0


@pytest.mark.parametrize("text, value", [("0", 0.0), ("2.5", 2.5), ("1e-3", 0.001)])
def test_non_negative_float_accepts(text, value):
    assert non_negative_float(text) == value


@pytest.mark.parametrize("text, message", [("-1", "must be a finite number >= 0, got -1"),
                                           ("nan", "must be a finite number >= 0"), ("inf", "must be a finite"),
                                           ("two", "expected a number >= 0, got 'two'")])
def test_non_negative_float_refuses(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        non_negative_float(text)


def test_name_value_reads_name_equals_value():
    assert name_value(float)("clip=2") == ("clip", 2.0)
    assert name_value(float)(" clip = 0.5 ") == ("clip", 0.5)
    assert name_value(str)("sentiment=positive") == ("sentiment", "positive")
    for kind, text, example in [(float, "clip", "clip=2.0"), (float, "clip=abc", "clip=2.0"),
                                (float, "=2", "clip=2.0"), (str, "sentiment", "sentiment=positive")]:
        with pytest.raises(argparse.ArgumentTypeError, match=rf"expected NAME=VALUE \(e.g. {example}\), got "):
            name_value(kind)(text)


def test_print_line_writes_a_result_to_stdout(capsys):
    print_line("scene.png\ta red square")
    assert capsys.readouterr().out == "scene.png\ta red square\n"
