"""Notebooks run as parameterised reports: papermill injects parameters after the ``parameters`` cell."""

from __future__ import annotations

import ast
import json

import nbformat

from fuse_edu.cli import main
from fuse_edu.render import REPO_NOTEBOOKS


def test_demo_renders_notebook_01_with_a_non_default_parameter(tmp_path, monkeypatch):
    """``fuse-edu demo --notebook`` is the papermill path; a non-default N_WORDS must reach the executed cells."""
    import fuse_edu.cli

    real_render = fuse_edu.cli.render_notebook
    monkeypatch.setattr(fuse_edu.cli, "render_notebook",
                        lambda nb, out, parameters: real_render(nb, out, {**parameters, "N_WORDS": 3000}))
    notebook = REPO_NOTEBOOKS / "01_tokenizer_alignment.ipynb"
    assert main(["demo", "--notebook", str(notebook), "--out", str(tmp_path), "--seed", "3"]) == 0

    executed = nbformat.read(tmp_path / "01_tokenizer_alignment.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "N_WORDS = 3000" in injected[0].source and "SEED = 3" in injected[0].source
    printed = json.dumps([o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs])
    assert "words counted: 3,000" in printed
    html = (tmp_path / "01_tokenizer_alignment.html").read_text()
    assert "data:image/png;base64" in html or "<img src=\"data:image/png" in html  # figures embedded


def test_every_notebook_has_one_flat_parameters_cell():
    for path in sorted(REPO_NOTEBOOKS.glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert nb.metadata.kernelspec.name == "python3", path.name
        for line in tagged[0].source.splitlines():  # NAME = literal, nothing computed
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                assert name.strip().isidentifier(), (path.name, line)
                ast.literal_eval(value.strip())  # raises unless a flat literal
