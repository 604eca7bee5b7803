"""Train the toy world's tiny LM and tiny CLIP, save them as float16 safetensors, and measure them.

    python -m fuse_edu.toyworld.train                  # both models, default step counts
    python -m fuse_edu.toyworld.train --only clip      # one of them
    python -m fuse_edu.toyworld.train --lm-steps 200 --clip-steps 200 --out /tmp/toy   # a quick try

Everything is seeded and runs a fixed number of steps, so a rerun on the same software with the same
``--threads`` reproduces the weights. Another thread count sums in another order and drifts, so the
recipe must clear its bar with a margin. The shipped weights are this command's defaults.

Each model is written to a temporary directory beside its target and renamed into place, so a reader
(or an interrupted run) never sees half a checkpoint. Only ``config.json`` and ``model.safetensors``
(plus the image preprocessor's config for CLIP) are written: tokenizers come from
``fuse_edu.text.load_tokenizer``. The reported quality numbers are measured on the *saved* float16
weights, reloaded as float32, on held-out seeds, and written to ``training_report.json`` beside them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from fuse_edu.cache import write_manifest

WEIGHTS_DIR = Path(__file__).parent / "weights"
LM_DIR_NAME, CLIP_DIR_NAME = "toy-lm", "toy-clip"
TOY_LM_DIR, TOY_CLIP_DIR = WEIGHTS_DIR / LM_DIR_NAME, WEIGHTS_DIR / CLIP_DIR_NAME
DEFAULT_LM_STEPS, DEFAULT_CLIP_STEPS = 1000, 4800
TRAIN_SEED = 0
EVAL_SEED = 1_000_003          # held-out scenes and sentences for the report (training uses TRAIN_SEED)
REPORT_FILE = "training_report.json"
SAVED_FILES = ("config.json", "model.safetensors", "generation_config.json", "preprocessor_config.json",
               REPORT_FILE)


def save_float16_atomic(model, target: Path, extra_files: dict[str, str] | None = None) -> Path:
    """``save_pretrained`` in float16 into a temp dir beside ``target``, then swap it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-new-"))
    try:
        half = copy.deepcopy(model).to(torch.float16)  # the caller's float32 model stays as it was
        bad = [name for name, p in half.state_dict().items() if not torch.isfinite(p).all()]
        if bad:
            raise RuntimeError(f"float16 overflow in {bad[:3]}: refusing to save {target}")
        half.save_pretrained(str(staging), safe_serialization=True)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text)
        staging.chmod(0o755)  # mkdtemp makes 0700 directories; shipped files are world-readable
        for path in staging.iterdir():
            path.chmod(0o644)
        if target.exists():  # two renames: the old checkpoint is complete until the new one is
            retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-old-"))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _timer() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _elapsed(start: tuple[float, float]) -> dict[str, float]:
    """Wall time and process CPU time: on a shared machine CPU time / threads is the fairer number."""
    wall, cpu = _timer()
    return {"wall_s": round(wall - start[0], 1), "cpu_s": round(cpu - start[1], 1)}


def run_lm(steps: int, seed: int, out: Path, progress: bool) -> dict:
    from transformers import GPT2LMHeadModel

    from fuse_edu.toyworld.caption_oracle import oracle_perplexity
    from fuse_edu.toyworld.captions import caption, caption_corpus
    from fuse_edu.toyworld.evaluate import lm_perplexity
    from fuse_edu.toyworld.scenes import sample_scenes
    from fuse_edu.toyworld.train_lm import train_lm

    start = _timer()
    model, tokenizer = train_lm(steps=steps, seed=seed, progress=progress)
    timing = _elapsed(start)
    save_float16_atomic(model, out)
    shipped = GPT2LMHeadModel.from_pretrained(str(out), dtype=torch.float32).eval()
    held_out = caption_corpus(2000, EVAL_SEED)
    report = {
        "model": LM_DIR_NAME, "steps": steps, "seed": seed, **timing, "threads": torch.get_num_threads(),
        "eval_seed": EVAL_SEED, "eval_sentences": len(held_out),
        "perplexity_corpus": round(lm_perplexity(shipped, tokenizer, held_out), 4),
        "oracle_perplexity_corpus": round(oracle_perplexity(tokenizer, held_out), 4),
        "perplexity_canonical": round(lm_perplexity(
            shipped, tokenizer, [caption(s) for s in sample_scenes(1000, EVAL_SEED, objects=None)]), 4),
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def run_clip(steps: int, seed: int, out: Path, progress: bool) -> dict:
    from transformers import CLIPImageProcessor, CLIPModel

    from fuse_edu.toyworld.evaluate import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD, clip_accuracy, two_object_accuracy
    from fuse_edu.toyworld.scenes import sample_scenes
    from fuse_edu.toyworld.train_clip import train_clip

    start = _timer()
    model, tokenizer = train_clip(steps=steps, seed=seed, progress=progress)
    timing = _elapsed(start)
    processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                   crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                   image_mean=list(IMAGE_MEAN), image_std=list(IMAGE_STD))
    save_float16_atomic(model, out, {"preprocessor_config.json": processor.to_json_string()})
    shipped = CLIPModel.from_pretrained(str(out), dtype=torch.float32).eval()
    accuracy = clip_accuracy(shipped, tokenizer, sample_scenes(1000, EVAL_SEED, objects=1))
    # two-object scenes, read among all 25,280 two-object captions: colour and shape of each object
    two_objects = two_object_accuracy(shipped, tokenizer, sample_scenes(1000, EVAL_SEED, objects=2))
    report = {
        "model": CLIP_DIR_NAME, "steps": steps, "seed": seed, **timing, "threads": torch.get_num_threads(),
        "eval_seed": EVAL_SEED, "eval_scenes": 1000,
        **{f"accuracy_{k}": round(v, 4) for k, v in accuracy.items()},
        "eval_two_object_scenes": 1000,
        **{f"two_object_{k}": round(v, 4) for k, v in two_objects.items()},
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuse_edu.toyworld.train", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("lm", "clip"), help="train just one of the two models")
    parser.add_argument("--steps", type=int, help="step count for every model this run trains")
    parser.add_argument("--lm-steps", type=int, default=DEFAULT_LM_STEPS)
    parser.add_argument("--clip-steps", type=int, default=DEFAULT_CLIP_STEPS)
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="parent of toy-lm/ and toy-clip/")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the budget is 2 cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for name in ("steps", "lm_steps", "clip_steps"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    torch.set_num_threads(args.threads)

    start = _timer()
    reports = []
    if args.only in (None, "lm"):
        reports.append(run_lm(args.steps or args.lm_steps, args.seed, args.out / LM_DIR_NAME, not args.quiet))
    if args.only in (None, "clip"):
        reports.append(run_clip(args.steps or args.clip_steps, args.seed, args.out / CLIP_DIR_NAME, not args.quiet))
    if args.out.resolve() == WEIGHTS_DIR.resolve():
        write_manifest(WEIGHTS_DIR)  # the checksums loading verifies against (``fuse_edu.models.checkpoints``)
    for report in reports:
        print(json.dumps(report))
    print(json.dumps({"total": _elapsed(start)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
