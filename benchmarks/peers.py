"""hfdistill against the tools users pick instead (issue 16), on one distillation job that all four can run.

The job: the same fine-tuned teacher, the same 2-layer cut of it (saved once, so every tool starts from the same
weights), the first 16,000 rows of SST-2's train.tsv, batch 32, max length 64, T = 2, alpha 0.5 (half cross-entropy
on the gold label, half T^2 KL to the teacher), learning rate 1e-4 with a linear decay, one epoch, 2 threads. Each
tool runs in its own process; accuracy is computed afterwards by the same fp32 code on SST-2 validation (872 rows).

- hfdistill: the recipe as a user runs it (`recipes/sst2.py`, teacher used as is, its defaults otherwise: bf16 autocast
  on a CPU with native bf16, a cached bf16 teacher-logit pass, length-grouped batches, frozen word embeddings in the
  cut); timed = the teacher-logit pass plus the training loop (results.json's `teacher_logits_s` + `distillation_s`).
- tutorial: the `Trainer` subclass of the Hugging Face distillation tutorials (teacher forward on every batch under
  `no_grad`, `KLDivLoss(batchmean)` on log-softmax/softmax at T, times T^2; P. Schmid, "Task-specific knowledge
  distillation for BERT using Transformers", and the transformers docs' knowledge-distillation guide).
- textbrewer (0.2.1.post1): `BasicDistiller`, `kd_loss_type="ce"` (same gradient as the KL) weighted alpha * T^2 and the
  model's own cross-entropy weighted 1 - alpha, as in TextBrewer's examples.
- torchdistill (1.1.5): `get_distillation_box` with its `KDLoss` (alpha CE + (1 - alpha) T^2 KL) on the classifier's
  output, configured as its `examples/hf_transformers` SST-2 KD sample.

The peers run at their own defaults (fp32, random batch order, dynamic padding via DataCollatorWithPadding) and the
timed part is their training call. Their environment is a virtual environment with the peers installed (created if
missing: torch 2.13.0 from the local index, this environment's transformers):

    python benchmarks/peers.py --teacher out/sst2/teacher --output_dir out/peers
    python benchmarks/peers.py --teacher out/sst2/teacher --output_dir out/peers --tools hfdistill tutorial
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared" / "data" / "sst2"
TOOLS = ("hfdistill", "tutorial", "textbrewer", "torchdistill")
PEERS = ("textbrewer==0.2.1.post1", "torchdistill==1.1.5")
JOB = {"rows": 16000, "batch_size": 32, "max_length": 64, "temperature": 2.0, "alpha": 0.5, "learning_rate": 1e-4,
       "epochs": 1, "threads": 2, "seed": 0}


def read_sst2(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """``(sentences, labels)`` of an SST-2 TSV (header ``sentence\\tlabel``, no quoting), the first ``limit`` rows."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:limit] if limit else rows
    return [r[0] for r in rows], [int(r[1]) for r in rows]


def tokenized(tokenizer, path: Path, limit: int | None = None):
    from datasets import Dataset
    texts, labels = read_sst2(path, limit)
    return Dataset.from_dict({"sentence": texts, "labels": labels}).map(
        lambda b: tokenizer(b["sentence"], truncation=True, max_length=JOB["max_length"]), batched=True,
        remove_columns=["sentence"])


def accuracy(model, tokenizer) -> float:
    """fp32 accuracy on SST-2 validation, the same code for every tool."""
    import torch
    from transformers import DataCollatorWithPadding
    data = tokenized(tokenizer, SST2 / "validation.tsv")
    collate = DataCollatorWithPadding(tokenizer)
    model = model.float().eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(data), 128):
            batch = collate(data.select(range(start, min(start + 128, len(data)))).to_list())
            labels = batch.pop("labels")
            correct += int((model(**batch).logits.argmax(-1) == labels).sum())
    return correct / len(data)


