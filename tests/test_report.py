"""``fuse_edu.report``: where the notebooks are, the report template's parameters (declared names, values read
as their defaults' types), every notebook's ``parameters`` cell, the HTML pieces a report shows, and a notebook
turned into HTML that opens offline. (The ``fuse-edu report`` command: test_cli_report.py; the offline exporter
itself: test_report_offline.py.)"""

from __future__ import annotations

import ast
import base64
import io
import re
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from fuse_edu.report import (REPO_NOTEBOOKS, TEMPLATE, check_names, declared_parameters, environment_info,
                             gallery_html, notebook_to_html, parse_value, png_data_uri, render_notebook,
                             resolve_parameters, table_html)

ROOT = Path(__file__).resolve().parent.parent
PARAMETERS = ("IMAGES", "PRESET", "METHOD", "STRATEGY", "STEPS", "BUDGET", "SEED", "SENTIMENT")


def external_urls(html: str) -> list[str]:
    """URLs the page would fetch: script/img/link sources, CSS imports, module imports (comments aside)."""
    fetched = re.findall(r'(?:src|href)\s*=\s*["\'](https?://[^"\']+)', html)
    fetched += re.findall(r'@import\s+(?:url\()?["\']?(https?://[^"\')\s]+)', html)
    fetched += re.findall(r'import\(\s*["\'](https?://[^"\']+)', html)
    return fetched


def test_the_notebooks_are_the_repository_s_own():
    assert REPO_NOTEBOOKS == ROOT / "notebooks"
    assert TEMPLATE == ROOT / "notebooks" / "report.ipynb" and TEMPLATE.is_file()


def test_every_notebook_has_one_flat_parameters_cell():
    notebooks = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) + [ROOT / "notebooks" / "report.ipynb"]
    assert len(notebooks) >= 7
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert nb.metadata.kernelspec.name == "python3", path.name
        for line in tagged[0].source.splitlines():  # NAME = literal, nothing computed
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                assert name.strip().isidentifier(), (path.name, line)
                ast.literal_eval(value.strip())  # raises unless a flat literal


# ----------------------------------------------------------------------------------------- the template

def test_the_template_declares_its_documented_parameters():
    declared = declared_parameters()
    assert set(PARAMETERS) <= set(declared)
    assert declared["PRESET"] == "toy" and declared["METHOD"] == "gcg" and isinstance(declared["STEPS"], int)


def test_values_take_their_defaults_types():
    declared = declared_parameters()
    assert resolve_parameters([("STEPS", "20"), ("BUDGET", "2000"), ("STRATEGY", "beam"), ("SENTIMENT", "None"),
                               ("METHOD", "random")], declared) == \
        {"STEPS": 20, "BUDGET": 2000, "STRATEGY": "beam", "SENTIMENT": None, "METHOD": "random"}


def test_parse_value_reads_text_as_the_default_s_type():
    assert parse_value("STEPS", "20", 8) == 20 and parse_value("LR", "0.5", 0.1) == 0.5
    assert parse_value("FLAG", "true", False) is True and parse_value("FLAG", "False", True) is False
    assert parse_value("BUDGET", "2000", None) == 2000 and parse_value("SENTIMENT", "None", None) is None
    assert parse_value("STRATEGY", "beam", None) == "beam" and parse_value("NAME", "42", "x") == "42"
    with pytest.raises(ValueError, match="STEPS expects an int, got 'many'"):
        parse_value("STEPS", "many", 8)
    with pytest.raises(ValueError, match="LR expects a number, got 'fast'"):
        parse_value("LR", "fast", 0.1)
    with pytest.raises(ValueError, match="expects True or False"):
        parse_value("FLAG", "yes", False)


def test_undeclared_names_are_refused_with_the_declared_list():
    declared = {"IMAGES": "", "STEPS": 8}
    check_names(["STEPS"], declared)
    with pytest.raises(ValueError, match="does not declare STEPZ, TOPK; declared parameters: IMAGES, STEPS"):
        resolve_parameters([("TOPK", "3"), ("STEPZ", "3")], declared)


def test_a_notebook_without_a_parameters_cell_is_not_a_template(tmp_path):
    path = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    with pytest.raises(ValueError, match="has no cell tagged 'parameters'; it is not a report template"):
        declared_parameters(path)


# ----------------------------------------------------------------------------------------- HTML pieces

def test_png_data_uri_carries_the_pixels():
    image = Image.new("RGB", (3, 2), (10, 200, 30))
    uri = png_data_uri(image)
    assert uri.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.size == (3, 2) and decoded.convert("RGB").getpixel((1, 1)) == (10, 200, 30)


def test_table_html_rounds_floats_and_escapes_text():
    html = table_html([{"caption": "a <b> square", "loss": 1.234567}, {"caption": "x", "error": "bad"}], digits=2)
    assert "<th>caption</th><th>loss</th><th>error</th>" in html
    assert "<td>a &lt;b&gt; square</td><td>1.23</td><td></td>" in html and "<td>bad</td>" in html


def test_gallery_html_embeds_each_image_above_its_caption_and_truth(tmp_path):
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    html = gallery_html([tmp_path / "a.png"], ["a red square"], truths={"a.png": "a small red square"})
    assert re.search(r'<img src="data:image/png;base64,[^"]+" alt="a red square"', html)
    assert "<figcaption><code>a.png</code><br><b>a red square</b>" in html and "truth: a small red square" in html
    assert external_urls(html) == []


def test_environment_info_names_versions_and_device():
    info = environment_info("cpu")
    assert info["device"] == "cpu" and info["fuse_edu"] == "0.1.0"
    assert {"python", "torch", "transformers", "cuda", "torch threads", "platform", "written (UTC)"} <= set(info)


# ----------------------------------------------------------------------------------------- notebooks to HTML

def test_an_executed_notebook_becomes_html_that_opens_offline(tmp_path):
    cell = nbformat.v4.new_code_cell("print('hello')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello from the run\n")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A title"), cell])
    nbformat.write(nb, tmp_path / "done.ipynb")
    offline = notebook_to_html(tmp_path / "done.ipynb", tmp_path / "done.html")
    html = offline.read_text()
    assert offline == tmp_path / "done.html" and "hello from the run" in html and "A title" in html
    assert external_urls(html) == [], "an offline report fetches nothing"


def test_render_notebook_refuses_a_missing_notebook_or_overwriting_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook .*nope.ipynb does not exist"):
        render_notebook(tmp_path / "nope.ipynb", tmp_path / "out.html")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "same.ipynb")
    with pytest.raises(ValueError, match="would overwrite .*same.ipynb; write the HTML elsewhere"):
        render_notebook(tmp_path / "same.ipynb", tmp_path / "same.html")
