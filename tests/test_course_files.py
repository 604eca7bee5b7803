"""Where the course files are found (``fuse_edu.course_files``): the repository in a clone, the packaged copy in
a wheel. The installed-wheel side runs for real in test_wheel.py; here both sides are decided on folders."""

from __future__ import annotations

from pathlib import Path

from fuse_edu.course_files import REPOSITORY, course_path, course_root, is_clone
from fuse_edu.report import REPO_NOTEBOOKS, TEMPLATE

ROOT = Path(__file__).resolve().parent.parent


def test_in_this_clone_the_course_is_the_repository_itself():
    assert REPOSITORY == ROOT and is_clone(ROOT)
    assert course_root() == ROOT and REPO_NOTEBOOKS == ROOT / "notebooks" and TEMPLATE.is_file()
    assert course_path("benchmarks", "results", "sentiment_captioning.json").is_file()


def test_in_an_installed_wheel_the_course_is_the_packaged_copy(tmp_path):
    site_packages, packaged = tmp_path / "site-packages", tmp_path / "site-packages" / "fuse_edu" / "_course"
    (packaged / "notebooks").mkdir(parents=True)
    assert course_root(site_packages, packaged) == packaged
    # a notebooks/ folder some other package dropped into site-packages does not make it a clone
    (site_packages / "notebooks").mkdir()
    assert not is_clone(site_packages) and course_root(site_packages, packaged) == packaged
    (site_packages / "pyproject.toml").write_text("")
    assert course_root(site_packages, packaged) == site_packages
