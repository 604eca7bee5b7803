"""``fuse-edu report``: a folder of images -> one HTML file that opens offline and shows every image and caption."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from fuse_edu.cli import main
from fuse_edu.report import TEMPLATE, declared_parameters, parse_value, resolve_parameters
from fuse_edu.toyworld.render_cli import render_to_folder

PARAMETERS = ("IMAGES", "PRESET", "METHOD", "STRATEGY", "STEPS", "BUDGET", "SEED", "SENTIMENT")


def external_urls(html: str) -> list[str]:
    """URLs the page would fetch: script/img/link sources, CSS imports, module imports (comments aside)."""
    fetched = re.findall(r'(?:src|href)\s*=\s*["\'](https?://[^"\']+)', html)
    fetched += re.findall(r'@import\s+(?:url\()?["\']?(https?://[^"\')\s]+)', html)
    fetched += re.findall(r'import\(\s*["\'](https?://[^"\']+)', html)
    return fetched


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    render_to_folder(folder, 2, seed=5)
    return folder


def test_template_has_one_flat_parameters_cell_with_the_issue_s_names():
    nb = nbformat.read(TEMPLATE, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and nb.metadata.kernelspec.name == "python3"
    for line in tagged[0].source.splitlines():
        name, _, value = line.partition("=")
        assert name.strip().isidentifier()
        ast.literal_eval(value.strip())
    assert set(PARAMETERS) <= set(declared_parameters())


def test_values_take_their_defaults_types():
    declared = declared_parameters()
    assert resolve_parameters([("STEPS", "20"), ("BUDGET", "2000"), ("STRATEGY", "beam"), ("SENTIMENT", "None"),
                               ("METHOD", "random")], declared) == \
        {"STEPS": 20, "BUDGET": 2000, "STRATEGY": "beam", "SENTIMENT": None, "METHOD": "random"}
    with pytest.raises(ValueError, match="STEPS expects an int, got 'many'"):
        parse_value("STEPS", "many", 8)
    with pytest.raises(ValueError, match="expects True or False"):
        parse_value("FLAG", "yes", False)


def test_undeclared_parameter_is_refused_with_the_declared_list(scenes, capsys):
    assert main(["report", str(scenes), "--out", str(scenes / "r.html"), "-p", "STEPZ", "3"]) == 2
    err = capsys.readouterr().err
    assert "does not declare STEPZ" in err and all(name in err for name in PARAMETERS)
    assert not (scenes / "r.html").exists()


def test_values_the_template_would_refuse_are_refused_before_it_starts(scenes, capsys):
    for name, value, message in (("METHOD", "nope", "METHOD 'nope' is not one of gcg, autodan, pez, random"),
                                 ("STEPS", "-1", "STEPS must be an integer >= 0"),
                                 ("BUDGET", "0", "BUDGET must be an integer >= 1"),
                                 ("BUDGET", "5", "budget 5 is smaller than one gcg step"),
                                 ("SENTIMENT", "happy", "SENTIMENT 'happy' is not one of positive, negative"),
                                 ("DEVICE", "tpu", "DEVICE: ")):
        assert main(["report", str(scenes), "--out", str(scenes / "r.html"), "-p", name, value]) == 2
        assert message in capsys.readouterr().err
    assert not (scenes / "r.html").exists()


def test_unwritable_out_is_refused_before_the_template_runs(scenes, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert main(["report", str(scenes), "--out", str(tmp_path / "a_file" / "r.html")]) == 2
    assert "cannot write --out" in capsys.readouterr().err


def test_empty_or_missing_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")]) == 2
    assert "has no image files" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.html")]) == 2
    assert "must be a folder of images" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.pdf")]) == 2
    assert "must end in .html" in capsys.readouterr().err


def test_report_on_toy_scenes_shows_every_image_and_caption_offline(scenes, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(scenes), "--out", str(out), "-p", "STEPS", "2", "-p", "SEED", "1",
                 "--no-progress"]) == 0
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
        assert re.search(r'<img alt="%s"[^>]*src="data:image/png;base64,' % re.escape(caption), html), caption
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


def test_failing_template_still_writes_an_html_that_shows_the_failure(scenes, tmp_path, capsys):
    template = _template(tmp_path / "broken.ipynb", 'IMAGES = ""\nSTEPS = 1', "raise RuntimeError('the model broke')")
    out = tmp_path / "out" / "broken.html"
    assert main(["report", str(scenes), "--out", str(out), "--template", str(template), "--no-progress"]) == 1
    assert "the model broke" in out.read_text() and "failed" in capsys.readouterr().err
    # the executed notebook goes beside the HTML: writing it over the template is refused
    assert main(["report", str(scenes), "--out", str(tmp_path / "broken.html"), "--template", str(template)]) == 2
    assert "would overwrite" in capsys.readouterr().err and template.is_file()


def test_a_cell_past_the_timeout_fails_the_report(scenes, tmp_path, capsys):
    template = _template(tmp_path / "slow.ipynb", 'IMAGES = ""', "import time\ntime.sleep(60)")
    out = tmp_path / "out" / "slow.html"
    assert main(["report", str(scenes), "--out", str(out), "--template", str(template), "--timeout", "3",
                 "--no-progress"]) == 1
    assert "This run failed" in out.read_text() or "Timeout" in out.read_text()


def test_truth_rows_feed_attribute_accuracy(scenes, tmp_path):
    from fuse_edu.metrics import attribute_accuracy
    from fuse_edu.report import read_truth

    truth = read_truth(scenes)
    assert sorted(truth) == ["scene_0000.png", "scene_0001.png"]
    captions = [t.caption for t in truth.values()]
    assert attribute_accuracy(captions, list(truth.values()))["exact"] == 1.0
    assert attribute_accuracy(["a small thing"] * 2, list(truth.values()))["color"] == 0.0
    assert read_truth(tmp_path) == {}
    (tmp_path / "captions.csv").write_text("file,caption\nx.png,a red square\n")
    with pytest.raises(ValueError, match="lacks the columns color, position, shape, size"):
        read_truth(tmp_path)
