"""Issue 6's figures: each student distilled with and without an augmented transfer set, under the same settings.

Runs the real recipe (`recipes/sst2.py`) once per (student, augment_factor), `--jobs` at a time, with an already
fine-tuned teacher: the first student's runs build one teacher-logit cache per factor, which the other students'
runs copy (the recipe finds it by fingerprint). Prints accuracy, accuracy kept, the gain from augmentation and each
run's step timings (`augmentation_s`, `teacher_logits_s`, `distillation_s`, `total_s`: what augmentation adds end to
end).

    PYTHONPATH=benchmarks python benchmarks/archive/transfer_set.py --teacher bench-out/teacher --students linear \
        --factors 0 4 --extra --per_device_train_batch_size 128 --num_train_epochs 2
    # in-domain unlabeled text instead:
    PYTHONPATH=benchmarks python benchmarks/archive/transfer_set.py --teacher bench-out/teacher --students layers \
        --factors 0 --unlabeled_file ../shared/data/unlabeled/movie_review_sentences.txt
"""

import argparse
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from _sst2 import run_recipe as run_sst2_recipe


def run_recipe(args, student: str, factor: int, cache_from: str | None = None) -> dict:
    suffix = f"-{os.path.basename(args.unlabeled_file).split('.')[0]}" if args.unlabeled_file else ""
    name = f"{student}-augment{factor}{suffix}"
    output_dir = os.path.join(args.output_root, name)
    if cache_from and not os.path.isdir(os.path.join(output_dir, "_cache")):
        shutil.copytree(os.path.join(args.output_root, f"{cache_from}-augment{factor}{suffix}", "_cache"),
                        os.path.join(output_dir, "_cache"))
    flags = ["--teacher_model_name_or_path", args.teacher, "--student", student, "--augment_factor", str(factor),
             *(["--unlabeled_file", args.unlabeled_file] if args.unlabeled_file else []), *args.extra]
    results, wall_s = run_sst2_recipe(flags, output_dir, os.path.join(args.output_root, f"{name}.log"))
    run = {"student": student, "augment_factor": factor, "unlabeled_file": args.unlabeled_file, "wall_s": wall_s,
           "accuracy": results["student"]["accuracy"], "teacher_accuracy": results["teacher"]["accuracy"],
           "accuracy_kept": results["ratios"]["accuracy_kept"], "train_examples": results["train_examples"],
           "learning_rate": results["distillation"]["learning_rate"], "timings": results["timings"]}
    print(json.dumps(run), flush=True)
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="bench-out/teacher")
    parser.add_argument("--students", nargs="+", default=["linear", "layers", "compact"])
    parser.add_argument("--factors", nargs="+", type=int, default=[0, 4])
    parser.add_argument("--output_root", default="bench-out/transfer_set")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--unlabeled_file", default=None, help="unlabeled text added to every run's transfer set")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed to every recipe run")
    args = parser.parse_args()
    os.makedirs(args.output_root, exist_ok=True)

    first, others = args.students[0], args.students[1:]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda factor: run_recipe(args, first, factor), args.factors))
        plan = [(student, factor) for student in others for factor in args.factors]
        runs += list(pool.map(lambda run: run_recipe(args, *run, cache_from=first), plan))
    summary = {}
    for student in args.students:
        by_factor = {r["augment_factor"]: r for r in runs if r["student"] == student}
        base = by_factor.get(0)
        summary[student] = {
            str(f): {"accuracy": r["accuracy"], "accuracy_kept": r["accuracy_kept"],
                     "gain_points": 100 * (r["accuracy"] - base["accuracy"]) if base else None,
                     "added_s": r["timings"]["total_s"] - base["timings"]["total_s"] if base else None}
            for f, r in sorted(by_factor.items())
        }
    print(json.dumps(summary, indent=2))
    with open(os.path.join(args.output_root, "summary.json"), "w") as f:
        json.dump({"runs": runs, "summary": summary, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
