"""Several teachers as one: their soft targets averaged per batch ("knowledge fusion", multi-teacher distillation).

Hinton et al. (2015) distil an ensemble by its arithmetic mean of (temperature-softened) class probabilities, the
choice made here too, with optional weights (TextBrewer's MultiTeacherDistiller averages the same way):

- single-label: ``p = sum_k w_k softmax(t_k / T)``;
- multi-label: per label ``p = sum_k w_k sigmoid(t_k / T)``;
- regression: the weighted mean prediction ``sum_k w_k t_k``.

Every loss takes logits, so the mean is returned as the logits that give it back at the same temperature:
``T * log p`` (``softmax`` of it over ``T`` is ``p``) and ``T * logit(p)`` for multi-label. Logit-matching losses
(``"mse"``, ``"cosine"``) match the weighted mean of the logits instead, their natural average. One teacher is
returned unchanged, so a one-teacher ensemble is exactly the single-teacher case.

Shapes: ``teacher_logits`` (N, K, C) for K teachers; weights (K,), non-negative, normalised to sum to 1.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from ..losses import evaluation_loss, get_loss
from ..problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL, problem_type_of


def normalized_weights(weights: Sequence[float] | None, num_teachers: int) -> list[float]:
    """``weights`` divided by their sum (uniform when ``None``); ``ValueError`` for a wrong count or negative values."""
    if weights is None:
        return [1.0 / num_teachers] * num_teachers
    weights = [float(weight) for weight in weights]
    if len(weights) != num_teachers:
        raise ValueError(f"{len(weights)} teacher weights for {num_teachers} teachers: give one weight per teacher.")
    if any(weight < 0 for weight in weights) or sum(weights) <= 0:
        raise ValueError(f"Teacher weights must be >= 0 and not all 0, got {weights}.")
    return [weight / sum(weights) for weight in weights]


def combine_teacher_logits(
    teacher_logits: torch.Tensor,
    weights: Sequence[float] | None = None,
    temperature: float = 1.0,
    problem_type: str = SINGLE_LABEL,
    loss_type: str = "kl",
) -> torch.Tensor:
    """The ensemble's (N, C) logits from K teachers' (N, K, C) logits (see the module docstring)."""
    if teacher_logits.dim() == 2:
        return teacher_logits
    if teacher_logits.dim() != 3:
        raise ValueError(
            f"teacher_logits of several teachers must have shape (N, K, C), got {tuple(teacher_logits.shape)}."
        )
    num_teachers = teacher_logits.shape[1]
    if num_teachers == 1:
        return teacher_logits[:, 0]
    w = torch.tensor(normalized_weights(weights, num_teachers), dtype=torch.float32, device=teacher_logits.device)
    logits = teacher_logits.float()
    if problem_type == REGRESSION or not get_loss("soft", loss_type, problem_type).uses_temperature:
        return torch.einsum("nkc,k->nc", logits, w)
    if problem_type == MULTI_LABEL:
        probability = torch.einsum("nkc,k->nc", torch.sigmoid(logits / temperature), w).clamp(1e-7, 1 - 1e-7)
        return temperature * torch.logit(probability)
    # log of the weighted mean of softmaxes, in log space: logsumexp_k(log w_k + log_softmax(t_k / T))
    log_probability = torch.logsumexp(torch.log(w)[None, :, None] + torch.log_softmax(logits / temperature, -1), dim=1)
    return temperature * log_probability


class TeacherEnsemble(nn.Module):
    """Several fine-tuned teachers of one tokenizer as one classifier: ``forward`` returns the logits of their
    weighted mean prediction at T = 1 (``log`` of the mean probabilities; the mean score for regression), so it
    predicts like one model. (The recipe scores an ensemble from its members' predictions, each through its own
    tokenizer, combined the same way: `hfdistill.teachers.fine_tuning.evaluate_teachers`.) Its ``config`` is the
    first teacher's (they share the classes); ``save_pretrained`` writes each teacher to ``member-i/``."""

    def __init__(self, teachers: Sequence[nn.Module], weights: Sequence[float] | None = None):
        super().__init__()
        if len(teachers) < 2:
            raise ValueError("An ensemble needs at least two teachers.")
        self.members = nn.ModuleList(teachers)
        self.weights = normalized_weights(weights, len(teachers))
        self.config = teachers[0].config
        self.problem_type = problem_type_of(self.config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        logits = []
        for member in self.members:
            accepted = inspect.signature(member.forward).parameters
            logits.append(member(**{k: v for k, v in inputs.items() if v is not None and k in accepted}).logits)
        combined = combine_teacher_logits(torch.stack(logits, dim=1), self.weights, 1.0, self.problem_type)
        loss = None
        if labels is not None:  # the task's own loss, as a *ForSequenceClassification model gives with labels
            loss = evaluation_loss(combined, labels, self.problem_type)
        return SequenceClassifierOutput(loss=loss, logits=combined)

    def save_pretrained(self, folder: str, **kwargs) -> None:
        for index, member in enumerate(self.members):
            member.save_pretrained(os.path.join(folder, f"member-{index}"), **kwargs)
