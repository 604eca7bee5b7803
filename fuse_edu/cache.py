"""The on-disk cache: where built artefacts live, how they are named by content hash, atomic writes, and the
checksum manifests (``SHA256SUMS``, as ``sha256sum`` writes and checks them) of files that ship with us.

A manifest's files are hashed at most once per process (per path, size and modification time), so the
13 MB of toy weights are hashed once however often they load.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """Cache folder: ``$FUSE_EDU_CACHE`` if set, else ``$XDG_CACHE_HOME/fuse_edu`` or ``~/.cache/fuse_edu``."""
    if os.environ.get("FUSE_EDU_CACHE"):
        return Path(os.environ["FUSE_EDU_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fuse_edu"


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


MANIFEST = "SHA256SUMS"
_digests: dict[tuple[str, int, int], str] = {}


def sha256_file_once(path: str | os.PathLike) -> str:
    """``sha256_file``, remembered for this process while the file's size and modification time stay."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_file(path)
    return _digests[key]


def read_manifest(manifest: str | os.PathLike) -> dict[str, str]:
    """{path relative to the manifest's folder: hex sha256} from a ``SHA256SUMS`` file."""
    entries = {}
    for line in Path(manifest).read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.lstrip("*")] = digest
    return entries


def write_manifest(folder: str | os.PathLike) -> Path:
    """``folder/SHA256SUMS`` listing every file under ``folder`` (the manifest aside), atomically."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.startswith("."))
    text = "".join(f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}\n" for p in files)
    atomic_write_bytes(folder / MANIFEST, text.encode("utf-8"))
    return folder / MANIFEST


def check_manifest(folder: str | os.PathLike, manifest: str | os.PathLike) -> None:
    """ValueError naming the file, the expected and the actual sha256, unless every file the manifest lists
    under ``folder`` is there with its digest. ``folder``: the manifest's folder or one inside it."""
    manifest, folder = Path(manifest), Path(folder)
    root = manifest.parent
    inside = folder.resolve().relative_to(root.resolve()).as_posix()
    for name, expected in read_manifest(manifest).items():
        if inside != "." and not name.startswith(inside + "/"):
            continue
        path = root / name
        actual = sha256_file_once(path) if path.is_file() else "missing"
        if actual != expected:
            raise ValueError(f"{path} does not match {manifest}: expected sha256 {expected}, got {actual}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a cache or shipped weight should be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
