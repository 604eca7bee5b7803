"""The first code cell of every walk-through installs fuse_edu where it is missing (Colab, a JupyterHub) and
does nothing where it is present.

The slow test runs that cell in a fresh venv without fuse_edu, pointed at this checkout's wheel through
``FUSE_EDU_INSTALL`` (the published URL is the default), then again to see it stay silent.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fresh_venv import ROOT, built_wheel, fresh_venv, run

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOWHERE = "/nonexistent/fuse_edu-0.0.0-py3-none-any.whl"  # pip fails on it: proof that nothing was installed


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def install_cell() -> str:
    return "".join(code_cells(NOTEBOOKS[0])[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_opens_with_the_one_install_cell_before_its_parameters(path):
    first, second = code_cells(path)[:2]
    assert "".join(first["source"]) == install_cell() and first["outputs"] == []
    assert "parameters" in second["metadata"].get("tags", [])
    assert 'find_spec("fuse_edu") is None' in install_cell() and "FUSE_EDU_INSTALL" in install_cell()


def test_the_cell_does_nothing_where_fuse_edu_is_present(tmp_path):
    done = subprocess.run([sys.executable, "-c", install_cell()], capture_output=True, text=True, cwd=tmp_path,
                          env={"FUSE_EDU_INSTALL": NOWHERE, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.slow
def test_the_cell_installs_fuse_edu_in_a_fresh_venv_then_stays_silent(tmp_path_factory, tmp_path):
    wheel = built_wheel(tmp_path_factory.mktemp("wheel"))
    python = fresh_venv(tmp_path_factory.mktemp("venv") / "venv")
    where = ["python", "-c", "import fuse_edu; print(fuse_edu.__file__)"]
    assert run(python, where, cwd=tmp_path).returncode == 1, "the fresh venv must start without fuse_edu"

    done = run(python, ["python", "-c", install_cell()], cwd=tmp_path, FUSE_EDU_INSTALL=str(wheel))
    assert done.returncode == 0, done.stderr
    done = run(python, where, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith(str(python.parent.parent)), done.stdout + done.stderr

    done = run(python, ["python", "-c", install_cell()], cwd=tmp_path, FUSE_EDU_INSTALL=NOWHERE)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
