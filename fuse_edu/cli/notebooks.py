"""``fuse-edu notebooks DIR``: copy the walk-through notebooks out of the package, for a student to open.

The copies are the numbered walk-throughs with their stored outputs (``00_toy_world.ipynb`` ... ``06_...``; not the
report template), from the repository in a clone and from the wheel otherwise (``fuse_edu.course_files``). An existing file in DIR
is left alone unless ``--force``: a student's edited copy is never overwritten by accident.

Exit status: 0 copied; 2 bad input (DIR is a file, or a notebook there would be overwritten).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from fuse_edu.cli.common import EXIT_BAD_INPUT, fail
from fuse_edu.course_files import course_path

COMMAND = "notebooks"


def walkthroughs() -> list[Path]:
    """The shipped walk-through notebooks, sorted by name; a FileNotFoundError naming the folder if none."""
    folder = course_path("notebooks")
    found = sorted(folder.glob("[0-9]*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no notebooks in {folder}: this fuse_edu install ships none; reinstall it")
    return found


def copy_notebooks(out: Path, force: bool = False) -> list[Path]:
    """Copy every walk-through into ``out`` (created if missing); the written paths. ValueError, before
    anything is written, when ``out`` is a file or a copy would overwrite a file and not ``force``."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder")
    sources = walkthroughs()
    clashes = [out / s.name for s in sources if (out / s.name).exists()]
    if clashes and not force:
        raise ValueError(f"{len(clashes)} notebooks already exist in {out} (e.g. {clashes[0].name}); "
                         f"pass --force to overwrite them")
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(source, out / source.name)) for source in sources]


def _run(args: argparse.Namespace) -> int:
    try:
        written = copy_notebooks(Path(args.dir), args.force)
    except ValueError as error:
        return fail(COMMAND, str(error), EXIT_BAD_INPUT)
    for path in written:
        print(f"fuse-edu notebooks: copied {path}")
    return 0


def add_notebooks_command(commands: argparse._SubParsersAction) -> None:
    """Register ``notebooks`` on the top-level ``fuse-edu`` parser."""
    p = commands.add_parser("notebooks", help="copy the walk-through notebooks into a folder, to open them",
                            description="Copy the walk-through notebooks (with their stored outputs) into DIR.",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="example:\n  fuse-edu notebooks fuse_course/ && jupyter lab fuse_course/\n\n"
                                   "exit status: 0 copied, 2 DIR is a file or a notebook there would be overwritten")
    p.add_argument("dir", metavar="DIR", help="folder for the copies (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks that already exist in DIR")
    p.set_defaults(run=_run)
