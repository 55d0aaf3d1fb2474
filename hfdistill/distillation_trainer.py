"""`DistillationTrainer`: a `transformers.Trainer` that trains a student to match a frozen teacher."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, PreTrainedModel, Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.utils import CONFIG_NAME
from transformers.utils.hub import hf_api

from .distillation_config import DistillationTrainingArguments
from .losses import HARD_LOSSES, IGNORE_INDEX, PSEUDO_LABELERS, distillation_loss, get_soft_loss, hidden_state_loss, problem_type_of
from .data.tasks import is_list_feature
from .ensemble import combine_teacher_logits, normalized_weights
from .model_card import render_model_card
from .precision import Fp32CpuEvaluationMixin
from .samplers import LengthWindowSamplingMixin
from .trainer_utils import DatasetOrderEvaluationMixin, arrow_lengths, check_input_lengths, check_same_vocabulary

TEACHER_LOGITS_COLUMN = "teacher_logits"
# Kept in output_dir beside the student (e.g. by the recipe) but never uploaded with it.
TEACHER_SUBFOLDER = "teacher"
HUB_IGNORE_PATTERNS = [f"{TEACHER_SUBFOLDER}/*", f"{TEACHER_SUBFOLDER}-*/*"]  # one teacher, or an ensemble's
_LABEL_COLUMNS = ("label", "labels", "label_ids")
_LOSS_PARTS_FOLD = 256  # training steps whose loss parts are kept before they are summed


def check_model_folder(name_or_path: str) -> None:
    """A local folder without config.json is not a saved model: say so, instead of transformers' Hub-lookup error."""
    if os.path.isdir(name_or_path) and not os.path.isfile(os.path.join(name_or_path, CONFIG_NAME)):
        raise ValueError(
            f"Teacher path {name_or_path!r} is a folder without config.json, so it is not a saved model. Pass the "
            "folder that `save_pretrained`/`trainer.save_model()` wrote, or a Hub model name."
        )


def load_teacher(name_or_path: str, **from_pretrained_kwargs) -> PreTrainedModel:
    """Load a sequence-classification teacher from a Hub name or a local folder, with an error that says what to pass."""
    check_model_folder(name_or_path)
    try:
        return AutoModelForSequenceClassification.from_pretrained(name_or_path, **from_pretrained_kwargs)
    except OSError as error:
        raise ValueError(
            f"Could not load the teacher {name_or_path!r}: {error}\nPass a local model folder (with config.json and "
            "weights) or, with network access, a Hub model name."
        ) from error


def load_tokenizer_if_saved(name_or_path: str | None):
    """The tokenizer saved in a local model folder, or ``None`` when there is none (nothing is downloaded)."""
    if not name_or_path or not os.path.isdir(name_or_path):
        return None
    if not any(os.path.isfile(os.path.join(name_or_path, name)) for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError):
        return None


def check_tokenizer(tokenizer, model_config, teacher_tokenizer=None) -> None:
    """A tokenizer whose ids the model cannot embed fails here, not as an IndexError inside the forward pass; given
    the teacher's own tokenizer, one that maps tokens to other ids fails too, even at the same size."""
    if teacher_tokenizer is not None and hasattr(tokenizer, "get_vocab") and hasattr(teacher_tokenizer, "get_vocab"):
        check_same_vocabulary(tokenizer, teacher_tokenizer)
    vocab_size = getattr(model_config, "vocab_size", None)
    tokenizer_size = len(tokenizer) if hasattr(tokenizer, "__len__") else None
    if tokenizer_size is not None and vocab_size is not None and tokenizer_size > vocab_size:
        raise ValueError(
            f"The tokenizer has {tokenizer_size} tokens but the teacher's vocab_size is {vocab_size}: it is not the "
            "teacher's tokenizer. Teacher and student must share the teacher's tokenizer (saved in the teacher's folder)."
        )


