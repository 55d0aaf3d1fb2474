"""Issue 5: what the teacher-logit cache saves. One process run, same batch size and sequence handling everywhere.

    python benchmarks/logit_cache_speed.py --teacher bench-out/teacher --output bench-out/logit_cache_speed.json

A: one epoch of plain fine-tuning of the student (no teacher); B: one epoch of distillation from cached logits;
C: one epoch of online distillation (teacher forward each step); D: building the cache. Plus the tutorial pattern
(teacher forward inside compute_loss, padding to max_length) for the 2-layer cut, and A/B/C for the linear student.
Prints B/A and the 3-epoch job speed-up 3C / (3B + D); ratios, not absolute times, are the result. A, B and C are
Trainer's train_runtime for the epoch (the loop, not the set-up before it); D is the whole cache build. A, B and C run
in turn `--repeats` times (the linear student's seconds-long epochs `--linear_repeats` times, as their timings vary
by tens of percent from one run to the next on a shared 2-core machine), C only in the first `--online_repeats`. A
and B run back to back in alternating order; B/A is the median of those pairs' ratios, the other ratios use median
times.
D is built `--cache_repeats` times, median, for the same reason.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

from _sst2 import load_sst2
from hfdistill import DistillationTrainer, DistillationTrainingArguments, StudentSpec
from hfdistill.teachers.logit_cache import add_teacher_logits
from hfdistill.students import KIND_DEFAULTS


def accuracy(p):
    return {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())}


class TutorialDistillationTrainer(Trainer):
    """The pattern tutorials teach: the teacher's forward pass inside compute_loss, every step."""

    def __init__(self, *args, teacher=None, temperature=2.0, alpha=0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher.to(self.args.device).eval()
        self.temperature, self.alpha = temperature, alpha

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        with torch.no_grad():
            teacher_logits = self.teacher(**{k: v for k, v in inputs.items() if k != "labels"}).logits
        t = self.temperature
        soft = F.kl_div(F.log_softmax(outputs.logits / t, -1), F.softmax(teacher_logits / t, -1),
                        reduction="batchmean") * t * t
        loss = self.alpha * soft + (1 - self.alpha) * outputs.loss
        return (loss, outputs) if return_outputs else loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="bench-out/teacher")
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=None, help="default: each student kind's own")
    parser.add_argument("--repeats", type=int, default=1, help="timed epochs of A, B and C each, for the 2-layer cut")
    parser.add_argument("--linear_repeats", type=int, default=9, help="the same for the linear student")
    parser.add_argument("--online_repeats", type=int, default=3,
                        help="of those repeats, how many also time C (B/A needs the most repeats; C is long)")
    parser.add_argument("--cache_repeats", type=int, default=3,
                        help="builds of the cache (D), each from scratch; median")
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 5], help="teacher layers the cut keeps")
    parser.add_argument("--freeze_word_embeddings", action="store_true",
                        help="students with frozen word embeddings (StudentSpec.freeze_word_embeddings), "
                             "in A, B and C alike")
    parser.add_argument("--kinds", nargs="+", default=["layers", "linear"], choices=["layers", "linear"],
                        help="students to time (D and the teacher's pure inference are measured either way)")
    parser.add_argument("--skip_tutorial", action="store_true")
    parser.add_argument("--output", default="bench-out/logit_cache_speed.json")
    args = parser.parse_args()
    torch.manual_seed(0)

    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    teacher = AutoModelForSequenceClassification.from_pretrained(args.teacher).eval()
    data = load_sst2(tokenizer, args.max_seq_length, args.max_train_samples)
    train, validation = data["train"], data["validation"]
    results = {"examples": len(train), "batch_size": args.batch_size, "threads": torch.get_num_threads()}
    scratch = tempfile.mkdtemp()

    def training_args(kind, **extra):
        common = dict(output_dir=scratch, num_train_epochs=1,
                      learning_rate=args.learning_rate or KIND_DEFAULTS["learning_rate"][kind], warmup_steps=0.1,
                      per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128, seed=0,
                      save_strategy="no", report_to="none", logging_steps=500, use_cpu=True, disable_tqdm=True,
                      train_sampling_strategy="group_by_length")
        common.update(extra)
        return common

    def timed(name, trainer):
        # An epoch is Trainer's own train_runtime: the training loop, without the set-up before it (optimizer, data
        # loader and sampler), which a 3-epoch job pays once, and where DistillationTrainer's Arrow-read lengths
        # would otherwise be counted against plain Trainer's row-by-row ones. The wall time is kept beside it.
        start = time.perf_counter()
        seconds = trainer.train().metrics["train_runtime"]
        run = {"seconds": seconds, "wall_seconds": time.perf_counter() - start,
               "accuracy": trainer.evaluate(validation)["eval_accuracy"]}
        print(json.dumps({name: run}), flush=True)
        results.setdefault(name, {"runs": []})["runs"].append(run)
        results[name]["seconds"] = statistics.median(r["seconds"] for r in results[name]["runs"])
        return seconds

    # D: the cache, built `--cache_repeats` times (each in a fresh folder, so it is built, not loaded), median; and
    # the teacher's pure inference speed for reference.
    builds = []
    for repeat in range(args.cache_repeats):
        start = time.perf_counter()
        cached, info = add_teacher_logits(train, teacher, tokenizer, os.path.join(scratch, f"cache{repeat}"),
                                          {"max_seq_length": args.max_seq_length}, batch_size=128)
        builds.append(time.perf_counter() - start)
    d_seconds = statistics.median(builds)
    results["D_cache_build"] = {"seconds": d_seconds, "runs": builds, "examples_per_second": len(train) / d_seconds}
    order = np.argsort([-len(x) for x in train["input_ids"]], kind="stable")
    collate = DataCollatorWithPadding(tokenizer)
    rows = train.select_columns(["input_ids", "attention_mask", "token_type_ids"])
    batches = [collate(rows.select(order[i:i + 128].tolist()).to_list()) for i in range(0, len(order), 128)]
    with torch.inference_mode():
        start = time.perf_counter()
        for batch in batches:
            teacher(**batch)
        pure = time.perf_counter() - start
    results["teacher_pure_inference"] = {"seconds": pure, "examples_per_second": len(train) / pure}
    print(json.dumps({k: results[k] for k in ("D_cache_build", "teacher_pure_inference")}), flush=True)

    specs = {"layers": StudentSpec("layers", layers=args.layers, freeze_word_embeddings=args.freeze_word_embeddings),
             "linear": StudentSpec("linear", embedding_dim=64, freeze_word_embeddings=args.freeze_word_embeddings)}
    builders = {kind: (lambda spec=spec: spec.build(teacher)) for kind, spec in specs.items()}
    for kind in args.kinds:
        build = builders[kind]
        collator = DataCollatorWithPadding(tokenizer)

        def plain(kind=kind, build=build, collator=collator):
            return timed(f"{kind}_A_plain", Trainer(
                model=build(), args=TrainingArguments(**training_args(kind)), train_dataset=train,
                data_collator=collator, compute_metrics=accuracy))

        def cached_run(kind=kind, build=build, collator=collator):
            return timed(f"{kind}_B_cached", DistillationTrainer(
                model=build(), teacher_model=teacher, args=DistillationTrainingArguments(**training_args(kind)),
                train_dataset=cached, data_collator=collator, compute_metrics=accuracy))

        pair_ratios = []
        repeats = args.linear_repeats if kind == "linear" else args.repeats
        for repeat in range(repeats):
            # A and B back to back, in alternating order, so that the machine's drift cancels out of each pair.
            if repeat % 2 == 0:
                a_seconds, b_seconds = plain(), cached_run()
            else:
                b_seconds, a_seconds = cached_run(), plain()
            pair_ratios.append(b_seconds / a_seconds)
            if repeat < args.online_repeats or repeat == 0:
                timed(f"{kind}_C_online", DistillationTrainer(
                    model=build(), teacher_model=teacher, args=DistillationTrainingArguments(**training_args(kind)),
                    train_dataset=train, data_collator=collator, compute_metrics=accuracy))
        a, b, c = (results[f"{kind}_{x}"]["seconds"] for x in ("A_plain", "B_cached", "C_online"))
        d = results["D_cache_build"]["seconds"]
        results[f"{kind}_ratios"] = {
            "B_over_A": statistics.median(pair_ratios), "B_over_A_pairs": pair_ratios, "B_over_A_of_medians": b / a,
            "job_speedup_3_epochs": 3 * c / (3 * b + d),
            "accuracy_cached_minus_online_points": 100 * (results[f"{kind}_B_cached"]["runs"][0]["accuracy"]
                                                          - results[f"{kind}_C_online"]["runs"][0]["accuracy"])}
        print(json.dumps({f"{kind}_ratios": results[f"{kind}_ratios"]}), flush=True)
        if kind == "layers" and not args.skip_tutorial:
            fixed = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=args.max_seq_length)
            seconds = timed("layers_tutorial", TutorialDistillationTrainer(
                model=build(), args=TrainingArguments(**training_args(kind, train_sampling_strategy="random")),
                train_dataset=train, data_collator=fixed, compute_metrics=accuracy, teacher=teacher))
            results["layers_ratios"]["tutorial_job_speedup_3_epochs"] = 3 * seconds / (3 * b + d)
    results["cache_vs_pure_inference"] = (results["D_cache_build"]["examples_per_second"]
                                          / results["teacher_pure_inference"]["examples_per_second"])
    print(json.dumps(results, indent=2))
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
