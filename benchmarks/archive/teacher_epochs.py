"""How many epochs (and which learning rate) does the packaged MiniLM-L6 BERT need to pass 90% on SST-2?

Fine-tunes it with plain `transformers.Trainer` (dynamic padding, length-grouped or random batches, max length 64) and
evaluates on the 872 validation sentences after every epoch; keeps the final model for the student experiments.

    PYTHONPATH=benchmarks python benchmarks/archive/teacher_epochs.py --epochs 3 --learning_rate 5e-5 \\
        --output_dir bench-out/teacher
"""

import argparse
import json
import os
import time

import numpy as np
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

from _sst2 import load_sst2
from hfdistill.teachers import default_teacher



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampling", choices=["group_by_length", "random"], default="group_by_length")
    parser.add_argument("--evals_per_epoch", type=int, default=1)
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--model", default=default_teacher(), help="backbone folder or Hub name")
    parser.add_argument("--output_dir", default="bench-out/teacher")
    args = parser.parse_args()

    model_path = args.model
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    labels = {0: "negative", 1: "positive"}
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    data = load_sst2(tokenizer, max_train_samples=args.max_train_samples)
    training_args = TrainingArguments(
        output_dir=args.output_dir, num_train_epochs=args.epochs, learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128, warmup_steps=0.1,
        weight_decay=0.01, eval_strategy="steps", eval_steps=1 / (args.epochs * args.evals_per_epoch),
        save_strategy="no", logging_steps=200, seed=args.seed,
        report_to="none", train_sampling_strategy=args.sampling, disable_tqdm=True,
    )
    trainer = Trainer(
        model=model, args=training_args, train_dataset=data["train"], eval_dataset=data["validation"],
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())},
    )
    start = time.time()
    trainer.train()
    elapsed = time.time() - start
    trainer.save_model(args.output_dir)
    evals = [{"epoch": e["epoch"], "accuracy": e["eval_accuracy"]} for e in trainer.state.log_history
             if "eval_accuracy" in e]
    print(json.dumps({"args": vars(args), "train_s": elapsed, "evals": evals}), flush=True)
    with open(os.path.join(args.output_dir, "teacher_epochs.json"), "w") as f:
        json.dump({"args": vars(args), "train_s": elapsed, "evals": evals}, f, indent=2)


if __name__ == "__main__":
    main()
