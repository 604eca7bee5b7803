"""Every walk-through passes with a seed other than the one its stored outputs were made with, at quick
parameter values inside its documented ranges: its assertions state facts that hold, not one run's luck.

nbval checks the stored outputs at the stored seed; this checks the claims at another one. The runs start in
the background when pytest collects these tests (``tests/second_seed.py``); each test waits for its own.
"""

from __future__ import annotations

import pytest

from fuse_edu.report import REPO_NOTEBOOKS
from tests import second_seed
from tests.second_seed import QUICK, SECOND_SEED


def test_every_walk_through_has_a_quick_second_run():
    walk_throughs = sorted(p.name for p in REPO_NOTEBOOKS.glob("[0-9]*.ipynb"))
    assert walk_throughs == sorted(QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUICK))
def test_notebook_passes_with_another_seed(name):
    done = second_seed.result(REPO_NOTEBOOKS, name)
    assert done.returncode == 0, f"{name} at SEED={SECOND_SEED} {QUICK[name]}:\n{done.stderr[-4000:]}"
