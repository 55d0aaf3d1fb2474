"""Distillation losses, as pure functions of logits.

Shapes, everywhere in this module:
    student_logits: (N, C) float — the student's unnormalised scores for N examples and C classes.
    teacher_logits: (N, C) float — the teacher's scores for the same examples (no gradient needed).
    labels:         (N,) long    — class indices; ``IGNORE_INDEX`` (-100) marks an example without a label.

Reductions follow ``torch.nn.functional.kl_div``'s ``"batchmean"``: a per-example loss is summed over the classes,
then averaged over the N examples (not over the N * C elements, which is what ``"mean"`` would do and which
silently divides the loss by C). ``"sum"`` sums over examples, ``"none"`` returns the (N,) per-example losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
Reduction = Literal["batchmean", "sum", "none"]


@dataclass(frozen=True)
class SoftLoss:
    """A soft (teacher-matching) term: ``function(student_logits, teacher_logits, temperature, reduction)``, and how
    the model card states it (``formula``, in ``s`` and ``t`` for the student's and teacher's logits and ``T``)."""

    function: Callable[..., torch.Tensor]
    formula: str
    uses_temperature: bool
    source: str


# The soft terms by name (`DistillationTrainingArguments.distillation_loss`); `register_soft_loss` adds one.
SOFT_LOSSES: dict[str, SoftLoss] = {}


def register_soft_loss(name: str, formula: str, uses_temperature: bool, source: str):
    """Decorator: make a ``(student_logits, teacher_logits, temperature, reduction)`` loss selectable by ``name``."""

    def register(function):
        SOFT_LOSSES[name] = SoftLoss(function, formula, uses_temperature, source)
        return function

    return register


def _reduce(per_example: torch.Tensor, reduction: Reduction) -> torch.Tensor:
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
    return _reduce(per_example * temperature**2, reduction)


def mse_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, reduction: Reduction = "batchmean") -> torch.Tensor:
    """Squared error between logit vectors, ``||s - t||^2`` per example (Tang et al., 2019; Ba & Caruana, 2014)."""
    _check_logits(student_logits, teacher_logits)
    per_example = (student_logits.float() - teacher_logits.float()).pow(2).sum(-1)
    return _reduce(per_example, reduction)


def cosine_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, reduction: Reduction = "batchmean") -> torch.Tensor:
    """``1 - cos(s, t)`` per example: matches the direction of the logit vectors, not their scale."""
    _check_logits(student_logits, teacher_logits)
    per_example = 1.0 - F.cosine_similarity(student_logits.float(), teacher_logits.float(), dim=-1)
    return _reduce(per_example, reduction)


register_soft_loss("kl", "T^2 * KL(softmax(t/T) || softmax(s/T))", True, "Hinton et al., 2015")(kl_divergence_loss)
register_soft_loss("mse", "||s - t||^2", False, "Ba & Caruana, 2014; Tang et al., 2019")(
    lambda student_logits, teacher_logits, temperature, reduction: mse_loss(student_logits, teacher_logits, reduction))
register_soft_loss("cosine", "(1 - cos(s, t))", False, "cosine embedding loss on logit vectors")(
    lambda student_logits, teacher_logits, temperature, reduction: cosine_loss(student_logits, teacher_logits, reduction))


def soft_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    loss_type: str = "kl",
    temperature: float = 1.0,
    reduction: Reduction = "batchmean",
) -> torch.Tensor:
    """The soft (teacher-matching) term registered as ``loss_type`` in `SOFT_LOSSES`: ``"kl"`` (with ``T^2``),
    ``"mse"`` or ``"cosine"``. Raises ``ValueError`` for an unknown name."""
    if loss_type not in SOFT_LOSSES:
        raise ValueError(f"loss_type must be one of {', '.join(SOFT_LOSSES)}, got {loss_type!r}.")
    return SOFT_LOSSES[loss_type].function(student_logits, teacher_logits, temperature, reduction)


def describe_objective(loss_type: str = "kl", pseudo_labels: str = "none") -> list[str]:
    """The objective :func:`distillation_loss` optimises with these settings, as lines for a model card: per labeled
    example, and per example without a label (unlabeled or augmented text)."""
    soft = SOFT_LOSSES[loss_type].formula
    labeled = f"alpha * {soft} + (1 - alpha) * CE(s, y)"
    unlabeled = {
        "none": soft,
        "hard": "CE(s, argmax t) where the teacher is confident enough, else nothing",
        "both": f"alpha * {soft} + (1 - alpha) * CE(s, argmax t) where the teacher is confident enough, else {soft}",
    }[pseudo_labels]
    return [f"per labeled example: `{labeled}`", f"per example without a label: `{unlabeled}`"]


HIDDEN_STATE_LOSSES = ("mse", "cosine")


def hidden_state_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    loss_type: str = "mse",
    reduction: Reduction = "batchmean",
) -> torch.Tensor:
    """Distance between a student layer's token representations and a teacher layer's, per example.

    student_hidden, teacher_hidden: (N, L, H) float; attention_mask: (N, L), 1 for real tokens, 0 for padding
    (``None``: all real). Per token, ``"mse"`` is the mean over H of the squared difference and ``"cosine"`` is
    ``1 - cos``; an example's loss is the mean over its real tokens, so padding and sentence length do not weigh.
    """
    if loss_type not in HIDDEN_STATE_LOSSES:
        raise ValueError(f"loss_type must be one of {HIDDEN_STATE_LOSSES}, got {loss_type!r}.")
    if student_hidden.shape != teacher_hidden.shape or student_hidden.dim() != 3:
        raise ValueError(
            "student_hidden and teacher_hidden must both have shape (N, L, H); got "
            f"{tuple(student_hidden.shape)} and {tuple(teacher_hidden.shape)}. Hidden states can only be matched "
            "between models of the same hidden size, e.g. a 'layers' student and its teacher."
        )
    student_hidden, teacher_hidden = student_hidden.float(), teacher_hidden.float()
    if loss_type == "mse":
        per_token = (student_hidden - teacher_hidden).pow(2).mean(-1)
    else:
        per_token = 1.0 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1)
    mask = torch.ones_like(per_token) if attention_mask is None else attention_mask.to(per_token.dtype)
    per_example = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return _reduce(per_example, reduction)


@dataclass
class DistillationLossOutput:
    """The objective and the per-example parts it was made of.

    loss:             scalar, the objective to back-propagate (see :func:`distillation_loss`).
    soft_per_example: (N,) soft term of each example (``T^2 * KL`` for ``"kl"``), detached.
    hard_per_example: (N,) cross-entropy of each example, 0 where it has no label, detached.
    labeled:          (N,) bool, which examples have a label (gold or pseudo).
    pseudo_labeled:   (N,) bool, which of them are the teacher's pseudo-labels.
    """

    loss: torch.Tensor
    soft_per_example: torch.Tensor
    hard_per_example: torch.Tensor
    labeled: torch.Tensor
    pseudo_labeled: torch.Tensor

    @property
    def soft_loss(self) -> torch.Tensor:
        """Mean soft term over all N examples."""
        return self.soft_per_example.mean()

    @property
    def hard_loss(self) -> torch.Tensor | None:
        """Mean cross-entropy over the labeled examples; ``None`` when none is labeled."""
        num_labeled = int(self.labeled.sum())
        return self.hard_per_example.sum() / num_labeled if num_labeled else None


PSEUDO_LABEL_MODES = ("none", "hard", "both")


def teacher_pseudo_labels(
    teacher_logits: torch.Tensor, labels: torch.Tensor | None, threshold: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard labels for the examples that have none, from the teacher.

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


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    alpha: float = 0.5,
    temperature: float = 2.0,
    loss_type: str = "kl",
    num_items: int | float | torch.Tensor | None = None,
    pseudo_labels: str = "none",
    pseudo_label_threshold: float = 0.0,
) -> DistillationLossOutput:
    """``alpha * soft + (1 - alpha) * CE(s, y)``, per example, averaged over ``num_items`` examples.

    A labeled example contributes ``alpha * soft_i + (1 - alpha) * ce_i``; an example without a label (``labels is
    None``, or ``labels[i] == IGNORE_INDEX``) contributes ``soft_i`` alone, so unlabeled text is pure distillation
    whatever alpha is. ``soft_i`` is ``T^2 * KL`` for ``"kl"`` and the plain per-example loss for ``"mse"`` and
    ``"cosine"``.

    ``num_items`` is the number of examples the sum is divided by; it defaults to N. Passing the number of examples
    in a whole gradient-accumulation window (as :class:`~hfdistill.DistillationTrainer` does) makes k accumulated
    micro-batches give exactly the gradient of one batch k times larger, even when their sizes differ.

    ``pseudo_labels`` decides what an example without a label learns (see :func:`teacher_pseudo_labels`; only those
    whose teacher confidence reaches ``pseudo_label_threshold`` get a pseudo-label):
    ``"none"``: ``soft_i``; ``"hard"``: ``ce_i`` on the teacher's argmax instead, and nothing below the threshold;
    ``"both"``: ``alpha * soft_i + (1 - alpha) * ce_i``, as if labeled, and ``soft_i`` below the threshold.
    """
    if pseudo_labels not in PSEUDO_LABEL_MODES:
        raise ValueError(f"pseudo_labels must be one of {', '.join(PSEUDO_LABEL_MODES)}, got {pseudo_labels!r}.")
    soft_per_example = soft_loss(student_logits, teacher_logits, loss_type, temperature, reduction="none")
    gold_missing = pseudo = None  # only pseudo-labels need them: this runs on every training step
    if pseudo_labels != "none":
        gold_missing = torch.ones_like(soft_per_example, dtype=torch.bool) if labels is None else labels.eq(IGNORE_INDEX)
        labels, pseudo = teacher_pseudo_labels(teacher_logits, labels, pseudo_label_threshold)
    if labels is None:
        labeled = torch.zeros_like(soft_per_example, dtype=torch.bool)
        hard_per_example = torch.zeros_like(soft_per_example)
    else:
        if labels.shape != soft_per_example.shape:
            raise ValueError(
                f"labels must have shape (N,) = {tuple(soft_per_example.shape)}, got {tuple(labels.shape)}. "
                "Sequence classification takes one class index per example."
            )
        labeled = labels.ne(IGNORE_INDEX)
        hard_per_example = F.cross_entropy(
            student_logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="none"
        )
    # Python-scalar weights: this runs on every training step, and each extra tensor op costs as much as the math.
    soft_weight = torch.where(labeled, alpha, 1.0)
    hard_weight = 1.0 - alpha
    if pseudo_labels == "hard":
        # The teacher's argmax instead of its soft labels; below the threshold an unlabeled example is left out.
        soft_weight = torch.where(gold_missing, 0.0, soft_weight)
        hard_weight = torch.where(pseudo, 1.0, hard_weight)
    per_example = soft_weight * soft_per_example + hard_weight * hard_per_example  # ce is 0 where unlabeled
    if num_items is None:
        num_items = per_example.numel()
    loss = per_example.sum() / num_items
    return DistillationLossOutput(
        loss=loss,
        soft_per_example=soft_per_example.detach(),
        hard_per_example=hard_per_example.detach(),
        labeled=labeled,
        pseudo_labeled=torch.zeros_like(labeled) if pseudo is None else pseudo,
    )
