"""Soft terms: the student matches the teacher's outputs, per task shape.

Shapes: student_logits, teacher_logits (N, C) float, C = 1 for a score. Reductions follow
``torch.nn.functional.kl_div``'s ``"batchmean"``: a per-example loss is summed over the classes, then averaged over
the N examples (``"mean"`` over N * C elements would silently divide by C); ``"sum"`` sums over examples, ``"none"``
returns the (N,) per-example losses.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from .registry import get_loss, loss_names, register_loss

Reduction = Literal["batchmean", "sum", "none"]


def reduce(per_example: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """(N,) per-example losses reduced by ``reduction``; ``ValueError`` for an unknown one."""
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    if reduction == "batchmean":
        return per_example.mean()
    raise ValueError(f"reduction must be one of 'batchmean', 'sum', 'none', got {reduction!r}.")


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            "student_logits and teacher_logits must both have shape (N, C); got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}. Teacher and student must predict the "
            "same classes for the same examples."
        )


@register_loss(name="kl", formula="T^2 * KL(softmax(t/T) || softmax(s/T))", uses_temperature=True,
               source="Hinton et al., 2015")
def kl_divergence_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    reduction: Reduction = "batchmean",
) -> torch.Tensor:
    """Hinton et al.'s soft-target loss: ``T^2 * KL(softmax(t / T) || softmax(s / T))``.

    The ``T^2`` factor keeps the gradient's magnitude independent of T (the soft gradients scale as ``1 / T^2``),
    so changing the temperature does not silently change the effective learning rate of the soft term.
    """
    _check_logits(student_logits, teacher_logits)
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    # log-space target: exact where the teacher is very confident, where softmax would underflow to 0.
    per_example = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True).sum(-1)
    return reduce(per_example * temperature**2, reduction)


def mse_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, reduction: Reduction = "batchmean"
             ) -> torch.Tensor:
    """Squared error between logit vectors, ``||s - t||^2`` per example (Tang et al., 2019; Ba & Caruana, 2014)."""
    _check_logits(student_logits, teacher_logits)
    per_example = (student_logits.float() - teacher_logits.float()).pow(2).sum(-1)
    return reduce(per_example, reduction)


def cosine_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, reduction: Reduction = "batchmean"
                ) -> torch.Tensor:
    """``1 - cos(s, t)`` per example: matches the direction of the logit vectors, not their scale."""
    _check_logits(student_logits, teacher_logits)
    per_example = 1.0 - F.cosine_similarity(student_logits.float(), teacher_logits.float(), dim=-1)
    return reduce(per_example, reduction)


@register_loss(name="kl", problem_type=MULTI_LABEL,
               formula="T^2 * mean over labels of KL(sigmoid(t/T) || sigmoid(s/T))",
               uses_temperature=True, source="Hinton et al., 2015, per label")
def binary_kl_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    reduction: Reduction = "batchmean",
) -> torch.Tensor:
    """Multi-label soft targets: per label, ``T^2 * KL(Bernoulli(sigmoid(t/T)) || Bernoulli(sigmoid(s/T)))``, averaged
    over the C labels of an example (each label is its own two-class distribution; Hinton et al.'s temperature-scaled
    KL applied per label, as for multi-label distillation in e.g. Liu et al., 2018). Computed in log space
    (``logsigmoid``), exact for confident teachers."""
    _check_logits(student_logits, teacher_logits)
    student, teacher = student_logits.float() / temperature, teacher_logits.float() / temperature
    teacher_probability = torch.sigmoid(teacher)
    per_label = teacher_probability * (F.logsigmoid(teacher) - F.logsigmoid(student)) + (1 - teacher_probability) * (
        F.logsigmoid(-teacher) - F.logsigmoid(-student))
    return reduce(per_label.mean(-1) * temperature**2, reduction)


def _unscaled(loss):
    """A ``(student_logits, teacher_logits, reduction)`` loss under the soft terms' signature (no temperature)."""
    return lambda student_logits, teacher_logits, temperature, reduction: loss(
        student_logits, teacher_logits, reduction
    )


register_loss(_unscaled(mse_loss), name="mse", problem_type=(SINGLE_LABEL, MULTI_LABEL), formula="||s - t||^2",
              source="Ba & Caruana, 2014; Tang et al., 2019")
register_loss(_unscaled(cosine_loss), name="cosine", problem_type=(SINGLE_LABEL, MULTI_LABEL),
              formula="(1 - cos(s, t))", source="cosine embedding loss on logit vectors")
# A score has no distribution to soften: the student matches the teacher's output (Ba & Caruana, 2014), and "kl",
# the default name, means that too, so that a regression teacher needs no extra flag.
for _name in ("kl", "mse"):
    register_loss(_unscaled(mse_loss), name=_name, problem_type=REGRESSION, formula="(s - t)^2",
                  source="Ba & Caruana, 2014 (squared error; no temperature for a score)")
del _name


def soft_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    loss_type: str = "kl",
    temperature: float = 1.0,
    reduction: Reduction = "batchmean",
    problem_type: str = SINGLE_LABEL,
) -> torch.Tensor:
    """The soft (teacher-matching) term registered as ``loss_type`` for ``problem_type`` (default single-label):
    built in, ``"kl"`` (with ``T^2``), ``"mse"`` or ``"cosine"``. Raises ``ValueError`` for an unknown name."""
    if loss_type not in loss_names("soft", problem_type) and problem_type == SINGLE_LABEL:
        raise ValueError(f"loss_type must be one of {', '.join(loss_names('soft', problem_type))}, got {loss_type!r}.")
    return get_loss("soft", loss_type, problem_type).function(student_logits, teacher_logits, temperature, reduction)
