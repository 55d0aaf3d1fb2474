"""Does GoEmotions' MiniLM teacher learn faster when its new classification head gets a larger learning rate?

Plain `transformers.Trainer` on the 43,410 GoEmotions training comments (28 labels, multi-hot, max length 64, batches
of 32 in random order, linear decay after 10% warmup, seed 0) for a fixed number of steps; AdamW with two parameter
groups: the pretrained body (``model.base_model_prefix``) at BODY_LR and everything else (the classifier, new) at
HEAD_LR. Prints macro- and micro-F1 on the 5,426 dev comments at thresholds 0.5 and 0.3.

    python benchmarks/goemotions_head_lr.py 1e-4 1e-4 400    # one learning rate for all
    python benchmarks/goemotions_head_lr.py 1e-4 2e-3 400    # head 20x faster
"""

import csv
import os
import sys
import tempfile
import time

import numpy as np
import torch
from datasets import Dataset
from sklearn.metrics import f1_score
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)

from hfdistill.teacher import default_teacher

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "goemotions")


def load(path):
    rows = list(csv.reader(open(path, encoding="utf-8-sig"), delimiter="\t", quoting=csv.QUOTE_NONE))
    y = np.zeros((len(rows), 28), dtype=np.float32)
    for i, r in enumerate(rows):
        for label in r[1].split(","):
            y[i, int(label)] = 1
    return [r[0] for r in rows], y


def main():
    body_lr, head_lr, steps = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    p = default_teacher()
    tok = AutoTokenizer.from_pretrained(p)

    def ds(path):
        t, y = load(path)
        d = Dataset.from_dict({"text": t, "labels": y.tolist()})
        return d.map(lambda b: tok(b["text"], truncation=True, max_length=64), batched=True, remove_columns=["text"])

    train, dev = ds(os.path.join(DATA, "train.tsv")), ds(os.path.join(DATA, "dev.tsv"))
    set_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(p, num_labels=28, problem_type="multi_label_classification")
    head = [q for n, q in model.named_parameters() if not n.startswith(model.base_model_prefix + ".")]
    body = [q for n, q in model.named_parameters() if n.startswith(model.base_model_prefix + ".")]
    opt = torch.optim.AdamW([{"params": body, "lr": body_lr}, {"params": head, "lr": head_lr}], lr=body_lr, weight_decay=0.0)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(scratch, per_device_train_batch_size=32, per_device_eval_batch_size=128, learning_rate=body_lr,
                                 warmup_steps=0.1, max_steps=steps, logging_steps=100, save_strategy="no", report_to=[], seed=0,
                                 disable_tqdm=True)
        tr = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tok), optimizers=(opt, None))
        t0 = time.time()
        tr.train()
        el = time.time() - t0
        logits = tr.predict(dev).predictions
    y = np.array(dev["labels"])
    for th in (0.5, 0.3):
        pred = (1 / (1 + np.exp(-logits)) > th)
        print(f"RESULT body_lr={body_lr} head_lr={head_lr} steps={steps} th={th} "
              f"macroF1={f1_score(y, pred, average='macro', zero_division=0):.4f} "
              f"microF1={f1_score(y, pred, average='micro', zero_division=0):.4f} train_s={el:.0f}", flush=True)


if __name__ == "__main__":
    main()
