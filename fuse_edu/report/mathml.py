"""LaTeX formulas as MathML, converted once when a page is written, so they render without MathJax or a network.

Browsers render MathML natively (Chromium since 109, Firefox, Safari). ``latex2mathml`` does the conversion;
this module finds the formulas in Markdown and says loudly when one cannot be converted.

- ``to_mathml(tex, display)`` -> one ``<math>`` element; ``UnconvertibleFormula`` when latex2mathml leaves a
  command it does not know (it would otherwise print ``\\arg`` as text: silently wrong).
- ``protect_math(markdown)`` -> (markdown with every ``$...$`` / ``$$...$$`` replaced by an alphanumeric
  placeholder that no Markdown renderer alters, {placeholder: MathML}); ``restore_math(html, table)`` puts the
  MathML back after rendering. Code spans and fenced code keep their dollars.
"""

from __future__ import annotations

import html
import re

# Operators latex2mathml (3.8x) passes through as literal text; each becomes an upright operator name.
OPERATOR_NAMES = ("arg", "argmin", "argmax", "diag", "rank", "softmax", "tr")
_OPERATOR = re.compile(r"\\(%s)(?![A-Za-z])" % "|".join(sorted(OPERATOR_NAMES, key=len, reverse=True)))

_CODE = re.compile(r"(^(?P<fence>```|~~~)[^\n]*\n.*?^(?P=fence)[^\n]*$|`+[^`\n]*`+)", re.S | re.M)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$\w])\$(?![\s$])((?:[^$\n]|\n(?!\s*\n))+?)(?<![\s\\])\$(?![\w$])")  # one paragraph
PLACEHOLDER = "FUSEMATH{:04d}X"


class UnconvertibleFormula(ValueError):
    """A formula latex2mathml cannot convert faithfully; the message names it."""


def to_mathml(tex: str, display: bool = False) -> str:
    """``tex`` (without its dollars) as one ``<math>`` element, ``display="block"`` when ``display``."""
    from latex2mathml.converter import convert

    source = _OPERATOR.sub(lambda m: r"\operatorname{%s}" % m.group(1), tex.strip())
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises its own types (and IndexError on unbalanced braces)
        raise UnconvertibleFormula(f"cannot convert formula ${tex}$ to MathML: {error}") from None
    leftover = re.search(r">([^<]*\\[A-Za-z]+[^<]*)<", mathml)
    if leftover:
        raise UnconvertibleFormula(f"cannot convert formula ${tex}$ to MathML: {html.unescape(leftover.group(1))} "
                                   f"is not a command latex2mathml knows")
    return mathml


def protect_math(markdown: str, table: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Replace each formula outside code by a placeholder; the table maps placeholders to MathML. Pass the
    same ``table`` for every cell of a document so placeholders stay unique."""
    table = {} if table is None else table

    def stash(match: re.Match, display: bool) -> str:
        key = PLACEHOLDER.format(len(table))
        table[key] = to_mathml(match.group(1), display)
        return key

    pieces = []
    last = 0
    for code in _CODE.finditer(markdown):  # text between code spans and fences is where formulas live
        pieces += [_convert(markdown[last:code.start()], stash), code.group(0)]
        last = code.end()
    pieces.append(_convert(markdown[last:], stash))
    return "".join(pieces), table


def _convert(text: str, stash) -> str:
    text = _DISPLAY.sub(lambda m: stash(m, True), text)
    return _INLINE.sub(lambda m: stash(m, False), text)


def restore_math(rendered: str, table: dict[str, str]) -> str:
    """Put the MathML back where ``protect_math`` left its placeholders."""
    if not table:
        return rendered
    return re.sub(r"FUSEMATH\d{4}X", lambda m: table.get(m.group(0), m.group(0)), rendered)
