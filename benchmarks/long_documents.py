"""Long documents: accuracy and time of the recipe on whole movie reviews (../shared/data/movie_reviews_docs, median
~800 tokens, 84% over 512) at the old fixed max_seq_length of 64, at the length chosen from the data (512, the
model's positions) keeping each review's head, and at 512 keeping its head and tail (`--truncation_side middle`).

    python benchmarks/long_documents.py --output_root bench-out/long_documents

Each run fine-tunes its own teacher (the packaged MiniLM-L6 BERT, the recipe's defaults) and distils the 2-layer cut,
seed 0; `--extra` flags go to every run (default: no augmented copies, which would multiply the teacher's and the
student's work on 512-token inputs). Do not add `unlabeled/movie_review_sentences.txt`: it holds the test reviews.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import CONFIGS, run_recipe  # noqa: E402

RUNS = {
    "max_seq_length 64 (the old default)": ["--max_seq_length", "64", "--truncation_side", "right"],
    "from the data, keep the head": ["--truncation_side", "right"],
    "from the data, keep head and tail": ["--truncation_side", "middle"],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output_root", default="bench-out/long_documents")
    parser.add_argument("--runs", nargs="+", default=list(range(len(RUNS))), type=int, help="indices into RUNS")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=["--augment_factor", "0"])
    args = parser.parse_args()
    config = os.path.join(CONFIGS, "movie_reviews.yaml")
    print("| run | max_seq_length | train truncated | teacher acc | student acc | teacher fine-tuning s | "
          "distillation s | total s |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for index in args.runs:
        name, flags = list(RUNS.items())[index]
        output_dir = os.path.join(args.output_root, f"run{index}")
        os.makedirs(args.output_root, exist_ok=True)
        results, wall_s = run_recipe(flags + args.extra, output_dir, output_dir + ".log", config)
        truncation, timings = results["truncation"], results["timings"]
        print(f"| {name} | {truncation['max_seq_length']} | "
              f"{100 * truncation['splits']['train']['truncated_fraction']:.1f}% | "
              f"{100 * results['teacher']['accuracy']:.2f} | {100 * results['student']['accuracy']:.2f} | "
              f"{timings['teacher_fine_tuning_s']:.0f} | {timings['distillation_s']:.0f} | {wall_s:.0f} |", flush=True)
        with open(os.path.join(args.output_root, f"run{index}.json"), "w") as f:
            json.dump({"name": name, "flags": flags + args.extra, "truncation": truncation,
                       "teacher": results["teacher"], "student": results["student"], "timings": timings}, f, indent=2)


if __name__ == "__main__":
    main()
