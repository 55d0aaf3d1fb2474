"""Does GoEmotions' MiniLM teacher learn faster when its new classification head gets a larger learning rate?

Plain `transformers.Trainer` on the 43,410 GoEmotions training comments (28 labels, multi-hot, max length 64, batches
of 32 in random order, linear decay after 10% warmup, seed 0) for a fixed number of steps; AdamW with two parameter
groups: the pretrained body (``model.base_model_prefix``) at BODY_LR and everything else (the classifier, new) at
HEAD_LR. Prints macro- and micro-F1 on the 5,426 dev comments at thresholds 0.5 and 0.3. The data are read as the
recipe reads them (recipes/configs/goemotions.yaml, whose paths are relative to the repository root: run it from there).

    PYTHONPATH=benchmarks python benchmarks/archive/goemotions_head_lr.py 1e-4 1e-4 400    # one learning rate for all
    PYTHONPATH=benchmarks python benchmarks/archive/goemotions_head_lr.py 1e-4 2e-3 400    # head 20x faster
"""

import os
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)

from hfdistill.evaluation.metrics import multi_label_scores
from hfdistill.teachers import default_teacher

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import load_config_task  # noqa: E402


def main():
    body_lr, head_lr, steps = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    p = default_teacher()
    tok = AutoTokenizer.from_pretrained(p)
    _, splits = load_config_task("goemotions", tok)
    train, dev = splits["train"], splits["validation"]
    set_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(p, num_labels=28,
                                                               problem_type="multi_label_classification")
    head = [q for n, q in model.named_parameters() if not n.startswith(model.base_model_prefix + ".")]
    body = [q for n, q in model.named_parameters() if n.startswith(model.base_model_prefix + ".")]
    opt = torch.optim.AdamW([{"params": body, "lr": body_lr}, {"params": head, "lr": head_lr}], lr=body_lr,
                            weight_decay=0.0)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(scratch, per_device_train_batch_size=32, per_device_eval_batch_size=128,
                                 learning_rate=body_lr, warmup_steps=0.1, max_steps=steps, logging_steps=100,
                                 save_strategy="no", report_to=[], seed=0, disable_tqdm=True)
        tr = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tok),
                     optimizers=(opt, None))
        t0 = time.time()
        tr.train()
        el = time.time() - t0
        logits = tr.predict(dev).predictions
    y = np.array(dev["labels"])
    for th in (0.5, 0.3):
        scores = multi_label_scores(logits, y, threshold=th)
        print(f"RESULT body_lr={body_lr} head_lr={head_lr} steps={steps} th={th} macroF1={scores['f1_macro']:.4f} "
              f"microF1={scores['f1_micro']:.4f} train_s={el:.0f}", flush=True)


if __name__ == "__main__":
    main()
