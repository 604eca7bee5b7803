"""Finding and opening the images a caption run works on: image files by suffix in folders, any file named
directly, unreadable ones reported with the reason, and every problem a message naming the path."""

from __future__ import annotations

import pytest
from PIL import Image

from fuse_edu.captioning import IMAGE_SUFFIXES, find_images, open_image, scan_images


@pytest.fixture
def folder(tmp_path):
    """b.png and a.jpg (readable), c.png (broken), notes.txt (not an image), and a subfolder (not searched)."""
    Image.new("RGB", (8, 8), "red").save(tmp_path / "b.png")
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "a.jpg")
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "inner").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "inner" / "d.png")
    return tmp_path


def test_a_folder_gives_its_image_files_sorted_and_skips_other_names(folder):
    scan = scan_images([folder])
    assert [p.name for p in scan.files] == ["a.jpg", "b.png", "c.png"]  # sorted, not recursive
    assert [p.name for p in scan.skipped] == ["notes.txt"]
    assert list(scan.unreadable) == [folder / "c.png"] and "cannot read image" in scan.unreadable[folder / "c.png"]
    assert [p.name for p in scan.readable] == ["a.jpg", "b.png"]
    assert ".png" in IMAGE_SUFFIXES and ".jpg" in IMAGE_SUFFIXES and ".txt" not in IMAGE_SUFFIXES


def test_a_file_named_directly_is_an_image_whatever_its_suffix(folder):
    renamed = folder / "photo.data"
    renamed.write_bytes((folder / "b.png").read_bytes())
    scan = scan_images([renamed, folder / "a.jpg"])
    assert scan.files == [renamed, folder / "a.jpg"] and not scan.unreadable and not scan.skipped


def test_missing_paths_and_empty_folders_are_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match=f"image path {tmp_path / 'nope.png'} does not exist"):
        scan_images([tmp_path / "nope.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"folder {tmp_path / 'empty'} has no image files"):
        scan_images([tmp_path / "empty"])


def test_find_images_wants_all_or_nothing(folder):
    with pytest.raises(ValueError, match="cannot read image .*c.png"):
        find_images([folder])
    (folder / "c.png").unlink()
    assert [p.name for p in find_images([folder])] == ["a.jpg", "b.png"]


def test_open_image_converts_to_rgb_or_names_the_file(tmp_path):
    Image.new("L", (4, 4), 128).save(tmp_path / "grey.png")
    assert open_image(tmp_path / "grey.png").mode == "RGB"
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ValueError, match=f"cannot read image {tmp_path / 'text.png'}"):
        open_image(tmp_path / "text.png")


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    """Refused before decoding: the file below holds no pixel data at all, only a header."""
    import struct
    import zlib

    from fuse_edu.captioning import MAX_IMAGE_PIXELS

    def header_only(width, height):
        ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
                + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))
    assert MAX_IMAGE_PIXELS == 8192 * 8192
    (tmp_path / "wide.png").write_bytes(header_only(MAX_IMAGE_PIXELS // 1000 + 1, 1000))
    (tmp_path / "bomb.png").write_bytes(header_only(100_000, 100_000))
    with pytest.raises(ValueError, match=r"wide\.png: 67109 x 1000 = 67,109,000 pixels, over the limit of 67,108,864"):
        open_image(tmp_path / "wide.png")
    scan = scan_images([tmp_path])
    assert set(scan.unreadable) == {tmp_path / "bomb.png", tmp_path / "wide.png"}
    assert all("over the limit of 67,108,864 pixels" in reason for reason in scan.unreadable.values())
    with pytest.raises(ValueError, match="over the limit"):  # what ``report`` checks its folder with
        find_images([tmp_path])


def test_broken_symbolic_links_in_a_folder_are_reported_not_dropped(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "missing.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    scan = scan_images([tmp_path])
    assert scan.files == [tmp_path / "ok.png"]
    assert scan.broken[tmp_path / "gone.png"].startswith("dangling symbolic link")
    assert scan.broken[tmp_path / "loop.png"].startswith("looping symbolic link")
    with pytest.raises(ValueError, match="gone.png is a dangling symbolic link"):
        scan_images([tmp_path / "gone.png"])