def model_code_files(folder: str) -> list[str]:
    """The Python files of ``folder`` that its config's ``auto_map`` loads with ``trust_remote_code=True``."""
    try:
        with open(os.path.join(folder, CONFIG_NAME), encoding="utf-8") as f:
            auto_map = json.load(f).get("auto_map") or {}
    except (OSError, ValueError):
        return []
    references = [value for entry in auto_map.values() for value in (entry if isinstance(entry, list) else [entry]) if value]
    modules = {reference.split("--")[-1].rsplit(".", 1)[0] for reference in references}
    return sorted(f"{module}.py" for module in modules if os.path.isfile(os.path.join(folder, f"{module}.py")))


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` in ``output_dir`` that was written to the end (its trainer_state.json, which Trainer
    writes last, parses), or ``None``. A run killed while checkpointing leaves a newer, incomplete folder behind."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted(
        (int(match.group(1)), name)
        for name in os.listdir(output_dir)
        if (match := re.fullmatch(r"checkpoint-(\d+)", name)) and os.path.isdir(os.path.join(output_dir, name))
    )
    for _, name in reversed(steps):
        try:
            with open(os.path.join(output_dir, name, "trainer_state.json")) as f:
                json.load(f)
        except (OSError, ValueError):
            continue
        return os.path.join(output_dir, name)
    return None


def forward_arg_names(model: nn.Module) -> set[str]:
    """The named arguments of `model.forward` (not `**kwargs`, which would swallow any column)."""
    parameters = inspect.signature(model.forward).parameters.values()
    return {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _column_names(dataset) -> list[str] | None:
    if dataset is None:
        return None
    if getattr(dataset, "column_names", None) is not None:
        return list(dataset.column_names)
    try:
        example = dataset[0]
    except Exception:  # iterable or opaque datasets: nothing to inspect before training
        return None
    return list(example) if isinstance(example, dict) else None


def _batch_size(batch: dict[str, Any]) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    raise ValueError(f"Cannot tell the batch size: no tensor in the batch (keys: {sorted(batch)}).")


class TeacherLogitsCollator:
    """Wraps a data collator: stacks the stored `teacher_logits` of a batch itself and hands the other columns to
    ``collator``, which therefore never sees them. A tokenizer's padding walks every value of every feature, and the
    logits need no padding. Any other attribute is the wrapped collator's (Trainer saves ``collator.tokenizer``)."""

    def __init__(self, collator: Callable):
        self.collator = collator

    def __getattr__(self, name: str):
        if name == "collator":  # not set yet, e.g. while unpickling in a dataloader worker: no recursion
            raise AttributeError(name)
        return getattr(self.collator, name)

    def __call__(self, features: list) -> dict:
        if not features or not isinstance(features[0], Mapping) or TEACHER_LOGITS_COLUMN not in features[0]:
            return self.collator(features)
        values = [feature[TEACHER_LOGITS_COLUMN] for feature in features]
        if isinstance(values[0], list):
            teacher_logits = torch.tensor(values, dtype=torch.float32)
        else:  # tensors or arrays, from a dataset formatted for torch or numpy
            teacher_logits = torch.stack([torch.as_tensor(value, dtype=torch.float32) for value in values])
        batch = self.collator([{k: v for k, v in feature.items() if k != TEACHER_LOGITS_COLUMN} for feature in features])
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"The data collator returned a {type(batch).__name__}; DistillationTrainer needs a dict of tensors "
                "(e.g. from DataCollatorWithPadding) to add the batch's teacher_logits to."
            )
        batch[TEACHER_LOGITS_COLUMN] = teacher_logits
        return batch


def distillation_hp_space(trial, learning_rate: float = 1e-4) -> dict[str, float]:
    """The default search space of `DistillationTrainer.hyperparameter_search` (an optuna ``trial``): temperature T
    in [1, 8] and the learning rate within a factor of 10 of ``learning_rate`` (the run's own; [1e-5, 1e-3] around
    1e-4), both log-uniform, and alpha uniform in [0, 1]. The learning-rate range follows the student: a linear
    student needs about 1e-3 and predicts one class after an epoch at 1e-4, a transformer cut learns at 1e-4.
    Hinton et al. (2015) found intermediate temperatures best for small students; the range covers the values used
    in DistilBERT (T 2), Tang et al. (2019) and TinyBERT (T 1). Raises ``ValueError`` for a ``learning_rate`` <= 0."""
    if learning_rate <= 0:
        raise ValueError(f"The search centres its learning-rate range on the run's learning_rate, which must be > 0; "
                         f"got {learning_rate}.")
    return {
        "temperature": trial.suggest_float("temperature", 1.0, 8.0, log=True),
        "alpha": trial.suggest_float("alpha", 0.0, 1.0),
        "learning_rate": trial.suggest_float("learning_rate", learning_rate / 10, learning_rate * 10, log=True),
    }


class DistillationTrainer(LengthWindowSamplingMixin, Fp32CpuEvaluationMixin, DatasetOrderEvaluationMixin, Trainer):
    """
    A [`~transformers.Trainer`] that distils a frozen teacher into the student `model`.

    Takes every [`~transformers.Trainer`] argument, plus `teacher_model`: a model, or a Hub name / local folder
    loaded with `AutoModelForSequenceClassification`. The loss is the one of
    [`DistillationTrainingArguments`]; each batch's teacher logits are taken from its `teacher_logits` column when it
    has one, and computed by the teacher otherwise. `teacher_model` may be `None` when every training row carries
    `teacher_logits` (soft labels from another framework, an API or an earlier run). Evaluation and prediction
    measure the student alone (its cross-entropy and logits), in the eval dataset's row order whatever the training
    sampler; `save_model` and checkpoints hold the student alone. With ``bf16`` on the CPU (see
    :mod:`hfdistill.precision`) training autocasts to bf16 while evaluation and prediction stay fp32.

    `teacher_processing_class` is the teacher's tokenizer; when it is not given, the one saved in the teacher's
    local folder (if any) is used. When both tokenizers are known, their token-to-id maps must be equal.

    Raises `ValueError` before any training step for what would fail or silently go wrong later: teacher and student
    disagreeing on classes, labels or vocabulary, a tokenizer that maps tokens to other ids than the teacher's,
    inputs longer than either model's position table, an empty or untokenized training set, and, without a teacher,
    a training row without `teacher_logits` or logits of the wrong width.
    """

    _tag_names = ["hfdistill", "knowledge-distillation"]
    # `compute_loss` divides by the number of examples in the whole gradient-accumulation window (see
    # `get_batch_samples`), so Trainer must not divide again by the number of accumulation steps.
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model: PreTrainedModel | nn.Module | None = None,
        teacher_model: PreTrainedModel | nn.Module | str | list | None = None,
        args: DistillationTrainingArguments | None = None,
        teacher_processing_class=None,
        teacher_weights: list[float] | None = None,
        **kwargs,
    ):
        if args is None:
            args = DistillationTrainingArguments(output_dir="trainer_output")
        elif not isinstance(args, DistillationTrainingArguments):
            raise ValueError(
                f"args must be a DistillationTrainingArguments, got {type(args).__name__}. It adds temperature, alpha "
                "and distillation_loss to TrainingArguments: build it with the same keyword arguments."
            )
        teachers = list(teacher_model) if isinstance(teacher_model, (list, tuple)) else [] if teacher_model is None else [teacher_model]
        teacher_paths = [teacher if isinstance(teacher, str) else None for teacher in teachers]
        teachers = [load_teacher(teacher) if isinstance(teacher, str) else teacher for teacher in teachers]
        if model is None and kwargs.get("model_init") is None:
            raise ValueError(
                "model (the student) or model_init (a function building it, for hyperparameter_search) is required; "
                "see hfdistill.student_from_teacher to build one."
            )

        super().__init__(model=model, args=args, **kwargs)

        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > 1 and self.args.world_size == 1:
            raise ValueError(
                f"{launched} processes were launched but they did not join one process group, so each would train "
                "and write on its own. Without a GPU, add `--use_cpu true` (TrainingArguments.use_cpu=True) to run them "
                "together on the CPU: `accelerate launch --multi_gpu --num_processes N script.py --use_cpu true`."
            )

        student = self.accelerator.unwrap_model(self.model)
        # Frozen for good: no dropout, no gradients, and not attributes of the student, so they are never saved.
        self.teacher_models = [teacher.eval().requires_grad_(False) for teacher in teachers]
        self.teacher_model = self.teacher_models[0] if self.teacher_models else None  # the teacher, when there is one
        self.teacher_weights = normalized_weights(teacher_weights, len(teachers)) if teachers else teacher_weights
        self._teacher_prepared = False
        self._student_arg_names = forward_arg_names(student)
        self._teacher_arg_names_each = [forward_arg_names(teacher) for teacher in self.teacher_models]
        self._teacher_arg_names = set().union(*self._teacher_arg_names_each)
        for teacher, path in zip(self.teacher_models, teacher_paths):
            tokenizer = teacher_processing_class or load_tokenizer_if_saved(
                path or getattr(getattr(teacher, "config", None), "_name_or_path", None))
            self._check_models(student, teacher, self.processing_class, tokenizer)
        if self.args.hidden_state_weight > 0 and len(self.teacher_models) != 1:
            raise ValueError(
                "hidden_state_weight > 0 matches one teacher's hidden states layer by layer; "
                + ("stored teacher_logits do not carry them: pass teacher_model" if not self.teacher_models else
                   f"{len(self.teacher_models)} teachers were given: pass one") + ", or set hidden_state_weight to 0."
            )
        self.problem_type = self._check_problem_type(student, self.teacher_model)
        for teacher in self.teacher_models[1:]:
            if self._check_problem_type(student, teacher) != self.problem_type:
                raise ValueError("The teachers were fine-tuned for different task shapes (problem_type): an ensemble "
                                 "needs teachers of one task and one set of classes.")
        self._hidden_state_pairs = (
            self._check_hidden_state_pairs(student, self.teacher_model) if self.args.hidden_state_weight > 0 else []
        )
        self._check_train_dataset(self.train_dataset)
        eval_sets = self.eval_dataset if isinstance(self.eval_dataset, dict) else {"evaluation": self.eval_dataset}
        for split, dataset in {"training": self.train_dataset, **eval_sets}.items():
            self._check_label_shape(dataset, split, getattr(getattr(student, "config", None), "num_labels", None))
        self._check_stored_teacher_logits(self.train_dataset, student, required=self.teacher_model is None)
        for split, dataset in {"training": self.train_dataset, **eval_sets}.items():
            self._check_input_lengths(dataset, split)
        # Each training step's detached per-example loss parts since the last log, summed only every
        # `_LOSS_PARTS_FOLD` steps and at log time, so that the step itself pays no bookkeeping ops; and their sums so
        # far (see `_fold_loss_parts`). Evaluation measures the student alone and records none.
        self._loss_parts: list[tuple] = []
        self._loss_sums: torch.Tensor | None = None

    @property
    def data_collator(self) -> Callable:
        return self._data_collator

    @data_collator.setter
    def data_collator(self, collator: Callable) -> None:
        # Wrapped whenever it is set, by Trainer's __init__ or later by the user: see TeacherLogitsCollator.
        # Not a collator that is not callable: Trainer's own check then explains the old `collate_batch` API.
        wrap = callable(collator) and not isinstance(collator, TeacherLogitsCollator)
        self._data_collator = TeacherLogitsCollator(collator) if wrap else collator

    def hyperparameter_search(
        self,
        hp_space: Callable | None = None,
        compute_objective: Callable[[dict[str, float]], float] | None = None,
        n_trials: int = 20,
        direction: str | list[str] = "maximize",
        backend: str | None = "optuna",
        hp_name: Callable | None = None,
        **kwargs,
    ):
        """[`Trainer.hyperparameter_search`] over the distillation settings: each trial rebuilds the student with
        `model_init` and trains it against the same frozen teacher, prepared once and never trained or saved.

        Defaults differ from Trainer's where distillation needs it: ``hp_space`` is `distillation_hp_space`
        (temperature, alpha and a learning rate within a factor of 10 of ``args.learning_rate``), the objective is the
        evaluation's ``metric_for_best_model`` (else the task's primary metric: accuracy, macro-F1 or Spearman; see `hfdistill.metrics.primary_metric`), maximised.
        Needs `model_init` and an `eval_dataset`; raises ``ValueError`` otherwise. With optuna, every trial (number,
        objective, parameters, state) is kept in ``trainer.hp_search_trials``.
        """
        if self.model_init is None:
            raise ValueError("hyperparameter_search rebuilds the student for every trial: pass model_init (a function "
                             "returning a fresh student) instead of model.")
        if self.eval_dataset is None:
            raise ValueError("hyperparameter_search compares trials on an evaluation set: pass eval_dataset (a part held "
                             "out of the training data, not the set you report).")
        if compute_objective is None:
            from .metrics import report_metric

            metric = report_metric(self.problem_type, self.args.metric_for_best_model)

            def compute_objective(metrics: dict[str, float]) -> float:
                if f"eval_{metric}" not in metrics:
                    raise ValueError(f"The evaluation gave {sorted(metrics)}, without eval_{metric}: pass compute_metrics, "
                                     "or set metric_for_best_model to one it returns.")
                return metrics[f"eval_{metric}"]

        record = backend in (None, "optuna") and "storage" not in kwargs
        if record:  # keep every trial, not only the best, for the caller to report (`hp_search_trials`)
            import optuna

            kwargs.update(storage=optuna.storages.InMemoryStorage(), study_name=kwargs.get("study_name") or "hfdistill")
        hp_space = hp_space or functools.partial(distillation_hp_space, learning_rate=self.args.learning_rate)
        best = super().hyperparameter_search(hp_space=hp_space, compute_objective=compute_objective, n_trials=n_trials,
                                             direction=direction, backend=backend, hp_name=hp_name, **kwargs)
        if record:
            study = optuna.load_study(study_name=kwargs["study_name"], storage=kwargs["storage"])
            self.hp_search_trials = [{"number": t.number, "objective": t.value, "params": t.params, "state": t.state.name}
                                     for t in study.trials]
        return best

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """[`Trainer.train`]; `resume_from_checkpoint=True` (or `"true"`/`"last"` from a command line) resumes from the
        last *complete* checkpoint in `output_dir`, skipping one a kill left half-written."""
        if isinstance(resume_from_checkpoint, str) and resume_from_checkpoint.lower() in ("true", "last"):
            resume_from_checkpoint = True
        if resume_from_checkpoint is True:
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(
                    f"No complete checkpoint in {self.args.output_dir} to resume from: check --output_dir, or drop "
                    "--resume_from_checkpoint to start afresh."
                )
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    # ---- checks before any training step -------------------------------------------------------

    @staticmethod
    def _check_models(student: nn.Module, teacher: nn.Module, processing_class=None, teacher_processing_class=None) -> None:
        student_config, teacher_config = getattr(student, "config", None), getattr(teacher, "config", None)
        if student_config is None or teacher_config is None:
            return
        if student_config.num_labels != teacher_config.num_labels:
            raise ValueError(
                f"The teacher predicts {teacher_config.num_labels} classes but the student {student_config.num_labels}. "
                "Build the student from the teacher (hfdistill.student_from_teacher / compact_student / "
                "linear_student copy its num_labels and label maps), or set num_labels to the teacher's."
            )
        if dict(student_config.label2id) != dict(teacher_config.label2id):
            raise ValueError(
                f"Teacher and student name their classes differently: teacher label2id={dict(teacher_config.label2id)}, "
                f"student label2id={dict(student_config.label2id)}. Soft labels are matched by class index, so give "
                "the student the teacher's id2label and label2id."
            )
        student_vocab = getattr(student_config, "vocab_size", None)
        teacher_vocab = getattr(teacher_config, "vocab_size", None)
        if student_vocab is not None and teacher_vocab is not None and student_vocab != teacher_vocab:
            raise ValueError(
                f"Teacher and student vocabularies differ (vocab_size {teacher_vocab} vs {student_vocab}). Both read "
                "the same input_ids, so hfdistill requires, for now, the same vocab_size and the same tokenizer for "
                "both: build the student with the teacher's tokenizer."
            )
        if processing_class is not None:
            check_tokenizer(processing_class, teacher_config, teacher_processing_class)

    def _check_problem_type(self, student: nn.Module, teacher: nn.Module | None) -> str:
        """The task shape both models were built for (``problem_type``: single-label, multi-label or regression), from
        the teacher's config (the student's without a teacher); they must agree, and the settings must fit it."""
        student_config, teacher_config = getattr(student, "config", None), getattr(teacher, "config", None)
        if student_config is None and teacher_config is None:
            return "single_label_classification"
        problem_type = problem_type_of(teacher_config if teacher_config is not None else student_config)
        if student_config is not None and teacher_config is not None and problem_type_of(student_config) != problem_type:
            raise ValueError(
                f"The teacher is a {problem_type} model (problem_type={teacher_config.problem_type!r}, num_labels="
                f"{teacher_config.num_labels}) but the student a {problem_type_of(student_config)} one. Build the student "
                "from the teacher (hfdistill.student_from_teacher / compact_student / linear_student copy its "
                "problem_type), or set the student's config.problem_type to the teacher's."
            )
        get_soft_loss(self.args.distillation_loss, problem_type)  # ValueError when that loss does not fit the task
        if self.args.pseudo_labels != "none" and problem_type not in PSEUDO_LABELERS:
            raise ValueError(
                f"pseudo_labels={self.args.pseudo_labels!r} needs classes, and a {problem_type} teacher has none: set "
                "pseudo_labels to 'none' (unlabeled rows then learn the teacher's scores)."
            )
        return problem_type

    @staticmethod
    def _check_hidden_state_pairs(student: nn.Module, teacher: nn.Module) -> list[tuple[int, int]]:
        """(student, teacher) indices into `hidden_states` (0 is the embeddings' output, i the output of layer i)."""
        student_config, teacher_config = getattr(student, "config", None), getattr(teacher, "config", None)
        layers = getattr(student_config, "distilled_from_layers", None)
        if layers is None:
            raise ValueError(
                "hidden_state_weight > 0 needs the teacher layer each student layer learns from: build the student with "
                "hfdistill.student_from_teacher, or set student.config.distilled_from_layers to one teacher layer "
                "index per student layer (e.g. [0, 5])."
            )
        student_size, teacher_size = getattr(student_config, "hidden_size", None), getattr(teacher_config, "hidden_size", None)
        if student_size != teacher_size:
            raise ValueError(
                f"hidden_state_weight > 0 compares hidden states, but the student's hidden size is {student_size} and "
                f"the teacher's {teacher_size}. Use it with a student of the teacher's width (--student layers), or "
                "set hidden_state_weight to 0."
            )
        num_student_layers = getattr(student_config, "num_hidden_layers", len(layers))
        num_teacher_layers = getattr(teacher_config, "num_hidden_layers", None)
        if len(layers) != num_student_layers or (
            num_teacher_layers is not None and not all(0 <= index < num_teacher_layers for index in layers)
        ):
            raise ValueError(
                f"The student's config.distilled_from_layers={list(layers)} must name one teacher layer (0 to "
                f"{num_teacher_layers - 1 if num_teacher_layers else '?'}) for each of its {num_student_layers} layers."
            )
        return [(student_index + 1, teacher_index + 1) for student_index, teacher_index in enumerate(layers)]

    def _check_train_dataset(self, dataset) -> None:
        columns = _column_names(dataset)
        if columns is None:
            return
        if hasattr(dataset, "__len__") and len(dataset) == 0:
            raise ValueError("The training set is empty: check the data files and any filtering or max_train_samples.")
        inputs = (self._student_arg_names | self._teacher_arg_names) & set(columns)
        labeled = any(column in columns for column in _LABEL_COLUMNS)
        if not inputs and self.args.remove_unused_columns:
            raise ValueError(
                f"The training set has neither labels nor anything to distil: its columns are {columns}, none of which "
                "the student or teacher takes as input. Tokenize the text first, e.g. "
                "`dataset.map(lambda batch: tokenizer(batch['text'], truncation=True), batched=True)`."
                + ("" if labeled else " It also has no 'label' or 'labels' column.")
            )

    def _check_label_shape(self, dataset, split: str, num_labels: int | None) -> None:
        """The labels' shape must fit the task: a class index (single-label), a 0/1 vector of num_labels values
        (multi-label) or a number (regression), as read from the Arrow column type."""
        if not isinstance(dataset, datasets.Dataset) or "labels" not in dataset.column_names:
            return
        feature = dataset.features["labels"]
        is_list = is_list_feature(feature)
        dtype = getattr(feature, "dtype", None)
        expected = {
            "multi_label_classification": (is_list, f"a list of {num_labels} 0/1 values per row"),
            "single_label_classification": (not is_list and dtype is not None and "int" in dtype, "one class index per row"),
            "regression": (not is_list and dtype is not None and ("float" in dtype or "int" in dtype), "one number per row"),
        }
        ok, what = expected[self.problem_type]
        if not ok:
            raise ValueError(
                f"The {split} set's labels ({feature}) do not fit a {self.problem_type} model, which takes {what}. "
                "Give the data the teacher's task shape (e.g. multi-hot label vectors for a multi-label teacher), or use "
                "a teacher of the data's shape."
            )

    def _check_stored_teacher_logits(self, dataset, student: nn.Module, required: bool) -> None:
        """Stored logits must exist on every row (when there is no teacher to fill gaps) and have one value per class."""
        columns = _column_names(dataset)
        if required and (columns is None or TEACHER_LOGITS_COLUMN not in columns):
            raise ValueError(
                "teacher_model is None, so every training row must carry the teacher's logits in a "
                f"'{TEACHER_LOGITS_COLUMN}' column (one float per class); "
                + ("there is no train_dataset." if dataset is None else f"the training set has columns {columns}.")
                + " Add that column, or pass teacher_model to compute them."
            )
        if columns is None or TEACHER_LOGITS_COLUMN not in columns or not isinstance(dataset, datasets.Dataset):
            return
        values = dataset.with_format("arrow")[TEACHER_LOGITS_COLUMN]
        missing = [index for index, valid in enumerate(pc.is_valid(values).to_pylist()) if not valid]
        if missing and required:
            raise ValueError(
                f"{len(missing)} training row(s) have no {TEACHER_LOGITS_COLUMN} (e.g. rows {missing[:5]}), and there is "
                "no teacher_model to compute them. Fill them in, drop those rows, or pass teacher_model."
            )
        if missing:
            raise ValueError(
                f"{len(missing)} training row(s) have an empty {TEACHER_LOGITS_COLUMN} (e.g. rows {missing[:5]}). Fill "
                f"them in, or drop the column to let the teacher compute every row."
            )
        num_labels = getattr(getattr(student, "config", None), "num_labels", None)
        if num_labels is None or not pa.types.is_list(values.type) and not pa.types.is_large_list(values.type):
            return
        if pa.types.is_list(values.type.value_type) or pa.types.is_large_list(values.type.value_type):
            # Several teachers' logits per row, (K, C): one list per teacher, in the teachers' order.
            counts = set(pc.list_value_length(values).to_pylist())
            expected = len(self.teacher_models) or (len(self.teacher_weights) if self.teacher_weights else None)
            if len(counts) != 1 or (expected is not None and counts != {expected}):
                raise ValueError(
                    f"Rows of {TEACHER_LOGITS_COLUMN} hold {sorted(counts)} teachers' logits, but "
                    f"{expected if expected is not None else 'one number of'} teachers are expected: store one list of "
                    "logits per teacher, the same teachers in the same order on every row."
                )
            if not self.teacher_models and self.teacher_weights is None:
                self.teacher_weights = normalized_weights(None, counts.pop())
            values = pc.list_flatten(values)
        widths = pc.list_value_length(values)
        wrong = [index for index, width in enumerate(widths.to_pylist()) if width != num_labels]
        if wrong:
            raise ValueError(
                f"{TEACHER_LOGITS_COLUMN} must hold one logit per class ({num_labels} for this student); row {wrong[0]} "
                f"has {widths[wrong[0]].as_py()} ({len(wrong)} row(s) differ). Store the teacher's logits for the "
                "student's classes, in the student's id2label order."
            )

    def _check_input_lengths(self, dataset, split: str) -> None:
        input_name = self.processing_class.model_input_names[0] if self.processing_class is not None and hasattr(
            self.processing_class, "model_input_names") else "input_ids"
        models = [("student", self.accelerator.unwrap_model(self.model)), *(("teacher", t) for t in self.teacher_models)]
        check_input_lengths(dataset, models, split, input_name)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        """[`Trainer.evaluate`] of the student, with rows in dataset order and inputs checked against its positions."""
        if eval_dataset is not None and not isinstance(eval_dataset, (str, dict)):
            self._check_input_lengths(eval_dataset, "evaluation")
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test"):
        """[`Trainer.predict`] of the student: ``predictions[i]`` is row ``i`` of ``test_dataset``."""
        self._check_input_lengths(test_dataset, "prediction")
        return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    # ---- data: keep what either model (or the loss) reads ---------------------------------------

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            super()._set_signature_columns_if_needed()
            # The teacher may read inputs the student ignores, and cached logits must survive `remove_unused_columns`.
            extra = (self._teacher_arg_names | {TEACHER_LOGITS_COLUMN}) - set(self._signature_columns)
            self._signature_columns += sorted(extra)

    def _get_train_sampler(self, train_dataset=None):
        # For group_by_length without a length column, Trainer measures each example by decoding every row of every
        # column, cached logits included: about 0.1 s per 4,000 rows before the first step, every run. The same
        # lengths come straight from the input column's Arrow offsets.
        train_dataset = train_dataset if train_dataset is not None else self.train_dataset
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and isinstance(train_dataset, datasets.Dataset)
            # A transform (or pandas/polars rows) may change what Trainer would measure: leave those to it.
            and train_dataset.format["type"] in (None, "python", "numpy", "torch", "arrow")
        ):
            input_name = self.processing_class.model_input_names[0] if self.processing_class is not None else "input_ids"
            format_columns = train_dataset.format["columns"]
            measurable = format_columns is None or input_name in format_columns
            has_length_column = self.args.length_column_name in train_dataset.column_names
            lengths = arrow_lengths(train_dataset, input_name) if measurable and not has_length_column else None
            if lengths is not None:
                return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=lengths)
        return super()._get_train_sampler(train_dataset)

    def get_batch_samples(self, epoch_iterator, num_batches: int, device: torch.device):
        """Collect the batches of one optimizer step and count their examples (across processes).

        The count is what `compute_loss` divides by, so that accumulated micro-batches of any sizes give exactly the
        gradient of one big batch. It counts examples, labeled or not, since every example carries a loss term.
        """
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        if not batch_samples:
            return batch_samples, None
        num_examples = torch.tensor(sum(_batch_size(batch) for batch in batch_samples), device=device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            num_examples = self.accelerator.gather(num_examples).sum()
        return batch_samples, num_examples

    # ---- the loss -------------------------------------------------------------------------------

    def _prepare_teacher(self) -> nn.Module:
        if self.teacher_model is None:  # unreachable after the checks in __init__, unless the data changed since
            raise ValueError(
                f"A training batch has no {TEACHER_LOGITS_COLUMN} and there is no teacher_model to compute them. Give "
                "every row stored logits, or pass teacher_model."
            )
        # Lazily, so that a run whose batches all carry cached logits never places the teacher on the device, and
        # so that Trainer still prepares the student itself for an evaluation before training.
        if not self._teacher_prepared:
            self.teacher_models = [self.accelerator.prepare_model(teacher, evaluation_mode=True).eval()
                                   for teacher in self.teacher_models]
            self.teacher_model = self.teacher_models[0]
            self._teacher_prepared = True
        return self.teacher_model

    def _teacher_outputs(self, inputs: dict[str, Any], index: int = 0, **forward_kwargs):
        self._prepare_teacher()
        names = self._teacher_arg_names_each[index]
        teacher_inputs = {k: v for k, v in inputs.items() if k in names and k not in self.label_names}
        with torch.no_grad():
            return self.teacher_models[index](**teacher_inputs, **forward_kwargs)

    def combined_teacher_logits(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """(N, C) soft-target logits from one teacher's (N, C) or K teachers' (N, K, C) logits, by
        `hfdistill.ensemble.combine_teacher_logits` with `teacher_weights` (uniform when not given)."""
        if teacher_logits.dim() == 2:
            return teacher_logits
        return combine_teacher_logits(teacher_logits, self.teacher_weights, self.args.temperature, self.problem_type,
                                      self.args.distillation_loss)

    def teacher_logits(self, inputs: dict[str, Any]) -> torch.Tensor:
        """The frozen teacher's logits on a batch (no gradient, teachers in eval mode, on the student's device): one
        teacher's, or the ensemble's (see `combined_teacher_logits`)."""
        logits = []
        for index in range(len(self.teacher_models)):
            outputs = self._teacher_outputs(inputs, index)
            logits.append(outputs["logits"] if isinstance(outputs, dict) else outputs[0])
        return logits[0] if len(logits) == 1 else self.combined_teacher_logits(torch.stack(logits, dim=1))

    def _hidden_state_per_example(self, student_outputs, teacher_outputs, attention_mask) -> torch.Tensor:
        """(N,) hidden-state term of each example: the mean over the matched layers of `hidden_state_loss`."""
        student_hidden, teacher_hidden = student_outputs["hidden_states"], teacher_outputs["hidden_states"]
        per_layer = [
            hidden_state_loss(student_hidden[s], teacher_hidden[t].to(student_hidden[s].device), attention_mask,
                              self.args.hidden_state_loss, reduction="none")
            for s, t in self._hidden_state_pairs
        ]
        return torch.stack(per_layer).mean(0)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        training = model.training
        labels = inputs.get("labels")
        student_inputs = {k: v for k, v in inputs.items() if k in self._student_arg_names and k not in self.label_names}
        # Only in training: evaluation's outputs become predictions, which must stay the logits alone.
        match_hidden_states = training and bool(self._hidden_state_pairs)
        if match_hidden_states:
            student_inputs["output_hidden_states"] = True
        student_outputs = model(**student_inputs)
        student_logits = student_outputs["logits"] if isinstance(student_outputs, dict) else student_outputs[0]

        if not training:
            # Evaluation measures the student alone: its cross-entropy on the labels.
            per_example, labeled = HARD_LOSSES[self.problem_type].function(student_logits, labels)
            loss = per_example.sum() / labeled.sum().clamp(min=1)
            return (loss, student_outputs) if return_outputs else loss

        teacher_logits = inputs.get(TEACHER_LOGITS_COLUMN)
        teacher_outputs = None
        if match_hidden_states:  # hidden states are never cached: the teacher runs, and gives its logits too
            teacher_outputs = self._teacher_outputs(inputs, output_hidden_states=True)
            if teacher_logits is None:
                teacher_logits = teacher_outputs["logits"]
        soft_term_weighs = not (self.args.alpha == 0 and labels is not None and bool(labels.ne(IGNORE_INDEX).all()))
        if teacher_logits is None and not soft_term_weighs:
            # alpha=0 on a fully labeled batch: the soft term has weight 0, so skip the teacher's forward pass.
            teacher_logits = student_logits.detach()
        elif teacher_logits is None:
            teacher_logits = self.teacher_logits(inputs)
        teacher_logits = self.combined_teacher_logits(teacher_logits.to(student_logits.device))
        if not torch.isfinite(teacher_logits).all():
            raise ValueError(
                "The teacher produced non-finite logits (NaN or inf) on a training batch; training on them would "
                "corrupt the student. Check the teacher (does it evaluate to finite logits?) and, on GPU, run it in "
                "fp32 or bf16 rather than fp16."
            )
        output = distillation_loss(
            student_logits,
            teacher_logits,
            labels,
            alpha=self.args.alpha,
            temperature=self.args.temperature,
            loss_type=self.args.distillation_loss,
            num_items=num_items_in_batch,
            pseudo_labels=self.args.pseudo_labels,
            pseudo_label_threshold=self.args.pseudo_label_threshold,
            problem_type=self.problem_type,
        )
        loss = output.loss
        hidden_per_example = None
        if match_hidden_states:
            hidden_per_example = self._hidden_state_per_example(student_outputs, teacher_outputs, inputs.get("attention_mask"))
            num_items = num_items_in_batch if num_items_in_batch is not None else hidden_per_example.numel()
            loss = loss + self.args.hidden_state_weight * hidden_per_example.sum() / num_items
        if self.args.average_tokens_across_devices and num_items_in_batch is not None and self.args.world_size > 1:
            # Divided by the examples of all processes, while DDP averages gradients over processes: undo that mean.
            loss = loss * self.accelerator.num_processes
        self._record_loss_parts(output, soft_term_weighs, hidden_per_example)
        return (loss, student_outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # The student's forward must not see columns meant for the teacher or the loss (e.g. cached teacher logits).
        inputs = {k: v for k, v in inputs.items() if k in self._student_arg_names or k in self.label_names}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    # ---- logging: each loss part next to `loss` ------------------------------------------------

    def _record_loss_parts(self, output, soft_term_weighs: bool = True, hidden_per_example=None) -> None:
        soft = output.soft_per_example if soft_term_weighs else None
        hidden = None if hidden_per_example is None else hidden_per_example.detach()
        self._loss_parts.append((soft, output.hard_per_example, output.labeled, hidden))
        if len(self._loss_parts) >= _LOSS_PARTS_FOLD:  # bounded memory, even when logging is rare or off
            self._fold_loss_parts()

    def _fold_loss_parts(self) -> None:
        """Add the recorded steps to the sums: [soft-loss sum, examples with a soft term, hard-loss sum, labeled
        examples, hidden-state-loss sum, examples with a hidden-state term], on this process."""
        parts, self._loss_parts = self._loss_parts, []
        if not parts:
            return
        soft = [p[0] for p in parts if p[0] is not None]
        hidden = [p[3] for p in parts if p[3] is not None]
        hard, labeled = torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])
        zero = hard.new_zeros(())
        sums = torch.stack([
            torch.cat(soft).sum() if soft else zero, zero.new_tensor(sum(s.numel() for s in soft)),
            hard.sum(), labeled.sum().to(hard.dtype),
            torch.cat(hidden).sum() if hidden else zero, zero.new_tensor(sum(h.numel() for h in hidden)),
        ])
        self._loss_sums = sums if self._loss_sums is None else self._loss_sums + sums

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: the loss parts since the last one, which starts a new window
            self._fold_loss_parts()
            sums, self._loss_sums = self._loss_sums, None
            if sums is not None:
                if self.args.world_size > 1:
                    sums = self.accelerator.reduce(sums, reduction="sum")
                soft_sum, num_soft, hard_sum, num_labeled, hidden_sum, num_hidden = sums.tolist()
                logs = dict(logs)
                if num_soft > 0:
                    logs["loss_kd"] = soft_sum / num_soft
                if num_labeled > 0:
                    logs["loss_ce"] = hard_sum / num_labeled
                if num_hidden > 0:
                    logs["loss_hidden"] = hidden_sum / num_hidden
        super().log(logs, start_time)

    # ---- shipping: the student alone, with a distillation model card -----------------------------

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """Trainer's save, made atomic: an interrupted save never leaves a folder `from_pretrained` half-loads.

        Everything is written to a staging folder first. config.json is what makes a folder loadable, so the old one
        is removed first and the new one moved in last: an interruption leaves the complete new model, or a folder
        that `from_pretrained` refuses (no config), never new files mixed with old ones.
        """
        if not self.args.should_save:  # other processes write nothing (they may join collectives in Trainer's _save)
            return super()._save(output_dir, state_dict=state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".saving-", dir=output_dir)
        try:
            super()._save(staging, state_dict=state_dict)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(output_dir, CONFIG_NAME))
            for name in sorted(os.listdir(staging), key=lambda name: name == CONFIG_NAME):
                os.replace(os.path.join(staging, name), os.path.join(output_dir, name))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @contextlib.contextmanager
    def _uploads_without_teacher(self):
        # Trainer uploads all of output_dir (but `_*` and checkpoints); the teacher kept in output_dir/teacher must
        # stay behind. Shadow upload_folder on the shared client for the duration of our own pushes only.
        api = hf_api()
        upload_folder = api.upload_folder

        def upload_student_only(*args, ignore_patterns=None, **kwargs):
            patterns = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])
            return upload_folder(*args, ignore_patterns=patterns + HUB_IGNORE_PATTERNS, **kwargs)

        api.upload_folder = upload_student_only
        try:
            yield
        finally:
            del api.upload_folder

    def push_to_hub(self, *args, **kwargs):
        """[`Trainer.push_to_hub`], uploading the student and its card but never the teacher kept in `output_dir`.

        Extra keyword arguments reach [`create_model_card`], e.g. `results=` and `command=`.
        """
        with self._uploads_without_teacher():
            return super().push_to_hub(*args, **kwargs)

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """Trainer's push during training (``hub_strategy="every_save"`` etc.), uploading a folder that loads.

        Trainer copies only config, weights and tokenizer from the checkpoint into ``output_dir`` before uploading it,
        so a student whose config names its own code (``auto_map``, e.g. the linear student) would reach the Hub
        without that code until the final push. Every file the checkpoint's ``auto_map`` needs goes along.
        """
        if self.is_world_process_zero() and os.path.isdir(self.args.output_dir):
            for name in model_code_files(checkpoint_folder):
                shutil.copy(os.path.join(checkpoint_folder, name), os.path.join(self.args.output_dir, name))
        with self._uploads_without_teacher():
            return super()._push_from_checkpoint(checkpoint_folder)

    def model_card_info(self, **extra) -> dict:
        """What the model card says: the distillation settings, plus any `results=`/`command=`/... given."""
        teacher_config = getattr(self.teacher_model, "config", None)
        student = self.accelerator.unwrap_model(self.model)
        teacher = (f"stored {TEACHER_LOGITS_COLUMN}" if self.teacher_model is None
                   else getattr(teacher_config, "_name_or_path", None) or type(self.teacher_model).__name__)
        info = {
            "teacher": teacher,
            "student_kind": getattr(getattr(student, "config", None), "model_type", type(student).__name__),
            "model_type": getattr(getattr(student, "config", None), "model_type", None),
            **self.args.distillation_settings(),
            "problem_type": self.problem_type,
            "model_id": self.args.hub_model_id,
        }
        info.update({key: value for key, value in extra.items() if value is not None})
        return info

    def create_model_card(self, model_name: str | None = None, dataset: str | None = None, **kwargs) -> None:
        """Write `output_dir/README.md`: teacher, data, T, alpha, loss and, given `results=`, accuracies and speed."""
        if not self.is_world_process_zero():
            return
        known = {key: kwargs.pop(key) for key in ("results", "command", "student_kind", "teacher") if key in kwargs}
        card = render_model_card(self.model_card_info(model_name=model_name, dataset=dataset, **known))
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)
