"""Hidden-state terms: a student layer's token representations against a teacher layer's (FitNets, Romero et al.
2015; DistilBERT's cosine term, Sanh et al. 2019; TinyBERT's MSE, Jiao et al. 2020).

Shapes: student_hidden, teacher_hidden (N, L, H) float; attention_mask (N, L), 1 for real tokens, 0 for padding
(``None``: all real). An example's loss is the mean over its real tokens, so padding and sentence length do not weigh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import get_loss, loss_names, register_loss
from .soft import Reduction, reduce


@register_loss(kind="hidden", name="mse", problem_type=None, formula="mean over H of (h_s - h_t)^2",
               source="TinyBERT, Jiao et al., 2020")
def _mse_per_token(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    return (student_hidden - teacher_hidden).pow(2).mean(-1)


@register_loss(kind="hidden", name="cosine", problem_type=None, formula="1 - cos(h_s, h_t)",
               source="DistilBERT, Sanh et al., 2019")
def _cosine_per_token(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    return 1.0 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1)


def hidden_state_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    loss_type: str = "mse",
    reduction: Reduction = "batchmean",
) -> torch.Tensor:
    """Distance between a student layer's token representations and a teacher layer's, per example.

    Per token, the registered ``"hidden"`` term ``loss_type``: built in, ``"mse"`` (the mean over H of the squared
    difference) and ``"cosine"`` (``1 - cos``). Raises ``ValueError`` for an unknown name or unequal shapes.
    """
    names = loss_names("hidden")
    if loss_type not in names:
        raise ValueError(f"loss_type must be one of {tuple(names)}, got {loss_type!r}.")
    if student_hidden.shape != teacher_hidden.shape or student_hidden.dim() != 3:
        raise ValueError(
            "student_hidden and teacher_hidden must both have shape (N, L, H); got "
            f"{tuple(student_hidden.shape)} and {tuple(teacher_hidden.shape)}. Hidden states can only be matched "
            "between models of the same hidden size, e.g. a 'layers' student and its teacher."
        )
    per_token = get_loss("hidden", loss_type).function(student_hidden.float(), teacher_hidden.float())
    mask = torch.ones_like(per_token) if attention_mask is None else attention_mask.to(per_token.dtype)
    per_example = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return reduce(per_example, reduction)


def hidden_state_term(student_hidden_states, teacher_hidden_states, pairs: list[tuple[int, int]],
                      attention_mask: torch.Tensor | None = None, loss_type: str = "mse", projection=None
                      ) -> torch.Tensor:
    """(N,) per example: the mean over the matched layers ``pairs`` ((student, teacher) indices into each model's
    ``hidden_states``) of `hidden_state_loss`; a narrower student's states go through ``projection`` (TinyBERT's
    ``W_h``, `hfdistill.losses.attention.HiddenStateProjection`: one map per pair) into the teacher's width first."""
    per_layer = []
    for index, (student_layer, teacher_layer) in enumerate(pairs):
        student = student_hidden_states[student_layer]
        student = projection(index, student) if projection is not None else student
        teacher = teacher_hidden_states[teacher_layer].to(student.device)
        per_layer.append(hidden_state_loss(student, teacher, attention_mask, loss_type, reduction="none"))
    return torch.stack(per_layer).mean(0)
