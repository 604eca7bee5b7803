"""A feedback page per graded submission: plain, offline HTML (no scripts, no CDN).

``feedback_html(graded)`` lists every item with its points and what went wrong, the notes, the student's code
for each solution cell and their written answers (marked "needs manual grading"). Hidden tests are never
shown: only their error messages, as ``check`` prints them.
"""

from __future__ import annotations

import html
from pathlib import Path

from fuse_edu.assignments.grade import GradedSubmission

_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}pre{background:#f6f6f6;padding:.6em;"
          "overflow-x:auto}.passed{color:#176117}.manual{color:#7a5a00}.lost{color:#a01010}")


def feedback_html(graded: GradedSubmission, student: str) -> str:
    e = html.escape
    rows = []
    for s in graded.scores:
        css = "passed" if s.status == "passed" else "manual" if s.earned is None else "lost"
        earned = "?" if s.earned is None else f"{s.earned:g}"
        rows.append(f"<tr class='{css}'><td>{e(s.grade_id)}</td><td>{earned} / {s.points:g}</td>"
                    f"<td>{e(s.status)}</td><td>{e(s.detail)}</td></tr>")
    manual = " + written answers to grade by hand" if any(s.earned is None for s in graded.scores) else ""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(student)}: {e(graded.assignment)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{e(graded.assignment)}</h1><p>{e(student)} · <code>{e(graded.path.name)}</code> · "
             f"total <b>{graded.earned:g} / {graded.points:g}</b>{manual}</p>",
             "<table><tr><th>item</th><th>points</th><th>status</th><th>detail</th></tr>", *rows, "</table>"]
    if graded.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in graded.notes) + "</ul>")
    for grade_id, code in graded.solutions.items():
        parts.append(f"<h2>Your code: {e(grade_id)}</h2><pre>{e(code)}</pre>")
    for grade_id, answer in graded.answers.items():
        parts.append(f"<h2>Your answer: {e(grade_id)} (needs manual grading)</h2><pre>{e(answer)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_feedback(graded: GradedSubmission, student: str, folder: str | Path, page: str | None = None) -> Path:
    """Write ``folder/STUDENT/PAGE.html`` (PAGE: the assignment's name by default); returns its path."""
    path = Path(folder) / student / f"{page or graded.assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(graded, student), encoding="utf-8")
    return path
