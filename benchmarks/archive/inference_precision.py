"""Teacher inference on the CPU in fp32, under bf16 autocast, and with bf16 weights: seconds per batch (issue 16).

The teacher-logit pass runs the packaged MiniLM-L6 teacher over the transfer set in batches of 128 length-sorted rows;
this times one such batch at two lengths (14 tokens: SST-2's length-grouped batches; 40: its random batches):

    python benchmarks/archive/inference_precision.py [--batch_size 128] [--lengths 14 40] [--repeats 10]
"""

import argparse
import time

import torch
from transformers import AutoModelForSequenceClassification

from hfdistill.teachers import default_teacher


def seconds_per_batch(model, input_ids, autocast: bool, repeats: int) -> float:
    attention_mask = torch.ones_like(input_ids)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        model(input_ids=input_ids, attention_mask=attention_mask)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(input_ids=input_ids, attention_mask=attention_mask)
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lengths", nargs="+", type=int, default=[14, 40])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    fp32 = AutoModelForSequenceClassification.from_pretrained(default_teacher(), num_labels=2).eval()
    bf16 = AutoModelForSequenceClassification.from_pretrained(default_teacher(), num_labels=2,
                                                              dtype=torch.bfloat16).eval()
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch_size}")
    for length in args.lengths:
        input_ids = torch.randint(1000, 20000, (args.batch_size, length), generator=torch.Generator().manual_seed(0))
        base = seconds_per_batch(fp32, input_ids, False, args.repeats)
        autocast = seconds_per_batch(fp32, input_ids, True, args.repeats)
        weights = seconds_per_batch(bf16, input_ids, False, args.repeats)
        print(f"{length} tokens: fp32 {base:.3f} s, bf16 autocast {autocast:.3f} s ({base / autocast:.2f}x), "
              f"bf16 weights {weights:.3f} s ({base / weights:.2f}x)")


if __name__ == "__main__":
    main()
