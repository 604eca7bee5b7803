"""The paper's claim in miniature (issue 5 item 5): on held-out toy scenes, FUSE-guided GCG and AutoDAN
against random search, every method held to the same number of exact candidate evaluations per image.

Each single-object scene is captioned by each method through ``fuse_edu.captioning.Captioner`` (toy preset,
the captioning objective: LM fluency per word with the end of text scored, + CLIP through a FUSE adapter,
weights ``CAPTION_WEIGHTS``). The budget binds every run: no patience, more steps than the budget allows,
so each method spends (nearly) all of it; the evaluations actually spent are reported beside the results.
Per method: mean CLIP loss of the final caption (the ``clip`` term, 1 - cos, unweighted), colour and
shape accuracy (``fuse_edu.metrics.attribute_accuracy``: the caption's first colour / shape word is the
scene's), the exact-caption rate (the caption is the scene's canonical caption, ``toyworld.caption``),
evaluations and seconds per image. The claim holds when GCG and AutoDAN each beat random search on
the CLIP loss AND on colour AND on shape accuracy.

Seeds. The toy models trained on scenes and captions of seeds 0 and 1 (``toyworld.train``, TRAIN_SEED);
their training report uses EVAL_SEED 1_000_003. Settings here were chosen on DEV_SEED's scenes only; the
held-out scenes (HELDOUT_SEED, the default ``--seed``) are run once with them. Method seed: ``--method-seed``.
The held-out seed was 20_261_127 until the toy CLIP was retrained and three method changes were made on
the dev scenes (GCG ranks word swaps by first sub-token, no glued words, AutoDAN grows whole words);
those scenes had been looked at, so the rerun uses a fresh seed, 20_261_128.

What the claim means, fixed on the dev scenes before the held-out run: it is about the budget-bound
regime, 129 and 257 evaluations. At 513 GCG and random search wrote the same caption on all 12 dev
scenes (AutoDAN too on 9, adding "in the center" on 3), so there the table shows saturation: a tie is
not a win, and random search catching up is expected, not a surprise.

Budgets: the headline ``--budget`` (257) fills ``budget``, ``methods``, ``claim``, ``paired`` and
``per_scene`` of the JSON; ``--also-budgets`` (129, 513) repeats the comparison, summarised in
``by_budget`` (every budget, the headline included) with their captions in ``per_scene_by_budget``.

Run (single-threaded; about 11 min for 50 scenes x 3 methods x 3 budgets on the shared 2-core machine):
    python benchmarks/heldout_captioning.py                              # held out: writes results/
    python benchmarks/heldout_captioning.py --seed 4242 --n 12 --out /tmp/dev.json   # dev (DEV_SEED)
    python benchmarks/heldout_captioning.py --seed 4242 --option autodan.beam_width=4 --out /tmp/x.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fuse_edu.captioning import CaptionSettings, Captioner
from fuse_edu.metrics import attribute_accuracy
from fuse_edu.models import load_preset
from fuse_edu.toyworld import caption, render_scene, sample_scenes

HELDOUT_SEED = 20_261_128   # the reported scenes: a seed no toy model, notebook or other benchmark uses
DEV_SEED = 4_242            # the scenes settings were chosen on
METHOD_SEED = 0
N_SCENES = 50
BUDGET = 257                # the headline budget: "budget", "methods" and "per_scene" in the JSON
ALSO_BUDGETS = (129, 513)   # the same comparison at a smaller and a larger budget ("by_budget")
RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = "random"
AUTODAN_BEAM = 2

# Per method, what differs from CaptionSettings' defaults (chosen on DEV_SEED, see the docstring).
# GCG and random search: the initial prompt, then 64 candidates a step, 1 + 64 k evaluations (129, 257, 513).
# AutoDAN: a beam of 2 grows 8 tokens, ``budget // 15`` candidates per prompt expanded (1 prompt, then 7 x 2),
# so it spends 120, 255, 510 of 129, 257, 513. (A greedy AutoDAN cannot revise a slot; on the dev scenes a
# beam of 2 beat greedy at equal cost, CLIP loss 0.198 against 0.262 at 257, and a beam of 4 wrote fewer
# exact captions. Measured before the retrained CLIP; rechecked after it: beam 1 0.257, 2 0.249, 3 0.252.)
# Dev scenes, 12, budget 257, with the final code: GCG 0.171 / colour 100% / shape 100%, AutoDAN 0.171 /
# 100% / 100%, random 0.249 / 83% / 83%. Without whole-word growth AutoDAN scored 0.249 / 75% / 92%;
# GCG with summed word-swap scores 0.202 / 92% / 100%. AutoDAN's readability weight (0, 0.5, 1, 2, 1000)
# changed no dev caption: the toy LM is so peaked that its likely tokens are among the 17 tried anyway.
METHOD_SETTINGS: dict[str, dict] = {
    "gcg": {},
    "autodan": {"strategy": "beam", "options": {"beam_width": AUTODAN_BEAM}},
    "random": {},
}


def autodan_batch(budget: int, prompt_length: int = CaptionSettings.prompt_length) -> int:
    """Candidates per expanded prompt so that a beam-AUTODAN_BEAM run of ``prompt_length`` steps fits ``budget``."""
    return budget // (1 + (prompt_length - 1) * AUTODAN_BEAM)


def settings_for(name: str, budget: int, seed: int, overrides: dict) -> CaptionSettings:
    chosen = {**METHOD_SETTINGS[name]}
    sized = {"candidates_per_step": autodan_batch(budget)} if name == "autodan" else {}
    chosen["options"] = {**chosen.get("options", {}), **overrides}
    # steps: more than any budget-bound run can take; patience off, so the budget is what stops a run
    return CaptionSettings(method=name, budget=budget, steps=budget, patience=None, seed=seed, **sized, **chosen)


def caption_scene(captioner: Captioner, scene) -> dict:
    """One method on one scene: its caption, losses and the attribute checks."""
    result = captioner.caption(render_scene(scene))
    named = attribute_accuracy([result.best_text], [scene])
    return {"caption": result.best_text, "loss": result.best_loss, "clip_loss": result.term_losses["clip"],
            "lm_loss": result.term_losses["lm"], "color": named["color"] == 1.0, "shape": named["shape"] == 1.0,
            "exact": result.best_text == caption(scene), "evaluations": result.evaluations,
            "seconds": result.seconds, "steps": result.steps}


def summarise(per_scene: list[dict], names: list[str]) -> dict[str, dict]:
    def mean(name, key):
        return sum(float(row[name][key]) for row in per_scene) / len(per_scene)

    return {name: {"clip_loss": mean(name, "clip_loss"), "color_accuracy": mean(name, "color"),
                   "shape_accuracy": mean(name, "shape"), "exact": mean(name, "exact"),
                   "evaluations_mean": mean(name, "evaluations"), "seconds_per_image": mean(name, "seconds")}
            for name in names}


def paired(per_scene: list[dict], name: str, baseline: str = BASELINE) -> dict:
    """Scene by scene against the baseline: how often the CLIP loss is lower / higher, attributes won / lost."""
    diff = [row[name]["clip_loss"] - row[baseline]["clip_loss"] for row in per_scene]
    out = {"clip_lower": sum(d < -1e-6 for d in diff), "clip_higher": sum(d > 1e-6 for d in diff)}
    for key in ("color", "shape"):
        out[f"{key}_won"] = sum(row[name][key] and not row[baseline][key] for row in per_scene)
        out[f"{key}_lost"] = sum(row[baseline][key] and not row[name][key] for row in per_scene)
    return out


def verdict(methods: dict[str, dict]) -> dict[str, bool]:
    """Does each method beat the baseline on CLIP loss and on colour and on shape accuracy?"""
    base = methods[BASELINE]
    return {name: m["clip_loss"] < base["clip_loss"] and m["color_accuracy"] > base["color_accuracy"]
            and m["shape_accuracy"] > base["shape_accuracy"] for name, m in methods.items() if name != BASELINE}


def table(methods: dict[str, dict]) -> str:
    lines = ["| method | CLIP loss (1 - cos) | colour acc. | shape acc. | exact caption | evaluations | s / image |",
             "|---|---|---|---|---|---|---|"]
    for name, m in methods.items():
        lines.append(f"| {name} | {m['clip_loss']:.4f} | {m['color_accuracy']:.0%} | {m['shape_accuracy']:.0%} | "
                     f"{m['exact']:.0%} | {m['evaluations_mean']:.0f} | {m['seconds_per_image']:.1f} |")
    return "\n".join(lines)


def write_markdown(path: Path, record: dict) -> None:
    def outcome(claim: dict) -> str:
        return "; ".join(f"{name} {'beats' if won else 'does NOT beat'} random search on all three"
                         for name, won in claim.items()) or "no method to compare with random search"

    pairs = "\n".join(f"- {name} vs random, scene by scene: CLIP loss lower on {p['clip_lower']}, higher on "
                      f"{p['clip_higher']}; colour won {p['color_won']} / lost {p['color_lost']}; shape won "
                      f"{p['shape_won']} / lost {p['shape_lost']}" for name, p in record["paired"].items())
    curve = "\n\n".join(f"Budget {b}:\n\n{table(r['methods'])}\n\n**Claim at {b}:** {outcome(r['claim'])}."
                         for b, r in record["by_budget"].items())
    methods = list(record["methods"])
    examples = "\n".join(f"| {row['truth']} | " + " | ".join(row[name]["caption"] for name in methods) + " |"
                         for row in record["per_scene"][:12])
    path.write_text(
        f"# Held-out captioning: FUSE-guided GCG and AutoDAN against random search at equal cost\n\n"
        f"Command: `{record['command']}`\n\n"
        f"{record['n_scenes']} single-object toy scenes of seed {record['seeds'][0]} (never seen by the toy "
        f"models, whose training used seeds 0 and 1), method seed {record['seeds'][1]}. Every method gets the "
        f"same budget of exact candidate evaluations per image; the headline budget is {record['budget']}, "
        f"and the same comparison is run at {', '.join(b for b in record['by_budget'] if b != str(record['budget']))}. "
        f"Settings were chosen on dev seed {record['dev_seed']} beforehand and run once here: "
        f"`{json.dumps(record['settings'])}` (headline budget; AutoDAN's candidates per prompt scale with the budget). "
        f"Colour / shape accuracy: the caption's first colour / shape word is the scene's "
        f"(`fuse_edu.metrics.attribute_accuracy`); exact: the caption is the canonical one. "
        f"Seconds on {record['threads']} thread of a shared 2-core machine (contended).\n\n"
        f"## Headline: budget {record['budget']}\n\n{table(record['methods'])}\n\n"
        f"**Claim:** {outcome(record['claim'])}.\n\n{pairs}\n\n## Every budget\n\n{curve}\n\n"
        f"## First scenes (budget {record['budget']})\n\n| true caption | " + " | ".join(methods) + " |\n|---|"
        + "---|" * len(methods) + f"\n{examples}\n")


def parse_options(items: list[str], names: list[str]) -> dict[str, dict]:
    """``--option autodan.refine_steps=0`` -> {"autodan": {"refine_steps": 0}} (values read as JSON)."""
    out: dict[str, dict] = {name: {} for name in names}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, option = key.partition(".")
        if not sep or not dot or name not in out:
            raise SystemExit(f"--option must be METHOD.NAME=VALUE with METHOD one of {', '.join(names)}, got {item!r}")
        try:
            out[name][option] = json.loads(value)
        except json.JSONDecodeError:
            out[name][option] = value
    return out


def compare(preset, scenes, names: list[str], budget: int, method_seed: int, overrides: dict, bar) -> dict:
    """Every method on every scene at one budget: summaries, the claim, scene-by-scene pairs, every caption."""
    settings = {name: settings_for(name, budget, method_seed, overrides[name]) for name in names}
    captioners = {name: Captioner(preset, s, progress=False) for name, s in settings.items()}
    per_scene = []
    for i, scene in enumerate(scenes):
        row = {"scene": i, "truth": caption(scene), **scene.objects[0].attributes()}
        for name in names:
            row[name] = caption_scene(captioners[name], scene)
            bar.update(1)
        per_scene.append(row)
        bar.set_postfix_str(f"budget {budget}: " + " | ".join(row[name]["caption"] for name in names)[:70])
    methods = summarise(per_scene, names)
    return {"methods": methods, "claim": verdict(methods) if BASELINE in methods else {},
            "paired": {n: paired(per_scene, n) for n in names if n != BASELINE and BASELINE in names},
            "settings": {n: {"steps": s.steps, "patience": s.patience, "candidates_per_step": s.candidates_per_step,
                             "prompt_length": s.prompt_length, "strategy": s.strategy, **s.options}
                         for n, s in settings.items()},
            "per_scene": per_scene}


def budget_list(text: str) -> list[int]:
    try:
        budgets = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(b < 1 for b in budgets):
        raise argparse.ArgumentTypeError(f"budgets must be positive, got {text!r}")
    return budgets


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=N_SCENES, help=f"scenes (default {N_SCENES})")
    p.add_argument("--budget", type=int, default=BUDGET, help=f"exact evaluations per image (default {BUDGET})")
    p.add_argument("--also-budgets", type=budget_list, default=list(ALSO_BUDGETS), metavar="B1,B2",
                   help=f"the same comparison at these budgets too (default {','.join(map(str, ALSO_BUDGETS))}; "
                        "'' for none)")
    p.add_argument("--seed", type=int, default=HELDOUT_SEED,
                   help=f"scene seed (default {HELDOUT_SEED}, held out; dev: {DEV_SEED})")
    p.add_argument("--method-seed", type=int, default=METHOD_SEED, help=f"optimisers' seed (default {METHOD_SEED})")
    p.add_argument("--methods", default=",".join(METHOD_SETTINGS),
                   help=f"comma-separated, from {', '.join(METHOD_SETTINGS)} (default: all)")
    p.add_argument("--option", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="an extra constructor option for one method (dev tuning), e.g. autodan.beam_width=4")
    p.add_argument("--out", type=Path, default=RESULTS / "heldout_captioning.json",
                   help="JSON file to write; a .md summary is written beside it")
    args = p.parse_args(argv)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHOD_SETTINGS]
    if unknown or not names:
        p.error(f"unknown method(s) {unknown}; accepted: {', '.join(METHOD_SETTINGS)}")
    if args.n < 1 or args.budget < 1:
        p.error(f"--n and --budget must be positive, got {args.n} and {args.budget}")
    overrides = parse_options(args.option, names)
    budgets = sorted({args.budget, *args.also_budgets})

    torch.set_num_threads(1)
    preset = load_preset("toy")
    scenes = sample_scenes(args.n, args.seed, objects=1)
    with tqdm(total=len(scenes) * len(names) * len(budgets), desc="heldout captioning", unit="run",
              file=sys.stderr) as bar:
        by_budget = {b: compare(preset, scenes, names, b, args.method_seed, overrides, bar) for b in budgets}

    headline = by_budget[args.budget]
    command = "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{Path(__file__).name}",
                                                            *(sys.argv[1:] if argv is None else argv)])
    record = {"command": command, "seeds": [args.seed, args.method_seed], "n_scenes": len(scenes),
              "budget": args.budget, "methods": headline["methods"], "claim": headline["claim"],
              "paired": headline["paired"], "settings": headline["settings"],
              "by_budget": {str(b): {k: v for k, v in r.items() if k != "per_scene"} for b, r in by_budget.items()},
              "dev_seed": DEV_SEED, "caption_weights": preset.weights, "threads": torch.get_num_threads(),
              "machine": platform.platform(), "per_scene": headline["per_scene"],
              "per_scene_by_budget": {str(b): r["per_scene"] for b, r in by_budget.items() if b != args.budget}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    write_markdown(args.out.with_suffix(".md"), record)
    for b, r in by_budget.items():
        print(f"budget {b}:\n{table(r['methods'])}")
        for name, won in r["claim"].items():
            print(f"  {name}: {'beats' if won else 'does NOT beat'} random search on CLIP loss, colour and shape")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
