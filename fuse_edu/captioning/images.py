"""Finding and opening the images a caption run works on: every problem is a message naming the file.

An image larger than ``MAX_IMAGE_PIXELS`` is refused from its header, before any pixel is decoded, so a
file that claims 100000 x 100000 pixels costs nothing; Pillow's own decompression-bomb error and warning
become the same refusal.
"""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# 8192 x 8192: a 64-megapixel photo passes, and decoding one to RGB takes ~200 MB. Below Pillow's own
# warning threshold (~89 megapixels), so ours is the limit a user meets.
MAX_IMAGE_PIXELS = 8192 * 8192


@dataclass
class ImageScan:
    """What ``scan_images`` found: image files in order, the unreadable ones among them with the reason, the
    files in named folders that were passed over because their names are not images (``skipped``), and the
    symbolic links in named folders that lead nowhere (dangling or looping) with the reason (``broken``)."""

    files: list[Path]
    unreadable: dict[Path, str]
    skipped: list[Path]
    broken: dict[Path, str] = field(default_factory=dict)

    @property
    def readable(self) -> list[Path]:
        return [path for path in self.files if path not in self.unreadable]


def scan_images(paths: list[str | Path]) -> ImageScan:
    """Image files named directly, or found (sorted, not recursively) in named folders, each opened once.

    In a folder, a file whose suffix is not an image's (``IMAGE_SUFFIXES``: notes.txt, captions.csv) is
    ``skipped``; one with an image suffix that Pillow cannot read is ``unreadable``. A file named directly is
    an image whatever its suffix. A missing path, or a folder without image files, is a ValueError naming it.
    """
    files: list[Path] = []
    skipped: list[Path] = []
    broken: dict[Path, str] = {}
    for path in map(Path, paths):
        if path.is_dir():
            entries = sorted(path.iterdir())
            broken.update((p, reason) for p in entries if (reason := _broken_link(p)))
            inside = [p for p in entries if p not in broken and p.is_file()]
            images = [p for p in inside if p.suffix.lower() in IMAGE_SUFFIXES]
            if not images:
                raise ValueError(f"folder {path} has no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(images)
            skipped.extend(p for p in inside if p.suffix.lower() not in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        elif reason := _broken_link(path):
            raise ValueError(f"image path {path} is a {reason}")
        else:
            raise ValueError(f"image path {path} does not exist")
    unreadable = {}
    for path in files:
        try:
            open_image(path)  # checked before any model loads: bad input shows in a second
        except ValueError as error:
            unreadable[path] = str(error)
    return ImageScan(files, unreadable, skipped, broken)


def _broken_link(path: Path) -> str | None:
    """Why ``path`` is a symbolic link that leads nowhere ("dangling symbolic link ..."), or None."""
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as error:
        kind = "looping" if error.errno == errno.ELOOP else "dangling"
        return f"{kind} symbolic link ({error.strerror})"
    return None


def find_images(paths: list[str | Path]) -> list[Path]:
    """The image files ``scan_images`` finds; a missing path, an empty folder or an unreadable image is a
    ValueError naming it (for callers that want all or nothing; the command line uses ``scan_images``)."""
    scan = scan_images(paths)
    if scan.unreadable:
        raise ValueError(next(iter(scan.unreadable.values())))
    return scan.files


def open_image(path: Path) -> Image.Image:
    """The image as RGB, or a ValueError naming the file; over ``MAX_IMAGE_PIXELS`` is refused unread."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                check_size(path, *image.size)
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValueError(f"cannot read image {path}: over the limit of {MAX_IMAGE_PIXELS:,} pixels "
                         f"(MAX_IMAGE_PIXELS, 8192 x 8192) ({error})") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from None


def check_size(path: Path, width: int, height: int) -> None:
    """ValueError naming the file unless width x height is within ``MAX_IMAGE_PIXELS``."""
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"cannot read image {path}: {width} x {height} = {width * height:,} pixels, over the "
                         f"limit of {MAX_IMAGE_PIXELS:,} pixels (MAX_IMAGE_PIXELS, 8192 x 8192)")
