"""Benchmark an optimiser step: GCG and AutoDAN steps/s and candidates/s, paper-shaped models and the toy preset.

Run: python benchmarks/gpu_step.py [--device auto|cpu|cuda] [--quick] [--threads N] [--json OUT.json]

On a CPU that other work shares, pass ``--threads 1``: two torch threads on two busy cores ran the
paper-shaped steps about 5x slower than one thread (measured with --quick, load average 6-9).

What one configuration measures. The captioning objective (``build_objective``: LM fluency per word with
the end of text scored, plus CLIP ``1 - cos`` toward one toy scene through a FUSE adapter) and one method:

- GCG (fixed length ``prompt_length``): one step = the one-hot gradient, top-k swaps per position,
  ``candidates`` single-swap prompts scored exactly;
- AutoDAN (greedy strategy): one step = the LM's next-token distribution, the slot's gradient and
  ``candidates`` (its ``candidates_per_step``) prompts one token longer scored exactly; it grows the prompt from
  empty, so a run of ``prompt_length`` steps scores prompts of every length up to it.

Each configuration runs once untimed (warm-up: CUDA kernels, tokenizer caches, allocator), then
``prompt_length`` steps timed from the optimiser's own history, whose ``seconds`` are read right after
each step's one host-device sync, so on CUDA they count finished work. steps/s = steps / seconds;
candidates/s = exact candidate evaluations / seconds. Both methods use ``allowed="pieces"`` (lower-case
words and word pieces), since AutoDAN needs at least ``candidates`` allowed tokens and the toy lexicon
has 51; this changes which tokens win, not how long a step takes.

Models:
- ``paper``: gpt2-medium and CLIP ViT-B/32 (and DistilBERT, which the preset loads but this objective
  leaves out) with random weights and the real offline tokenizers (``fuse_edu.models.paper_shapes``),
  saved with ``save_pretrained`` and loaded with ``load_preset``, in float32 with bf16 autocast on CUDA
  (``Objective.evaluate``). The GPT-2 -> CLIP adapter is fitted on ``ADAPTER_WORDS`` frequent words,
  ``ADAPTER_WORDS_PER_BUCKET`` per bucket: seconds, not the paper's 10^4 (speed is what is measured here).
- ``toy``: the shipped toy preset and its cached adapter.

Goal: at least 10 AutoDAN steps/s at 512 candidates on paper shapes on one H100.
``--quick`` is for a CPU: smaller batches and prompts, so the whole run takes 2-3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_AUTODAN_STEPS_PER_S = 10.0
ADAPTER_WORDS, ADAPTER_WORDS_PER_BUCKET = 20_000, 2_000
METHODS = ("gcg", "autodan")
PRESETS = ("paper", "toy")


@dataclass(frozen=True)
class Scale:
    """How big one preset's configurations are: candidate batches to try and the prompt length (= steps)."""

    candidates: tuple[int, ...]
    prompt_length: int


SCALES = {  # (mode, preset) -> Scale
    ("full", "paper"): Scale((256, 512), 8),
    ("full", "toy"): Scale((256, 512), 8),
    ("quick", "paper"): Scale((32,), 3),       # gpt2-medium on a CPU: ~1 s per 32 prompts
    ("quick", "toy"): Scale((256, 512), 4),
}


# ---------------------------------------------------------------------- objectives

def scene_image():
    """The one toy scene every objective scores captions against (seed 0, one object)."""
    from fuse_edu.toyworld import render_scene, sample_scenes

    return render_scene(sample_scenes(1, seed=0, objects=1)[0])


def captioning_objective(preset, adapter):
    """LM fluency (per word, end of text scored) + CLIP toward the scene, weighted as ``fuse-edu caption`` does."""
    from fuse_edu.objective import build_objective

    return build_objective(preset, images=[scene_image()], end=True, per="word", adapters={"clip": adapter})


def toy_objective(device: torch.device):
    """The toy preset's captioning objective, and the set-up seconds per stage."""
    from fuse_edu.models import load_preset
    from fuse_edu.objective import fit_adapter

    setup, tick = {}, time.perf_counter()
    preset = load_preset("toy", device=device)
    setup["load_s"], tick = time.perf_counter() - tick, time.perf_counter()
    adapter = fit_adapter(preset, "clip")                    # cached on disk after the first fit
    setup["adapter_s"] = time.perf_counter() - tick
    return captioning_objective(preset, adapter), setup


