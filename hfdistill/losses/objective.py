"""The objective: ``alpha * soft + (1 - alpha) * hard`` per example, from the registered terms of a task shape."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..problem_types import IGNORE_INDEX, MULTI_LABEL, PROBLEM_TYPES, SINGLE_LABEL
from .hard import PSEUDO_LABEL_MODES, PSEUDO_LABELERS, PSEUDO_TARGETS, check_pseudo_labels, hard_loss
from .registry import get_loss
from .soft import soft_loss


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


def describe_objective(
    loss_type: str = "kl", pseudo_labels: str = "none", problem_type: str = SINGLE_LABEL
) -> list[str]:
    """The objective :func:`distillation_loss` optimises with these settings, as lines for a model card: per labeled
    example, and per example without a label (unlabeled or augmented text)."""
    soft = get_loss("soft", loss_type, problem_type).formula
    hard, pseudo = hard_loss(problem_type).formula, PSEUDO_TARGETS
    labeled = f"alpha * {soft} + (1 - alpha) * {hard.format(y='y')}"
    target = pseudo.get(problem_type, "")
    unlabeled = {
        "none": soft,
        "hard": f"{hard.format(y=target)} where the teacher is confident enough, else nothing",
        "both": f"alpha * {soft} + (1 - alpha) * {hard.format(y=target)} where the teacher is confident enough, "
                f"else {soft}",
    }[pseudo_labels]
    return [f"per labeled example: `{labeled}`", f"per example without a label: `{unlabeled}`"]


def _unlabeled(labels: torch.Tensor | None, num_examples: int, problem_type: str, device) -> torch.Tensor:
    if labels is None:
        return torch.ones(num_examples, dtype=torch.bool, device=device)
    return (labels.eq(IGNORE_INDEX).all(-1) if problem_type == MULTI_LABEL
            else labels.reshape(num_examples).eq(IGNORE_INDEX))


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
    problem_type: str = SINGLE_LABEL,
    class_weights: torch.Tensor | None = None,
) -> DistillationLossOutput:
    """``alpha * soft + (1 - alpha) * hard``, per example, averaged over ``num_items`` examples.

    The terms depend on ``problem_type`` (see `hfdistill.losses.registry`):
    single-label classification, ``soft = T^2 * KL`` of softmaxes (``"kl"``) and ``hard = CE(s, y)``; multi-label,
    ``soft`` the per-label binary KL of ``sigmoid(./T)`` (times T^2, averaged over labels) and ``hard`` BCE-with-logits
    against the 0/1 vector; regression, ``soft = (s - t)^2`` and ``hard = (s - y)^2`` (no temperature).

    A labeled example contributes ``alpha * soft_i + (1 - alpha) * hard_i``; an example without a label (``labels is
    None``, or ``IGNORE_INDEX``) contributes ``soft_i`` alone, so unlabeled text is pure distillation whatever alpha
    is. ``soft_i`` is ``T^2 * KL`` for ``"kl"`` and the plain per-example loss for ``"mse"`` and ``"cosine"``.

    ``num_items`` is the number of examples the sum is divided by; it defaults to N. Passing the number of examples
    in a whole gradient-accumulation window (as :class:`~hfdistill.DistillationTrainer` does) makes k accumulated
    micro-batches give exactly the gradient of one batch k times larger, even when their sizes differ.

    ``pseudo_labels`` decides what an example without a label learns (see :func:`teacher_pseudo_labels` and
    :func:`multi_label_pseudo_labels`; only labels whose teacher confidence reaches ``pseudo_label_threshold`` are
    made): ``"none"``: ``soft_i``; ``"hard"``: the hard term on the teacher's labels instead, and nothing below the
    threshold; ``"both"``: ``alpha * soft_i + (1 - alpha) * hard_i``, as if labeled, and ``soft_i`` below the
    threshold. A regression has no classes to pick: pseudo-labels are a ``ValueError`` there.

    ``class_weights`` (single-label, (C,)) multiply each labeled example's hard term by its class's weight (as
    ``torch.nn.functional.cross_entropy``'s ``weight``, but averaged over ``num_items`` examples, not over the
    weights, so that accumulation stays exact); the soft term is not weighted.
    """
    if pseudo_labels not in PSEUDO_LABEL_MODES:
        raise ValueError(f"pseudo_labels must be one of {', '.join(PSEUDO_LABEL_MODES)}, got {pseudo_labels!r}.")
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}.")
    soft_per_example = soft_loss(student_logits, teacher_logits, loss_type, temperature, "none", problem_type)
    gold_missing = pseudo = None  # only pseudo-labels need them: this runs on every training step
    if pseudo_labels != "none":
        check_pseudo_labels(pseudo_labels, problem_type)
        gold_missing = _unlabeled(labels, soft_per_example.shape[0], problem_type, soft_per_example.device)
        labels, pseudo = PSEUDO_LABELERS[problem_type](teacher_logits, labels, pseudo_label_threshold)
    if labels is None:
        labeled = torch.zeros_like(soft_per_example, dtype=torch.bool)
        hard_per_example = torch.zeros_like(soft_per_example)
    else:
        hard_per_example, labeled = hard_loss(problem_type).function(student_logits, labels)
        if class_weights is not None:  # (C,): each labeled example's hard term times its class's weight
            hard_per_example = hard_per_example * class_weights.to(hard_per_example)[labels.clamp(min=0)]
    # Python-scalar weights: this runs on every training step, and each extra tensor op costs as much as the math.
    soft_weight = torch.where(labeled, alpha, 1.0)
    hard_weight = 1.0 - alpha
    if pseudo_labels == "hard":
        # The teacher's labels instead of its soft labels; below the threshold an unlabeled example is left out.
        soft_weight = torch.where(gold_missing, 0.0, soft_weight)
        hard_weight = torch.where(pseudo, 1.0, hard_weight)
    per_example = soft_weight * soft_per_example + hard_weight * hard_per_example  # hard is 0 where unlabeled
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
