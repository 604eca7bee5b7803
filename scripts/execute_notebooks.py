"""Execute notebooks in place and normalise their metadata, so the stored outputs nbval compares are fresh.

Usage: python scripts/execute_notebooks.py [--timeout S] [NOTEBOOK ...]
(default: the walk-throughs, the report template, the assignments' instructor sources)

Normalisation keeps cell ``tags`` (papermill's ``parameters`` tag lives there) and ``nbgrader`` metadata, sets the
kernel to ``python3``, keeps the widget state the run stored (so widgets render where no kernel runs: JupyterLab
on opening, the HTML exports, the course site) and drops the rest of the run-specific metadata (timings, stray
kernelspecs). The kernel talks over IPC, not unencrypted TCP (``fuse_edu.report.kernel_config``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from fuse_edu.report import kernel_config

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def normalise(nb: nbformat.NotebookNode) -> None:
    """Keep only the metadata that means something to readers, nbval, papermill and widget renderers."""
    widgets = nb.metadata.get("widgets")
    nb.metadata = nbformat.from_dict(
        {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}, **({"widgets": widgets} if widgets else {})}
    )
    for index, cell in enumerate(nb.cells):
        # tags carry papermill's `parameters` and nbval markers; `nbgrader` carries an assignment's grading
        kept = {key: cell.get("metadata", {})[key] for key in ("tags", "nbgrader") if cell.get("metadata", {}).get(key)}
        cell.metadata = nbformat.from_dict(kept)
        cell.id = f"cell-{index:02d}"
        for output in cell.get("outputs", []):
            output.get("metadata", {}).clear() if "metadata" in output else None


def execute(path: Path, timeout_s: int = 900) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3", store_widget_state=True, config=kernel_config(),
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    normalise(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     epilog="Stores widget state and normalises metadata; see the module docstring.")
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="notebooks to execute in place (default: the walk-throughs, the report template, "
                             "the assignments' instructor sources)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds any one cell may run (default: 900)")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or [
        *sorted(Path("notebooks").glob("[0-9]*.ipynb")), Path("notebooks/report.ipynb"),
        *sorted(Path("notebooks/assignments/source").glob("*.ipynb"))]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    for path in paths:
        print(f"{path}: executing ...", flush=True)
        print(f"{path}: {execute(path, args.timeout):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
