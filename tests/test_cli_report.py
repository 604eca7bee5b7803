"""``fuse-edu report``: a folder of images -> one HTML file that opens offline and shows every image and caption;
bad input refused before a kernel starts; a failing or slow template still gives an HTML that shows where.
Runs that start a notebook kernel are ``slow``."""

from __future__ import annotations

import re

import nbformat
import pytest

from fuse_edu.cli.report import check_values
from fuse_edu.toyworld import render_to_folder
from tests.support import needs_toy, run_cli

PARAMETERS = ("IMAGES", "PRESET", "METHOD", "STRATEGY", "STEPS", "BUDGET", "SEED", "SENTIMENT")
DECLARED = {"IMAGES": "", "PRESET": "toy", "METHOD": "gcg", "STRATEGY": None, "STEPS": 8, "BUDGET": None, "SEED": 0,
            "SENTIMENT": None, "DEVICE": "auto"}  # the template's defaults, as ``declared_parameters`` reads them


def external_urls(html: str) -> list[str]:
    fetched = re.findall(r'(?:src|href)\s*=\s*["\'](https?://[^"\']+)', html)
    fetched += re.findall(r'@import\s+(?:url\()?["\']?(https?://[^"\')\s]+)', html)
    fetched += re.findall(r'import\(\s*["\'](https?://[^"\']+)', html)
    return fetched


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    render_to_folder(folder, 2, seed=5)
    return folder


def report(capsys, *argv, **kwargs) -> tuple[int, str, str]:
    return run_cli(capsys, "report", *argv, **kwargs)


def test_undeclared_parameter_is_refused_with_the_declared_list(scenes, capsys):
    code, _, err = report(capsys, scenes, "--out", scenes / "r.html", "-p", "STEPZ", "3")
    assert code == 2 and "does not declare STEPZ" in err and all(name in err for name in PARAMETERS)
    assert not (scenes / "r.html").exists()


@pytest.mark.parametrize("name, value, message", [
    ("METHOD", "nope", "unknown method 'nope'; accepted: gcg, autodan, pez, random"),
    ("STEPS", -1, "steps must be an integer >= 0"),
    ("STEPS", "20", "STEPS must be an integer, got '20'"),
    ("BUDGET", 0, "budget must be an integer >= 1"),
    ("BUDGET", 5, "budget 5 is smaller than one gcg step"),
    ("STRATEGY", "beam", "method 'gcg' takes no search strategy"),
    ("SENTIMENT", "happy", "SENTIMENT 'happy' is not one of positive, negative"),
    ("PRESET", "huge", "unknown preset 'huge'"),
    ("DEVICE", "tpu", "DEVICE: "),
    ("N_SCENES", 3, "N_SCENES only applies when IMAGES is empty"),
])
def test_values_the_template_would_refuse_are_refused_by_the_command(name, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_values({name: value}, DECLARED)


def test_values_the_template_would_refuse_are_refused_before_it_starts(scenes, capsys):
    for name, value, message in (("METHOD", "nope", "unknown method 'nope'"),
                                 ("BUDGET", "5", "budget 5 is smaller than one gcg step"),
                                 ("DEVICE", "tpu", "DEVICE: ")):
        code, _, err = report(capsys, scenes, "--out", scenes / "r.html", "-p", name, value)
        assert code == 2 and message in err
    assert not (scenes / "r.html").exists()


def test_images_is_the_command_s_argument_not_a_parameter(scenes, capsys):
    code, _, err = report(capsys, scenes, "--out", scenes / "r.html", "-p", "IMAGES", "/elsewhere")
    assert code == 2 and "IMAGES is the command's first argument" in err


def test_unwritable_out_is_refused_before_the_template_runs(scenes, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    code, _, err = report(capsys, scenes, "--out", tmp_path / "a_file" / "r.html")
    assert code == 2 and "cannot write --out" in err


def test_empty_or_missing_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert report(capsys, tmp_path / "empty", "--out", tmp_path / "r.html")[2].count("has no image files") == 1
    code, _, err = report(capsys, tmp_path / "nowhere", "--out", tmp_path / "r.html")
    assert code == 2 and "must be a folder of images" in err
    code, _, err = report(capsys, tmp_path / "empty", "--out", tmp_path / "r.pdf")
    assert code == 2 and "must end in .html" in err


@needs_toy
@pytest.mark.slow
def test_report_on_toy_scenes_shows_every_image_and_caption_offline(scenes, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, _, err = report(capsys, scenes, "--out", out, "-p", "STEPS", "2", "-p", "SEED", "1", "--no-progress")
    assert code == 0, err
    html = out.read_text()
    executed = nbformat.read(out.with_suffix(".ipynb"), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "STEPS = 2" in injected[0].source and "SEED = 1" in injected[0].source
    assert external_urls(html) == [], "the report must open offline"
    gallery = next(o["data"]["text/html"] for c in executed.cells for o in c.get("outputs", [])
                   if "<figure" in o.get("data", {}).get("text/html", ""))
    captions = re.findall(r"<figcaption><code>[^<]+</code><br><b>([^<]+)</b>", gallery)
    assert len(captions) == 2 and all(captions)
    for caption in captions:  # every image embedded in the gallery, with its caption
        assert re.search(r'<img src="data:image/png;base64,[^"]+" alt="%s"' % re.escape(caption), html) or \
            re.search(r'<img alt="%s"[^>]*src="data:image/png;base64,' % re.escape(caption), html), caption
    assert "scene_0000.png" in html and "scene_0001.png" in html and "loss_clip" in html
    assert "transformers" in html and "exact captions" in html and "names the color" in html  # environment, metrics
    assert html.count("data:image/png;base64,") >= 3                # the loss curves too


def _template(path, parameters: str, body: str):
    """A two-cell papermill template: a ``parameters`` cell, then ``body``."""
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_template_is_never_overwritten_by_its_own_run(scenes, tmp_path, capsys):
    template = _template(tmp_path / "own.ipynb", 'IMAGES = ""', "print('never run')")
    before = template.read_bytes()
    code, _, err = report(capsys, scenes, "--out", tmp_path / "own.html", "--template", template)
    assert code == 2 and "would overwrite" in err and template.read_bytes() == before


@pytest.mark.slow
def test_failing_template_still_writes_an_html_that_shows_the_failure(scenes, tmp_path, capsys):
    template = _template(tmp_path / "broken.ipynb", 'IMAGES = ""\nSTEPS = 1', "raise RuntimeError('the model broke')")
    out = tmp_path / "out" / "broken.html"
    code, _, err = report(capsys, scenes, "--out", out, "--template", template, "--no-progress",
                          quoting_a_traceback=True)  # the failed cell's, quoted in the message
    assert code == 1 and "the model broke" in out.read_text() and "failed" in err


@pytest.mark.slow
def test_a_cell_past_the_timeout_fails_the_report(scenes, tmp_path, capsys):
    template = _template(tmp_path / "slow.ipynb", 'IMAGES = ""', "import time\ntime.sleep(60)")
    out = tmp_path / "out" / "slow.html"
    code, _, _ = report(capsys, scenes, "--out", out, "--template", template, "--timeout", "3", "--no-progress",
                        quoting_a_traceback=True)
    assert code == 1
    assert "This run failed" in out.read_text() or "Timeout" in out.read_text()
