"""Small helpers shared across hfdistill, none of which imports `transformers.Trainer`: model signatures, Arrow
lengths, position limits, vocabulary fingerprints, checkpoints, one value per model."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
import time
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn
from transformers.trainer_utils import has_length


def vocabulary_fingerprint(tokenizer) -> str:
    """SHA-256 of a tokenizer's token-to-id map (``get_vocab()``, added tokens included): equal fingerprints mean
    equal ids for every token. Two tokenizers of the same size can still map tokens to other ids."""
    vocabulary = tokenizer.get_vocab()
    return hashlib.sha256(json.dumps(sorted(vocabulary.items(), key=lambda item: item[1])).encode()).hexdigest()


def one_per(value, count: int, what: str, whose: str = "teachers") -> list:
    """``value`` once for each of ``count`` models: a list or tuple is one per model (a list of one is shared, like a
    single value). Raises ``ValueError`` naming ``what`` for a list of another length."""
    if not isinstance(value, (list, tuple)):
        return [value] * count
    if len(value) == 1:
        return list(value) * count
    if len(value) != count:
        raise ValueError(f"{len(value)} values of {what} for {count} {whose}: give one for each, in the order of the "
                         f"{whose}, or a single one that all share.")
    return list(value)


def position_limit(model: nn.Module) -> int | None:
    """The longest input, in tokens, that ``model``'s position table can embed; ``None`` when it has none.

    ``config.max_position_embeddings`` minus the offset of models that number positions after the padding index
    (RoBERTa, XLM-R, CamemBERT: 514 positions, 512 tokens), read from the position embedding's ``padding_idx``.
    """
    config = getattr(model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not limit or getattr(config, "position_embedding_type", "absolute") not in ("absolute", None):
        return None  # relative or rotary positions have no table to run past
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    positions = getattr(embeddings, "position_embeddings", None)
    padding_idx = getattr(positions, "padding_idx", None)
    return limit - (padding_idx + 1) if isinstance(padding_idx, int) else limit


def arrow_lengths(dataset, column: str) -> list[int] | None:
    """The length of each row's ``column`` list, read from Arrow without decoding any row; ``None`` when ``dataset``
    is not a `datasets.Dataset` or ``column`` is not a list column."""
    if not isinstance(dataset, datasets.Dataset) or column not in dataset.column_names:
        return None
    values = dataset.with_format("arrow")[column]  # through the indices mapping, so selections and shuffles hold
    if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)
            or pa.types.is_fixed_size_list(values.type)):
        return None
    return pc.list_value_length(values).to_pylist()


def row_lengths(dataset, column: str) -> list[int] | None:
    """Each row's number of tokens in ``column``: from Arrow offsets for a `datasets.Dataset`, by reading the rows of
    a map-style dataset of dicts otherwise; ``None`` when the rows cannot be read before training (iterable)."""
    if isinstance(dataset, datasets.Dataset):
        return arrow_lengths(dataset, column)
    if not has_length(dataset) or not hasattr(dataset, "__getitem__"):
        return None
    lengths = []
    for index in range(len(dataset)):
        row = dataset[index]
        if not isinstance(row, dict) or column not in row:
            return None
        lengths.append(len(row[column]))
    return lengths


def forward_arg_names(model: nn.Module) -> set[str]:
    """The named arguments of `model.forward` (not `**kwargs`, which would swallow any column)."""
    parameters = inspect.signature(model.forward).parameters.values()
    return {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def column_names(dataset) -> list[str] | None:
    """A dataset's columns, or the keys of its first row; ``None`` when they cannot be known before training."""
    if dataset is None:
        return None
    if getattr(dataset, "column_names", None) is not None:
        return list(dataset.column_names)
    try:
        example = dataset[0]
    except Exception:  # iterable or opaque datasets: nothing to inspect before training
        return None
    return list(example) if isinstance(example, dict) else None


def batch_size(batch: dict[str, Any]) -> int:
    """The number of examples in a collated batch (the first dimension of its first tensor)."""
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    raise ValueError(f"Cannot tell the batch size: no tensor in the batch (keys: {sorted(batch)}).")


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` in ``output_dir`` that was written to the end (its trainer_state.json, which Trainer
    writes last, parses), or ``None``. A run killed while checkpointing leaves a newer, incomplete folder behind."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted(
        (int(match.group(1)), name)
        for name in os.listdir(output_dir)
        if (match := re.fullmatch(r"checkpoint-(\d+)", name)) and os.path.isdir(os.path.join(output_dir, name))
    )
    for _, name in reversed(steps):
        try:
            with open(os.path.join(output_dir, name, "trainer_state.json")) as f:
                json.load(f)
        except (OSError, ValueError):
            continue
        return os.path.join(output_dir, name)
    return None


def resume_checkpoint(value: str | bool | None, output_dir: str) -> str | bool | None:
    """`Trainer.train`'s ``resume_from_checkpoint`` with ``True`` (or ``"true"``/``"last"`` from a command line) read as
    the last *complete* checkpoint in ``output_dir``; ``ValueError`` when there is none."""
    if isinstance(value, str) and value.lower() in ("true", "last"):
        value = True
    if value is True:
        value = last_complete_checkpoint(output_dir)
        if value is None:
            raise ValueError(f"No complete checkpoint in {output_dir} to resume from: check --output_dir, or drop "
                             "--resume_from_checkpoint to start afresh.")
    return value


def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or not, counting shared (tied) tensors once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


class StepTimes(dict):
    """Wall time of each step of a run, in seconds by name (``"distillation_s"``), as results.json records them::

        times = StepTimes()
        with times.step("distillation_s"):
            trainer.train()
    """

    def __init__(self):
        super().__init__()
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def step(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = time.perf_counter() - start

    def total(self) -> float:
        """Seconds since this object was made."""
        return time.perf_counter() - self.start
