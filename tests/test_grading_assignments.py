"""Each assignment scores full marks with its solution and nothing with the released stubs, its written answers
listed for grading by hand. 01 is graded both ways in test_grading_cheats.py. 02 is left out: its setup loads
the toy preset twice per grading (tens of seconds); its source runs under nbval, which is its solution passing
its tests. Runs kernels: ``slow``."""

from __future__ import annotations

import pytest

from fuse_edu.assignments import RELEASE, SOURCE, grade_notebook, is_graded, is_manual, load_sources, nbgrader_meta

GRADED = ["03_gcg_candidates", "04_fuse_backward", "05_autodan_slot_score"]


@pytest.fixture(scope="module")
def sources():
    return load_sources(SOURCE)


@pytest.mark.slow
@pytest.mark.parametrize("name", GRADED)
def test_the_solution_scores_full_marks_and_the_stub_none(name, sources):
    items = [(nbgrader_meta(c)["grade_id"], is_manual(c)) for c in sources[name].cells if is_graded(c)]
    solved = grade_notebook(SOURCE / f"{name}.ipynb", sources, timeout_s=60)
    stubbed = grade_notebook(RELEASE / f"{name}.ipynb", sources, timeout_s=60)
    for graded, status in ((solved, "passed"), (stubbed, "failed")):
        assert [(s.grade_id, s.earned is None) for s in graded.scores] == items
        for score in graded.scores:
            if score.earned is None:
                assert score.status == "needs manual grading" and score.points > 0
            else:
                assert score.status == status, score
    assert all(s.earned == s.points for s in solved.scores if s.earned is not None)
    assert stubbed.earned == 0 and all("NotImplementedError" in s.detail for s in stubbed.scores if s.detail)
