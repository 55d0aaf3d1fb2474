"""The student-kind registry: each kind (a module of `hfdistill.students`) declares its sizes, checks, builder, the
recipe's defaults for it and its model-card line in one `StudentKind`, so that adding a kind touches one module.

The recipe's ``--student`` choices and ``--student_*`` flags are built from the registry when its parser is built,
so a kind registered by a user's module before parsing is selectable like the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass(frozen=True)
class StudentOption:
    """A size or setting of a student kind: its default for `StudentSpec`, its type and help for the recipe's
    ``--student_<name>`` flag, and its flag default when that differs (``None``: by student kind, see
    `StudentKind.defaults`)."""

    default: Any
    type: Any
    help: str
    flag_default: Any = "same"
    metadata: dict = field(default_factory=dict)  # extra argparse settings, e.g. choices, nargs


@dataclass(frozen=True)
class StudentKind:
    """A kind of student.

    ``build(spec, teacher) -> model`` makes it from the fine-tuned teacher; ``check(spec, teacher_config)`` raises
    the ``ValueError`` ``build`` would, from the teacher's config alone, before any training. ``options``: its sizes
    (`StudentOption` by name, shared by name with other kinds). ``defaults``: the recipe's value for each flag the
    user leaves unset (e.g. ``learning_rate``), and ``unlabeled_defaults`` those that replace them when the run has
    unlabeled text. ``description`` completes the card's "A ... distilled with hfdistill"; ``model_type`` is the
    model type it builds when that is one of hfdistill's own (loaded elsewhere with ``trust_remote_code``);
    ``matches_hidden_states``: whether each of its layers comes from one teacher layer (`hidden_state_weight`).
    """

    name: str
    build: Callable[..., nn.Module]
    check: Callable[..., None]
    options: dict[str, StudentOption]
    defaults: dict[str, Any]
    description: str
    help: str
    unlabeled_defaults: dict[str, Any] = field(default_factory=dict)
    model_type: str | None = None
    matches_hidden_states: bool = False
    spec_defaults: dict[str, Any] = field(default_factory=dict)  # this kind's own defaults of shared options
    tokenizer: Callable | None = None  # tokenizer(spec): the student's own, when it is not the teacher's


# Options every kind has.
COMMON_OPTIONS = {
    "freeze_word_embeddings": StudentOption(
        False, bool | None, "Keep the student's word embeddings (derived from the teacher's) frozen: a faster step on "
        "CPU, fewer weights to fit", flag_default=None, metadata={"nargs": "?", "const": True}),
}
# The recipe's value of each flag a kind gives no default for: TrainingArguments' own, and no transfer-set growth.
FALLBACK_DEFAULTS = {"learning_rate": 5e-5, "num_train_epochs": 3.0, "augment_factor": 0,
                     "student_freeze_word_embeddings": False, "student_num_bigram_buckets": 0,
                     "train_sampling_strategy": "random", "warmup_steps": 0.0}
# The option the kinds that have encoder layers share: how many to keep (the recipe's default by kind).
NUM_LAYERS = StudentOption(2, int | None, "Encoder layers of a 'layers' or 'compact' student, or the layers a "
                           "'pretrained' one is cut to (spread evenly).", flag_default=None)
STUDENT_KINDS: dict[str, StudentKind] = {}
# The recipe's default of each flag by kind, {flag: {kind: value}}, and those for runs with unlabeled text.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {}
UNLABELED_KIND_DEFAULTS: dict[str, dict[str, Any]] = {}


def register_student_kind(kind: StudentKind) -> StudentKind:
    """Add ``kind`` to the registry (replacing one of the same name). Raises ``ValueError`` when one of its options
    has another default than the option of the same name of a registered kind."""
    known = all_options()
    for name, option in kind.options.items():
        if name in known and known[name].default != option.default:
            raise ValueError(f"Student option {name!r} of kind {kind.name!r} has default {option.default!r}, but "
                             f"another kind's has {known[name].default!r}: shared options must agree.")
    STUDENT_KINDS[kind.name] = kind
    for table, values in ((KIND_DEFAULTS, kind.defaults), (UNLABELED_KIND_DEFAULTS, kind.unlabeled_defaults)):
        for name, value in values.items():
            table.setdefault(name, {})[kind.name] = value
    return kind


def get_student_kind(name: str | None, missing_ok: bool = False) -> StudentKind | None:
    """The registered kind ``name``; ``ValueError`` naming the registered kinds (``None`` with ``missing_ok``)."""
    if name in STUDENT_KINDS:
        return STUDENT_KINDS[name]
    if missing_ok:
        return None
    raise ValueError(f"Unknown student kind {name!r}: choose one of {', '.join(STUDENT_KINDS)}.")


def describe_kind(name: str | None) -> str | None:
    """The model card's words for a kind ("transformer cut from the teacher ..."), ``None`` for an unknown one."""
    kind = get_student_kind(name, missing_ok=True)
    return kind.description if kind is not None else None


