"""Classroom assignments in nbgrader markup: release student copies (``markup``), autograde filled-in ones
(``grade``)."""

from fuse_edu.assignments.grade import DEFAULT_TIMEOUT_S, Score, format_scores, grade, restore_tests
from fuse_edu.assignments.markup import (BEGIN_HIDDEN, BEGIN_SOLUTION, CODE_STUB, END_HIDDEN, END_SOLUTION, SOURCE,
                                         TEXT_STUB, is_graded, is_solution, nbgrader_meta, read_assignment, release,
                                         student_copy)

__all__ = ["BEGIN_HIDDEN", "BEGIN_SOLUTION", "CODE_STUB", "DEFAULT_TIMEOUT_S", "END_HIDDEN", "END_SOLUTION", "SOURCE",
           "Score", "TEXT_STUB", "format_scores", "grade", "is_graded", "is_solution", "nbgrader_meta",
           "read_assignment", "release", "restore_tests", "student_copy"]
