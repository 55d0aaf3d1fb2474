"""Issue 4's figures: each student distilled (alpha > 0) and trained on hard labels only (alpha = 0), over seeds.

Runs the real recipe (`recipes/sst2.py`) once per (student, alpha, seed). The first run fine-tunes the teacher when
`--teacher` is a backbone, and builds the teacher-logit cache; the others use that teacher as is and a copy of the
cache (the recipe finds it by fingerprint), `--jobs` at a time. Prints accuracy, accuracy kept, speed-ups and the
distilled - hard gap (mean over seeds). Speed-ups measured beside parallel jobs are not clean: time them alone.
At the recipe's defaults a 'layers' student distils on an augmented transfer set and its alpha-0 run trains on the
labeled rows alone (hfdistill.students.kind_defaults): the gap is that of the defaults. `--extra --augment_factor 0`
compares the two on the labeled rows alone.

    python benchmarks/sst2_students.py --teacher bench-out/teacher --students layers linear --seeds 0 1 2
"""

import argparse
import json
import os
import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor

from _sst2 import run_recipe as run_sst2_recipe


def run_recipe(args, student: str, alpha: float, seed: int, teacher: str, cache: str | None) -> dict:
    output_dir = os.path.join(args.output_root, f"{student}-alpha{alpha}-seed{seed}")
    if cache and not os.path.isdir(os.path.join(output_dir, "_cache")):
        shutil.copytree(cache, os.path.join(output_dir, "_cache"))
    flags = ["--teacher_model_name_or_path", teacher, "--student", student, "--alpha", str(alpha), "--seed", str(seed),
             *args.extra]
    results, wall_s = run_sst2_recipe(flags, output_dir,
                                      os.path.join(args.output_root, f"{student}-alpha{alpha}-seed{seed}.log"))
    run = {"student": student, "alpha": alpha, "seed": seed, "wall_s": wall_s,
           "accuracy": results["student"]["accuracy"], "teacher_accuracy": results["teacher"]["accuracy"],
           "accuracy_kept": results["ratios"]["accuracy_kept"],
           "throughput_speedup": results["ratios"]["throughput_speedup"],
           "latency_speedup": results["ratios"]["latency_speedup"], "timings": results["timings"],
           "output_dir": output_dir, "teacher_path": results["teacher_source"]["path"]}
    print(json.dumps({k: v for k, v in run.items() if k != "teacher_path"}), flush=True)
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="bench-out/teacher")
    parser.add_argument("--students", nargs="+", default=["layers", "linear"])
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.5, 0.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--output_root", default="bench-out/students")
    parser.add_argument("--jobs", type=int, default=1, help="recipe runs at a time, after the first")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every recipe run")
    args = parser.parse_args()
    os.makedirs(args.output_root, exist_ok=True)

    plan = [(student, alpha, seed) for student in args.students for alpha in args.alphas for seed in args.seeds]
    first = run_recipe(args, *plan[0], teacher=args.teacher, cache=None)
    teacher = first.pop("teacher_path")  # fine-tuned by the first run if --teacher was a backbone
    cache = os.path.join(first["output_dir"], "_cache")
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = [first] + list(pool.map(lambda run: run_recipe(args, *run, teacher=teacher, cache=cache), plan[1:]))
    for run in runs:
        run.pop("teacher_path", None)

    summary = {}
    for student in args.students:
        rows = {alpha: [r for r in runs if r["student"] == student and r["alpha"] == alpha] for alpha in args.alphas}
        means = {alpha: statistics.mean(r["accuracy"] for r in rows[alpha]) for alpha in args.alphas if rows[alpha]}
        distilled = [a for a in args.alphas if a > 0]
        summary[student] = {
            "mean_accuracy": {str(a): m for a, m in means.items()},
            "gap_points_distilled_minus_hard": ((100 * (means[distilled[0]] - means[0.0]))
                                                if distilled and 0.0 in means else None),
            "throughput_speedup": statistics.mean(r["throughput_speedup"] for r in runs if r["student"] == student),
            "teacher_accuracy": runs[0]["teacher_accuracy"],
        }
    print(json.dumps(summary, indent=2))
    with open(os.path.join(args.output_root, "summary.json"), "w") as f:
        json.dump({"runs": runs, "summary": summary, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
