"""Students built from a fine-tuned teacher, each an ordinary `transformers` model: a registry of kinds
(`register_student_kind`), each in its own module (`layers`, `compact`, `linear`), and `StudentSpec`, which builds
one by name and size."""

from __future__ import annotations

from transformers.utils import logging

# Each kind's module registers it on import, in this order (the order of --student's choices).
from .layers import SUPPORTED_FAMILIES, evenly_spread_layers, student_from_teacher
from .compact import compact_student
from .linear import linear_student
from .pretrained import check_pretrained_checkpoint, pretrained_student
from .common import count_parameters, pca_projection
from .registry import (COMMON_OPTIONS, FALLBACK_DEFAULTS, KIND_DEFAULTS, STUDENT_KINDS, UNLABELED_KIND_DEFAULTS,
                       StudentKind, StudentOption, StudentSpec, all_options, describe_kind, get_student_kind,
                       register_student_kind)

logger = logging.get_logger(__name__)

__all__ = [
    "COMMON_OPTIONS", "KIND_DEFAULTS", "STUDENT_KINDS", "SUPPORTED_FAMILIES", "UNLABELED_KIND_DEFAULTS", "StudentKind",
    "StudentOption", "StudentSpec", "all_options", "apply_kind_defaults", "compact_student", "count_parameters",
    "describe_kind", "describe_kind_defaults", "evenly_spread_layers", "get_student_kind", "kind_defaults",
    "linear_student", "pca_projection", "pretrained_student", "register_student_kind", "student_from_teacher",
    "check_pretrained_checkpoint",
]


def describe_kind_defaults(name: str, defaults: dict = KIND_DEFAULTS) -> str:
    """``defaults[name]`` (`KIND_DEFAULTS` or `UNLABELED_KIND_DEFAULTS`) for a help text, e.g.
    ``"layers: 1.0, compact: 3.0, linear: 1.0"``."""
    return ", ".join(f"{kind}: {value}" for kind, value in defaults.get(name, {}).items())


def kind_defaults(kind: str, alpha: float, pseudo_labels: str = "none", hidden_state_weight: float = 0.0,
                  unlabeled: bool = False) -> dict:
    """The recipe's default for each flag of `KIND_DEFAULTS`, for a student of ``kind``.

    A flag the kind gives no default for takes `FALLBACK_DEFAULTS`'. A run given unlabeled text (``unlabeled``,
    `--unlabeled_file`) takes `UNLABELED_KIND_DEFAULTS` instead: no
    augmented copies, and hashed bigrams for a linear student. A run on hard labels only (``alpha`` 0, no pseudo-labels,
    no hidden-state term) gets no augmented copies by default: they carry no label, so they would bring the teacher
    back into a run meant to go without it.
    """
    get_student_kind(kind)
    defaults = dict(FALLBACK_DEFAULTS)
    defaults.update({name: by_kind[kind] for name, by_kind in KIND_DEFAULTS.items() if kind in by_kind})
    if unlabeled:
        defaults.update({name: by_kind[kind] for name, by_kind in UNLABELED_KIND_DEFAULTS.items() if kind in by_kind})
    if alpha == 0 and pseudo_labels == "none" and hidden_state_weight == 0:
        defaults["augment_factor"] = 0
    return defaults


def apply_kind_defaults(kind: str, training_args, *arguments) -> None:
    """Set every `KIND_DEFAULTS` flag the user left unset (``None``) on ``arguments`` and ``training_args`` to the
    default for a student of ``kind`` (see :func:`kind_defaults`; an ``unlabeled_file`` on any of ``arguments``
    counts as unlabeled text)."""
    unlabeled = any(getattr(holder, "unlabeled_file", None) for holder in arguments)
    defaults = kind_defaults(kind, training_args.alpha, training_args.pseudo_labels, training_args.hidden_state_weight,
                             unlabeled)
    for name, default in defaults.items():
        for holder in (*arguments, training_args):
            if hasattr(holder, name) and getattr(holder, name) is None:
                setattr(holder, name, default)
    augment_factor = max((getattr(holder, "augment_factor", None) or 0 for holder in arguments), default=0)
    if training_args.alpha == 0 and training_args.pseudo_labels == "none" and (augment_factor or unlabeled):
        rows = " and ".join(part for part in (
            f"{augment_factor} augmented copies of each text" if augment_factor else "",
            "the unlabeled text" if unlabeled else "",
        ) if part)
        logger.warning(
            f"alpha is 0, yet the transfer set holds {rows}: rows without a gold label learn the teacher's soft labels "
            "whatever alpha is (alpha weighs the two terms on labeled rows only). For a student trained on the gold "
            "labels alone, set --augment_factor 0 and leave out --unlabeled_file."
        )
