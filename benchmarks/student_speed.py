"""CPU speed of the teacher and each student kind, measured alone (nothing else running), as the recipe reports it.

Builds each student from the teacher with the recipe's default sizes (weights do not change the speed) and prints
`model_stats` (parameters, disk size, latency at batch 1, throughput at batch 32) on the SST-2 validation sentences,
plus the speed-up of each student over the teacher.

    python benchmarks/student_speed.py --teacher bench-out/teacher
"""

import argparse
import json

import torch
from transformers import AutoTokenizer

from _sst2 import SST2
from hfdistill import model_stats
from hfdistill.data import load_files
from hfdistill.students import StudentSpec
from hfdistill.teachers import load_teacher


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="bench-out/teacher")
    parser.add_argument("--students", nargs="+", default=["layers", "compact", "linear"])
    parser.add_argument("--max_seq_length", type=int, default=64)
    args = parser.parse_args()

    teacher = load_teacher(args.teacher)
    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    texts = load_files({"validation": f"{SST2}/validation.tsv"})["validation"]["sentence"]
    teacher_stats = model_stats(teacher, tokenizer, texts, args.max_seq_length)
    rows = {"teacher": teacher_stats.to_dict()}
    for kind in args.students:
        torch.manual_seed(0)
        stats = model_stats(StudentSpec(kind).build(teacher), tokenizer, texts, args.max_seq_length)
        rows[kind] = {**stats.to_dict(),
                      "throughput_speedup": stats.throughput_batch32 / teacher_stats.throughput_batch32,
                      "latency_speedup": teacher_stats.latency_ms_batch1 / stats.latency_ms_batch1}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
