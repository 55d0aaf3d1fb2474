"""What the teacher-logit cache's row reuse saves when unlabeled text joins the labeled rows.

A teacher's logits over SST-2's 67,349 labeled rows are cached (as a run on the labeled rows alone leaves them); then
over the transfer set the recipe builds with ``--unlabeled_file`` (the labeled rows plus 64,076 movie-review sentences):
the second cache reads the labeled rows from the first and computes only the new ones. Prints both passes' seconds,
the rows reused, and the largest difference between the reused logits and a fresh pass over a sample of them (in
other batches: the rounding a fresh pass would show anyway), and how often their argmax agrees. Writes JSON.

    python benchmarks/logit_cache_reuse.py --teacher bench-out/any_teacher/alone-seed0/teacher \\
        --output_dir bench-out/logit_cache_reuse
"""

import argparse
import json
import os
import shutil
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import SST2, UNLABELED  # noqa: E402

from hfdistill.data import build_transfer_set, load_files, tokenize  # noqa: E402
from hfdistill.teachers.logit_cache import add_teacher_logits, compute_teacher_logits  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True, help="A fine-tuned SST-2 teacher folder.")
    parser.add_argument("--output_dir", default="bench-out/logit_cache_reuse")
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--sample", type=int, default=2000, help="Reused rows checked against a fresh pass.")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher)
    labeled = load_files({"train": f"{SST2}/train.tsv"})["train"].rename_column("label", "labels")
    transfer, info = build_transfer_set(labeled, "sentence", UNLABELED)
    rows = tokenize(transfer, tokenizer, "sentence", args.max_seq_length)
    cache_dir = os.path.join(args.output_dir, "_cache")
    shutil.rmtree(cache_dir, ignore_errors=True)
    kwargs = dict(batch_size=args.batch_size, dtype=args.dtype, show_progress=False)
    extra = {"max_seq_length": args.max_seq_length}
    _, first = add_teacher_logits(rows.select(range(info["labeled"])), teacher, tokenizer, cache_dir,
                                  {**extra, "transfer_set": {**info, "unlabeled": 0}}, **kwargs)
    with_logits, second = add_teacher_logits(rows, teacher, tokenizer, cache_dir, {**extra, "transfer_set": info},
                                             **kwargs)
    sample = torch.randperm(info["labeled"], generator=torch.Generator().manual_seed(0))[:args.sample].tolist()
    fresh = compute_teacher_logits(teacher, rows.select(sample), tokenizer, **kwargs)
    stored = torch.tensor(with_logits.select(sample)["teacher_logits"])
    result = {"teacher": args.teacher, "dtype": args.dtype, "threads": torch.get_num_threads(),
              "labeled_rows": info["labeled"], "unlabeled_rows": info["unlabeled"],
              "first_pass_s": first["seconds"], "second_pass_s": second["seconds"],
              "reused_rows": second["reused_rows"],
              "sampled_rows": len(sample), "max_abs_diff": float((fresh - stored).abs().max()),
              "same_argmax": float((fresh.argmax(-1) == stored.argmax(-1)).float().mean())}
    print(json.dumps(result, indent=2))
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
