"""Issue 19's figures: students distilled from an ensemble of teachers against one of its teachers, on labeled SST-2 or
with unlabeled in-domain text, over several seeds; and the optuna search's best settings against the defaults.

Runs the real recipe (`recipes/sst2.py`) once per (arm, seed), one after the other, with teachers already fine-tuned
(e.g. by the main job with different `--seed`s, or `--teacher_seeds`). Every arm's output folder shares one
teacher-logit cache (`output_root/_cache`, one file per teacher and transfer set), so each teacher labels each transfer
set once. Prints one JSON line per run and a table of the mean over seeds:

    python benchmarks/ensemble.py --teachers out/t42/teacher out/t1/teacher out/t2/teacher --output_root out/ensemble \
        --arms layers_ensemble layers_single --seeds 0 1 2
    python benchmarks/ensemble.py --teachers ... --arms search_linear search_layers --seeds 0

The arms (the first teacher is the "single" one; SST-2 validation, 872 sentences, is reported and never searched on):
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from _sst2 import UNLABELED, run_recipe

ARMS = {  # name: (teachers "all" or "first", flags)
    "layers_ensemble": ("all", ["--student", "layers", "--augment_factor", "0"]),
    "layers_single": ("first", ["--student", "layers", "--augment_factor", "0"]),
    "layers_ensemble_unlabeled": ("all", ["--student", "layers", "--unlabeled_file", UNLABELED]),
    "layers_single_unlabeled": ("first", ["--student", "layers", "--unlabeled_file", UNLABELED]),
    "linear_ensemble_unlabeled": ("all", ["--student", "linear", "--augment_factor", "0",
                                          "--unlabeled_file", UNLABELED]),
    "linear_single_unlabeled": ("first", ["--student", "linear", "--augment_factor", "0",
                                          "--unlabeled_file", UNLABELED]),
    "linear_single": ("first", ["--student", "linear", "--augment_factor", "0"]),
    "linear_hard": ("first", ["--student", "linear", "--augment_factor", "0", "--alpha", "0"]),
    "compact_ensemble_unlabeled": ("all", ["--student", "compact", "--augment_factor", "0",
                                           "--unlabeled_file", UNLABELED]),
    "compact_hard": ("first", ["--student", "compact", "--augment_factor", "0", "--alpha", "0"]),
    "search_linear": ("first", ["--student", "linear", "--augment_factor", "0", "--search_trials", "10"]),
    "search_layers": ("first", ["--student", "layers", "--augment_factor", "0", "--search_trials", "10"]),
}
__doc__ += "".join(f"\n- {name}: {'every teacher' if t == 'all' else 'the first teacher'}, {' '.join(f)}"
                   for name, (t, f) in ARMS.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teachers", nargs="+", required=True,
                        help="fine-tuned teacher folders; the first is 'single'")
    parser.add_argument("--output_root", default="out/ensemble")
    parser.add_argument("--arms", nargs="+", default=["layers_ensemble", "layers_single"], choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every run")
    args = parser.parse_args()
    cache = os.path.abspath(os.path.join(args.output_root, "_cache"))
    os.makedirs(cache, exist_ok=True)
    table = {}
    for arm in args.arms:
        which, flags = ARMS[arm]
        teachers = args.teachers if which == "all" else args.teachers[:1]
        output_dir = os.path.join(args.output_root, arm)
        os.makedirs(output_dir, exist_ok=True)
        if not os.path.lexists(os.path.join(output_dir, "_cache")):
            os.symlink(cache, os.path.join(output_dir, "_cache"))
        for seed in args.seeds:
            results, wall_s = run_recipe(["--teacher_model_name_or_path", *teachers, *flags, "--seed", str(seed),
                                          *args.extra], output_dir,
                                         os.path.join(args.output_root, f"{arm}-seed{seed}.log"))
            run = {"arm": arm, "seed": seed, "accuracy": results["student"]["accuracy"],
                   "teacher_accuracy": results["teacher"]["accuracy"],
                   "each_teacher": [t["eval_accuracy"] for t in results.get("each_teacher") or []],
                   "train_examples": results["train_examples"], "wall_s": wall_s, "timings": results["timings"],
                   "search": results.get("search")}
            print(json.dumps(run), flush=True)
            table.setdefault(arm, []).append(run)
    print("\n| arm | teacher(s) | student accuracy per seed | mean | wall time per run |")
    print("| --- | --- | --- | --- | --- |")
    for arm, runs in table.items():
        accuracies = [100 * r["accuracy"] for r in runs]
        teacher = f"{100 * runs[0]['teacher_accuracy']:.2f}%" + (
            f" (each {', '.join(f'{100 * a:.2f}' for a in runs[0]['each_teacher'])})" if runs[0]["each_teacher"]
            else "")
        print(f"| {arm} | {teacher} | {' / '.join(f'{a:.2f}' for a in accuracies)} | "
              f"{statistics.mean(accuracies):.2f}% | {statistics.mean(r['wall_s'] for r in runs):.0f} s |")


if __name__ == "__main__":
    main()
