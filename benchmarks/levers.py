"""Each speed lever of issue 16 alone, then all together: time and accuracy of the README's main command.

Every variant runs `benchmarks/main_job.py --fresh --without_unlabeled` (teacher fine-tuned anew, logits computed
anew) at the quick mode's scale by default (4,000 labeled rows plus 16,000 augmented copies, one teacher epoch, one
student epoch), one after the other on an otherwise idle machine, and prints a Markdown table:

    python benchmarks/levers.py --output_root out/levers
    python benchmarks/levers.py --output_root out/levers --variants none bf16_training all --scale ""   # full size

"none" is the old default (fp32 everywhere, random teacher batches); each other variant turns one lever on from it;
"all" is the recipe's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

OLD = ["--cpu_bf16", "false", "--teacher_inference_dtype", "float32", "--teacher_train_sampling_strategy", "random"]
VARIANTS = {
    "none": OLD,
    "bf16_training": ["--cpu_bf16", "true", "--teacher_inference_dtype", "float32",
                      "--teacher_train_sampling_strategy", "random"],
    "bf16_teacher_logits": ["--cpu_bf16", "false", "--teacher_inference_dtype", "bfloat16",
                            "--teacher_train_sampling_strategy", "random"],
    "length_window": ["--cpu_bf16", "false", "--teacher_inference_dtype", "float32",
                      "--teacher_train_sampling_strategy", "length_window"],
    "frozen_teacher_embeddings": [*OLD, "--teacher_freeze_word_embeddings", "true"],
    "all": [],
}
QUICK = "--max_train_samples 4000 --teacher_num_train_epochs 1 --num_train_epochs 1"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_root", default="out/levers")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--scale", default=QUICK, help="flags for every variant (default: the quick mode's)")
    args = parser.parse_args()
    main_job = os.path.join(os.path.dirname(os.path.abspath(__file__)), "main_job.py")
    rows = []
    for name in args.variants:
        output_dir = os.path.join(args.output_root, name)
        done = subprocess.run([sys.executable, main_job, "--fresh", "--without_unlabeled", "--output_dir", output_dir,
                               "--extra", *args.scale.split(), *VARIANTS[name]], capture_output=True, text=True)
        with open(output_dir + ".log", "w") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode:
            sys.exit(f"{name} failed; see {output_dir}.log")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((name, figures))
        print(json.dumps({"variant": name, **figures}), flush=True)
    print("\n| lever | end to end | teacher fine-tuning | teacher logits | distillation | teacher | student |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, f in rows:
        t = f["timings"]
        print(f"| {name} | {f['wall_s']:.1f} s | {t['teacher_fine_tuning_s']:.1f} s | {t['teacher_logits_s']:.1f} s | "
              f"{t['distillation_s']:.1f} s | {100 * f['teacher_accuracy']:.2f}% | "
              f"{100 * f['student_accuracy']:.2f}% |")


if __name__ == "__main__":
    main()
