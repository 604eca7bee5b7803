"""Captioning images with FUSE: settings, image loading, the ``Captioner``, and result rows on disk.

- ``CaptionSettings``  every knob, checked before models load (``settings``)
- ``scan_images``, ``find_images``, ``open_image``  (``images``)
- ``allowed_tokens``, ``swap_words``  the preset's word policy as token masks and word lists (``vocabulary``)
- ``Captioner``, ``caption_files``  one optimisation per image (``captioner``)
- ``RowWriter``, ``check_writable``, ``write_rows``  rows to CSV or JSON as they finish; ``rows_to_keep``,
  ``check_not_an_input``  what may happen to an existing output (``rows``)
"""

from fuse_edu.captioning.captioner import Captioner, caption_files, check_prompt_fits
from fuse_edu.captioning.images import (IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, ImageScan, find_images, open_image,
                                       scan_images)
from fuse_edu.captioning.rows import (NoRows, RowsNotWritten, RowWriter, check_not_an_input, check_writable,
                                     read_rows, rows_to_keep, write_rows)
from fuse_edu.captioning.settings import ADAPTERS, VOCABULARIES, CaptionSettings
from fuse_edu.captioning.vocabulary import OPEN_WORDS, allowed_tokens, english_words, swap_words

__all__ = ["ADAPTERS", "IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "OPEN_WORDS", "VOCABULARIES", "CaptionSettings", "Captioner",
           "ImageScan", "NoRows", "RowWriter", "RowsNotWritten", "allowed_tokens", "caption_files", "check_not_an_input",
           "english_words", "check_prompt_fits", "check_writable", "find_images", "open_image", "read_rows",
           "rows_to_keep", "scan_images", "swap_words", "write_rows"]
