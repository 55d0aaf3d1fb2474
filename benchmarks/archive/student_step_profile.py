"""Issue 5: where a training step of the 2-layer cut goes, against the teacher's forward pass in inference mode.

The cached job's speed-up over online distillation is at most 1 + t/s, t the teacher's forward pass and s the
student's whole step, so this prints both, per batch, on the same length-grouped SST-2 batches (run it alone):

    PYTHONPATH=benchmarks python benchmarks/archive/student_step_profile.py --teacher bench-out/teacher_gpu

Rows: the student as Trainer trains it (fused AdamW, gradient clipping), then the same with the word embeddings frozen,
and with bf16 autocast; levers that make s smaller, each measured, none a default.
"""

import argparse
import json
import time

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from _sst2 import load_sst2
from hfdistill import student_from_teacher


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="bench-out/teacher")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 5])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    torch.manual_seed(0)

    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher).eval()
    train = load_sst2(tokenizer, max_train_samples=4000)["train"]
    # Batches as group_by_length makes them: similar lengths together, in a random order.
    order = np.argsort([-len(ids) for ids in train["input_ids"]], kind="stable")
    groups = [order[i:i + args.batch_size].tolist() for i in range(0, len(order), args.batch_size)]
    np.random.default_rng(0).shuffle(groups)
    collate = DataCollatorWithPadding(tokenizer)
    batches = [collate(train.select(group).to_list()) for group in groups[:args.batches]]
    results = {"threads": torch.get_num_threads(), "batch_size": args.batch_size, "batches": len(batches)}

    with torch.inference_mode():
        start = time.perf_counter()
        for batch in batches:
            teacher(**{k: v for k, v in batch.items() if k != "labels"})
    results["teacher_forward_ms"] = 1e3 * (time.perf_counter() - start) / len(batches)

    def student_step(name, freeze_word_embeddings=False, bf16=False):
        student = student_from_teacher(teacher, layers=args.layers).train()
        if freeze_word_embeddings:
            student.get_input_embeddings().requires_grad_(False)
        parameters = [p for p in student.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=1e-4, fused=True)  # Trainer's default optimizer
        forward = backward = step = 0.0
        for batch in batches:
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = student(**batch).loss
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            t3 = time.perf_counter()
            forward, backward, step = forward + t1 - t0, backward + t2 - t1, step + t3 - t2
        n = len(batches)
        row = {"forward_ms": 1e3 * forward / n, "backward_ms": 1e3 * backward / n, "optimizer_ms": 1e3 * step / n}
        row["step_ms"] = sum(row.values())
        row["bound_1_plus_t_over_s"] = 1 + results["teacher_forward_ms"] / row["step_ms"]
        results[name] = row
        print(json.dumps({name: row}), flush=True)

    student_step("student")
    student_step("student_frozen_word_embeddings", freeze_word_embeddings=True)
    student_step("student_bf16_autocast", bf16=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
