"""Distillation losses, as pure functions of logits, chosen by name and task shape (``problem_type``).

Shapes, everywhere in this module:
    student_logits: (N, C) float — the student's unnormalised scores for N examples and C classes (C = 1: a score).
    teacher_logits: (N, C) float — the teacher's scores for the same examples (no gradient needed).
    labels: single_label_classification: (N,) long, class indices;
            multi_label_classification:  (N, C) float, 0/1 per label;
            regression:                  (N,) or (N, 1) float, the gold score.
            ``IGNORE_INDEX`` (-100) marks an example (or, multi-label, one label) without a gold value.

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


SINGLE_LABEL, MULTI_LABEL, REGRESSION = "single_label_classification", "multi_label_classification", "regression"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)

# The soft terms by name (`DistillationTrainingArguments.distillation_loss`) for single-label classification, and
# by (name, problem_type) for every task shape; `register_soft_loss` adds one.
SOFT_LOSSES: dict[str, SoftLoss] = {}
SOFT_LOSS_REGISTRY: dict[tuple[str, str], SoftLoss] = {}


def register_soft_loss(name: str, formula: str, uses_temperature: bool, source: str, problem_type: str = SINGLE_LABEL):
    """Decorator: make a ``(student_logits, teacher_logits, temperature, reduction)`` loss selectable by ``name`` for
    ``problem_type``."""

    def register(function):
        loss = SoftLoss(function, formula, uses_temperature, source)
        SOFT_LOSS_REGISTRY[(name, problem_type)] = loss
        if problem_type == SINGLE_LABEL:
            SOFT_LOSSES[name] = loss
        return function

    return register


def get_soft_loss(name: str, problem_type: str = SINGLE_LABEL) -> SoftLoss:
    """The soft term registered as ``name`` for ``problem_type``; ``ValueError`` naming those that are."""
    if (name, problem_type) not in SOFT_LOSS_REGISTRY:
        known = sorted(n for n, p in SOFT_LOSS_REGISTRY if p == problem_type)
        raise ValueError(f"distillation_loss {name!r} is not defined for {problem_type}; use one of {', '.join(known)}.")
    return SOFT_LOSS_REGISTRY[(name, problem_type)]


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
    return _reduce(per_label.mean(-1) * temperature**2, reduction)


def _unscaled(loss):
    return lambda student_logits, teacher_logits, temperature, reduction: loss(student_logits, teacher_logits, reduction)


register_soft_loss("kl", "T^2 * mean over labels of KL(sigmoid(t/T) || sigmoid(s/T))", True,
                   "Hinton et al., 2015, per label", MULTI_LABEL)(binary_kl_loss)
register_soft_loss("mse", "||s - t||^2", False, "Ba & Caruana, 2014", MULTI_LABEL)(_unscaled(mse_loss))
register_soft_loss("cosine", "(1 - cos(s, t))", False, "cosine embedding loss on logit vectors", MULTI_LABEL)(
    _unscaled(cosine_loss))
# A score has no distribution to soften: the student matches the teacher's output (Ba & Caruana, 2014), and "kl",
# the default name, means that too, so that a regression teacher needs no extra flag.
for _name in ("kl", "mse"):
    register_soft_loss(_name, "(s - t)^2", False, "Ba & Caruana, 2014 (squared error; no temperature for a score)",
                       REGRESSION)(_unscaled(mse_loss))


def soft_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    loss_type: str = "kl",
    temperature: float = 1.0,
    reduction: Reduction = "batchmean",
    problem_type: str = SINGLE_LABEL,
) -> torch.Tensor:
    """The soft (teacher-matching) term registered as ``loss_type`` for ``problem_type`` (default single-label):
    ``"kl"`` (with ``T^2``), ``"mse"`` or ``"cosine"``. Raises ``ValueError`` for an unknown name."""
    if (loss_type, problem_type) not in SOFT_LOSS_REGISTRY and problem_type == SINGLE_LABEL:
        raise ValueError(f"loss_type must be one of {', '.join(SOFT_LOSSES)}, got {loss_type!r}.")
    return get_soft_loss(loss_type, problem_type).function(student_logits, teacher_logits, temperature, reduction)


def describe_objective(loss_type: str = "kl", pseudo_labels: str = "none", problem_type: str = SINGLE_LABEL) -> list[str]:
    """The objective :func:`distillation_loss` optimises with these settings, as lines for a model card: per labeled
    example, and per example without a label (unlabeled or augmented text)."""
    soft = get_soft_loss(loss_type, problem_type).formula
    hard, pseudo = HARD_LOSSES[problem_type].formula, {SINGLE_LABEL: "argmax t", MULTI_LABEL: "(sigmoid(t) >= 0.5)"}
    labeled = f"alpha * {soft} + (1 - alpha) * {hard.format(y='y')}"
    target = pseudo.get(problem_type, "")
    unlabeled = {
        "none": soft,
        "hard": f"{hard.format(y=target)} where the teacher is confident enough, else nothing",
        "both": f"alpha * {soft} + (1 - alpha) * {hard.format(y=target)} where the teacher is confident enough, else {soft}",
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


@dataclass(frozen=True)
class HardLoss:
    """The gold-label term of a task shape: ``function(student_logits, labels) -> (per_example, labeled)``, both (N,),
    the loss 0 where an example has no label; ``formula`` in ``s`` and ``{y}`` for the card."""

    function: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    formula: str


def _cross_entropy(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if labels.dim() != 1 or labels.shape[0] != student_logits.shape[0]:
        raise ValueError(
            f"labels must have shape (N,) = ({student_logits.shape[0]},), got {tuple(labels.shape)}. Sequence "
            "classification takes one class index per example."
        )
    per_example = F.cross_entropy(student_logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="none")
    return per_example, labels.ne(IGNORE_INDEX)


def _binary_cross_entropy(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the C labels of BCE-with-logits against 0/1 targets; a label of ``IGNORE_INDEX`` is left out."""
    if labels.shape != student_logits.shape:
        raise ValueError(
            f"Multi-label labels must have shape (N, C) = {tuple(student_logits.shape)}, one 0/1 value per label; got "
            f"{tuple(labels.shape)}."
        )
    known = labels.ne(IGNORE_INDEX)
    per_label = F.binary_cross_entropy_with_logits(student_logits.float(), labels.float().clamp(0, 1), reduction="none")
    return (per_label * known).sum(-1) / labels.shape[-1], known.any(-1)


