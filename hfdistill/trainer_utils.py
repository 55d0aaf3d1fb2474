"""Helpers shared by hfdistill's trainers and recipe: evaluation in dataset order and checks before training."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn
from torch.utils.data import SequentialSampler
from transformers.trainer_utils import has_length


class DatasetOrderEvaluationMixin:
    """Put before `transformers.Trainer` in a subclass's bases: `evaluate`/`predict` batches come in dataset order.

    transformers 5.x builds the *evaluation* sampler as a shuffled `LengthGroupedSampler` whenever
    ``train_sampling_strategy="group_by_length"``, so ``trainer.predict(ds).predictions[i]`` is not row ``i`` of
    ``ds`` (metrics stay right because ``label_ids`` are permuted alike). Length grouping is a training-speed
    choice; predictions must line up with their rows. One process reads sequentially; several processes get no
    sampler, so accelerate shards batches in order and ``gather_for_metrics`` restores it (Trainer's own choice
    for the distributed case).
    """

    def _get_eval_sampler(self, eval_dataset) -> torch.utils.data.Sampler | None:
        if eval_dataset is None or not has_length(eval_dataset):
            return None
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


def vocabulary_fingerprint(tokenizer) -> str:
    """SHA-256 of a tokenizer's token-to-id map (``get_vocab()``, added tokens included): equal fingerprints mean
    equal ids for every token. Two tokenizers of the same size can still map tokens to other ids."""
    vocabulary = tokenizer.get_vocab()
    return hashlib.sha256(json.dumps(sorted(vocabulary.items(), key=lambda item: item[1])).encode()).hexdigest()


def check_same_vocabulary(tokenizer, teacher_tokenizer, where: str = "") -> None:
    """Raise ``ValueError`` unless both tokenizers map every token to the same id (the teacher reads the student's
    ``input_ids``). Names the first tokens whose ids differ."""
    if vocabulary_fingerprint(tokenizer) == vocabulary_fingerprint(teacher_tokenizer):
        return
    vocabulary, teacher_vocabulary = tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    differing = sorted(
        (token for token in set(vocabulary) | set(teacher_vocabulary) if vocabulary.get(token) != teacher_vocabulary.get(token)),
        key=lambda token: min(vocabulary.get(token, 1 << 62), teacher_vocabulary.get(token, 1 << 62)),
    )
    shown = ", ".join(f"{token!r}: {vocabulary.get(token)} vs {teacher_vocabulary.get(token)}" for token in differing[:5])
    raise ValueError(
        f"The tokenizer{where} and the teacher's tokenizer map tokens to different ids ({len(differing)} tokens differ, "
        f"e.g. {shown}; sizes {len(vocabulary)} and {len(teacher_vocabulary)}), so the teacher would read other words "
        "than the student. Tokenize the data with the teacher's tokenizer (the one saved in the teacher's folder)."
    )


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
    if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type) or pa.types.is_fixed_size_list(values.type)):
        return None
    return pc.list_value_length(values).to_pylist()


def _row_lengths(dataset, column: str) -> list[int] | None:
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


def check_input_lengths(dataset, models: Iterable[tuple[str, nn.Module]], split: str, column: str = "input_ids") -> None:
    """Raise ``ValueError`` when an input of ``dataset`` is longer than a model's position table (it would die inside
    the forward pass with a tensor-size error), naming the row, its length, the model and the fix."""
    limits = [(name, limit) for name, model in models if model is not None and (limit := position_limit(model))]
    if not limits or dataset is None:
        return
    lengths = _row_lengths(dataset, column)
    if not lengths:
        return
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    for name, limit in limits:
        if lengths[longest] > limit:
            too_long = sum(length > limit for length in lengths)
            raise ValueError(
                f"The {split} set has {too_long} input(s) longer than the {name}'s {limit} positions "
                f"(max_position_embeddings); the longest is row {longest} with {lengths[longest]} tokens. Tokenize with "
                f"truncation, e.g. `tokenizer(texts, truncation=True, max_length={limit})`."
            )
