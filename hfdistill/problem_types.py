"""Task shapes, spelled as transformers spells them (`PretrainedConfig.problem_type`), and the label that marks "none".

Every module that branches on the task shape imports these names, so that each is written once.
"""

from __future__ import annotations

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)
# The label (or, multi-label, the per-label value) of a row without a gold one, as transformers' losses ignore it.
IGNORE_INDEX = -100


def problem_type_of(config) -> str:
    """``config.problem_type``, or transformers' own reading of an unset one: one output is a regression, more are
    single-label classification (multi-label must be said, ``problem_type="multi_label_classification"``).

    Raises ``ValueError`` for a ``problem_type`` that is none of `PROBLEM_TYPES`."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type is not None:
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type {problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}.")
        return problem_type
    return REGRESSION if getattr(config, "num_labels", 2) == 1 else SINGLE_LABEL