def models(teacher_dir: str, student_dir: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval()
    student = AutoModelForSequenceClassification.from_pretrained(student_dir)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return tokenizer, teacher, student


def run_tutorial(teacher_dir, student_dir, out):
    import torch
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    class TutorialDistillationTrainer(Trainer):
        def __init__(self, *args, teacher_model=None, temperature=2.0, alpha=0.5, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher, self.temperature, self.alpha = teacher_model.to(self.args.device), temperature, alpha

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs)
            with torch.no_grad():
                teacher_logits = self.teacher(**inputs).logits
            t = self.temperature
            soft = F.kl_div(F.log_softmax(outputs.logits / t, -1), F.softmax(teacher_logits / t, -1),
                            reduction="batchmean") * t ** 2
            loss = self.alpha * outputs.loss + (1 - self.alpha) * soft
            return (loss, outputs) if return_outputs else loss

    tokenizer, teacher, student = models(teacher_dir, student_dir)
    train = tokenized(tokenizer, SST2 / "train.tsv", JOB["rows"])
    args = TrainingArguments(out, per_device_train_batch_size=JOB["batch_size"], learning_rate=JOB["learning_rate"],
                             num_train_epochs=JOB["epochs"], save_strategy="no", eval_strategy="no", report_to="none",
                             logging_steps=100, seed=JOB["seed"], disable_tqdm=True)
    trainer = TutorialDistillationTrainer(model=student, args=args, train_dataset=train, teacher_model=teacher,
                                          temperature=JOB["temperature"], alpha=JOB["alpha"],
                                          data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "loop_s": seconds, "accuracy": accuracy(trainer.model, tokenizer)}


def run_textbrewer(teacher_dir, student_dir, out):
    import torch
    from textbrewer import BasicDistiller, DistillationConfig, TrainingConfig
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    tokenizer, teacher, student = models(teacher_dir, student_dir)
    train = tokenized(tokenizer, SST2 / "train.tsv", JOB["rows"])
    pad = DataCollatorWithPadding(tokenizer)
    loader = DataLoader(train, batch_size=JOB["batch_size"], shuffle=True, collate_fn=lambda rows: dict(pad(rows)))
    t = JOB["temperature"]
    distiller = BasicDistiller(
        train_config=TrainingConfig(device="cpu", output_dir=out, log_dir=os.path.join(out, "logs")),
        distill_config=DistillationConfig(temperature=t, kd_loss_type="ce", kd_loss_weight=JOB["alpha"] * t ** 2,
                                          hard_label_weight=1 - JOB["alpha"]),
        model_T=teacher, model_S=student,
        adaptor_T=lambda batch, outputs: {"logits": outputs.logits},
        adaptor_S=lambda batch, outputs: {"logits": outputs.logits, "losses": outputs.loss})
    optimizer = torch.optim.AdamW(student.parameters(), lr=JOB["learning_rate"])
    start = time.perf_counter()
    with distiller:
        distiller.train(optimizer, loader, num_epochs=JOB["epochs"], scheduler_class=get_linear_schedule_with_warmup,
                        scheduler_args={"num_warmup_steps": 0, "num_training_steps": len(loader) * JOB["epochs"]})
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "loop_s": seconds, "accuracy": accuracy(student, tokenizer)}


