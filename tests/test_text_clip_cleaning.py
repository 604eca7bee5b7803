"""``clean_clip_text``: the text cleaning CLIP's own tokenizer applies, reproduced for the offline one."""

from __future__ import annotations


def test_clip_cleaning_matters():
    """The reason ``CLIPCleaningTokenizer`` exists: plain HF CLIP differs on ligatures and entities."""
    from fuse_edu.text import clean_clip_text

    assert clean_clip_text("  ﬁne &amp;amp;  ＦＵＬＬ\tWidth ") == "fine & full width"


def test_clip_plain_ascii_shortcut_equals_full_cleaning():
    """``clean_clip_text`` skips ftfy for printable ASCII without "&"; that must change nothing."""
    import html
    import random
    import string

    import ftfy

    from fuse_edu.text import clean_clip_text

    rng = random.Random(5)
    alphabet = string.printable.replace("&", "").replace("\x0b", "").replace("\x0c", "")
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        full = " ".join(html.unescape(html.unescape(ftfy.fix_text(text))).split()).lower()
        assert clean_clip_text(text) == full, repr(text)
