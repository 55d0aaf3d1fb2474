"""Text-classification data for hfdistill: local files (CSV, TSV, JSON lines, text; gzip; with or without a header)
or Hub datasets; single texts or sentence pairs; single-label, multi-label or regression labels; all checked before
training. See `files` (reading), `tasks` (columns, task shape, labels) and `transfer` (transfer sets)."""

from __future__ import annotations

from datasets import Dataset, DatasetDict, load_dataset

from .collator import TEACHER_INPUT_PREFIX
from .lengths import (TRUNCATION_SIDES, check_max_length, cut_middle, length_limit, report_transfer_lengths,
                      resolve_max_length)
from .files import check_required_fields, data_format, file_encoding, load_files, row_line_numbers
from .tasks import (
    TEXT_COLUMN_DEFAULTS, TEXT_PAIR_COLUMN_DEFAULTS, LabelMap, build_label_map, encode_labels, infer_problem_type,
    resolve_text_column, resolve_text_columns, unlabeled_value,
)
from .transfer import TransferSetArguments, build_transfer_set, load_unlabeled
from .task_data import TaskData, TaskDataArguments, load_task, read_class_names

__all__ = [
    "LabelMap", "TaskData", "add_teacher_inputs", "tokenize_views", "with_teacher_view",
    "TaskDataArguments", "TEXT_COLUMN_DEFAULTS", "TEXT_PAIR_COLUMN_DEFAULTS",
    "TransferSetArguments", "build_label_map",
    "build_transfer_set", "check_required_fields", "data_format", "encode_labels", "file_encoding",
    "infer_problem_type",
    "load_files", "load_task", "load_text_classification", "load_unlabeled", "read_class_names", "resolve_text_column",
    "report_transfer_lengths", "resolve_max_length", "resolve_text_columns", "row_line_numbers", "tokenize",
    "unlabeled_value",
]


def load_text_classification(
    train_file: str | None = None,
    validation_file: str | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    encoding: str = "utf-8",
    column_names: list[str] | None = None,
) -> DatasetDict:
    """A DatasetDict with `train` and `validation` splits (their first N rows, if limited), from files (read in
    ``encoding``; ``column_names`` for CSV/TSV files without a header) or the Hub."""
    data = _load_splits(train_file, validation_file, dataset_name, dataset_config_name, encoding, column_names)
    for split, limit in (("train", max_train_samples), ("validation", max_eval_samples)):
        if limit is not None:
            if limit < 1:
                raise ValueError(f"max_{'train' if split == 'train' else 'eval'}_samples must be >= 1, got {limit}.")
            data[split] = data[split].select(range(min(limit, len(data[split]))))
    return data


def _load_splits(train_file, validation_file, dataset_name, dataset_config_name, encoding="utf-8",
                 column_names=None) -> DatasetDict:
    if dataset_name is not None:
        data = load_dataset(dataset_name, dataset_config_name)
        missing = {"train", "validation"} - set(data)
        if missing:
            raise ValueError(f"{dataset_name} has splits {sorted(data)}; the recipe needs 'train' and 'validation'.")
        return DatasetDict({"train": data["train"], "validation": data["validation"]})
    if train_file is None or validation_file is None:
        raise ValueError("Pass --train_file and --validation_file (CSV, TSV or JSON lines), or --dataset_name.")
    return load_files({"train": train_file, "validation": validation_file}, encoding, column_names)


def tokenize(
    dataset: Dataset, tokenizer, text_column: str, max_seq_length: int, keep: tuple[str, ...] = ("labels",),
    model_config=None, text_pair_column: str | None = None, truncation_side: str = "right",
) -> Dataset:
    """Tokenize without padding (batches are padded to their longest example by the collator); a sentence pair as
    ``tokenizer(text, text_pair)`` (``[CLS] a [SEP] b [SEP]`` with ``token_type_ids`` for BERT), truncating the longer
    text first.

    ``max_seq_length`` is checked against the tokenizer's limit and, given ``model_config``, the model's positions
    (``ValueError`` naming the largest that fits). ``truncation_side`` (see `hfdistill.data.lengths`): what a longer
    text keeps, its head (``"right"``), its tail (``"left"``) or both ends (``"middle"``, single texts only).
    """
    check_max_length(max_seq_length, length_limit(tokenizer, [model_config] if model_config is not None else []))
    if truncation_side not in TRUNCATION_SIDES:
        raise ValueError(f"truncation_side must be one of {', '.join(TRUNCATION_SIDES)}, got {truncation_side!r}.")
    if truncation_side == "middle" and text_pair_column is not None:
        raise ValueError("--truncation_side middle cuts the middle of one text; a sentence pair has two. Use 'right' "
                         "or 'left'.")
    drop = [column for column in dataset.column_names if column not in keep]

    def encode(batch):
        pairs = batch[text_pair_column] if text_pair_column is not None else None
        if truncation_side == "middle":
            encoded = tokenizer(batch[text_column], truncation=False, verbose=False)
            return cut_middle(dict(encoded), max_seq_length, tokenizer.num_special_tokens_to_add(pair=False))
        side, tokenizer.truncation_side = tokenizer.truncation_side, truncation_side
        try:
            return tokenizer(batch[text_column], pairs, truncation=True, max_length=max_seq_length)
        finally:
            tokenizer.truncation_side = side

    return dataset.map(encode, batched=True, remove_columns=drop, desc="Tokenizing")