def run_torchdistill(teacher_dir, student_dir, out):
    import torch
    from torch.utils.data import RandomSampler
    from torchdistill.core.distillation import get_distillation_box
    from torchdistill.datasets.registry import register_collate_func
    from torchdistill.optim.registry import register_scheduler
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    tokenizer, teacher, student = models(teacher_dir, student_dir)
    train = tokenized(tokenizer, SST2 / "train.tsv", JOB["rows"])
    register_collate_func(DataCollatorWithPadding(tokenizer))
    register_scheduler(get_linear_schedule_with_warmup)
    steps = -(-len(train) // JOB["batch_size"]) * JOB["epochs"]
    loader = {"dataset_id": "sst2/train", "sampler": {"class_or_func": RandomSampler, "kwargs": {}},
              "kwargs": {"batch_size": JOB["batch_size"], "num_workers": 0}, "collate_fn": "DataCollatorWithPadding",
              "requires_supp": False}
    model_config = {"forward_proc": "forward_batch_only_as_kwargs", "sequential": [], "frozen_modules": [],
                    "forward_hook": {"input": [], "output": ["classifier"]}}
    train_config = {
        "log_freq": 500, "num_epochs": JOB["epochs"], "train_data_loader": loader,
        "teacher": {**model_config, "requires_grad": False}, "student": {**model_config, "requires_grad": True},
        "optimizer": {"key": "AdamW", "kwargs": {"lr": JOB["learning_rate"], "weight_decay": 0.0},
                      "filters_params": True, "max_grad_norm": 1.0, "grad_accum_step": 1},
        "scheduler": {"key": "get_linear_schedule_with_warmup",
                      "kwargs": {"num_warmup_steps": 0, "num_training_steps": steps}, "scheduling_step": 1},
        "criterion": {"key": "WeightedSumLoss", "kwargs": {"sub_terms": {"kd": {"criterion": {
            "key": "KDLoss", "kwargs": {
                "student_module_path": "classifier", "student_module_io": "output", "teacher_module_path": "classifier",
                "teacher_module_io": "output", "temperature": JOB["temperature"], "alpha": JOB["alpha"],
                "reduction": "batchmean"}}, "weight": 1.0}}}},
    }
    start = time.perf_counter()
    # No accelerator: torchdistill 1.1.5 reads `AcceleratorState.use_fp16`, which accelerate 1.x no longer has.
    box = get_distillation_box(teacher, student, {"sst2/train": train}, train_config, torch.device("cpu"), None, False,
                               1)
    for epoch in range(box.num_epochs):  # torchdistill's own epoch loop (examples/hf_transformers)
        box.pre_epoch_process(epoch=epoch)
        for batch in box.train_data_loader:
            loss = box.forward_process(batch, targets=batch["labels"], supp_dict=None)
            box.post_forward_process(loss=loss)
        box.post_epoch_process()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "loop_s": seconds, "accuracy": accuracy(student, tokenizer)}


def run_hfdistill(teacher_dir, student_dir, out, flags=()):
    """The recipe, as a user runs it (plus ``flags``); the student is the recipe's own cut (the same weights as
    ``student_dir``)."""
    command = [sys.executable, str(REPO / "recipes" / "sst2.py"), "--teacher_model_name_or_path", teacher_dir,
               "--output_dir", out, "--class_names", "negative", "positive", "--max_train_samples", str(JOB["rows"]),
               "--augment_factor", "0", "--num_train_epochs", str(JOB["epochs"]),
               "--learning_rate", str(JOB["learning_rate"]), "--temperature", str(JOB["temperature"]),
               "--alpha", str(JOB["alpha"]), "--max_seq_length", str(JOB["max_length"]),
               "--per_device_train_batch_size", str(JOB["batch_size"]), "--seed", str(JOB["seed"]),
               "--eval_strategy", "no", "--save_strategy", "no", "--disable_tqdm", "true", *flags]
    results_path = Path(out) / "results.json"
    if results_path.exists():
        results_path.unlink()
    # the logit pass is part of the job: never a cache from an earlier run
    for cache in (Path(out) / "_cache").glob("*"):
        cache.unlink()
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    results = json.loads(results_path.read_text())
    timings = results["timings"]
    return {"seconds": timings["teacher_logits_s"] + timings["distillation_s"], "logits_s": timings["teacher_logits_s"],
            "loop_s": timings["distillation_s"], "accuracy": results["student"]["accuracy"]}


def torchvision_without_its_compiled_ops() -> None:
    """Let `import torchvision` succeed in the peers' environment. torchdistill imports torchvision's models, and
    transformers imports torchvision when it is installed; PyPI's torchvision 0.28.0 (the release for torch 2.13) is a
    CUDA build whose compiled ops cannot load beside the CPU build of torch, and its `_meta_registrations` then fails
    on import. Neither peer uses those ops (detection kernels), so that module is skipped."""
    import types
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


