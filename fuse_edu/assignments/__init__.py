"""Classroom assignments in nbgrader markup: release student copies (``markup``), recognise a submission's cells
(``identity``), grade one submission in a guarded kernel (``grade``, ``kernel``, ``kernel_guard``, ``remote``),
grade a class folder in parallel with feedback pages (``classroom``, ``feedback``)."""

from fuse_edu.assignments.grade import (DEFAULT_TIMEOUT_S, GradedSubmission, Score, check_timeout, format_scores,
                                        grade, grade_notebook, load_sources)
from fuse_edu.assignments.identity import cell_checksum, check_cells, match_assignment
from fuse_edu.assignments.markup import (BEGIN_HIDDEN, BEGIN_SOLUTION, CODE_STUB, END_HIDDEN, END_SOLUTION, RELEASE,
                                         SOURCE, TEXT_STUB, copy_released, is_graded, is_manual, is_solution, is_test,
                                         nbgrader_meta, read_assignment, release, student_copy)

__all__ = ["BEGIN_HIDDEN", "BEGIN_SOLUTION", "CODE_STUB", "DEFAULT_TIMEOUT_S", "END_HIDDEN", "END_SOLUTION", "RELEASE",
           "SOURCE", "Score", "GradedSubmission", "TEXT_STUB", "cell_checksum", "check_cells", "check_timeout",
           "copy_released", "format_scores", "grade", "grade_notebook", "is_graded", "is_manual", "is_solution",
           "is_test", "load_sources", "match_assignment", "nbgrader_meta", "read_assignment", "release",
           "student_copy"]
