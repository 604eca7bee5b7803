"""Widgets are checked headless, at the level of their models."""

from fuse_edu.widgets import alignment_viewer


def test_alignment_viewer_follows_the_text_box(gpt2, clip):
    viewer = alignment_viewer({"gpt2": gpt2, "clip": clip}, text="a cube")
    box, table = viewer.children
    assert "cube" in table.value and "turquoise" not in table.value
    box.value = "a turquoise cube"
    assert "turquoise" in table.value and "(3)" in table.value  # GPT-2: Ġtur qu oise
    box.value = "   "
    assert "no words" in table.value
