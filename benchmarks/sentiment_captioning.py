"""Sentiment-conditioned captioning on held-out toy scenes: the bar it must clear, measured.

The bar: captions steered toward a sentiment are judged of that sentiment by the preset's own classifier
(``preset.sentiment.predict``) at least 80% of the time, while naming the scene's colour AND shape at least
50% of the time. Both sentiments, every scene: one caption per (scene, sentiment).

Protocol (no tuning on the scenes that are reported):

1. Dev: ``--sweep`` runs a grid of sentiment weights on the dev seed and prints each setting's rates.
   The setting is chosen there, by hand, and written into ``CHOSEN`` below with the dev numbers.
2. Held out: ``--write`` runs ``CHOSEN`` once on the held-out seed and stores
   ``benchmarks/results/sentiment_captioning.json`` and ``.md`` (command, seeds, settings, every caption).

Run (2 CPU cores, a few minutes each):
    python benchmarks/sentiment_captioning.py --sweep                    # dev seed, weight grid
    python benchmarks/sentiment_captioning.py --write                    # held-out seed, CHOSEN, once

Scenes are single-object toy scenes (``sample_scenes(n, seed, objects=1)``). "Names colour and shape"
means the scene's colour word and shape word both occur in the caption as whole words
(``fuse_edu.metrics.attribute_accuracy``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from fuse_edu import seed_everything
from fuse_edu.captioning import CaptionSettings, Captioner
from fuse_edu.models import PRESETS
from fuse_edu.metrics import attribute_accuracy
from fuse_edu.models import load_preset
from fuse_edu.toyworld import SENTIMENTS, caption, render_scene, sample_scenes

DEV_SEED = 7_000            # scenes the settings are chosen on
HELDOUT_SEED = 7_001        # scenes the bar is reported on, run once with CHOSEN
N_SCENES = 20
BAR_SENTIMENT, BAR_NAMES = 0.80, 0.50
RESULTS = Path(__file__).resolve().parent / "results"

# The setting chosen on the dev seed (--sweep --n 10: 10 scenes x both sentiments, GCG, steps 40, patience 8):
#   sentiment weight   judged target   names colour and shape   both
#   0.5                90%             65%                      60%
#   1.0                100%            65%                      65%    <- chosen: the most captions meeting both
#   2.0                100%            55%                      55%    (negative: 30% name colour and shape)
# (4.0 was not run: 2.0 already traded naming for nothing, the judged rate being 100% at 1.0.)
# Chosen on the dev seed in the toy lexicon with no budget cap (steps and patience stop a run); pinned here
# so that the package's defaults (the open vocabulary, a budget) changing later does not change the protocol.
CHOSEN: dict = {"method": "gcg", "sentiment_weight": 1.0, "steps": 40, "patience": 8, "vocabulary": "lexicon",
                "budget": None}
SWEEP_WEIGHTS = (0.5, 1.0, 2.0, 4.0)


def caption_scenes(preset, scenes, sentiment: str | None, settings: dict, progress: bool = False) -> list[dict]:
    """One caption per scene, steered toward ``sentiment`` (None: a plain caption), with the classifier's
    verdict and the attribute check."""
    steer = {"labels": {"sentiment": sentiment}, "weights": {"sentiment": settings["sentiment_weight"]}}
    captioner = Captioner(preset, CaptionSettings(method=settings["method"], steps=settings["steps"],
                                                  patience=settings["patience"], vocabulary=settings["vocabulary"],
                                                  budget=settings["budget"], **(steer if sentiment else {})),
                          progress=False)
    rows = []
    for scene in scenes:
        result = captioner.caption(render_scene(scene))
        rows.append({"truth": caption(scene), "sentiment": sentiment, "caption": result.best_text,
                     "loss": result.best_loss, **{f"loss_{k}": v for k, v in result.term_losses.items()},
                     "evaluations": result.evaluations, "seconds": result.seconds})
        if progress:
            print(f"  {sentiment or 'plain':8s} {rows[-1]['truth']:28s} -> {result.best_text!r}", file=sys.stderr, flush=True)
    judged = preset.sentiment.predict([row["caption"] for row in rows])
    for row, scene, label in zip(rows, scenes, judged):
        row["judged"] = label
        row["names_color_shape"] = attribute_accuracy([row["caption"]], [scene])["color_shape"] == 1.0
    return rows


def summarise(rows: list[dict]) -> dict:
    """The bar's two rates, overall and per sentiment, and the rate of captions that meet both at once."""
    def rates(subset):
        n = len(subset)
        return {"n": n,
                "target_sentiment": sum(r["judged"] == r["sentiment"] for r in subset) / n,
                "names_color_shape": sum(r["names_color_shape"] for r in subset) / n,
                "both": sum(r["judged"] == r["sentiment"] and r["names_color_shape"] for r in subset) / n,
                "seconds_per_caption": sum(r["seconds"] for r in subset) / n}
    out = {"all": rates(rows)}
    for sentiment in SENTIMENTS:
        subset = [r for r in rows if r["sentiment"] == sentiment]
        if subset:
            out[sentiment] = rates(subset)
    out["passes"] = out["all"]["target_sentiment"] >= BAR_SENTIMENT and out["all"]["names_color_shape"] >= BAR_NAMES
    return out


