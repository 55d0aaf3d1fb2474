"""One interface for every teacher: `Teacher.logits(batch)` gives a batch's (N, C) soft-target logits, whether they
come from a model run online, from several models (an ensemble), or from logits stored in the batch (the cache, or
soft labels from elsewhere). The loss reads them through it, whatever their source.

Teacher sources are a registry (`register_teacher_source`): each turns what a user passes as ``teacher_model`` (a
model, a Hub name or folder, a list of them, ...) into a `Teacher`. Adding one touches one module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..data.collator import TEACHER_INPUT_PREFIX, TEACHER_LOGITS_COLUMN, teacher_input_columns
from ..utils import forward_arg_names


class Teacher:
    """What the trainer asks of a teacher.

    ``models``: the frozen `nn.Module` s behind it (their configs are checked against the student before training;
    empty for a teacher without one, e.g. an API); ``input_names``: the batch columns it reads.
    """

    models: list[nn.Module] = []
    input_names: set[str] = set()

    def logits(self, batch: dict[str, Any], outputs=None) -> torch.Tensor:
        """(N, C) float: the batch's soft-target logits (no gradient). ``outputs``: the model's outputs on this batch
        when the caller already ran it (`forward`), so that it does not run twice."""
        raise NotImplementedError

    def forward(self, batch: dict[str, Any], **forward_kwargs):
        """The one model's full outputs on ``batch`` (e.g. ``output_hidden_states=True``); ``ValueError`` for a
        teacher that is not one model."""
        raise ValueError(f"A {type(self).__name__} has no single model to run: intermediate-layer terms need one "
                         "teacher model.")

    def prepare(self, prepare_model: Callable[[nn.Module], nn.Module]) -> None:
        """Place the models on the run's device (``prepare_model``: accelerate's, in evaluation mode); called once,
        lazily, before the first batch that needs them."""


def _select(batch: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The batch's columns the model reads: its own tokenization (``teacher_input_ids``, ...) when the batch has one,
    else the student's inputs; never the labels."""
    own = {key.removeprefix(TEACHER_INPUT_PREFIX): batch[key] for key in teacher_input_columns(batch)}
    source = own or batch
    return {key: value for key, value in source.items() if key in names and key not in ("labels", "label", "label_ids")}


class OnlineTeacher(Teacher):
    """One frozen model run on every batch (Hinton et al., 2015's teacher, SetFit's ``teacher_model``)."""

    def __init__(self, model: nn.Module):
        self.model = model.eval().requires_grad_(False)
        self.models = [self.model]
        self.input_names = forward_arg_names(model)

    def prepare(self, prepare_model) -> None:
        self.model = prepare_model(self.model).eval()
        self.models = [self.model]

    def forward(self, batch, **forward_kwargs):
        with torch.no_grad():
            return self.model(**_select(batch, self.input_names), **forward_kwargs)

    def logits(self, batch, outputs=None) -> torch.Tensor:
        outputs = self.forward(batch) if outputs is None else outputs
        return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


class EnsembleTeacher(Teacher):
    """Several teachers as one: their logits combined per batch by ``combine((N, K, C) logits) -> (N, C)``, e.g.
    `combine_teacher_logits` with the ensemble's weights and the run's temperature (the weighted mean of their
    temperature-softened probabilities; Hinton et al., 2015)."""

    def __init__(self, members: Sequence[Teacher], combine: Callable):
        self.members = list(members)
        self.combine = combine
        self.models = [model for member in self.members for model in member.models]
        self.input_names = set().union(*(member.input_names for member in self.members))

    def prepare(self, prepare_model) -> None:
        for member in self.members:
            member.prepare(prepare_model)
        self.models = [model for member in self.members for model in member.models]

    def forward(self, batch, **forward_kwargs):
        if len(self.members) == 1:
            return self.members[0].forward(batch, **forward_kwargs)
        return super().forward(batch, **forward_kwargs)

    def logits(self, batch, outputs=None) -> torch.Tensor:
        if len(self.members) == 1:
            return self.members[0].logits(batch, outputs)
        return self.combine(torch.stack([member.logits(batch) for member in self.members], dim=1))


class StoredLogitsTeacher(Teacher):
    """Logits stored in the batch's ``teacher_logits`` column ((N, C), or (N, K, C) for K teachers, combined like an
    ensemble's), from the logit cache or another framework; a batch without them goes to ``fallback``."""

    def __init__(self, fallback: Teacher | None, combine: Callable):
        self.fallback = fallback
        self.combine = combine
        self.models = fallback.models if fallback is not None else []
        self.input_names = fallback.input_names if fallback is not None else set()

    def prepare(self, prepare_model) -> None:
        if self.fallback is not None:
            self.fallback.prepare(prepare_model)
            self.models = self.fallback.models

    def forward(self, batch, **forward_kwargs):
        if self.fallback is None:
            return super().forward(batch, **forward_kwargs)
        return self.fallback.forward(batch, **forward_kwargs)

    def logits(self, batch, outputs=None) -> torch.Tensor:
        stored = batch.get(TEACHER_LOGITS_COLUMN)
        if stored is not None:
            return stored if stored.dim() == 2 else self.combine(stored)
        if self.fallback is None:
            raise ValueError(
                f"A training batch has no {TEACHER_LOGITS_COLUMN} and there is no teacher_model to compute them. Give "
                "every row stored logits, or pass teacher_model."
            )
        return self.fallback.logits(batch, outputs)


# ---- sources: what a user may pass as teacher_model --------------------------------------------------------------

TEACHER_SOURCES: dict[str, tuple[Callable[[Any], bool], Callable[..., Teacher]]] = {}


def register_teacher_source(name: str, accepts: Callable[[Any], bool]):
    """Decorator: ``build(teacher_model, **context) -> Teacher`` is used for every ``teacher_model`` that
    ``accepts``. Sources are tried newest first, so a specific one registered later wins over a general one.
    ``context`` holds ``combine`` (see `EnsembleTeacher`)."""

    def register(build: Callable[..., Teacher]) -> Callable[..., Teacher]:
        TEACHER_SOURCES[name] = (accepts, build)
        return build

    return register


@register_teacher_source("path", accepts=lambda value: isinstance(value, str))
def _from_path(name_or_path: str, **context) -> Teacher:
    from .loading import load_teacher

    return OnlineTeacher(load_teacher(name_or_path))


@register_teacher_source("model", accepts=lambda value: isinstance(value, nn.Module))
def _from_model(model: nn.Module, **context) -> Teacher:
    return OnlineTeacher(model)


@register_teacher_source("ensemble", accepts=lambda value: isinstance(value, (list, tuple)))
def _from_list(teachers: Sequence, combine=None, **context) -> Teacher:
    return EnsembleTeacher([build_teacher(teacher, combine=combine, **context) for teacher in teachers], combine)


def build_teacher(teacher_model, **context) -> Teacher | None:
    """The `Teacher` for ``teacher_model`` from the first registered source that accepts it (``None`` stays
    ``None``: stored logits alone). Raises ``TypeError`` naming the kinds of teacher that are accepted."""
    if teacher_model is None or isinstance(teacher_model, Teacher):
        return teacher_model
    for accepts, build in reversed(TEACHER_SOURCES.values()):
        if accepts(teacher_model):
            return build(teacher_model, **context)
    raise TypeError(f"teacher_model of type {type(teacher_model).__name__} is not one hfdistill can use: pass a model, "
                    "a Hub name or local folder, a list of them, or a Teacher "
                    f"(sources: {', '.join(TEACHER_SOURCES)}).")