def paper_objective(device: torch.device, workdir: Path):
    """The captioning objective on random paper-shaped models, and the set-up seconds per stage."""
    from fuse_edu.adapter import FuseAdapter, default_words
    from fuse_edu.models import load_preset
    from fuse_edu.models.paper_shapes import paper_shaped_spec, save_paper_shaped

    setup, tick = {}, time.perf_counter()
    folders = save_paper_shaped(workdir)
    setup["build_and_save_s"], tick = time.perf_counter() - tick, time.perf_counter()
    preset = load_preset(paper_shaped_spec(folders), device=device)
    setup["load_s"], tick = time.perf_counter() - tick, time.perf_counter()
    adapter = FuseAdapter.fit(preset.lm, preset.clip, words=default_words(ADAPTER_WORDS),
                              words_per_bucket=ADAPTER_WORDS_PER_BUCKET, cache=False)
    setup["adapter_s"] = time.perf_counter() - tick
    return captioning_objective(preset, adapter), setup


# ---------------------------------------------------------------------- one measurement

def optimiser(objective, method: str, candidates: int, prompt_length: int, chunk_size: int, seed: int = 0):
    """GCG or AutoDAN at ``candidates`` exact evaluations per step, quiet, on the objective's device."""
    from fuse_edu.optim import method as method_class

    common = dict(prompt_length=prompt_length, allowed="pieces", chunk_size=chunk_size, seed=seed, progress=False)
    if method == "gcg":
        topk = max(64, -(-candidates // prompt_length))      # T * topk swaps to draw `candidates` distinct ones from
        return method_class("gcg")(objective, candidates_per_step=candidates, topk=topk, **common)
    if method == "autodan":
        return method_class("autodan")(objective, candidates_per_step=candidates, strategy="greedy", **common)
    raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")


def measure(objective, method: str, candidates: int, prompt_length: int, chunk_size: int = 512,
            warmup: bool = True) -> dict:
    """Steps/s and candidates/s of ``prompt_length`` steps of ``method`` (module docstring)."""
    run = optimiser(objective, method, candidates, prompt_length, chunk_size)
    if warmup:
        run.run(1)
    result = run.run(prompt_length)
    history = result.history
    # GCG's first row (step 0) is the initial prompt, scored before the first step; AutoDAN's rows are
    # steps only, timed from the start of its loop
    start = history[0] if history[0].get("step") == 0 else {"seconds": 0.0, "evaluations": 0}
    seconds = history[-1]["seconds"] - start["seconds"]
    evaluations = history[-1]["evaluations"] - start["evaluations"]
    steps = result.steps
    return {"method": method, "candidates": candidates, "prompt_length": prompt_length, "steps": steps,
            "evaluations": evaluations, "seconds": seconds, "steps_per_s": steps / seconds,
            "candidates_per_s": evaluations / seconds, "best_loss": result.best_loss}


# ---------------------------------------------------------------------- the command

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="GCG and AutoDAN steps/s and candidates/s on paper-shaped models and the toy preset.",
        epilog="examples:\n  python benchmarks/gpu_step.py                 # on the GPU machine\n"
               "  python benchmarks/gpu_step.py --quick --device cpu\n"
               "  python benchmarks/gpu_step.py --presets toy --candidates 64 --prompt-length 2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="auto prefers CUDA; cuda without a GPU is an error (default: auto)")
    parser.add_argument("--quick", action="store_true", help="CPU scale: smaller batches and prompts (2-3 min on 2 cores)")
    parser.add_argument("--presets", default=",".join(PRESETS), help=f"comma-separated, from {', '.join(PRESETS)}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--candidates", default=None, help="comma-separated batch sizes (default: the scale's)")
    parser.add_argument("--prompt-length", type=int, default=None, help="prompt length = timed steps (default: the scale's)")
    parser.add_argument("--chunk-size", type=int, default=512, help="candidates per forward pass (default 512)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (default: benchmarks/results/gpu_step_<device>[_quick].json)")
    args = parser.parse_args(argv)
    for name, allowed in (("presets", PRESETS), ("methods", METHODS)):
        values = [v for v in getattr(args, name).split(",") if v]
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            parser.error(f"--{name} {getattr(args, name)!r}: accepted values are {', '.join(allowed)}")
        setattr(args, name, values)
    if args.candidates is not None:
        try:
            args.candidates = tuple(int(c) for c in args.candidates.split(","))
        except ValueError:
            parser.error(f"--candidates must be comma-separated ints, got {args.candidates!r}")
        if any(c < 1 for c in args.candidates):
            parser.error(f"--candidates must be positive, got {args.candidates}")
    if args.prompt_length is not None and args.prompt_length < 1:
        parser.error(f"--prompt-length must be >= 1, got {args.prompt_length}")
    return args


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def table(rows: list[dict]) -> str:
    lines = [f"{'preset':7s} {'method':8s} {'cands':>5s} {'len':>3s} {'steps/s':>9s} {'cands/s':>9s} {'seconds':>8s}"]
    for r in rows:
        lines.append(f"{r['preset']:7s} {r['method']:8s} {r['candidates']:5d} {r['prompt_length']:3d} "
                     f"{r['steps_per_s']:9.2f} {r['candidates_per_s']:9.0f} {r['seconds']:8.2f}")
    return "\n".join(lines)


def goal_verdict(rows: list[dict], device: torch.device) -> dict:
    """The goal, judged only where it applies: paper shapes, AutoDAN, 512 candidates, CUDA."""
    hits = [r for r in rows if r["preset"] == "paper" and r["method"] == "autodan" and r["candidates"] == 512]
    if device.type != "cuda" or not hits:
        return {"measured": False, "reason": "the goal is for AutoDAN at 512 candidates on paper shapes on a GPU; "
                                             f"this run: device {device.type}, "
                                             f"{'no' if not hits else 'a'} paper/autodan/512 row"}
    rate = hits[0]["steps_per_s"]
    return {"measured": True, "autodan_steps_per_s_512": rate, "goal": GOAL_AUTODAN_STEPS_PER_S,
            "met": rate >= GOAL_AUTODAN_STEPS_PER_S}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from fuse_edu import pick_device, seed_everything

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seed_everything(0)
    mode = "quick" if args.quick else "full"
    started = time.perf_counter()
    rows, setups = [], {}
    print(f"device: {device} ({device_description(device)}); torch {torch.__version__}; mode {mode}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fuse_edu_gpu_step_") as workdir:
        for preset_name in args.presets:
            scale = SCALES[(mode, preset_name)]
            candidates = args.candidates or scale.candidates
            prompt_length = args.prompt_length or scale.prompt_length
            print(f"[{preset_name}] setting up ...", flush=True)
            if preset_name == "paper":
                objective, setup = paper_objective(device, Path(workdir))
            else:
                objective, setup = toy_objective(device)
            setups[preset_name] = setup
            print(f"[{preset_name}] set-up " + ", ".join(f"{k} {v:.1f}" for k, v in setup.items()), flush=True)
            for method in args.methods:
                for n in candidates:
                    row = {"preset": preset_name, **measure(objective, method, n, prompt_length, args.chunk_size)}
                    rows.append(row)
                    print(f"[{preset_name}] {method} {n} candidates: {row['steps_per_s']:.2f} steps/s, "
                          f"{row['candidates_per_s']:.0f} candidates/s", flush=True)
            del objective
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print()
    print(table(rows))
    verdict = goal_verdict(rows, device)
    if verdict["measured"]:
        print(f"\ngoal: AutoDAN at 512 candidates, paper shapes: {verdict['autodan_steps_per_s_512']:.1f} steps/s "
              f"(goal >= {GOAL_AUTODAN_STEPS_PER_S:.0f}): {'met' if verdict['met'] else 'NOT met'}")
    else:
        print(f"\ngoal not measured: {verdict['reason']}")
    out = args.json or RESULTS / f"gpu_step_{device.type}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": "python benchmarks/gpu_step.py " + shlex.join(sys.argv[1:] if argv is None else argv),
              "device": str(device), "device_name": device_description(device), "torch": torch.__version__,
              "mode": mode, "scales": {p: asdict(SCALES[(mode, p)]) for p in args.presets},
              "setup_seconds": setups, "rows": rows, "goal": verdict,
              "total_seconds": time.perf_counter() - started}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} ({report['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
