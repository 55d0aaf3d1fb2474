"""Every term of the objective, chosen by name and task shape from one registry (torchdistill's ``register_*_loss``).

A term is registered for a kind (``"soft"``: matches the teacher's outputs; ``"hard"``: the gold-label term;
``"hidden"``: matches intermediate representations) and one or more ``problem_type`` values (``None``: any task
shape). `DistillationTrainingArguments` and the command line accept whatever is registered when they are built, so a
term added by a user's module before parsing is selectable by name like the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..problem_types import SINGLE_LABEL

LOSS_KINDS = ("soft", "hard", "hidden", "attention")


@dataclass(frozen=True)
class LossTerm:
    """A registered term: ``function`` and how the model card states it (``formula``, in ``s`` and ``t`` for the
    student's and teacher's outputs, ``T`` for the temperature and ``{y}`` for a label), whether it reads the
    temperature, and its source (paper or library)."""

    kind: str
    name: str
    problem_type: str | None
    function: Callable
    formula: str = ""
    uses_temperature: bool = False
    source: str = ""


LOSS_REGISTRY: dict[tuple[str, str, str | None], LossTerm] = {}


def register_loss(function: Callable | None = None, *, kind: str = "soft", name: str | None = None,
                  problem_type: str | Iterable[str] | None = SINGLE_LABEL, formula: str = "",
                  uses_temperature: bool = False, source: str = ""):
    """Decorator registering a loss term, bare or keyed.

    ``@register_loss`` registers a single-label soft term named after the function; ``@register_loss(name="kl",
    problem_type=MULTI_LABEL, formula=..., uses_temperature=True, source=...)`` chooses each key. ``problem_type`` may
    be several task shapes, or ``None`` for a term that fits any (hidden-state terms). Signatures by kind:
    soft ``(student_logits, teacher_logits, temperature, reduction) -> (N,)`` with ``reduction="none"``; hard
    ``(student_logits, labels) -> (per_example, labeled)``, both (N,); hidden ``(student_hidden, teacher_hidden) ->
    (N, L)``, one value per token (see `hfdistill.losses.hidden.hidden_state_loss`). Raises ``ValueError`` for an
    unknown kind.
    """
    if kind not in LOSS_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LOSS_KINDS)}, got {kind!r}.")
    problem_types = [problem_type] if problem_type is None or isinstance(problem_type, str) else list(problem_type)

    def register(fn: Callable) -> Callable:
        term_name = name or fn.__name__
        for shape in problem_types:
            LOSS_REGISTRY[(kind, term_name, shape)] = LossTerm(kind, term_name, shape, fn, formula, uses_temperature,
                                                               source)
        return fn

    return register(function) if function is not None else register


def get_loss(kind: str, name: str, problem_type: str | None = None) -> LossTerm:
    """The ``kind`` term registered as ``name`` for ``problem_type`` (or for any task shape; ``problem_type=None``:
    for whichever, single-label first); ``ValueError`` naming the terms that are registered."""
    keys = [(kind, name, problem_type), (kind, name, None)]
    if problem_type is None:  # any task shape: single-label first
        keys += [(kind, name, SINGLE_LABEL)] + [key for key in LOSS_REGISTRY if key[:2] == (kind, name)]
    for key in keys:
        if key in LOSS_REGISTRY:
            return LOSS_REGISTRY[key]
    known = ", ".join(loss_names(kind, problem_type))
    where = f" for {problem_type}" if problem_type else ""
    label = {"soft": "distillation_loss", "hidden": "hidden_state_loss"}.get(kind, f"{kind} loss")
    raise ValueError(f"{label} {name!r} is not defined{where}; use one of {known}.")


def loss_names(kind: str, problem_type: str | None = None) -> list[str]:
    """The names registered for ``kind``: for ``problem_type`` (and any task shape), or for any when ``None``."""
    names = [term_name for k, term_name, shape in LOSS_REGISTRY
             if k == kind and (problem_type is None or shape in (problem_type, None))]
    return list(dict.fromkeys(names))  # in the order they were registered
