"""The checks of the data against the models and settings (see `hfdistill.checks`)."""

from __future__ import annotations

from collections.abc import Iterable

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn

from ..data.collator import TEACHER_LOGITS_COLUMN
from ..data.tasks import is_list_feature
from ..losses import resolve_class_weights
from ..problem_types import SINGLE_LABEL
from ..utils import column_names, position_limit, row_lengths

_LABEL_COLUMNS = ("label", "labels", "label_ids")


def check_data(args, problem_type: str, student, models, weights, train_dataset, eval_sets: dict, input_names,
               stored_logits_required: bool) -> tuple:
    """The training and evaluation data against the models and settings: inputs the models read, label shapes, the
    class weights (``args.class_weights``), stored teacher logits (every row, one per class, one list per teacher).
    Returns ``(class_weights, teacher_weights)``: the hard term's (C,) weights or ``None``, and the ensemble's
    normalised weights (inferred from stored logits of K teachers when there is no teacher model)."""
    from ..teachers.ensemble import normalized_weights

    check_train_dataset(train_dataset, input_names, args.remove_unused_columns)
    num_labels = getattr(getattr(student, "config", None), "num_labels", None)
    class_weights = check_class_weights(args.class_weights, problem_type, train_dataset, num_labels)
    for split, dataset in {"training": train_dataset, **eval_sets}.items():
        check_label_shape(dataset, split, num_labels, problem_type)
    teacher_weights = normalized_weights(weights, len(models)) if models else weights
    expected = len(models) or (len(weights) if weights else None)
    per_row = check_stored_teacher_logits(train_dataset, num_labels, stored_logits_required, expected)
    if per_row and not models and teacher_weights is None:
        teacher_weights = normalized_weights(None, per_row)
    return class_weights, teacher_weights


def check_class_weights(class_weights, problem_type: str, dataset, num_labels: int | None) -> torch.Tensor | None:
    """(C,) weights of the hard term from ``class_weights`` (see `hfdistill.losses.resolve_class_weights`; ``"auto"``
    reads the training set's ``labels``), or ``None``. Raises ``ValueError`` for a task shape without classes to
    weigh, or ``"auto"`` without labels to count."""
    if class_weights is None:
        return None
    if problem_type != SINGLE_LABEL:
        raise ValueError(f"class_weights weigh the classes of a single-label task; this is a {problem_type} task: "
                         "leave class_weights out.")
    labels = dataset["labels"] if "labels" in (column_names(dataset) or []) else None
    if class_weights == "auto" and labels is None:
        raise ValueError("class_weights='auto' counts the training set's labels, and it has no 'labels' column: give "
                         "one weight per class instead.")
    return torch.tensor(resolve_class_weights(class_weights, labels or [], num_labels), dtype=torch.float32)


def check_train_dataset(dataset, input_names: set[str], remove_unused_columns: bool = True) -> None:
    """The training set must hold rows, and inputs one of the models reads (tokenized text), not raw text alone."""
    columns = column_names(dataset)
    if columns is None:
        return
    if hasattr(dataset, "__len__") and len(dataset) == 0:
        raise ValueError("The training set is empty: check the data files and any filtering or max_train_samples.")
    inputs = input_names & set(columns)
    labeled = any(column in columns for column in _LABEL_COLUMNS)
    if not inputs and remove_unused_columns:
        raise ValueError(
            f"The training set has neither labels nor anything to distil: its columns are {columns}, none of which "
            "the student or teacher takes as input. Tokenize the text first, e.g. "
            "`dataset.map(lambda batch: tokenizer(batch['text'], truncation=True), batched=True)`."
            + ("" if labeled else " It also has no 'label' or 'labels' column.")
        )


def check_label_shape(dataset, split: str, num_labels: int | None, problem_type: str) -> None:
    """The labels' shape must fit the task: a class index (single-label), a 0/1 vector of num_labels values
    (multi-label) or a number (regression), as read from the Arrow column type."""
    if not isinstance(dataset, datasets.Dataset) or "labels" not in dataset.column_names:
        return
    feature = dataset.features["labels"]
    is_list = is_list_feature(feature)
    dtype = getattr(feature, "dtype", None)
    expected = {
        "multi_label_classification": (is_list, f"a list of {num_labels} 0/1 values per row"),
        "single_label_classification": (
            not is_list and dtype is not None and "int" in dtype, "one class index per row"
        ),
        "regression": (
            not is_list and dtype is not None and ("float" in dtype or "int" in dtype), "one number per row"
        ),
    }
    ok, what = expected[problem_type]
    if not ok:
        raise ValueError(
            f"The {split} set's labels ({feature}) do not fit a {problem_type} model, which takes {what}. "
            "Give the data the teacher's task shape (e.g. multi-hot label vectors for a multi-label teacher), or use "
            "a teacher of the data's shape."
        )


