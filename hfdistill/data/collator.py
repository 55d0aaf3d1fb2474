"""The teacher-logit column and the collator wrapper that batches it beside the tokenizer's padding."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

TEACHER_LOGITS_COLUMN = "teacher_logits"


class TeacherLogitsCollator:
    """Wraps a data collator: stacks the stored `teacher_logits` of a batch itself and hands the other columns to
    ``collator``, which therefore never sees them. A tokenizer's padding walks every value of every feature, and the
    logits need no padding. Any other attribute is the wrapped collator's (Trainer saves ``collator.tokenizer``)."""

    def __init__(self, collator: Callable):
        self.collator = collator

    def __getattr__(self, name: str):
        if name == "collator":  # not set yet, e.g. while unpickling in a dataloader worker: no recursion
            raise AttributeError(name)
        return getattr(self.collator, name)

    def __call__(self, features: list) -> dict:
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
