"""Hard terms: the student's loss on gold labels (and on the teacher's pseudo-labels), per task shape, as
transformers' ``*ForSequenceClassification`` compute it.

Shapes: student_logits (N, C); labels: single-label (N,) long class indices; multi-label (N, C) float 0/1 per label;
regression (N,) or (N, 1) float. ``IGNORE_INDEX`` marks an example (or, multi-label, one label) without a gold value.
Each term returns ``(per_example, labeled)``, both (N,): the loss, 0 where an example has no label, and which have one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..problem_types import IGNORE_INDEX, MULTI_LABEL, REGRESSION, SINGLE_LABEL
from .registry import get_loss, register_loss


@register_loss(kind="hard", name="cross_entropy", formula="CE(s, {y})", source="torch.nn.functional.cross_entropy")
def cross_entropy(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of each example against its class index."""
    if labels.dim() != 1 or labels.shape[0] != student_logits.shape[0]:
        raise ValueError(
            f"labels must have shape (N,) = ({student_logits.shape[0]},), got {tuple(labels.shape)}. Sequence "
            "classification takes one class index per example."
        )
    per_example = F.cross_entropy(student_logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="none")
    return per_example, labels.ne(IGNORE_INDEX)


@register_loss(kind="hard", name="binary_cross_entropy", problem_type=MULTI_LABEL,
               formula="mean over labels of BCE(sigmoid(s), {y})",
               source="torch.nn.functional.binary_cross_entropy_with_logits")
