"""CLIP's text cleaning, made part of the tokenizer, with offsets that still point into the raw text.

open_clip (like OpenAI's CLIP) cleans text before BPE: ``ftfy.fix_text``, a double HTML unescape,
whitespace folding and lower-casing. Hugging Face's CLIP tokenizer does only the last two, so ligatures
("ﬁ"), full-width letters and "&amp;" come out as different ids. ftfy cannot be written as a
``tokenizers`` normalizer, so ``CLIPCleaningTokenizer`` cleans in Python before the fast tokenizer runs,
then maps each token's character offsets from the cleaned text back to the text the caller passed.
"""

from __future__ import annotations

import difflib
import html
import re

import ftfy
import numpy as np
from transformers import CLIPTokenizer


# Printable ASCII plus ordinary whitespace, no "&": ftfy and HTML unescaping leave such text as it is
# (their fixes need non-ASCII bytes, control characters or entities), so we can skip them. Word lists
# are almost all like this, and ftfy is slow per call.
_PLAIN_ASCII = re.compile(r"[ -%'-~\t\n\r]*")


def clean_clip_text(text: str) -> str:
    """open_clip's ``clean="lower"`` pipeline: ftfy, HTML unescape twice, fold whitespace, lower-case."""
    if not _PLAIN_ASCII.fullmatch(text):
        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()


def cleaned_to_raw_spans(raw: str, cleaned: str) -> tuple[np.ndarray, np.ndarray]:
    """For every character j of ``cleaned``, the span [start[j], end[j]) of ``raw`` it came from.

    Characters that survive cleaning map one to one; a rewritten run (``"&amp;"`` -> ``"&"``,
    ``"ﬁ"`` -> ``"fi"``) maps every cleaned character to the whole raw run it replaced.
    """
    start = np.zeros(len(cleaned), dtype=np.int64)  # (len(cleaned),)
    end = np.zeros(len(cleaned), dtype=np.int64)    # (len(cleaned),)
    # Diff against a length-preserving lower-case of raw: cleaning lower-cases, and an unmatched
    # capital would otherwise let difflib pair characters with the wrong occurrence.
    raw_folded = "".join(c.lower() if len(c.lower()) == 1 else c for c in raw)
    matcher = difflib.SequenceMatcher(None, raw_folded, cleaned, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "delete":
            continue
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):  # same length: char for char
            start[j1:j2] = np.arange(i1, i2)
            end[j1:j2] = np.arange(i1, i2) + 1
        else:  # a run rewritten to a different length, or inserted text: blame the whole raw run
            start[j1:j2], end[j1:j2] = i1, i2
    return start, end


def remap_offsets(offsets: list[tuple[int, int]], raw: str, cleaned: str) -> list[tuple[int, int]]:
    """Move fast-tokenizer offsets measured on ``cleaned`` onto ``raw``."""
    if raw == cleaned:
        return list(offsets)
    start, end = cleaned_to_raw_spans(raw, cleaned)
    remapped = []
    for cleaned_start, cleaned_end in offsets:
        if cleaned_end <= cleaned_start:  # special tokens and padding carry no text
            remapped.append((0, 0))
        else:
            remapped.append((int(start[cleaned_start]), int(end[cleaned_end - 1])))
    return remapped


class CLIPCleaningTokenizer(CLIPTokenizer):
    """Hugging Face's fast CLIP tokenizer with open_clip's cleaning in front of it.

    Ids equal open_clip's ``SimpleTokenizer`` on any string. ``return_offsets_mapping=True`` gives
    offsets into the text as passed in, so word alignment works on raw text.
    """

    def clean_texts(self, texts: list[str]) -> list[str]:
        """What the fast tokenizer is given for ``texts``: used by ``batch_token_ids``' fast path."""
        return [clean_clip_text(t) for t in texts]

    def _encode_plus(self, text, text_pair=None, *, return_offsets_mapping=False, return_tensors=None, **kwargs):
        cleaned, cleaned_pair = _clean_nested(text), _clean_nested(text_pair)
        remap = return_offsets_mapping and text_pair is None and not kwargs.get("is_split_into_words")
        encoding = super()._encode_plus(
            cleaned, cleaned_pair, return_offsets_mapping=return_offsets_mapping,
            return_tensors=None if remap else return_tensors, **kwargs,
        )
        if remap:
            batched = not isinstance(text, str)
            raws, cleans = (text, cleaned) if batched else ([text], [cleaned])
            mappings = encoding["offset_mapping"] if batched else [encoding["offset_mapping"]]
            remapped = [remap_offsets(m, r, c) for m, r, c in zip(mappings, raws, cleans)]
            encoding["offset_mapping"] = remapped if batched else remapped[0]
            if return_tensors is not None:
                encoding.convert_to_tensors(return_tensors)
        return encoding


def _clean_nested(value):
    if value is None:
        return None
    if isinstance(value, str):
        return clean_clip_text(value)
    return [_clean_nested(item) for item in value]
