"""Autograding one submission against the instructor's source, item by item.

What runs is built from the SOURCE, never from the submission's cells: the source's setup cells, then the
student's code for each solution cell (found by grade_id, ``identity.check_cells``), then the source's test
cells, hidden tests included, with the source's points. Each piece runs where the student cannot reach it:

- the student's code runs in a ``GradingKernel`` in a throwaway folder holding a copy of the submission only,
  behind ``kernel_guard`` (the assignment's reference functions refused, no processes, no writes or notebook
  reads outside that folder); the source folder's path is never sent to it;
- the setup and test cells run in the grading process, where the names the solution cells define are
  ``RemoteFunction`` proxies into the kernel; results come back as plain data and are checked here.

Per item: a failed assert or error costs that item; so does a timeout (``timeout_s`` per solution or test
cell, > 0; the source's setup cells get at least ``SETUP_TIMEOUT_S``) or a dead kernel, after which the kernel is restarted (setup and the student's other solution cells are run
again) and the remaining items are still scored. A solution cell that times out or kills the kernel is left
out of the restarted kernel. Written answers are listed as "needs manual grading"; graded cells the source
does not have, and missing, duplicated or edited ones, score zero and say why.

The assignment's reference functions are found, not declared: every ``fuse_edu`` function or class a test
cell uses by name (``tprod`` to check ``my_tprod``) is refused to the student's code (``reference_names``).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fuse_edu.assignments.identity import Matching, check_cells, match_assignment
from fuse_edu.assignments.kernel import CellTimeout, GradingKernel, KernelDied
from fuse_edu.assignments.markup import is_graded, is_manual, is_solution, is_test, nbgrader_meta, read_assignment
from fuse_edu.assignments.remote import RemoteFunction, StudentCodeError, decode_result, defined_names, encode_call

DEFAULT_TIMEOUT_S = 60.0   # per cell
SETUP_TIMEOUT_S = 120.0    # at least this for the source's own setup cells: a loaded machine must not fail them
GUARD = "fuse_edu.assignments.kernel_guard"


@dataclass
class Score:
    grade_id: str
    points: float
    earned: float | None        # None: needs manual grading
    status: str = "passed"      # passed, failed, timed out, kernel died, missing, duplicated, edited, extra,
                                # needs manual grading
    detail: str = ""


@dataclass
class GradedSubmission:
    path: Path
    assignment: str
    scores: list[Score]
    solutions: dict[str, str] = field(default_factory=dict)   # grade_id -> the student's code
    answers: dict[str, str] = field(default_factory=dict)     # grade_id -> the student's written answer
    notes: list[str] = field(default_factory=list)            # what went wrong outside the items

    @property
    def earned(self) -> float:
        return sum(s.earned or 0.0 for s in self.scores)

    @property
    def points(self) -> float:
        return sum(s.points for s in self.scores)


def check_timeout(timeout_s: float) -> float:
    if not isinstance(timeout_s, (int, float)) or not timeout_s > 0 or timeout_s == float("inf"):
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout_s!r}")
    return float(timeout_s)


def load_sources(folder: str | Path) -> dict:
    """{assignment name: source notebook} for every notebook in the instructor's source folder, read now (a
    later change to the files does not change a grading in progress)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"grading needs the instructor's source folder; {folder} does not exist")
    sources = {path.stem: read_assignment(path) for path in sorted(folder.glob("*.ipynb"))}
    if not sources:
        raise ValueError(f"the source folder {folder} holds no notebooks")
    return sources


