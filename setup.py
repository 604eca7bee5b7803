"""The wheel's build step for the course files; pyproject.toml holds everything else.

The walk-through notebooks, the released assignments and the stored benchmark results live outside the
package folder (``notebooks/``, ``benchmarks/results/``), where a clone edits them. A table in pyproject.toml
can only ship files inside the package, so this build step copies them into ``fuse_edu/_course/`` with the
repository's layout; ``fuse_edu.course_files`` finds them there. An editable install copies nothing: it
reads the repository's own files. A missing folder (no released assignments yet) ships nothing, not an error.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
COURSE_FILES = ("notebooks/*.ipynb", "notebooks/assignments/release/*.ipynb",
                "benchmarks/results/*.json", "benchmarks/results/*.md")


class BuildPyWithCourse(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        course = Path(self.build_lib) / "fuse_edu" / "_course"
        shutil.rmtree(course, ignore_errors=True)  # a reused build folder must not ship a deleted notebook
        for pattern in COURSE_FILES:
            for source in sorted(ROOT.glob(pattern)):
                target = course / source.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


setup(cmdclass={"build_py": BuildPyWithCourse})
