"""Finding and opening the images a caption run works on: every problem is a message naming the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class ImageScan:
    """What ``scan_images`` found: image files in order, the unreadable ones among them with the reason, and
    the files in named folders that were passed over because their names are not images (``skipped``)."""

    files: list[Path]
    unreadable: dict[Path, str]
    skipped: list[Path]

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
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file())
            images = [p for p in inside if p.suffix.lower() in IMAGE_SUFFIXES]
            if not images:
                raise ValueError(f"folder {path} has no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(images)
            skipped.extend(p for p in inside if p.suffix.lower() not in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"image path {path} does not exist")
    unreadable = {}
    for path in files:
        try:
            open_image(path)  # checked before any model loads: bad input shows in a second
        except ValueError as error:
            unreadable[path] = str(error)
    return ImageScan(files, unreadable, skipped)


def find_images(paths: list[str | Path]) -> list[Path]:
    """The image files ``scan_images`` finds; a missing path, an empty folder or an unreadable image is a
    ValueError naming it (for callers that want all or nothing; the command line uses ``scan_images``)."""
    scan = scan_images(paths)
    if scan.unreadable:
        raise ValueError(next(iter(scan.unreadable.values())))
    return scan.files


def open_image(path: Path) -> Image.Image:
    """The image as RGB, or a ValueError naming the file."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from None