def save_cut(teacher_dir: str, student_dir: str) -> None:
    """The 2-layer cut every tool starts from: hfdistill's `student_from_teacher` (layers 0 and 5 of 6), saved."""
    sys.path.insert(0, str(REPO))
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from hfdistill.students import student_from_teacher
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    student_from_teacher(teacher, num_layers=2).save_pretrained(student_dir)
    AutoTokenizer.from_pretrained(teacher_dir).save_pretrained(student_dir)


def ensure_peers_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        import transformers
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0",
                        f"transformers=={transformers.__version__}", "accelerate", "datasets", *PEERS], check=True)
    return python


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True, help="a fine-tuned teacher folder (e.g. out/sst2/teacher)")
    parser.add_argument("--output_dir", default="out/peers")
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--peers_venv", default=str(REPO.parent / "peers-venv"))
    parser.add_argument("--hfdistill_flags", default="", help="recipe flags added to hfdistill's run, e.g. "
                        "'--student_freeze_word_embeddings false'")
    parser.add_argument("--seed", type=int, default=JOB["seed"], help="every tool's seed (batch order, dropout)")
    parser.add_argument("--rows", type=int, default=JOB["rows"], help="training rows (fewer only for a smoke test)")
    parser.add_argument("--run", choices=TOOLS, help=argparse.SUPPRESS)  # one tool, in this process
    args = parser.parse_args()
    JOB["rows"], JOB["seed"] = args.rows, args.seed
    out = Path(args.output_dir).resolve()
    student_dir = str(out / "student_init")
    if args.run:
        if args.run != "hfdistill":
            torchvision_without_its_compiled_ops()
        import torch
        torch.manual_seed(JOB["seed"])
        torch.set_num_threads(JOB["threads"])
        extra = {"flags": args.hfdistill_flags.split()} if args.run == "hfdistill" else {}
        figures = globals()[f"run_{args.run}"](str(Path(args.teacher).resolve()), student_dir, str(out / args.run),
                                               **extra)
        print("RESULT " + json.dumps({"tool": args.run, **figures}), flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    save_cut(args.teacher, student_dir)
    peers_python = None
    rows = []
    for tool in args.tools:
        python = (sys.executable if tool == "hfdistill"
                  else str(peers_python or ensure_peers_venv(Path(args.peers_venv))))
        env = {**os.environ, "OMP_NUM_THREADS": str(JOB["threads"]), "TOKENIZERS_PARALLELISM": "false",
               "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([python, __file__, "--teacher", args.teacher, "--output_dir", str(out), "--run", tool,
                               "--rows", str(args.rows), "--seed", str(args.seed),
                               "--hfdistill_flags=" + args.hfdistill_flags],
                              env=env, capture_output=True, text=True)
        (out / f"{tool}.log").write_text(done.stdout + done.stderr)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            sys.exit(f"{tool} failed (exit {done.returncode}); see {out / f'{tool}.log'}:\n{done.stderr[-3000:]}")
        rows.append(json.loads(lines[-1].removeprefix("RESULT ")))
        if tool == "hfdistill" and args.hfdistill_flags:
            rows[-1]["flags"] = args.hfdistill_flags
        print(json.dumps(rows[-1]), flush=True)
    ours = next((r for r in rows if r["tool"] == "hfdistill"), None)
    print("\n| tool | job time | of which teacher logits | training loop | accuracy | hfdistill faster by |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = f"{r['seconds'] / ours['seconds']:.2f}x" if ours and r is not ours else "-"
        logits = f"{r['logits_s']:.1f} s" if "logits_s" in r else "(online)"
        print(f"| {r['tool']} | {r['seconds']:.1f} s | {logits} | {r['loop_s']:.1f} s | {100 * r['accuracy']:.2f}% | "
              f"{ratio} |")
    (out / "peers.json").write_text(json.dumps({"job": JOB, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