def binary_cross_entropy(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the C labels of BCE-with-logits against 0/1 targets; a label of ``IGNORE_INDEX`` is left out."""
    if labels.shape != student_logits.shape:
        raise ValueError(
            f"Multi-label labels must have shape (N, C) = {tuple(student_logits.shape)}, one 0/1 value per label; got "
            f"{tuple(labels.shape)}."
        )
    known = labels.ne(IGNORE_INDEX)
    per_label = F.binary_cross_entropy_with_logits(student_logits.float(), labels.float().clamp(0, 1), reduction="none")
    return (per_label * known).sum(-1) / labels.shape[-1], known.any(-1)


@register_loss(kind="hard", name="squared_error", problem_type=REGRESSION, formula="(s - {y})^2",
               source="torch.nn.MSELoss")
def squared_error(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s - y)^2`` of a one-output model (C = 1); a label of exactly ``IGNORE_INDEX`` marks an unlabeled row."""
    labels = labels.reshape(-1) if labels.dim() == 2 and labels.shape[-1] == 1 else labels
    if student_logits.shape[-1] != 1 or labels.shape != student_logits.shape[:1]:
        raise ValueError(
            f"Regression takes one output and one score per example: got outputs {tuple(student_logits.shape)} and "
            f"labels {tuple(labels.shape)}."
        )
    known = labels.ne(IGNORE_INDEX)
    per_example = (student_logits.float().squeeze(-1) - labels.float()).pow(2)
    return torch.where(known, per_example, 0.0), known


# The gold-label term of each task shape.
HARD_LOSS_NAMES = {SINGLE_LABEL: "cross_entropy", MULTI_LABEL: "binary_cross_entropy", REGRESSION: "squared_error"}


def hard_loss(problem_type: str):
    """The registered gold-label term of ``problem_type`` (a `LossTerm`); ``ValueError`` for an unknown task shape."""
    if problem_type not in HARD_LOSS_NAMES:
        raise ValueError(f"problem_type must be one of {', '.join(HARD_LOSS_NAMES)}, got {problem_type!r}.")
    return get_loss("hard", HARD_LOSS_NAMES[problem_type], problem_type)


def evaluation_loss(student_logits: torch.Tensor, labels: torch.Tensor, problem_type: str) -> torch.Tensor:
    """Scalar: the task's gold-label loss averaged over the labeled examples (0 when none is), as evaluation reports
    it for the student alone."""
    per_example, labeled = hard_loss(problem_type).function(student_logits, labels)
    return per_example.sum() / labeled.sum().clamp(min=1)


def resolve_class_weights(class_weights, labels, num_labels: int) -> list[float] | None:
    """The hard term's per-class weights: ``None``; ``"auto"``, inverse frequency in ``labels`` (class indices, the
    training rows' gold labels; ``IGNORE_INDEX`` skipped), ``n / (C * n_c)`` (scikit-learn's "balanced"); or the
    given list, one weight per class. Raises ``ValueError`` for a wrong count or a class without a labeled row."""
    if class_weights is None:
        return None
    if class_weights != "auto":
        if len(class_weights) != num_labels:
            raise ValueError(f"class_weights has {len(class_weights)} values for {num_labels} classes: give one per "
                             "class, in id2label order, or 'auto'.")
        return [float(weight) for weight in class_weights]
    counts = torch.bincount(torch.as_tensor([label for label in labels if label != IGNORE_INDEX], dtype=torch.long),
                            minlength=num_labels)
    if (counts == 0).any():
        raise ValueError(f"class_weights='auto' weighs classes by their training rows, and classes "
                         f"{torch.flatnonzero(counts == 0).tolist()} have none: give the weights, or add rows.")
    return (counts.sum() / (num_labels * counts.double())).tolist()


PSEUDO_LABEL_MODES = ("none", "hard", "both")


def teacher_pseudo_labels(
    teacher_logits: torch.Tensor, labels: torch.Tensor | None, threshold: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard labels for the examples that have none, from the teacher (Lee, 2013's pseudo-labels).

    teacher_logits: (N, C); labels: (N,) class indices with ``IGNORE_INDEX`` where unlabeled, or ``None`` (none is).
    Returns ``(labels, pseudo)``: (N,) labels, gold where given, else the teacher's argmax where its top softmax
    probability (at T = 1) is at least ``threshold``, else ``IGNORE_INDEX``; and (N,) bool, which labels are pseudo.
    """
    probabilities = teacher_logits.detach().float().softmax(-1)
    confidence, argmax = probabilities.max(-1)
    unlabeled = torch.ones_like(argmax, dtype=torch.bool) if labels is None else labels.eq(IGNORE_INDEX)
    pseudo = unlabeled & confidence.ge(threshold)
    gold = torch.full_like(argmax, IGNORE_INDEX) if labels is None else labels
    return torch.where(pseudo, argmax, gold), pseudo


def multi_label_pseudo_labels(
    teacher_logits: torch.Tensor, labels: torch.Tensor | None, threshold: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-label 0/1 labels for the examples that have none: each label is 1 where ``sigmoid(t) >= 0.5``, kept where
    the teacher's confidence in it, ``max(p, 1 - p)``, reaches ``threshold`` and ``IGNORE_INDEX`` otherwise.
    Returns ``(labels, pseudo)``: (N, C) float labels (gold rows unchanged) and (N,) bool, which rows got any."""
    probability = torch.sigmoid(teacher_logits.detach().float())
    confident = torch.maximum(probability, 1 - probability).ge(threshold)
    target = torch.where(confident, probability.ge(0.5).float(), float(IGNORE_INDEX))
    unlabeled = torch.ones(teacher_logits.shape[0], dtype=torch.bool, device=teacher_logits.device) if labels is None \
        else labels.eq(IGNORE_INDEX).all(-1)
    gold = torch.full_like(target, IGNORE_INDEX) if labels is None else labels.float()
    return torch.where(unlabeled[:, None], target, gold), unlabeled & confident.any(-1)


# How examples without a label get the teacher's hard labels, per task shape; a score has no classes to pick.
PSEUDO_LABELERS: dict[str, Callable] = {SINGLE_LABEL: teacher_pseudo_labels, MULTI_LABEL: multi_label_pseudo_labels}
PSEUDO_TARGETS = {SINGLE_LABEL: "argmax t", MULTI_LABEL: "(sigmoid(t) >= 0.5)"}


def check_pseudo_labels(pseudo_labels: str, problem_type: str) -> None:
    """``ValueError`` when pseudo-labels are asked for a task shape without classes (a regression)."""
    if pseudo_labels != "none" and problem_type not in PSEUDO_LABELERS:
        raise ValueError(
            f"pseudo_labels={pseudo_labels!r} needs classes, and a {problem_type} teacher has none: set "
            "pseudo_labels to 'none' (unlabeled rows then learn the teacher's scores)."
        )
