"""The benchmarks' data and recipe runs: SST-2 from ../shared/data/sst2 (or $SST2_DIR), a recipe config's task, both
tokenized with the library's own loading; `recipes/sst2.py` in a subprocess."""

import json
import os
import subprocess
import sys
import time

import yaml
from datasets import DatasetDict

from hfdistill.data import load_files, tokenize
from hfdistill.data.task_data import TaskData, TaskDataArguments, load_task

SST2 = os.environ.get("SST2_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                                  "data", "sst2")
# The movie-review sentences without labels (../shared/data/README.md) that unlabeled-text runs add.
UNLABELED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "unlabeled",
                         "movie_review_sentences.txt")


def load_sst2(tokenizer, max_seq_length: int = 64, max_train_samples: int | None = None) -> DatasetDict:
    """`train` (its first ``max_train_samples`` rows, if given) and `validation`, with `labels`, unpadded."""
    data = load_files({"train": f"{SST2}/train.tsv", "validation": f"{SST2}/validation.tsv"})
    if max_train_samples:
        data["train"] = data["train"].select(range(max_train_samples))
    data = data.map(lambda b: tokenizer(b["sentence"], truncation=True, max_length=max_seq_length), batched=True)
    return data.rename_column("label", "labels").remove_columns("sentence")


CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes", "configs")


def load_config_task(name: str, tokenizer) -> tuple[TaskData, DatasetDict]:
    """The task that recipes/configs/``name``.yaml names, read as the recipe reads it, and its `train` and `validation`
    splits tokenized at the config's `max_seq_length` (with `labels`, unpadded). The config's paths are relative to
    the repository root: run from there."""
    with open(os.path.join(CONFIGS, f"{name}.yaml")) as f:
        config = yaml.safe_load(f)
    task = load_task(TaskDataArguments(**{k: v for k, v in config.items()
                                          if k in TaskDataArguments.__dataclass_fields__}))
    splits = DatasetDict({split: tokenize(task.data[split], tokenizer, task.text_column, config["max_seq_length"],
                                          text_pair_column=task.text_pair_column) for split in ("train", "validation")})
    return task, splits


RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes", "sst2.py")


def run_recipe(flags: list[str], output_dir: str, log_path: str, config: str | None = None) -> tuple[dict, float]:
    """Run `recipes/sst2.py` with ``flags`` into ``output_dir`` (output to ``log_path``); its results.json, wall time.
    Without ``config`` (a recipe config file, e.g. recipes/configs/mrpc.yaml) it runs SST-2."""
    start = time.perf_counter()
    task = [config] if config else ["--class_names", "negative", "positive"]
    with open(log_path, "w") as log:
        subprocess.run([sys.executable, RECIPE, *task, "--output_dir", output_dir, "--disable_tqdm", "true", *flags],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
    with open(os.path.join(output_dir, "results.json")) as f:
        return json.load(f), time.perf_counter() - start