def check_stored_teacher_logits(dataset, num_labels: int | None, required: bool, num_teachers: int | None = None
                                ) -> int | None:
    """Stored logits must exist on every row (when there is no teacher to fill gaps) and have one value per class
    (``num_labels``); rows of several teachers' logits must hold ``num_teachers`` lists. Returns the number of
    teachers per row, or ``None`` for one teacher's (N, C) logits or no stored logits."""
    columns = column_names(dataset)
    if required and (columns is None or TEACHER_LOGITS_COLUMN not in columns):
        raise ValueError(
            "teacher_model is None, so every training row must carry the teacher's logits in a "
            f"'{TEACHER_LOGITS_COLUMN}' column (one float per class); "
            + ("there is no train_dataset." if dataset is None else f"the training set has columns {columns}.")
            + " Add that column, or pass teacher_model to compute them."
        )
    if columns is None or TEACHER_LOGITS_COLUMN not in columns or not isinstance(dataset, datasets.Dataset):
        return None
    values = dataset.with_format("arrow")[TEACHER_LOGITS_COLUMN]
    missing = [index for index, valid in enumerate(pc.is_valid(values).to_pylist()) if not valid]
    if missing and required:
        raise ValueError(
            f"{len(missing)} training row(s) have no {TEACHER_LOGITS_COLUMN} (e.g. rows {missing[:5]}), and there is "
            "no teacher_model to compute them. Fill them in, drop those rows, or pass teacher_model."
        )
    if missing:
        raise ValueError(
            f"{len(missing)} training row(s) have an empty {TEACHER_LOGITS_COLUMN} (e.g. rows {missing[:5]}). Fill "
            f"them in, or drop the column to let the teacher compute every row."
        )
    if num_labels is None or not pa.types.is_list(values.type) and not pa.types.is_large_list(values.type):
        return None
    per_row = None
    if pa.types.is_list(values.type.value_type) or pa.types.is_large_list(values.type.value_type):
        # Several teachers' logits per row, (K, C): one list per teacher, in the teachers' order.
        counts = set(pc.list_value_length(values).to_pylist())
        expected = num_teachers
        if len(counts) != 1 or (expected is not None and counts != {expected}):
            raise ValueError(
                f"Rows of {TEACHER_LOGITS_COLUMN} hold {sorted(counts)} teachers' logits, but "
                f"{expected if expected is not None else 'one number of'} teachers are expected: store one list of "
                "logits per teacher, the same teachers in the same order on every row."
            )
        per_row = counts.pop()
        values = pc.list_flatten(values)
    widths = pc.list_value_length(values)
    wrong = [index for index, width in enumerate(widths.to_pylist()) if width != num_labels]
    if wrong:
        raise ValueError(
            f"{TEACHER_LOGITS_COLUMN} must hold one logit per class ({num_labels} for this student); row {wrong[0]} "
            f"has {widths[wrong[0]].as_py()} ({len(wrong)} row(s) differ). Store the teacher's logits for the "
            "student's classes, in the student's id2label order."
        )
    return per_row


def check_input_lengths(
    dataset, models: Iterable[tuple[str, nn.Module]], split: str, column: str = "input_ids"
) -> None:
    """Raise ``ValueError`` when an input of ``dataset`` is longer than a model's position table (it would die inside
    the forward pass with a tensor-size error), naming the row, its length, the model and the fix."""
    limits = [(name, limit) for name, model in models if model is not None and (limit := position_limit(model))]
    if not limits or dataset is None:
        return
    lengths = row_lengths(dataset, column)
    if not lengths:
        return
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    for name, limit in limits:
        if lengths[longest] > limit:
            too_long = sum(length > limit for length in lengths)
            raise ValueError(
                f"The {split} set has {too_long} input(s) longer than the {name}'s {limit} positions "
                f"(max_position_embeddings); the longest is row {longest} with {lengths[longest]} tokens. "
                "Tokenize with "
                f"truncation, e.g. `tokenizer(texts, truncation=True, max_length={limit})`."
            )
