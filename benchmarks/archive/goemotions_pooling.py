"""Does GoEmotions' MiniLM teacher learn faster through the mean of its token states than through BERT's pooler?

Plain `transformers.Trainer` on the 43,410 GoEmotions training comments (28 labels, multi-hot, max length 64, batches
of 32 in random order, AdamW at LR with linear decay after 10% warmup, seed 0, bf16 autocast where the CPU supports
it) for STEPS steps, the packaged MiniLM under the head that `--teacher_classifier_pooling POOLING` fine-tunes
(``cls``: `BertForSequenceClassification`; ``mean``: `hfdistill.MeanPoolingBertForSequenceClassification`). Prints the
training loss and macro-/micro-F1 on the 5,426 dev comments at thresholds 0.5 and 0.3. Run from the repository root
(recipes/configs/goemotions.yaml's paths are relative to it).

    PYTHONPATH=benchmarks python benchmarks/archive/goemotions_pooling.py cls 1e-4 400
    PYTHONPATH=benchmarks python benchmarks/archive/goemotions_pooling.py mean 1e-4 400
"""

import os
import sys
import tempfile
import time

import numpy as np
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

from hfdistill.evaluation.metrics import multi_label_scores
from hfdistill.precision import cpu_supports_bf16
from hfdistill.teachers import default_teacher, new_classifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import load_config_task  # noqa: E402


def main():
    pooling, learning_rate, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    backbone = default_teacher()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    task, splits = load_config_task("goemotions", tokenizer)
    train, dev = splits["train"], splits["validation"]
    label_map = task.label_map
    set_seed(0)
    model = new_classifier(backbone, pooling, num_labels=label_map.num_labels, id2label=label_map.id2label,
                           label2id=label_map.label2id, problem_type=label_map.problem_type)
    bf16 = cpu_supports_bf16()
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(scratch, per_device_train_batch_size=32, per_device_eval_batch_size=128,
                                 learning_rate=learning_rate, warmup_steps=0.1, max_steps=steps, logging_steps=100,
                                 save_strategy="no", report_to=[], seed=0, disable_tqdm=True, use_cpu=True, bf16=bf16)
        trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer))
        start = time.time()
        output = trainer.train()
        seconds = time.time() - start
        model.float().eval()  # score in fp32
        logits = trainer.predict(dev).predictions
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    references = np.array(dev["labels"])
    for threshold in (0.5, 0.3):
        scores = multi_label_scores(np.asarray(logits, dtype=np.float32), references, threshold=threshold)
        print(f"RESULT pooling={pooling} lr={learning_rate} steps={steps} bf16={bf16} threshold={threshold} "
              f"macro_f1={scores['f1_macro']:.4f} micro_f1={scores['f1_micro']:.4f} last_logged_loss={losses[-1]:.4f} "
              f"train_loss={output.training_loss:.4f} train_s={seconds:.0f}", flush=True)


if __name__ == "__main__":
    main()