class _Runner:
    """The kernel side of one submission: start, replay after a restart, call the student's functions."""

    def __init__(self, workdir: Path, setup: list[str], references: list[str], solutions: list[tuple[str, str]],
                 timeout_s: float, notes: list[str]):
        self.workdir, self.setup, self.references = workdir, setup, references
        self.solutions, self.timeout_s, self.notes = solutions, timeout_s, notes
        self.broken: set[str] = set()
        self.kernel: GradingKernel | None = None
        self.deadline = 0.0

    def start(self) -> None:
        """A fresh kernel with the setup, the guard and every solution cell not known to be broken."""
        self.stop()
        for attempt in range(2):  # a kernel that dies while starting, on a loaded machine, gets one more try
            self.kernel = GradingKernel(self.workdir)
            try:
                self.kernel.start()
                break
            except KernelDied:
                self.kernel = None
                if attempt:
                    raise
        guard = f"import {GUARD} as _guard\n_guard.install({self.references!r}, {str(self.workdir)!r})\ndel _guard"
        for what, code in [*(("a setup cell", c) for c in self.setup), ("the guard", guard)]:
            try:
                reply = self.kernel.execute(code, max(self.timeout_s, SETUP_TIMEOUT_S))
            except (CellTimeout, KernelDied) as error:
                raise RuntimeError(f"{what} of the source did not finish in the grading kernel ({error}); "
                                   f"a larger timeout may help") from None
            if reply.status == "error":  # never run student code unguarded
                raise RuntimeError(f"{what} of the source failed in the grading kernel: {reply.error}")
        for grade_id, code in self.solutions:
            if grade_id in self.broken:
                continue
            try:
                reply = self.kernel.execute(code, self.timeout_s)
            except (CellTimeout, KernelDied) as error:
                self.broken.add(grade_id)
                self.notes.append(f"solution cell {grade_id!r}: {error}; it is left out")
                return self.start()
            if reply.status == "error":
                self.notes.append(f"solution cell {grade_id!r} raised {reply.error}")

    def call(self, name: str, args: tuple, kwargs: dict):
        payload, generators = encode_call(args, kwargs)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise CellTimeout(f"timed out after {self.timeout_s:g} s")
        try:
            reply = self.kernel.execute(f"__import__({GUARD!r}, fromlist=['call']).call({name!r}, {payload!r})",
                                        remaining)
        except CellTimeout:
            raise CellTimeout(f"timed out after {self.timeout_s:g} s") from None
        if reply.status == "error":
            raise StudentCodeError(f"{name} raised {reply.error}")
        return decode_result(reply.data, name, generators)

    def value(self, name: str):
        reply = self.kernel.execute(f"__import__({GUARD!r}, fromlist=['value']).value({name!r})", self.timeout_s)
        return decode_result(reply.data, name) if reply.status == "ok" else None

    def stop(self) -> None:
        if self.kernel is not None:
            self.kernel.stop()
            self.kernel = None


def reference_names(source, namespace: dict) -> list[str]:
    """``"module:qualname"`` of every fuse_edu function or class the source's test cells use by a name that the
    setup cells bound in ``namespace``."""
    import ast

    used = {node.id for c in source.cells if is_test(c) for node in ast.walk(ast.parse(c.source))
            if isinstance(node, ast.Name)}
    found = set()
    for name in used:
        obj = namespace.get(name)
        module = getattr(obj, "__module__", None) or ""
        if callable(obj) and (module == "fuse_edu" or module.startswith("fuse_edu.")):
            found.add(f"{module}:{obj.__qualname__}")
    return sorted(found)


def _plan(source) -> tuple[list[str], list]:
    """(setup code cells, the graded and solution cells in order) of a source notebook."""
    setup = [c.source for c in source.cells if c.cell_type == "code" and not nbgrader_meta(c)]
    items = [c for c in source.cells if is_graded(c) or is_solution(c)]
    return setup, items


def _run_test(code: str, grade_id: str, namespace: dict, runner: _Runner) -> Score:
    runner.deadline = time.monotonic() + runner.timeout_s
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(code, f"<test {grade_id}>", "exec"), namespace)
    except CellTimeout as error:
        return Score(grade_id, 0, 0.0, "timed out", str(error))
    except KernelDied as error:
        return Score(grade_id, 0, 0.0, "kernel died", str(error))
    except (Exception, SystemExit) as error:  # the test's own assert, or the student's error
        if runner.kernel is None or not runner.kernel.alive():
            return Score(grade_id, 0, 0.0, "kernel died", "the kernel died")
        detail = str(error) if isinstance(error, StudentCodeError) else f"{type(error).__name__}: {error}".strip()
        return Score(grade_id, 0, 0.0, "failed", detail.rstrip(":"))
    return Score(grade_id, 0, None, "passed")


