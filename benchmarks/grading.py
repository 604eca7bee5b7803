"""Benchmark class grading: the wall time of ``fuse-edu assignments grade`` for a class of 30 submissions.

Run: python benchmarks/grading.py [--jobs N] [--timeout S] [--json OUT.json] [--md OUT.md]

The class: 30 filled-in copies of assignment 01 (the t-product), written from the released copy: 22 correct,
4 with ``pass`` stubs, 2 that patch ``torch.allclose`` and return zeros, 1 that loops on one test's input and
1 that calls ``os._exit`` on it (so the timeout and a kernel restart are part of the time). Each is graded
in its own kernel, ``--jobs`` at a time (default: the machine's cores). Reports the wall time, the time per
submission, and the totals per kind (which must be 5, 0, 0, 3, 3 of 5).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbformat

from fuse_edu.assignments import RELEASE, SOURCE, nbgrader_meta
from fuse_edu.assignments.classroom import grade_class

CORRECT = next(c.source for c in nbformat.read(SOURCE / "01_tprod_fft.ipynb", as_version=4).cells
               if nbgrader_meta(c).get("grade_id") == "my_tprod")
BODY = CORRECT.split("\n", 2)[2]
KINDS = {
    "correct": (22, CORRECT),
    "pass stubs": (4, "def my_tprod(A, B):\n    pass"),
    "patched allclose": (2, "torch.allclose = lambda *a, **k: True\ndef my_tprod(A, B):\n    return torch.zeros(1)"),
    "looping": (1, "def my_tprod(A, B):\n    while A.shape[0] == 3:\n        pass\n" + BODY),
    "os._exit": (1, "import os\ndef my_tprod(A, B):\n    if A.shape[0] == 3:\n        os._exit(0)\n" + BODY),
}


def write_class(folder: Path) -> dict[str, str]:
    """Write the 30 submissions; returns {student: kind}."""
    released = nbformat.read(RELEASE / "01_tprod_fft.ipynb", as_version=4)
    kinds, index = {}, 0
    for kind, (count, code) in KINDS.items():
        for _ in range(count):
            student = f"student{index:02d}"
            for cell in released.cells:
                if nbgrader_meta(cell).get("grade_id") == "my_tprod":
                    cell.source = code
            (folder / student).mkdir(parents=True)
            nbformat.write(released, folder / student / "01_tprod_fft.ipynb")
            kinds[student], index = kind, index + 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--md", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kinds = write_class(Path(tmp) / "submitted")
        start = time.perf_counter()
        rows = grade_class(Path(tmp) / "submitted", SOURCE, Path(tmp) / "grades.csv", jobs=args.jobs,
                           timeout_s=args.timeout, feedback=Path(tmp) / "feedback")
        wall = time.perf_counter() - start
    totals = defaultdict(set)
    for row in rows:
        if row["item"] == "total":
            totals[kinds[row["student"]]].add(row["earned"])
    result = {"submissions": len(kinds), "jobs": args.jobs, "cores": os.cpu_count(), "timeout_s": args.timeout,
              "wall_s": round(wall, 1), "per_submission_s": round(wall / len(kinds), 2),
              "totals_by_kind": {k: sorted(v) for k, v in totals.items()}}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.md:
        lines = ["# Class grading: 30 submissions of assignment 01", "",
                 f"`python benchmarks/grading.py --jobs {args.jobs} --timeout {args.timeout:g}` on a {os.cpu_count()}-core "
                 "CPU machine shared with other work (times are upper bounds).", "",
                 "| submissions | jobs | wall time | per submission |", "|---|---|---|---|",
                 f"| {len(kinds)} | {args.jobs} | {wall:.1f} s | {wall / len(kinds):.2f} s |", "",
                 "| kind | count | total (of 5) |", "|---|---|---|"]
        lines += [f"| {kind} | {KINDS[kind][0]} | {', '.join(totals[kind])} |" for kind in KINDS]
        Path(args.md).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
