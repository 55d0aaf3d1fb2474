"""Unlabeled sentence pairs for MRPC's and RTE's transfer sets (issue 17: can new pairs carry the teacher further?).

Writes JSON-lines files for `--unlabeled_file`, with the task's own column names:
- mrpc_swap.jsonl: MRPC's training pairs with their two sentences swapped (a paraphrase is one either way round);
- mrpc_cross.jsonl: STS-B's training pairs both ways round and RTE's training pairs;
- mrpc_swap_cross.jsonl: both of the above;
- rte_cross.jsonl: MRPC's and STS-B's training pairs, both ways round.
A pair is left out when either sentence is in the target task's dev set (STS-B's MSRpar pairs come from MRPC), so no
dev sentence reaches the student through the teacher.

    python benchmarks/archive/pair_transfer_sets.py --data_dir ../shared/data --output_dir bench-out/pairs
    python benchmarks/task_sweep.py --task mrpc --teacher bench-out/mrpc_s0/teacher \\
        --output_root bench-out/sweep_mrpc --runs "cross=--unlabeled_file bench-out/pairs/mrpc_cross.jsonl"
"""

import argparse
import json
import os

from hfdistill.data import load_files

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
MRPC_COLUMNS = ("#1 String", "#2 String")
RTE_COLUMNS = ("sentence1", "sentence2")


def read_pairs(path: str, columns: tuple[str, str]) -> list[tuple[str, str]]:
    """The (first, second) texts of a GLUE TSV file, read as the recipe reads it (`hfdistill.data.load_files`); an
    empty field is an empty text."""
    rows = load_files({"pairs": path})["pairs"]
    return [(first or "", second or "") for first, second in zip(rows[columns[0]], rows[columns[1]])]


def both_ways(pairs):
    return pairs + [(second, first) for first, second in pairs]


def write(path: str, pairs, columns: tuple[str, str], held_out: set[str]) -> None:
    kept = [(a, b) for a, b in pairs if a.strip() and b.strip()
            and a.strip().lower() not in held_out and b.strip().lower() not in held_out]
    with open(path, "w", encoding="utf-8") as f:
        for first, second in kept:
            f.write(json.dumps({columns[0]: first, columns[1]: second}) + "\n")
    print(f"{path}: {len(kept)} pairs ({len(pairs) - len(kept)} left out: empty, or a sentence of the dev set)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_dir", default=DATA)
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    mrpc = read_pairs(os.path.join(args.data_dir, "mrpc", "train.tsv"), MRPC_COLUMNS)
    stsb = read_pairs(os.path.join(args.data_dir, "stsb", "train.tsv"), RTE_COLUMNS)
    rte = read_pairs(os.path.join(args.data_dir, "rte", "train.tsv"), RTE_COLUMNS)
    dev_sentences = {}
    for task, columns in (("mrpc", MRPC_COLUMNS), ("rte", RTE_COLUMNS)):
        dev_pairs = read_pairs(os.path.join(args.data_dir, task, "dev.tsv"), columns)
        dev_sentences[task] = {text.strip().lower() for pair in dev_pairs for text in pair}
    swapped = [(second, first) for first, second in mrpc]
    cross = both_ways(stsb) + rte
    write(os.path.join(args.output_dir, "mrpc_swap.jsonl"), swapped, MRPC_COLUMNS, dev_sentences["mrpc"])
    write(os.path.join(args.output_dir, "mrpc_cross.jsonl"), cross, MRPC_COLUMNS, dev_sentences["mrpc"])
    write(os.path.join(args.output_dir, "mrpc_swap_cross.jsonl"), swapped + cross, MRPC_COLUMNS, dev_sentences["mrpc"])
    write(os.path.join(args.output_dir, "rte_cross.jsonl"), both_ways(mrpc) + both_ways(stsb), RTE_COLUMNS,
          dev_sentences["rte"])


if __name__ == "__main__":
    main()
