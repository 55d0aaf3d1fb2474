"""Time the README's main job end to end (issue 16: under 30 minutes on two CPU cores, at the same accuracy).

Runs the main command as a subprocess, timing it from launch to exit, then prints each step's wall time and the
final figures from ``OUTPUT_DIR/results.json`` (``timings``, teacher and student accuracy, throughput ratio), and one
JSON line with all of it:

    python benchmarks/main_job.py --output_dir out/sst2_timed
    python benchmarks/main_job.py --output_dir out/bf16_off --extra --cpu_bf16 false
    python benchmarks/main_job.py --without_unlabeled --output_dir out/quick --extra --max_train_samples 4000 \
        --teacher_num_train_epochs 1 --num_train_epochs 1                      # the README's quick mode
    python benchmarks/main_job.py --output_dir out/any -- accelerate launch recipes/sst2.py --output_dir out/any ...

``--extra`` flags are appended to the recipe command; a command after ``--`` replaces it (it must write to
``--output_dir``). Run it on a quiet machine: the timings are what it is for. A reused teacher or logit cache in
``output_dir`` makes the run shorter, so start from an empty ``output_dir`` (``--fresh`` deletes it first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "sst2.py"
UNLABELED = REPO.parent / "shared" / "data" / "unlabeled" / "movie_review_sentences.txt"
STEPS = ("augmentation_s", "teacher_fine_tuning_s", "teacher_logits_s", "distillation_s", "evaluation_s", "profiling_s",
         "total_s")


def main_command(output_dir: str, extra: list[str], unlabeled: bool = True) -> list[str]:
    """The README's main command (`accelerate launch --num_cpu_threads_per_process $(nproc) recipes/sst2.py ...
    --unlabeled_file ../shared/data/unlabeled/movie_review_sentences.txt`)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--num_cpu_threads_per_process", str(os.cpu_count()),
            str(RECIPE), "--output_dir", output_dir, "--class_names", "negative", "positive",
            *(["--unlabeled_file", str(UNLABELED)] if unlabeled else []), *extra]


def summary(results: dict, wall_s: float, command: list[str]) -> dict:
    """What the issue asks about, from results.json: step times, accuracies, throughput ratio, and the settings."""
    return {
        "wall_s": wall_s,
        "timings": {step: results.get("timings", {}).get(step) for step in STEPS},
        "teacher_accuracy": results["teacher"]["accuracy"],
        "student_accuracy": results["student"]["accuracy"],
        "accuracy_kept": results["ratios"]["accuracy_kept"],
        "throughput_speedup": results["ratios"]["throughput_speedup"],
        "teacher_source": results.get("teacher_source", {}).get("source"),
        "teacher_logits": {k: (results.get("teacher_logits") or {}).get(k) for k in ("source", "processes")},
        "precision": results.get("precision"),
        "command": command,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="out/sst2_main_job")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags appended to the recipe command")
    parser.add_argument("--without_unlabeled", action="store_true",
                        help="leave out the unlabeled movie-review sentences (the quick mode: augmented copies only)")
    parser.add_argument("--fresh", action="store_true", help="delete output_dir first (no reused teacher or cache)")
    argv = sys.argv[1:]
    own, command = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, None)
    args = parser.parse_args(own)
    if args.fresh and os.path.isdir(args.output_dir):
        shutil.rmtree(args.output_dir)
    command = command or main_command(args.output_dir, args.extra, unlabeled=not args.without_unlabeled)
    results_path = Path(args.output_dir) / "results.json"
    if results_path.exists():
        results_path.unlink()  # so that a failed run cannot report an earlier run's figures
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    # This checkout's hfdistill, whichever checkout the environment's editable install points to.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    run = subprocess.run(command, env=env)
    wall_s = time.perf_counter() - start
    if run.returncode != 0 or not results_path.exists():
        sys.exit(f"The command failed (exit status {run.returncode}) after {wall_s:.0f} s; no {results_path}.")
    figures = summary(json.loads(results_path.read_text()), wall_s, command)
    print(f"\nend to end: {wall_s:,.1f} s ({wall_s / 60:.1f} min)")
    for step, seconds in figures["timings"].items():
        print(f"  {step:<24}{'-' if seconds is None else f'{seconds:,.1f} s':>12}")
    print(f"teacher accuracy {100 * figures['teacher_accuracy']:.2f}%, "
          f"student {100 * figures['student_accuracy']:.2f}% "
          f"({100 * figures['accuracy_kept']:.1f}% kept), student throughput {figures['throughput_speedup']:.2f}x the "
          f"teacher's; teacher {figures['teacher_source']}, logits {figures['teacher_logits']}, "
          f"precision {figures['precision']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
