"""Toy scenes as files: PNGs plus a ``captions.csv`` of their truth, written and read back.

The files are a plain, tool-agnostic view of the toy world: look at them in a file browser, load them
in a spreadsheet, or hand them to a model outside fuse_edu. Same seed, byte-identical files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from fuse_edu.progress import progress_bar
from fuse_edu.toyworld.captions import caption
from fuse_edu.toyworld.scenes import Scene, render_scene, sample_scenes

ATTRIBUTE_COLUMNS: tuple[str, ...] = ("color", "shape", "size", "position")
CSV_COLUMNS: tuple[str, ...] = ("file", "caption", *ATTRIBUTE_COLUMNS, "objects")
TRUTH_FILE = "captions.csv"


def render_to_folder(out: Path, n: int, seed: int, objects: int | None = 1, size: int = 64) -> Path:
    """Write ``scene_0000.png`` ... and ``captions.csv`` into ``out``; return the CSV's path."""
    scenes = sample_scenes(n, seed, objects=objects)
    out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(n - 1)))  # file names sort in scene order however large n is
    csv_path = out / TRUTH_FILE
    # newline="" plus an explicit "\n" terminator: the same bytes on every platform
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        progress = progress_bar(scenes, desc="rendering scenes", unit="scene", show=n >= 100)
        for i, scene in enumerate(progress):
            name = f"scene_{i:0{width}d}.png"
            # Pillow writes no timestamp into a PNG, so equal pixels give equal bytes
            render_scene(scene, size=size).save(out / name, format="PNG")
            writer.writerow({"file": name, "caption": caption(scene), **scene.attributes(),
                             "objects": len(scene.objects)})
    return csv_path


def render_scenes(folder: Path, n: int, seed: int) -> dict[Path, Scene]:
    """``n`` single-object toy scenes as PNGs in ``folder`` (beside their ``captions.csv``): each file's scene."""
    truth_csv = render_to_folder(folder, n, seed, objects=1)
    with truth_csv.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    scenes = sample_scenes(n, seed, objects=1)  # the very scenes render_to_folder drew, in its row order
    assert [row["caption"] for row in written] == [caption(scene) for scene in scenes], "scene order changed"
    return {folder / row["file"]: scene for row, scene in zip(written, scenes)}


@dataclass(frozen=True)
class Truth:
    """One row of ``captions.csv``: a toy scene's true caption and its first object's attributes. It has
    ``attributes()`` like a ``Scene``, which is all ``fuse_edu.metrics.attribute_accuracy`` reads."""

    caption: str
    color: str
    shape: str
    size: str
    position: str

    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "size": self.size, "position": self.position}


def read_truth(folder: str | Path) -> dict[str, Truth]:
    """{file name: Truth} from ``captions.csv`` in ``folder`` (as ``render_to_folder`` writes it); empty when
    there is none. A CSV without the expected columns is a ValueError naming them."""
    path = Path(folder) / TRUTH_FILE
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    needed = {"file", *Truth.__dataclass_fields__}
    if rows and not needed <= set(rows[0]):
        raise ValueError(f"{path} lacks the columns {', '.join(sorted(needed - set(rows[0])))}; "
                         f"expected those of `fuse-edu toyworld render`")
    return {row["file"]: Truth(**{k: row[k] for k in Truth.__dataclass_fields__}) for row in rows}
