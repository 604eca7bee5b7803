"""The pipeline diagram: one column per word, K boxes a side, padding where a side has fewer pieces."""

import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fuse_edu.figures.pipeline import pipeline_figure


def test_one_column_per_word_with_padding_on_the_shorter_side():
    figure = pipeline_figure(["a", "lavender"], [["␣a"], ["␣lav", "ender"]], [["a"], ["lavender"]])
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    boxes = [p for p in figure.axes[0].patches if isinstance(p, Rectangle)]
    hatched = [p for p in boxes if p.get_hatch()]
    # per word: one label box + K boxes on each side: "a" (K = 1) 3 boxes, "lavender" (K = 2, one CLIP piece) 5
    assert len(boxes) == 3 + 5
    assert len(hatched) == 1
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert {"␣lav", "ender", "lavender", "pad"} <= texts and any("K = 2" in t for t in texts)


@pytest.mark.parametrize("words, a, b, match", [
    (["a"], [["a"], ["b"]], [["a"]], "one list of pieces per word"),
    (["a", "b"], [["a"], []], [["a"], ["b"]], "word 'b' has no pieces in A"),
    ([], [], [], "one list of pieces per word"),
])
def test_bad_input_names_what_is_wrong(words, a, b, match):
    with pytest.raises(ValueError, match=match):
        pipeline_figure(words, a, b)
