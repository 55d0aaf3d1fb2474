"""Issue 17's table: every task shape end to end with the real recipe, on the shipped GLUE/GoEmotions sets.

For each task (a recipe config in recipes/configs): the recipe fine-tunes the teacher and distils the 2-layer cut
(seed 0), then, with that teacher as is, distils with the other seeds and trains the same student on hard labels
(alpha 0, no augmented copies); with --teacher_per_seed each seed fine-tunes a teacher of its own, from which that
seed's students learn, and the teacher column is the mean over seeds (for tasks whose teacher the seed moves). Prints
the task's primary metric for teacher, distilled and hard-label students (mean over seeds), the share of the
teacher's metric kept, the throughput ratio and each step's wall time.

    python benchmarks/tasks.py --tasks mrpc rte stsb goemotions --seeds 0 1 2 --output_root bench-out/tasks
    python benchmarks/tasks.py --tasks rte --seeds 0 1 2 --teacher_per_seed --output_root bench-out/tasks_rte
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import CONFIGS, run_recipe  # noqa: E402


def run(task: str, flags: list[str], name: str, args) -> dict:
    output_dir = os.path.join(args.output_root, task, name)
    os.makedirs(os.path.dirname(output_dir), exist_ok=True)
    results, wall_s = run_recipe(flags + args.extra, output_dir, output_dir + ".log",
                                 os.path.join(CONFIGS, f"{task}.yaml"))
    metric = results["primary_metric"]
    row = {"task": task, "run": name, "metric": metric, "student": results["student"][metric],
           "teacher": results["teacher"][metric], "kept": results["ratios"]["metric_kept"],
           "throughput_speedup": results["ratios"]["throughput_speedup"], "wall_s": wall_s,
           "timings": results["timings"],
           "teacher_path": results["teacher_source"]["path"]}
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", default=["mrpc", "rte", "stsb", "goemotions"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--output_root", default="bench-out/tasks")
    parser.add_argument("--teacher_per_seed", action="store_true", help="fine-tune a teacher for each seed")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every recipe run")
    args = parser.parse_args()
    table = []
    for task in args.tasks:
        first = run(task, ["--seed", str(args.seeds[0])], f"distilled-seed{args.seeds[0]}", args)
        teacher = [] if args.teacher_per_seed else ["--teacher_model_name_or_path", first["teacher_path"]]
        distilled = [first] + [run(task, teacher + ["--seed", str(s)], f"distilled-seed{s}", args)
                               for s in args.seeds[1:]]
        # A config's augmented copies have no gold label, so they would learn the teacher's scores even at alpha 0.
        hard_flags = ["--alpha", "0", "--augment_factor", "0", "--cache_teacher_logits", "false"]
        hard = [run(task, ["--teacher_model_name_or_path", row["teacher_path"], "--seed", str(seed), *hard_flags],
                    f"hard-seed{seed}", args) for seed, row in zip(args.seeds, distilled)]
        mean = lambda rows, key="student": statistics.mean(r[key] for r in rows)  # noqa: E731
        teacher_metric = mean(distilled, "teacher") if args.teacher_per_seed else first["teacher"]
        table.append({"task": task, "metric": first["metric"], "teacher": teacher_metric, "distilled": mean(distilled),
                      "teacher_runs": [r["teacher"] for r in distilled],
                      "hard": mean(hard), "kept": mean(distilled) / teacher_metric if teacher_metric else None,
                      "throughput_speedup": statistics.mean(r["throughput_speedup"] for r in distilled),
                      "seeds": args.seeds, "distilled_runs": [r["student"] for r in distilled],
                      "hard_runs": [r["student"] for r in hard], "timings_first_run": first["timings"]})
    print("| task | metric | teacher | distilled | hard labels | kept | throughput x | teacher fine-tuning s "
          "| logits s | distillation s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in table:
        t = row["timings_first_run"]
        print(f"| {row['task']} | {row['metric']} | {row['teacher']:.4f} | {row['distilled']:.4f} | "
              f"{row['hard']:.4f} | {100 * row['kept']:.1f}% | {row['throughput_speedup']:.2f} | "
              f"{t.get('teacher_fine_tuning_s', 0):.0f} | "
              f"{t.get('teacher_logits_s', 0):.0f} | {t.get('distillation_s', 0):.0f} |")
    with open(os.path.join(args.output_root, "summary.json"), "w") as f:
        json.dump({"table": table, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