def _squared_error(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


# The gold-label term of each task shape (as transformers' *ForSequenceClassification compute it).
HARD_LOSSES: dict[str, HardLoss] = {
    SINGLE_LABEL: HardLoss(_cross_entropy, "CE(s, {y})"),
    MULTI_LABEL: HardLoss(_binary_cross_entropy, "mean over labels of BCE(sigmoid(s), {y})"),
    REGRESSION: HardLoss(_squared_error, "(s - {y})^2"),
}


def problem_type_of(config) -> str:
    """``config.problem_type``, or transformers' own reading of an unset one: one output is a regression, more are
    single-label classification (multi-label must be said, ``problem_type="multi_label_classification"``)."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type is not None:
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type {problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}.")
        return problem_type
    return REGRESSION if getattr(config, "num_labels", 2) == 1 else SINGLE_LABEL


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


def _unlabeled(labels: torch.Tensor | None, num_examples: int, problem_type: str, device) -> torch.Tensor:
    if labels is None:
        return torch.ones(num_examples, dtype=torch.bool, device=device)
    return labels.eq(IGNORE_INDEX).all(-1) if problem_type == MULTI_LABEL else labels.reshape(num_examples).eq(IGNORE_INDEX)


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
) -> DistillationLossOutput:
    """``alpha * soft + (1 - alpha) * hard``, per example, averaged over ``num_items`` examples.

    The terms depend on ``problem_type`` (see `SOFT_LOSS_REGISTRY` and `HARD_LOSSES`):
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
    """
    if pseudo_labels not in PSEUDO_LABEL_MODES:
        raise ValueError(f"pseudo_labels must be one of {', '.join(PSEUDO_LABEL_MODES)}, got {pseudo_labels!r}.")
    if problem_type not in HARD_LOSSES:
        raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}.")
    soft_per_example = soft_loss(student_logits, teacher_logits, loss_type, temperature, "none", problem_type)
    gold_missing = pseudo = None  # only pseudo-labels need them: this runs on every training step
    if pseudo_labels != "none":
        if problem_type not in PSEUDO_LABELERS:
            raise ValueError(
                f"pseudo_labels={pseudo_labels!r} needs classes, and a {problem_type} has none: set pseudo_labels to "
                "'none' (unlabeled rows then learn the teacher's scores)."
            )
        gold_missing = _unlabeled(labels, soft_per_example.shape[0], problem_type, soft_per_example.device)
        labels, pseudo = PSEUDO_LABELERS[problem_type](teacher_logits, labels, pseudo_label_threshold)
    if labels is None:
        labeled = torch.zeros_like(soft_per_example, dtype=torch.bool)
        hard_per_example = torch.zeros_like(soft_per_example)
    else:
        hard_per_example, labeled = HARD_LOSSES[problem_type].function(student_logits, labels)
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
