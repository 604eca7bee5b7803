"""Strings that break tokenizers and aligners: hand-picked ones plus a seeded random generator."""

from __future__ import annotations

import random

HAND_PICKED = [
    "", "a", "A", " ", "   ", "\t", "\n", "hello world", "Hello, World!", "  leading and trailing  ",
    "repeated    spaces\tand\ttabs\nand\nnewlines\r\n", "I'm here, you're there, it's fine, we'll see, they'd go",
    "don't WON'T y'all O'Neil", "Héllo wörld naïve café résumé", "e\u0301 combining acute", "Ünïcödé ñ 中文字 العربية ελληνικά",
    "😀🙂 emoji👍🏽 family👨‍👩‍👧 flag🇫🇷", "1234567 3.14159 1,000,000 2026-11-27 $5.99 50%", "ﬁ ligature ﬂ ＦＵＬＬ ｗｉｄｔｈ",
    "&amp; &lt;tag&gt; &amp;amp; &nbsp;x &#39;quoted&#39;", "a&nbsp;b", "x\u200by zero width", "a\u2028b\u2029c", "a\x85b",
    "!\x1c! a\x1cb", "\u3000ideographic\u3000space", "tab\x0bvertical\x0cfeed", "turquoise magenta hexagon crescent",
    "ALL CAPS SENTENCE", "mIxEd CaSe", "snake_case kebab-case camelCase", "http://example.com/path?q=1&r=2",
    "a very long word: pneumonoultramicroscopicsilicovolcanoconiosis", "....!!!???", "(parens) [brackets] {braces}",
    "<|endoftext|> special-looking", "Ω≈ç√∫˜µ≤≥÷", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "ⓒⓘⓡⓒⓛⓔⓓ", "x",
]

_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "     \t\n", "\u00a0\u3000\u2009\x0b\x0c\x1c\x85\u2028", "áéíóúàèìòùâêîôûäëïöüñçßøå", "ÁÉÍÓÚÄÖÜÑÇ",
    "中文日本語한국어", "αβγδεζηθλμπσω", "абвгдежзийклмн", "אבגדה", "عربية", "😀😂🙂👍🏽🚀❤️🇫🇷👨‍👩‍👧",
    "\u0301\u0308\u200b\u200d\ufeff", "ﬁﬂＡＢＣａｂｃ", "’“”–—…", "'s 't 're 've 'm 'll 'd", "&amp;&lt;&gt;&quot;&#39;&nbsp;",
]


def random_strings(n: int, seed: int = 0, max_len: int = 40) -> list[str]:
    """``n`` strings mixing scripts, whitespace kinds, emoji, combining marks and HTML entities."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pieces = []
        for _ in range(rng.randint(1, 8)):
            alphabet = rng.choice(_ALPHABETS)
            pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))))
            pieces.append(rng.choice([" ", " ", " ", "", "  ", "\t", "\n"]))
        out.append("".join(pieces)[:max_len])
    return out