def add_teacher_inputs(dataset: Dataset, teacher_view: Dataset) -> Dataset:
    """``dataset`` (tokenized by the student's tokenizer) with the teacher's tokenization of the same rows, from
    ``teacher_view`` (the same rows tokenized by the teacher's), as ``teacher_input_ids``, ``teacher_attention_mask``
    (and ``teacher_token_type_ids``) columns: what a teacher whose tokenizer is not the student's reads, while the
    student reads ``input_ids``. Raises ``ValueError`` when the two do not hold the same number of rows."""
    if len(dataset) != len(teacher_view):
        raise ValueError(f"The teacher's tokenization has {len(teacher_view)} rows and the student's {len(dataset)}: "
                         "tokenize the same rows with each tokenizer.")
    for column in ("input_ids", "attention_mask", "token_type_ids"):
        if column in teacher_view.column_names:
            dataset = dataset.add_column(TEACHER_INPUT_PREFIX + column, teacher_view[column])
    return dataset


def tokenize_views(splits: dict, tokenizer, teacher_tokenizer, text_column: str, max_seq_length: int,
                   text_pair_column: str | None = None, truncation_side: str = "right", model_config=None,
                   mask_token: str | None = None) -> tuple[dict, dict | list[dict]]:
    """``(views, teacher_views)``: each of ``splits`` tokenized by the student's ``tokenizer`` (see `tokenize`) and,
    when the teacher's ``teacher_tokenizer`` maps tokens to other ids, by the teacher's too, with the same
    ``max_seq_length`` rule; else the teacher's views are the student's. ``model_config`` (the teacher's) bounds
    ``max_seq_length`` by its positions. ``teacher_tokenizer`` may be a list (an ensemble's teachers, each with its
    own tokenizer): ``teacher_views`` then maps each split to a list of views in the teachers' order (one
    tokenization per distinct vocabulary; a teacher of the student's vocabulary gets the student's view).
    ``mask_token``: the mask string augmented copies were written with (the first teacher's); a tokenizer whose own
    mask token is another string (``<mask>`` against ``[MASK]``) reads its own in its place, not the other's
    characters."""
    from ..utils import vocabulary_fingerprint

    def views_of(tokenizer_, config):
        own_mask = getattr(tokenizer_, "mask_token", None) or getattr(tokenizer_, "unk_token", None)
        columns = [column for column in (text_column, text_pair_column) if column]

        def own_masks(dataset):
            if not mask_token or own_mask in (None, mask_token):
                return dataset
            return dataset.map(lambda batch: {c: [t.replace(mask_token, own_mask) if isinstance(t, str) else t
                                                  for t in batch[c]] for c in columns}, batched=True,
                               desc="Mask tokens")

        return {name: tokenize(own_masks(dataset), tokenizer_, text_column, max_seq_length, model_config=config,
                               text_pair_column=text_pair_column, truncation_side=truncation_side)
                for name, dataset in splits.items()}

    several = isinstance(teacher_tokenizer, (list, tuple))
    teacher_tokenizers = list(teacher_tokenizer) if several else [teacher_tokenizer]
    fingerprint = vocabulary_fingerprint(tokenizer)
    shared = any(each is tokenizer or vocabulary_fingerprint(each) == fingerprint for each in teacher_tokenizers)
    by_vocabulary = {fingerprint: views_of(tokenizer, model_config if shared else None)}
    for each in teacher_tokenizers:
        key = fingerprint if each is tokenizer else vocabulary_fingerprint(each)
        if key not in by_vocabulary:
            by_vocabulary[key] = views_of(each, model_config)
    teacher_views = [by_vocabulary[fingerprint if each is tokenizer else vocabulary_fingerprint(each)]
                     for each in teacher_tokenizers]
    if not several:
        return by_vocabulary[fingerprint], teacher_views[0]
    return by_vocabulary[fingerprint], {split: [views[split] for views in teacher_views] for split in splits}


def with_teacher_view(dataset: Dataset, teacher_view: Dataset) -> Dataset:
    """``dataset`` (the student's tokenization) with what the view of the same rows by a teacher of another tokenizer
    carries for distillation: its ``teacher_logits`` column when it has one, else its tokenization as ``teacher_*``
    columns (`add_teacher_inputs`)."""
    from .collator import TEACHER_LOGITS_COLUMN

    if TEACHER_LOGITS_COLUMN in teacher_view.column_names:
        return dataset.add_column(TEACHER_LOGITS_COLUMN, teacher_view[TEACHER_LOGITS_COLUMN])
    return add_teacher_inputs(dataset, teacher_view)
