"""Where the course's files are: the walk-through notebooks, the released assignments, the stored benchmark results.

Contract: ``course_root()`` is the one place that decides. In a clone (an editable install) it is the repository
itself, so ``course_root() / "notebooks"`` is the ``notebooks/`` you edit. An installed wheel has no repository
around it; its build step (``setup.py``) copies the same files, with the same layout, into ``fuse_edu/_course/``,
and ``course_root()`` is that folder. Callers join the repository-relative path they mean:
``course_path("benchmarks", "results", "open_vocabulary.json")``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPOSITORY = PACKAGE.parent  # in a clone; in a wheel this is site-packages
PACKAGED = PACKAGE / "_course"


def is_clone(folder: Path) -> bool:
    """True when ``folder`` is a checkout of this project (its ``pyproject.toml`` next to ``notebooks/``)."""
    return (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir()


def course_root(repository: Path = REPOSITORY, packaged: Path = PACKAGED) -> Path:
    """The folder holding ``notebooks/`` and ``benchmarks/results/``: the repository in a clone, else the copy
    packaged in the wheel. Never raises: a broken install shows up as a missing file that names the path."""
    return repository if is_clone(repository) else packaged


def course_path(*parts: str) -> Path:
    """A course file by its path in the repository, e.g. ``course_path("notebooks", "report.ipynb")``."""
    return course_root().joinpath(*parts)


__all__ = ["course_path", "course_root", "is_clone"]
