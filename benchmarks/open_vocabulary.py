"""Open-vocabulary captioning: where the FUSE gradient matters, against random search, with the ablation.

Held-out toy scenes (single-object and two-object) are captioned by GCG, AutoDAN, PEZ and random search in
both vocabulary modes (``open``: the LM's whole printable vocabulary; ``lexicon``: the toy caption lexicon),
at budgets of exact evaluations from 65 to 513 (the default), with the package's caption settings otherwise
(patience off, so the budget is what stops a run). A scene is read when the caption names every object's colour and
shape (``fuse_edu.metrics.object_accuracy``). Reported per method and budget: that accuracy and the mean
CLIP loss of the captions, with bootstrap 95% intervals over scenes; the same against wall-clock seconds;
and GCG in the open vocabulary with FUSE, random and no adapters (``--adapter``), the ablation.

How runs are shared: GCG, random search and PEZ do not depend on the budget except where they stop, so one
run per scene to the largest budget gives every smaller budget (the best prompt after the last step that
fits). AutoDAN sizes its steps from the budget, so it runs once per budget. Random search runs to twice
the largest budget, so it can be read at GCG's wall time as well as at GCG's evaluations.

Protocol: settings are chosen with ``--dev`` (DEV_SEED scenes) and frozen in ``SETTINGS``; ``--write`` runs
the held-out scenes once and writes ``results/open_vocabulary.{json,md}``. Timings compare methods
fairly because every run is one process on one thread; ``--jobs`` says how many run at once (no more
than the idle cores, or they would time each other's contention).

    python benchmarks/open_vocabulary.py --dev --single 12 --double 6
    python benchmarks/open_vocabulary.py --write --jobs 2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from fuse_edu.captioning import CaptionSettings, Captioner
from fuse_edu.metrics import bootstrap_interval, objects_named
from fuse_edu.models import load_preset
from fuse_edu.progress import progress_bar
from fuse_edu.toyworld import caption, render_scene, sample_scenes

HELDOUT_SEEDS = {"single": 20_261_202, "double": 20_261_203}  # scenes no model, notebook or benchmark uses
DEV_SEEDS = {"single": 4_242, "double": 4_243}
SCENES = {"single": 50, "double": 30}
BUDGETS = (65, 129, 257, 513)  # the initial prompt and 1, 2, 4, 8 steps of 64 candidates
DEFAULT_BUDGET = 513      # the budget of the claim and of the ablation
METHODS = ("gcg", "autodan", "pez", "random")
MODES = ("open", "lexicon")
ADAPTERS = ("fuse", "random", "none")
SECONDS = (0.5, 1, 2, 4, 8, 16)  # the wall-clock grid of the time curves
RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS: dict[str, dict] = {   # per method, what differs from CaptionSettings' defaults (chosen on DEV_SEEDS)
    "gcg": {}, "autodan": {}, "pez": {}, "random": {},
}
REACH = {"random": 2}  # how far past the largest budget a shared run goes (random search: GCG's wall time)


def settings(method: str, mode: str, budget: int, adapter: str = "fuse", seed: int = 0) -> CaptionSettings:
    return CaptionSettings(method=method, vocabulary=mode, adapter=adapter, budget=budget, steps=100_000,
                           patience=None, seed=seed, **SETTINGS[method])


def snapshots(captioner: Captioner, image) -> list[dict]:
    """One run: after every step, the evaluations spent, the seconds since the run began, the best prompt."""
    objective = captioner.objective([image])
    optimiser = captioner.optimiser_class(objective, progress=False, **captioner.method_kwargs())
    rows: list[dict] = []
    start = time.perf_counter()

    def record(row: dict) -> None:
        rows.append({"evaluations": row["evaluations"], "seconds": time.perf_counter() - start,
                     "ids": optimiser.best_so_far()})

    optimiser.run(None, callback=record)
    return [{**r, "objective": objective} for r in rows]


def at_budget(rows: list[dict], budget: int) -> dict:
    """The last snapshot that fits ``budget``."""
    fitting = [r for r in rows if r["evaluations"] <= budget]
    return fitting[-1] if fitting else rows[0]


def score(preset, picks: list[dict], scene) -> list[dict]:
    """Caption, CLIP loss and objects named for each picked snapshot of one scene (CLIP loss: not counted)."""
    out = []
    for pick in picks:
        ids = torch.tensor([pick["ids"]], device=preset.lm.device)
        _, terms = pick["objective"].evaluate(ids)
        text = preset.lm.tokenizer.decode(pick["ids"]).strip()
        out.append({"caption": text, "clip": float(terms["clip"][0]), "named": objects_named(text, scene),
                    "evaluations": pick["evaluations"], "seconds": round(pick["seconds"], 3)})
    return out


def run_method(preset, method: str, mode: str, scenes, images, budgets, adapter: str = "fuse",
               bar=None) -> dict:
    """{budget: one record per scene} and, under "time", per scene one record (or None) per ``SECONDS`` limit."""
    out: dict = {b: [] for b in budgets}
    out["time"] = []
    shared = method != "autodan"
    top = max(budgets) * REACH.get(method, 1)
    captioners = ({top: Captioner(preset, settings(method, mode, top, adapter), progress=False)} if shared else
                  {b: Captioner(preset, settings(method, mode, b, adapter), progress=False) for b in budgets})
    for scene, image in zip(scenes, images):
        if shared:
            curve = snapshots(captioners[top], image)
            finals = [at_budget(curve, b) for b in budgets]
        else:
            finals = [snapshots(captioners[b], image)[-1] for b in budgets]
            curve = sorted(finals, key=lambda r: r["seconds"])  # what a run of each budget delivers, and when
        for b, record in zip(budgets, score(preset, finals, scene)):
            out[b].append(record)
        timed = [at_time(curve, limit) for limit in SECONDS]
        out["time"].append([score(preset, [pick], scene)[0] if pick else None for pick in timed])
        if bar is not None:
            bar.update(1)
    return out


def at_time(curve: list[dict], seconds: float) -> dict | None:
    """The best prompt a run had delivered ``seconds`` after it began (None: nothing yet); for AutoDAN, whose
    runs differ by budget, the best of the runs that had finished."""
    done = [r for r in curve if r["seconds"] <= seconds]
    return done[-1] if done else None


def summary(records: list[dict]) -> dict:
    """Mean accuracy (every object named) and CLIP loss over scenes, with bootstrap 95% intervals."""
    read = [float(all(r["named"])) for r in records]
    clip = [r["clip"] for r in records]
    return {"accuracy": sum(read) / len(read), "accuracy_ci": bootstrap_interval(read),
            "clip_loss": sum(clip) / len(clip), "clip_loss_ci": bootstrap_interval(clip),
            "evaluations": sum(r["evaluations"] for r in records) / len(records),
            "seconds": sum(r["seconds"] for r in records) / len(records)}


def time_summary(per_scene: list[list[dict | None]]) -> list[dict]:
    """Accuracy within each wall-clock limit of ``SECONDS`` (a scene with nothing yet counts as unread)."""
    out = []
    for i, limit in enumerate(SECONDS):
        read = [float(bool(row[i]) and all(row[i]["named"])) for row in per_scene]
        out.append({"seconds": limit, "accuracy": sum(read) / len(read), "accuracy_ci": bootstrap_interval(read)})
    return out


def scenes_of(which: str, seeds: dict, counts: dict):
    return sample_scenes(counts[which], seeds[which], objects=1 if which == "single" else 2)


def scenes_and_images(which: str, seeds: dict, counts: dict):
    scenes = scenes_of(which, seeds, counts)
    return scenes, [render_scene(s) for s in scenes]


def run_job(job: tuple) -> tuple[tuple, dict]:
    """One (scene set, vocabulary, method, adapter) run over its scenes, in a worker process of one thread."""
    which, mode, method, adapter, dev, counts, budgets = job
    torch.set_num_threads(1)
    scenes, images = scenes_and_images(which, DEV_SEEDS if dev else HELDOUT_SEEDS, counts)
    return job, run_method(load_preset("toy"), method, mode, scenes, images, budgets, adapter=adapter)


def run_all(args) -> dict:
    """Every run the report needs, ``args.jobs`` at a time (each job one thread, so timings stay comparable)."""
    seeds = DEV_SEEDS if args.dev else HELDOUT_SEEDS
    counts = {"single": args.single, "double": args.double}
    jobs = [(which, mode, method, "fuse", args.dev, counts, tuple(args.budgets))
            for which in ("single", "double") if counts[which] for mode in args.modes for method in args.methods]
    if args.ablation and counts["single"]:
        jobs += [("single", "open", "gcg", adapter, args.dev, counts, tuple(args.budgets))
                 for adapter in ADAPTERS if adapter != "fuse"
                 or not ("gcg" in args.methods and "open" in args.modes)]  # "fuse" is the open/gcg run
    results: dict = {"sets": {}, "ablation": {}}
    for which in ("single", "double"):
        if counts[which]:
            results["sets"][which] = {"truths": [caption(s) for s in scenes_of(which, seeds, counts)], "runs": {}}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, \
            progress_bar(total=len(jobs), desc="runs (set x vocabulary x method)") as bar:
        for job, run in pool.map(run_job, jobs):
            which, mode, method, adapter = job[:4]
            if adapter == "fuse":
                results["sets"][which]["runs"][f"{mode}/{method}"] = run
            else:
                results["ablation"][adapter] = run
            bar.update(1)
    if args.ablation and counts["single"] and "fuse" not in results["ablation"]:
        results["ablation"]["fuse"] = results["sets"]["single"]["runs"]["open/gcg"]
    results["ablation"] = {a: results["ablation"][a] for a in ADAPTERS if a in results["ablation"]}
    return results


def summarise(results: dict, budgets) -> dict:
    out: dict = {"sets": {}, "ablation": {}}
    for which, per_set in results["sets"].items():
        out["sets"][which] = {name: {"by_budget": {b: summary(run[b]) for b in budgets},
                                     "by_seconds": time_summary(run["time"])}
                              for name, run in per_set["runs"].items()}
    out["ablation"] = {adapter: {"by_budget": {b: summary(run[b]) for b in budgets}}
                       for adapter, run in results["ablation"].items()}
    return out


def markdown(summ: dict, budgets, header: str) -> str:
    def cell(s):
        low, high = s["accuracy_ci"]
        return f"{s['accuracy']:.0%} [{low:.0%}, {high:.0%}] / {s['clip_loss']:.3f}"

    lines = [header, ""]
    for which, runs in summ["sets"].items():
        lines += [f"## {which}-object scenes: every object's colour and shape named [95% CI] / mean CLIP loss", "",
                  "| vocabulary / method | " + " | ".join(f"{b} evals" for b in budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        for name, s in runs.items():
            lines.append(f"| {name} | " + " | ".join(cell(s["by_budget"][b]) for b in budgets) + " |")
        lines += ["", f"### {which}-object scenes against wall-clock seconds (accuracy within the limit)", "",
                  "| vocabulary / method | " + " | ".join(f"{t} s" for t in SECONDS) + " |",
                  "|---|" + "---|" * len(SECONDS)]
        for name, s in runs.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{p['accuracy']:.0%} [{p['accuracy_ci'][0]:.0%}, {p['accuracy_ci'][1]:.0%}]" for p in s["by_seconds"]) + " |")
        lines.append("")
    if summ["ablation"]:
        lines += ["## Ablation: GCG, open vocabulary, single-object scenes, by adapter", "",
                  "fuse: the fitted FUSE adapters; random: random adapters of the same shapes and norms; none: "
                  "CLIP sends no gradient (it still scores every candidate exactly).", "",
                  "| adapter | " + " | ".join(f"{b} evals" for b in budgets) + " |", "|---|" + "---|" * len(budgets)]
        for name, s in summ["ablation"].items():
            lines.append(f"| {name} | " + " | ".join(cell(s["by_budget"][b]) for b in budgets) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true", help="the dev scenes (settings are chosen here); prints only")
    parser.add_argument("--write", action="store_true", help="write results/open_vocabulary.{json,md}")
    parser.add_argument("--single", type=int, default=None, help=f"single-object scenes (default {SCENES['single']})")
    parser.add_argument("--double", type=int, default=None, help=f"two-object scenes (default {SCENES['double']})")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one process and one thread each")
    parser.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip the adapter ablation")
    args = parser.parse_args(argv)
    if args.dev == args.write:
        parser.error("give exactly one of --dev (choose settings) and --write (the held-out run, once)")
    args.single = SCENES["single"] if args.single is None else args.single
    args.double = SCENES["double"] if args.double is None else args.double
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    start = time.perf_counter()
    results = run_all(args)
    summ = summarise(results, args.budgets)
    wall = time.perf_counter() - start
    command = "python benchmarks/open_vocabulary.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (f"# Open-vocabulary captioning ({'dev' if args.dev else 'held-out'} scenes)\n\n"
              f"`{command}`: {wall / 60:.1f} min, {args.jobs} run(s) at a time, one thread each, {platform.platform()}.")
    text = markdown(summ, args.budgets, header)
    print(text)
    if args.write:
        RESULTS.mkdir(exist_ok=True)
        record = {"command": command, "seeds": HELDOUT_SEEDS, "dev_seeds": DEV_SEEDS, "settings": SETTINGS,
                  "budgets": args.budgets, "default_budget": DEFAULT_BUDGET, "seconds_grid": SECONDS,
                  "jobs": args.jobs, "wall_s": round(wall, 1), "summary": summ,
                  "runs": {w: {"truths": r["truths"], "runs": {n: {str(k): v for k, v in run.items()}
                                                             for n, run in r["runs"].items()}}
                           for w, r in results["sets"].items()},
                  "ablation_runs": results["ablation"]}
        (RESULTS / "open_vocabulary.json").write_text(json.dumps(record, indent=1) + "\n")
        (RESULTS / "open_vocabulary.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
