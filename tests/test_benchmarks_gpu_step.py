"""The GPU step benchmark runs end to end on the toy preset on a CPU, so the script cannot rot unnoticed.

One tiny configuration (8 candidates, a 2-token prompt) through ``main``: argument parsing, the toy
objective, both methods' measurement and the JSON it writes. The rates themselves depend on the machine
and are not checked; the counts that define them are.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.support import needs_toy

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_step.py"


@pytest.fixture(scope="module")
def gpu_step():
    spec = importlib.util.spec_from_file_location("gpu_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_step"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_step", None)


@needs_toy
@pytest.mark.slow
def test_toy_benchmark_writes_rates_for_both_methods(gpu_step, tmp_path, capsys):
    out = tmp_path / "step.json"
    code = gpu_step.main(["--device", "cpu", "--presets", "toy", "--candidates", "8", "--prompt-length", "2",
                          "--threads", "1", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["mode"] == "full"
    assert [(r["preset"], r["method"], r["candidates"]) for r in report["rows"]] == [("toy", "gcg", 8), ("toy", "autodan", 8)]
    for row in report["rows"]:
        assert row["steps"] == 2, row                    # AutoDAN grows an empty prompt to length 2; GCG takes 2 steps
        assert row["evaluations"] == 2 * 8, row          # exactly `candidates` exact evaluations per step
        assert row["seconds"] > 0 and row["steps_per_s"] == pytest.approx(2 / row["seconds"])
        assert row["candidates_per_s"] == pytest.approx(16 / row["seconds"])
    assert report["goal"]["measured"] is False          # the goal is for paper shapes on a GPU only
    printed = capsys.readouterr().out
    assert "goal not measured" in printed and "autodan" in printed


def test_cuda_without_a_gpu_is_an_error_not_a_fallback(gpu_step, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert gpu_step.main(["--device", "cuda", "--json", str(tmp_path / "x.json")]) == 2
    assert "cuda" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_bad_arguments_name_the_value_and_the_choices(gpu_step, capsys):
    with pytest.raises(SystemExit):
        gpu_step.parse_args(["--presets", "tiny"])
    assert "'tiny'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_step.parse_args(["--candidates", "0"])
