"""The offline HTML exporter (``fuse_edu.report.offline``) and its formulas (``fuse_edu.report.mathml``): one file
that fetches nothing, formulas as MathML, widgets rendered from stored state, code hidden unless asked for (``report
--show-code`` keeps it). The check in headless Chromium is ``slow``."""

from __future__ import annotations

import os

import re
from pathlib import Path

import ipywidgets
import nbformat
import pytest

import fuse_edu.cli.report
from fuse_edu.report import (UnconvertibleFormula, export_html, kernel_config, notebook_to_html, protect_math,
                             restore_math, to_mathml)
from fuse_edu.report.offline import NO_STATE_NOTE, WIDGET_BUNDLE, WIDGET_STATE, WIDGET_VIEW
from fuse_edu.toyworld import render_to_folder
from tests.browser import browser, leaves_machine, needs_chromium
from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent
CODE = "secret_code_line"


def fetched_urls(html: str) -> list[str]:
    """Network URLs the page names as something to load: src/href attributes, CSS url()/@import, import()."""
    html = re.sub(r"/\*.*?\*/", "", html, flags=re.S)  # comments name URLs that are never fetched
    urls = re.findall(r'(?:src|href)\s*=\s*["\']((?:https?:)?//[^"\']+)', html)
    urls += re.findall(r'url\(\s*["\']?((?:https?:)?//[^"\')\s]+)', html)
    urls += re.findall(r'import\(\s*["\']((?:https?:)?//[^"\']+)', html)
    return urls


def notebook(widget_state: bool = True):
    """An executed notebook: a formula-laden Markdown cell, a code cell with a LaTeX output, and a Text widget
    (value 'typed offline') whose state is stored only when ``widget_state``."""
    text = ipywidgets.Text(value="typed offline", description="text")
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False, widgets=[text, text.layout, text.style])
    markdown = nbformat.v4.new_markdown_cell(
        "# Formulas\nInline $T_K = X_A^+ \\ast X_B$ and a display\n\n"
        "$$X_A \\in \\mathbb{R}^{n \\times d_A \\times K}$$\n\n"
        "Dollars in code stay: `cost = $5`, and so does \\$ escaped.")
    latex = nbformat.v4.new_code_cell(CODE + " = 41 + 1")
    latex.outputs = [nbformat.v4.new_output("display_data", data={"text/latex": "$\\lVert G_B \\rVert_F$",
                                                                  "text/plain": "<Latex>"})]
    widget = nbformat.v4.new_code_cell("text")
    widget.outputs = [nbformat.v4.new_output("execute_result", execution_count=2, data={
        WIDGET_VIEW: {"model_id": text.model_id, "version_major": 2, "version_minor": 0},
        "text/plain": "Text(value='typed offline', description='text')"})]
    nb = nbformat.v4.new_notebook(cells=[markdown, latex, widget])
    if widget_state:
        nb.metadata["widgets"] = {WIDGET_STATE: state}
    for model in (text, text.layout, text.style):
        model.close()
    return nb


# ----------------------------------------------------------------------------------------- formulas

def test_formulas_become_mathml_and_code_keeps_its_dollars():
    text, table = protect_math("a $x_1$ and `$y$` and\n```\n$$z$$\n```\n$$\\sum_i w_i$$ cost \\$3")
    assert len(table) == 2 and "`$y$`" in text and "$$z$$" in text and "\\$3" in text
    html = restore_math(text, table)
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert 'display="block"' in html and "<msub><mi>x</mi><mn>1</mn></msub>" in html


def test_an_inline_formula_may_wrap_a_line_but_not_a_paragraph():
    assert len(protect_math("$a +\nb$")[1]) == 1
    assert protect_math("costs $5\n\nand $6")[1] == {}


def test_an_unknown_command_is_refused_rather_than_printed_as_text():
    assert "\\arg" not in to_mathml(r"\arg\min_T f(T)")   # one latex2mathml lacks, supplied as an operator name
    with pytest.raises(UnconvertibleFormula, match=r"cannot convert formula \$\\frobnicate x\$"):
        to_mathml(r"\frobnicate x")


