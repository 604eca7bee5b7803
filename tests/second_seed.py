"""The walk-throughs' second-seed runs, started in the background as soon as pytest has collected them.

Each run is papermill in its own process, one after another, with one intra-op thread per kernel (the toy
models are latency-bound, so a second thread only spins), at a lower CPU priority (nice 10). Started at
collection, they use the CPU time the unit tests and nbval's kernels leave idle, and
``test_notebooks_second_seed`` only waits for their results: on two cores this takes them off the suite's
critical path instead of adding three minutes to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

SECOND_SEED = 7
QUICK = {  # parameter values at the quick end of each notebook's documented ranges
    "00_toy_world.ipynb": {"N_GRID": 4, "N_EVAL": 100},
    "01_tokenizer_alignment.ipynb": {"N_WORDS": 5000},
    "02_tensor_algebra.ipynb": {"MAX_N3": 8},
    "03_fuse_adapter.ipynb": {"N_PROMPTS": 16, "N_SWAPS": 200},
    "04a_gradients_and_gcg.ipynb": {"STEPS": 8, "N_SWAPS": 128, "PAYOFF_SCENES": 3, "PAYOFF_BUDGET": 129},
    "04b_autodan_pez_search.ipynb": {"BUDGET": 97},
    "05_zero_shot_captioning.ipynb": {"N_SCENES": 2, "BUDGET": 129},
    "06_sentiment_captioning.ipynb": {"N_SCENES": 1},
}
TIMEOUT_S = 900  # per notebook, start to end

_runs: dict[str, Future] = {}
_pool: ThreadPoolExecutor | None = None
_running: set[subprocess.Popen] = set()
_stopping = False


def _run(notebooks: Path, name: str, out_dir: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "papermill", str(notebooks / name), str(out_dir / name),
               "-y", json.dumps({"SEED": SECOND_SEED, **QUICK[name]}), "--kernel", "python3",
               "--cwd", str(notebooks), "--execution-timeout", "600", "--no-progress-bar"]
    # its own cache folder: tests never touch the user's cache, and these start before the session's is set
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "FUSE_EDU_CACHE": str(out_dir / "cache")}
    if _stopping:
        return subprocess.CompletedProcess(command, 125, "", "not run: the test session ended first")
    # niced: the suite's own tests keep the CPU when they want it, these runs take what is left
    lower = (lambda: os.nice(10)) if hasattr(os, "nice") else None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          preexec_fn=lower) as process:
        _running.add(process)
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += f"\ntimed out after {TIMEOUT_S} s"
        finally:
            _running.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def start(notebooks: Path, names: list[str]) -> None:
    """Queue a second-seed run of each of ``names`` (in order, one at a time); idempotent per name."""
    global _pool
    names = [name for name in names if name not in _runs]
    if not names:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="second-seed")
    out_dir = Path(tempfile.mkdtemp(prefix="fuse_edu-second-seed-"))
    for name in names:
        _runs[name] = _pool.submit(_run, notebooks, name, out_dir)


def result(notebooks: Path, name: str) -> subprocess.CompletedProcess:
    """The finished run of ``name``, starting it now if collection did not."""
    start(notebooks, [name])
    return _runs[name].result()


def stop() -> None:
    """End the session's runs: queued ones never start, a running one is terminated (a session cut short, or a
    selection that did not wait for every run); ipykernel's parent poller ends the orphaned kernel."""
    global _stopping
    _stopping = True
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    for process in list(_running):
        process.terminate()