def unsteered(preset, scenes, settings: dict, progress: bool) -> dict:
    """Plain captions of the same scenes (no sentiment term): how the judge reads a caption nobody steered.
    The toy classifier has no neutral class, so this is the rate the steering must be compared with."""
    rows = caption_scenes(preset, scenes, None, settings, progress)
    return {"n": len(rows), "judged_positive": sum(r["judged"] == "positive" for r in rows) / len(rows),
            "names_color_shape": sum(r["names_color_shape"] for r in rows) / len(rows), "rows": rows}


def run(preset, seed: int, n: int, settings: dict, progress: bool) -> tuple[list[dict], dict]:
    scenes = sample_scenes(n, seed, objects=1)
    rows = []
    for sentiment in SENTIMENTS:
        rows += caption_scenes(preset, scenes, sentiment, settings, progress)
    return rows, summarise(rows)


def format_summary(summary: dict) -> str:
    lines = ["| captions | n | judged target sentiment | name colour and shape | both | s / caption |",
             "|---|---|---|---|---|---|"]
    for key in ("all", *SENTIMENTS):
        if key in summary:
            s = summary[key]
            lines.append(f"| {key} | {s['n']} | {s['target_sentiment']:.0%} | {s['names_color_shape']:.0%} | "
                         f"{s['both']:.0%} | {s['seconds_per_caption']:.1f} |")
    return "\n".join(lines)


def write_results(command: str, seed: int, settings: dict, rows: list[dict], summary: dict, plain: dict,
                  wall: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    record = {"command": command, "heldout_seed": seed, "dev_seed": DEV_SEED, "n_scenes": len(rows) // len(SENTIMENTS),
              "settings": settings, "caption_weights": {**PRESETS["toy"].weights, "sentiment": settings["sentiment_weight"]},
              "bar": {"target_sentiment": BAR_SENTIMENT, "names_color_shape": BAR_NAMES},
              "summary": summary, "unsteered": plain, "wall_s": round(wall, 1), "threads": torch.get_num_threads(),
              "machine": platform.platform(), "rows": rows}
    (RESULTS / "sentiment_captioning.json").write_text(json.dumps(record, indent=1) + "\n")
    examples = "\n".join(f"| {r['truth']} | {r['sentiment']} | {r['caption']} | {r['judged']} | "
                         f"{'yes' if r['names_color_shape'] else 'no'} |" for r in rows)
    (RESULTS / "sentiment_captioning.md").write_text(
        f"# Sentiment-conditioned captioning on held-out toy scenes\n\n"
        f"Command: `{command}`\n\n"
        f"Held-out scene seed {seed} ({len(rows) // len(SENTIMENTS)} single-object scenes x both sentiments); "
        f"settings chosen beforehand on dev seed {DEV_SEED}: `{json.dumps(settings)}`. "
        f"Judge: the toy preset's own sentiment classifier (`preset.sentiment.predict`). "
        f"Bar: judged of the target sentiment >= {BAR_SENTIMENT:.0%} and naming colour and shape >= {BAR_NAMES:.0%}: "
        f"**{'passes' if summary['passes'] else 'fails'}**. Wall time {wall:.0f} s on {torch.get_num_threads()} "
        f"thread(s), on a shared 2-core machine.\n\n{format_summary(summary)}\n\n"
        f"Unsteered captions of the same scenes (no sentiment term; the toy classifier has no neutral class): "
        f"judged positive {plain['judged_positive']:.0%}, name colour and shape {plain['names_color_shape']:.0%}.\n\n"
        f"| true caption | target | caption | judged | names colour and shape |\n|---|---|---|---|---|\n{examples}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--sweep", action="store_true", help=f"dev seed {DEV_SEED}: try SWEEP_WEIGHTS {SWEEP_WEIGHTS}")
    mode.add_argument("--write", action="store_true", help=f"held-out seed {HELDOUT_SEED}: run CHOSEN once, store results")
    p.add_argument("--n", type=int, default=N_SCENES, help=f"scenes (default {N_SCENES}); each gets both sentiments")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--quiet", action="store_true", help="no caption-by-caption lines on stderr")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_everything(0)
    preset = load_preset("toy")
    start = time.perf_counter()
    if args.sweep:
        for weight in SWEEP_WEIGHTS:
            settings = {**CHOSEN, "sentiment_weight": weight}
            _, summary = run(preset, DEV_SEED, args.n, settings, not args.quiet)
            print(f"dev seed {DEV_SEED}, sentiment weight {weight}:\n{format_summary(summary)}\n", flush=True)
        return 0
    rows, summary = run(preset, HELDOUT_SEED, args.n, CHOSEN, not args.quiet)
    plain = unsteered(preset, sample_scenes(args.n, HELDOUT_SEED, objects=1), CHOSEN, not args.quiet)
    wall = time.perf_counter() - start
    command = "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{Path(__file__).name}", *(argv or sys.argv[1:])])
    write_results(command, HELDOUT_SEED, CHOSEN, rows, summary, plain, wall)
    print(format_summary(summary))
    print(f"bar {'passes' if summary['passes'] else 'FAILS'}; wrote {RESULTS / 'sentiment_captioning.json'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
