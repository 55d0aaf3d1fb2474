"""Distillation losses, as pure functions of logits (and hidden states), chosen by name and task shape from one
registry (`register_loss`, `get_loss`): soft terms (`soft`), gold-label terms (`hard`), hidden-state terms
(`hidden`), and the objective that weighs them (`objective.distillation_loss`).

Shapes, everywhere: student_logits, teacher_logits (N, C) float; labels (N,) class indices, (N, C) 0/1 values
(multi-label) or (N,) scores (regression), ``IGNORE_INDEX`` (-100) where there is none.
"""

from ..problem_types import IGNORE_INDEX, MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL, problem_type_of
from .hard import (PSEUDO_LABEL_MODES, PSEUDO_LABELERS, binary_cross_entropy, check_pseudo_labels, cross_entropy,
                   evaluation_loss, hard_loss, multi_label_pseudo_labels, resolve_class_weights, squared_error,
                   teacher_pseudo_labels)
from .attention import HiddenStateProjection, attention_relation_loss
from .hidden import hidden_state_loss, hidden_state_term
from .objective import DistillationLossOutput, describe_objective, distillation_loss
from .registry import LOSS_KINDS, LOSS_REGISTRY, LossTerm, get_loss, loss_names, register_loss
from .soft import binary_kl_loss, cosine_loss, kl_divergence_loss, mse_loss, soft_loss

__all__ = [
    "DistillationLossOutput", "HiddenStateProjection", "IGNORE_INDEX", "attention_relation_loss", "LOSS_KINDS",
    "LOSS_REGISTRY", "LossTerm", "MULTI_LABEL",
    "PROBLEM_TYPES", "PSEUDO_LABELERS", "PSEUDO_LABEL_MODES", "REGRESSION", "SINGLE_LABEL", "binary_cross_entropy",
    "binary_kl_loss", "check_pseudo_labels", "cosine_loss", "cross_entropy", "describe_objective", "distillation_loss",
    "evaluation_loss", "get_loss", "hard_loss", "hidden_state_loss", "hidden_state_term", "kl_divergence_loss",
    "loss_names", "mse_loss",
    "multi_label_pseudo_labels", "problem_type_of", "register_loss", "resolve_class_weights", "soft_loss",
    "squared_error", "teacher_pseudo_labels",
]
