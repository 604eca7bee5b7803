"""Progress bars and notes (``fuse_edu.progress``): off when stderr is not a terminal, forced by --quiet and
--verbose, and the command line's flags reach every command's --no-progress."""

from __future__ import annotations

import io

import pytest

from fuse_edu import progress
from fuse_edu.progress import NORMAL, QUIET, VERBOSE, bars_wanted, note, progress_bar, set_verbosity


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def normal():
    set_verbosity(NORMAL)
    yield
    set_verbosity(NORMAL)


def drawn(monkeypatch, stderr, show=True) -> str:
    monkeypatch.setattr("sys.stderr", stderr)
    assert list(progress_bar(range(3), show=show, desc="work", mininterval=0)) == [0, 1, 2]
    return stderr.getvalue()


def test_a_bar_draws_on_a_terminal_and_not_into_a_log(monkeypatch):
    assert "work" in drawn(monkeypatch, Terminal()) and "\r" in drawn(monkeypatch, Terminal())
    assert drawn(monkeypatch, io.StringIO()) == ""            # a pipe or a log file: no \r, no cursor codes
    assert drawn(monkeypatch, Terminal(), show=False) == ""   # the caller's own switch still counts


def test_quiet_and_verbose_override_the_terminal_test(monkeypatch):
    set_verbosity(QUIET)
    assert drawn(monkeypatch, Terminal()) == ""
    set_verbosity(VERBOSE)
    assert "work" in drawn(monkeypatch, io.StringIO())
    with pytest.raises(ValueError, match="got 2"):
        set_verbosity(2)


def test_notes_are_silent_under_quiet(capsys):
    note("installing")
    set_verbosity(QUIET)
    note("hidden")
    assert capsys.readouterr().err == "installing\n"


def test_a_kernel_counts_as_a_display(monkeypatch):
    class Shell:
        config = {"IPKernelApp": {}}

    class IPython:
        @staticmethod
        def get_ipython():
            return Shell()

    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not bars_wanted()
    monkeypatch.setitem(__import__("sys").modules, "IPython", IPython)
    assert progress.in_kernel() and bars_wanted()
