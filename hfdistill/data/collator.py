"""The teacher-logit column and the collator wrapper that batches it beside the tokenizer's padding."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

TEACHER_LOGITS_COLUMN = "teacher_logits"
# The teacher's own inputs when its tokenizer is not the student's: `teacher_input_ids`, `teacher_attention_mask`, ...
TEACHER_INPUT_PREFIX = "teacher_"


def teacher_input_columns(columns) -> list[str]:
    """The columns that hold the teacher's own tokenization (``teacher_input_ids``, ...), not its logits."""
    return [column for column in columns if column.startswith(TEACHER_INPUT_PREFIX) and column != TEACHER_LOGITS_COLUMN]


class TeacherLogitsCollator:
    """Wraps a data collator: stacks the stored `teacher_logits` of a batch itself and hands the other columns to
    ``collator``, which therefore never sees them. A tokenizer's padding walks every value of every feature, and the
    logits need no padding. Any other attribute is the wrapped collator's (Trainer saves ``collator.tokenizer``)."""

    def __init__(self, collator: Callable, teacher_collator: Callable | None = None):
        self.collator = collator
        # Pads the teacher's own inputs (``teacher_input_ids``, ...) when they are in the batch: a teacher whose
        # tokenizer is not the student's has its own pad id and lengths.
        self.teacher_collator = teacher_collator

    def __getattr__(self, name: str):
        if name == "collator":  # not set yet, e.g. while unpickling in a dataloader worker: no recursion
            raise AttributeError(name)
        return getattr(self.collator, name)

    def __call__(self, features: list) -> dict:
        teacher_inputs = teacher_input_columns(features[0]) if features and isinstance(features[0], Mapping) else []
        if teacher_inputs:
            if self.teacher_collator is None:
                raise ValueError(f"The batch holds the teacher's own inputs {teacher_inputs} but no teacher tokenizer "
                                 "to pad them: pass teacher_processing_class=.")
            teacher_batch = self.teacher_collator(
                [{k.removeprefix(TEACHER_INPUT_PREFIX): feature[k] for k in teacher_inputs} for feature in features])
            batch = self([{k: v for k, v in feature.items() if k not in teacher_inputs} for feature in features])
            batch.update({TEACHER_INPUT_PREFIX + key: value for key, value in teacher_batch.items()})
            return batch
        if not features or not isinstance(features[0], Mapping) or TEACHER_LOGITS_COLUMN not in features[0]:
            return self.collator(features)
        values = [feature[TEACHER_LOGITS_COLUMN] for feature in features]
        if isinstance(values[0], list):
            teacher_logits = torch.tensor(values, dtype=torch.float32)
        else:  # tensors or arrays, from a dataset formatted for torch or numpy
            teacher_logits = torch.stack([torch.as_tensor(value, dtype=torch.float32) for value in values])
        batch = self.collator(
            [{k: v for k, v in feature.items() if k != TEACHER_LOGITS_COLUMN} for feature in features]
        )
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"The data collator returned a {type(batch).__name__}; DistillationTrainer needs a dict of tensors "
                "(e.g. from DataCollatorWithPadding) to add the batch's teacher_logits to."
            )
        batch[TEACHER_LOGITS_COLUMN] = teacher_logits
        return batch


def teacher_collator(models, paths=(), teacher_processing_class=None):
    """`DataCollatorWithPadding` of the teacher's own tokenizer (given, else saved in the first teacher's folder),
    which pads its ``teacher_input_ids``, ...; ``ValueError`` when it is not known."""
    from transformers import DataCollatorWithPadding

    from ..teachers.loading import load_tokenizer_if_saved

    path = (paths[0] if paths else None) or getattr(getattr(models[0], "config", None), "_name_or_path", None) \
        if models else None
    tokenizer = teacher_processing_class or load_tokenizer_if_saved(path)
    if tokenizer is None:
        raise ValueError("The training set holds the teacher's own inputs (teacher_input_ids, ...), but the teacher's "
                         "tokenizer, which pads them, is not known: pass teacher_processing_class=.")
    return DataCollatorWithPadding(tokenizer)
