"""Student settings for one task, swept with a fixed teacher (issue 17: the SST-2 defaults do not carry over).

Each run is the recipe with the task's config, the given teacher used as is (its logits cached once in a shared
folder, so every run pays only for distillation), and one set of extra flags. Prints one JSON line per run and a
table of the task's primary metric, the share of the teacher's metric kept and the distillation time.

    python benchmarks/task_sweep.py --task stsb --teacher bench-out/tasks/stsb/distilled-seed0/teacher \\
        --output_root bench-out/sweep_stsb \\
        --runs "default=" "ep10_lr5e-4=--num_train_epochs 10 --learning_rate 5e-4" "hard=--alpha 0"
"""

import argparse
import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import CONFIGS, run_recipe  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", required=True, help="a config in recipes/configs: mrpc, rte, stsb, goemotions, sst2")
    parser.add_argument("--teacher", required=True, help="a fine-tuned teacher folder, used as is")
    parser.add_argument("--output_root", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="NAME=FLAGS, e.g. 'ep10=--num_train_epochs 10'")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        name, _, flags = run.partition("=")
        for seed in args.seeds:
            output_dir = os.path.join(args.output_root, f"{name}-seed{seed}")
            os.makedirs(output_dir, exist_ok=True)
            cache = os.path.abspath(os.path.join(args.output_root, "_cache"))
            os.makedirs(cache, exist_ok=True)
            if not os.path.lexists(os.path.join(output_dir, "_cache")):  # one cache: each transfer set labelled once
                os.symlink(cache, os.path.join(output_dir, "_cache"))
            recipe_flags = ["--teacher_model_name_or_path", args.teacher, "--teacher_fine_tuning", "never", "--seed",
                            str(seed), "--save_strategy", "no", *shlex.split(flags)]
            results, wall_s = run_recipe(recipe_flags, output_dir, output_dir + ".log",
                                         os.path.join(CONFIGS, f"{args.task}.yaml"))
            metric = results["primary_metric"]
            row = {"run": name, "seed": seed, "flags": flags, "metric": metric, "student": results["student"][metric],
                   "teacher": results["teacher"][metric], "kept": results["ratios"]["metric_kept"],
                   "distillation_s": results["timings"].get("distillation_s"), "wall_s": wall_s}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| run | seed | flags | {rows[0]['metric']} | teacher | kept | distillation s |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['run']} | {row['seed']} | `{row['flags']}` | {100 * row['student']:.2f} | "
              f"{100 * row['teacher']:.2f} | {100 * row['kept']:.1f}% | {row['distillation_s']:.0f} |")


if __name__ == "__main__":
    main()