def grade_notebook(path: str | Path, sources: dict, timeout_s: float = DEFAULT_TIMEOUT_S) -> GradedSubmission:
    """Grade the submission at ``path`` against whichever of ``sources`` (``load_sources``) it is."""
    timeout_s = check_timeout(timeout_s)
    path = Path(path)
    nb = read_assignment(path, require_graded=False)
    name = match_assignment(nb, sources, where=str(path))
    source = sources[name]
    matching: Matching = check_cells(nb, source)
    result = GradedSubmission(path, name, [], matching.solutions, matching.answers)
    result.notes.extend(problem for grade_id, problem in matching.problems.items()
                        if not any(is_graded(c) and nbgrader_meta(c)["grade_id"] == grade_id for c in source.cells))
    setup, items = _plan(source)
    solutions = [(nbgrader_meta(c)["grade_id"], matching.solutions[nbgrader_meta(c)["grade_id"]])
                 for c in items if is_solution(c) and c.cell_type == "code"
                 and nbgrader_meta(c)["grade_id"] in matching.solutions]

    workdir = Path(tempfile.mkdtemp(prefix="fuse-edu-grading-"))
    shutil.copyfile(path, workdir / path.name)
    runner = _Runner(workdir, setup, [], solutions, timeout_s, result.notes)
    namespace: dict = {"__name__": "__main__"}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for code in setup:
                exec(compile(code, "<setup>", "exec"), namespace)
        runner.references = reference_names(source, namespace)
        runner.start()
        remote, values = {}, []
        for cell in items:
            if is_solution(cell) and cell.cell_type == "code":
                functions, assigned = defined_names(cell.source)
                remote.update({n: RemoteFunction(runner, n) for n in functions})
                values.extend(assigned)
        for cell in items:
            meta = nbgrader_meta(cell)
            grade_id, points = meta["grade_id"], float(meta.get("points", 0))
            if not is_graded(cell):
                continue
            if grade_id in matching.problems:
                problem = matching.problems[grade_id]
                status = "missing" if "missing" in problem else "duplicated" if "appears" in problem else "edited"
                result.scores.append(Score(grade_id, points, 0.0, status, matching.problems[grade_id]))
                continue
            if is_manual(cell):
                result.scores.append(Score(grade_id, points, None, "needs manual grading"))
                continue
            if not is_test(cell):
                continue
            if runner.kernel is None or not runner.kernel.alive():
                runner.start()
            namespace.update(remote)
            for name in values:
                with contextlib.suppress(StudentCodeError, CellTimeout, KernelDied):
                    namespace[name] = runner.value(name)
            score = _run_test(cell.source, grade_id, namespace, runner)
            score.points = points
            score.earned = points if score.status == "passed" else 0.0
            result.scores.append(score)
            if score.status in ("timed out", "kernel died"):
                runner.start()
    finally:
        runner.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for grade_id, claimed in matching.extras:
        result.scores.append(Score(grade_id, 0.0, 0.0, "extra",
                                   f"graded cell {grade_id!r} is not in the assignment (claims {claimed:g} points)"))
    return result


def grade(path: str | Path, source: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> GradedSubmission:
    """Grade one submission against the assignments in the source folder ``source``."""
    return grade_notebook(path, load_sources(source), timeout_s)


def format_scores(graded: GradedSubmission) -> str:
    """The points per item, the total and any notes, as ``check`` prints them."""
    scores = graded.scores
    width = max([len(s.grade_id) for s in scores] + [len("total")])
    lines = [f"{graded.path.name} (assignment {graded.assignment})"]
    for s in scores:
        earned = "?" if s.earned is None else f"{s.earned:g}"
        note = f"   {s.status}" + (f": {s.detail[:160]}" if s.detail else "") if s.status != "passed" else ""
        lines.append(f"  {s.grade_id:<{width}}  {earned} / {s.points:g}{note}")
    manual = " (+ written answers to grade by hand)" if any(s.earned is None for s in scores) else ""
    lines.append(f"  {'total':<{width}}  {graded.earned:g} / {graded.points:g}{manual}")
    lines.extend(f"  note: {n}" for n in graded.notes)
    return "\n".join(lines)


__all__ = ["DEFAULT_TIMEOUT_S", "GradedSubmission", "Score", "check_timeout", "format_scores", "grade",
           "grade_notebook", "load_sources"]