def all_options() -> dict[str, StudentOption]:
    """Every option of every registered kind, and the common ones, by name."""
    options = {}
    for kind in STUDENT_KINDS.values():
        for name, option in kind.options.items():
            options.setdefault(name, option)
    return {**options, **COMMON_OPTIONS}


class StudentSpec:
    """Which student to build and its sizes: ``StudentSpec("compact", num_layers=2, hidden_size=128)``. Each kind
    reads its own options; an option left out takes its default.

    `check` raises the error `build` would, from the teacher's config alone, so that a bad size is reported before
    any training (the recipe calls it before fine-tuning the teacher). Raises ``TypeError`` for an option no
    registered kind has.
    """

    def __init__(self, kind: str = "layers", **options):
        options_known = all_options()
        unknown = sorted(set(options) - set(options_known))
        if unknown:
            raise TypeError(f"StudentSpec got unknown option(s) {unknown}; the registered kinds' options are "
                            f"{sorted(options_known)}.")
        self.kind = kind
        self.options = {name: option.default for name, option in options_known.items()}
        registered = get_student_kind(kind, missing_ok=True)
        self.options.update(registered.spec_defaults if registered is not None else {})
        self.options.update(options)

    def __setattr__(self, name: str, value) -> None:
        if name in self.__dict__.get("options", {}):
            self.options[name] = value
        else:
            super().__setattr__(name, value)

    def __eq__(self, other) -> bool:
        return isinstance(other, StudentSpec) and self.settings() == other.settings()

    def __getattr__(self, name: str):
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"StudentSpec({self.kind!r}, {', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def settings(self) -> dict:
        """``kind`` and every option, as results.json records them."""
        return {"kind": self.kind, **self.options}

    def tokenizer(self):
        """The student's own tokenizer when its kind has one (a pretrained checkpoint's), else ``None``: the
        student reads the teacher's."""
        kind = get_student_kind(self.kind)
        return kind.tokenizer(self) if kind.tokenizer is not None else None

    def check(self, teacher_config, match_hidden_states: bool = False) -> None:
        """``match_hidden_states``: whether training will compare hidden states (`hidden_state_weight > 0`)."""
        kind = get_student_kind(self.kind)
        if match_hidden_states and not kind.matches_hidden_states:
            raise ValueError(
                f"hidden_state_weight > 0 compares each student layer with a teacher layer, which a 'layers' or "
                f"'compact' student has; a {self.kind!r} student cannot. Use --student layers or compact, or set "
                "--hidden_state_weight 0."
            )
        kind.check(self, teacher_config)

    def build(self, teacher: nn.Module) -> nn.Module:
        """The student of this kind and size, made from ``teacher`` (see each kind's builder)."""
        self.check(teacher.config)
        student = get_student_kind(self.kind).build(self, teacher)
        if self.freeze_word_embeddings:
            # The vocabulary-sized matrix is most of a small student's parameters: on a CPU its dense gradient and
            # AdamW update are a large part of a small student's step.
            student.get_input_embeddings().requires_grad_(False)
        return student