def test_every_formula_in_the_course_converts():
    sources = [(ROOT / "docs" / name).read_text() for name in ("course.md", "deviations.md")]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        sources += [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    table: dict[str, str] = {}
    for source in sources:
        protect_math(source, table)  # raises UnconvertibleFormula naming the formula
    assert len(table) > 100


# ----------------------------------------------------------------------------------------- the exporter

def test_the_export_fetches_nothing_and_renders_formulas_as_mathml():
    html = export_html(notebook())
    assert fetched_urls(html) == [], "an offline page names nothing to fetch"
    shown = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert shown.count("$") == 2 and "cost = $5</code>" in shown and "so does $ escaped" in shown  # no raw TeX
    assert html.count("<math") == 3 and "FUSEMATH" not in html
    assert re.findall(r"<script[^>]*\bsrc=", html) == [], "every script inline: no MathJax, no require.js"


def test_code_is_hidden_unless_asked_for():
    assert CODE not in export_html(notebook()) and CODE in export_html(notebook(), show_code=True)


def test_stored_widget_state_comes_with_its_renderer():
    html = export_html(notebook())
    assert WIDGET_STATE in html and "typed offline" in html
    assert len(html) > WIDGET_BUNDLE.stat().st_size  # the bundle itself, inlined
    bare = export_html(notebook(widget_state=False))
    assert NO_STATE_NOTE in bare and "Text(value=" not in bare
    assert len(bare) < 400_000, "no widget state, no 1.9 MB renderer"


def test_notebook_to_html_writes_the_export_with_code_by_default(tmp_path):
    nbformat.write(notebook(), tmp_path / "nb.ipynb")
    html = notebook_to_html(tmp_path / "nb.ipynb", tmp_path / "nb.html").read_text(encoding="utf-8")
    assert CODE in html and "typed offline" in html and html.count("<math") == 3 and fetched_urls(html) == []


def test_kernels_talk_over_ipc_not_unencrypted_tcp():
    import os

    assert kernel_config().KernelManager.transport == ("tcp" if os.name == "nt" else "ipc")


@pytest.mark.skipif(os.name == "nt", reason="IPC sockets are a POSIX transport")
def test_a_kernel_started_in_another_folder_answers_over_ipc(tmp_path):
    """The sockets' path is absolute and unique: a kernel whose working folder differs from the client's (as
    when a notebook runs in its own folder) is still reached, and two configs never share sockets."""
    from nbclient import NotebookClient

    first, second = kernel_config(), kernel_config()
    assert os.path.isabs(first.KernelManager.ip) and first.KernelManager.ip != second.KernelManager.ip
    (tmp_path / "elsewhere").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.getcwd())")])
    NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name="python3", config=first,
                   resources={"metadata": {"path": str(tmp_path / "elsewhere")}}).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == str(tmp_path / "elsewhere")


@needs_chromium
@pytest.mark.slow
def test_the_export_opens_offline_in_chromium_with_its_widget_and_formulas(tmp_path):
    page_file = tmp_path / "page.html"
    page_file.write_text(export_html(notebook()), encoding="utf-8")
    requests, errors = [], []
    with browser() as page:
        tab = page(requests, errors)
        tab.goto(page_file.as_uri())
        tab.wait_for_selector(".widget-text input", timeout=15_000)
        assert tab.input_value(".widget-text input") == "typed offline"
        sizes = tab.evaluate("[...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width)")
    assert len(sizes) == 3 and min(sizes) > 5, "every formula laid out as MathML"
    assert [url for url in requests if leaves_machine(url)] == []
    assert errors == []


# ----------------------------------------------------------------------------------------- the commands

def test_report_hides_code_unless_show_code(tmp_path, capsys, monkeypatch):
    render_to_folder(tmp_path / "scenes", 1, seed=0)
    asked = []
    monkeypatch.setattr(fuse_edu.cli.report, "build_report",
                        lambda *args, **kwargs: asked.append(kwargs["show_code"]) or tmp_path / "r.html")
    for extra in ([], ["--show-code"]):
        code, _, err = run_cli(capsys, "report", tmp_path / "scenes", "--out", tmp_path / "r.html", *extra)
        assert code == 0, err
    assert asked == [False, True]


def test_demo_notebook_refuses_what_is_not_a_notebook_in_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a notebook")
    for bad in (tmp_path / "nope.ipynb", tmp_path / "notes.txt"):
        code, _, err = run_cli(capsys, "demo", "--notebook", bad, "--out", tmp_path / "out")
        assert code == 2 and f"--notebook {bad} is not a notebook file (.ipynb)" in err and err.count("\n") == 1


def test_every_widget_a_walk_through_shows_has_its_state_stored():
    """``scripts/execute_notebooks.py`` stores widget state, so a notebook's widgets render where no kernel runs:
    JupyterLab on opening, the HTML exports, the course site."""
    missing = []
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        views = [o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells for o in c.get("outputs", [])
                 if WIDGET_VIEW in o.get("data", {})]
        missing += [f"{path.name}: widget {model_id}" for model_id in views if model_id not in state]
    assert missing == [], "re-execute with scripts/execute_notebooks.py: " + ", ".join(missing)
