"""Which learning rate does the linear student need? (It learns nothing at the transformers' 1e-4.)

Builds the teacher-logit cache once, then trains `linear_student` for each learning rate, distilled (alpha 0.5) and
on hard labels (alpha 0), and prints SST-2 validation accuracy.

    PYTHONPATH=benchmarks python benchmarks/archive/linear_student_lr.py --teacher bench-out/teacher \\
        --max_train_samples 16000
"""

import argparse
import json

import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from _sst2 import load_sst2
from hfdistill import DistillationTrainer, DistillationTrainingArguments, linear_student
from hfdistill.teachers.logit_cache import add_teacher_logits



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="bench-out/teacher")
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--learning_rates", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--embedding_dim", type=int, default=64)
    parser.add_argument("--output", default="bench-out/linear_student_lr.json")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher).eval()
    data = load_sst2(tokenizer, 64, args.max_train_samples)
    train, _ = add_teacher_logits(data["train"], teacher, tokenizer, "bench-out/linear_lr_cache",
                                  {"max_seq_length": 64})
    runs = []
    for lr in args.learning_rates:
        for alpha in args.alphas:
            for seed in args.seeds:
                training_args = DistillationTrainingArguments(
                    output_dir="bench-out/linear_lr_run", alpha=alpha, learning_rate=lr, num_train_epochs=args.epochs,
                    per_device_train_batch_size=32, per_device_eval_batch_size=256, warmup_steps=0.1, seed=seed,
                    save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, logging_steps=1000,
                    train_sampling_strategy="group_by_length")
                trainer = DistillationTrainer(
                    model=linear_student(teacher, embedding_dim=args.embedding_dim), teacher_model=teacher,
                    args=training_args, train_dataset=train, eval_dataset=data["validation"],
                    data_collator=DataCollatorWithPadding(tokenizer),
                    compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())})
                trainer.train()
                runs.append({"learning_rate": lr, "alpha": alpha, "seed": seed,
                             "accuracy": trainer.evaluate()["eval_accuracy"]})
                print(json.dumps(runs[-1]), flush=True)
    with open(args.output, "w") as f:
        json.dump({"args": vars(args), "runs": runs}, f, indent=2)


if __name__ == "__main__":
    main()
