"""`DistillationTrainer`: a `transformers.Trainer` that trains a student to match a frozen teacher."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from . import checks, hub
from .config import DistillationTrainingArguments
from .data.collator import (TEACHER_INPUT_PREFIX, TEACHER_LOGITS_COLUMN, TeacherLogitsCollator, teacher_collator,
                             teacher_input_columns)
from .losses import (IGNORE_INDEX, HiddenStateProjection, attention_relation_loss, distillation_loss, evaluation_loss,
                     hidden_state_term)
from .losses.attention import captured_states
from .teachers.base import StoredLogitsTeacher, Teacher, build_teacher
from .teachers.ensemble import combine_teacher_logits
from .training import ClassifierTrainer, ExactAccumulationMixin
from .utils import column_names, forward_arg_names, resume_checkpoint

_LOSS_PARTS_FOLD = 256  # training steps whose loss parts are kept before they are summed


class DistillationTrainer(ExactAccumulationMixin, ClassifierTrainer):
    """
    A [`~transformers.Trainer`] that distils a frozen teacher into the student `model` (Hinton et al., 2015).

    Takes every [`~transformers.Trainer`] argument, plus `teacher_model`: a model, a Hub name or local folder loaded
    with `AutoModelForSequenceClassification`, a list of them (an ensemble, weighed by `teacher_weights`), or a
    `hfdistill.teachers.Teacher`; see `hfdistill.teachers.base` for the sources. The loss is the one of
    [`DistillationTrainingArguments`]; each batch's teacher logits are taken from its `teacher_logits` column when it
    has one ((N, C), or (N, K, C) for K teachers), and computed by the teacher otherwise. `teacher_model` may be
    `None` when every training row carries `teacher_logits`. Evaluation and prediction measure the student alone (its
    loss on the labels and its logits), in the eval dataset's row order whatever the training sampler; `save_model`
    and checkpoints hold the student alone. With ``bf16`` on the CPU training autocasts to bf16 while evaluation and
    prediction stay fp32 (:mod:`hfdistill.precision`).

    `teacher_processing_class` is the teacher's tokenizer; when it is not given, the one saved in the teacher's
    local folder (if any) is used. When both tokenizers are known, their token-to-id maps must be equal.

    Raises `ValueError` before any training step for what would fail or silently go wrong later (see
    :mod:`hfdistill.checks`): teacher and student disagreeing on classes, labels or vocabulary, inputs longer than
    either model's position table, an empty or untokenized training set, and, without a teacher, a training row
    without `teacher_logits` or logits of the wrong width.
    """

    _tag_names = ["hfdistill", "knowledge-distillation"]

    def __init__(
        self,
        model: PreTrainedModel | nn.Module | None = None,
        teacher_model: PreTrainedModel | nn.Module | str | list | Teacher | None = None,
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
        listed = teacher_model if isinstance(teacher_model, (list, tuple)) else [teacher_model]
        paths = [teacher if isinstance(teacher, str) else None for teacher in listed if teacher is not None]
        teacher = build_teacher(teacher_model, combine=self._combine_teacher_logits)
        if model is None and kwargs.get("model_init") is None:
            raise ValueError(
                "model (the student) or model_init (a function building it, for hyperparameter_search) is required; "
                "see hfdistill.student_from_teacher to build one."
            )

        super().__init__(model=model, args=args, **kwargs)

        checks.check_process_group(self.args.world_size)
        self._check_and_set_teacher(teacher, paths, teacher_processing_class, teacher_weights)
        # Each training step's detached per-example loss parts since the last log, summed only every
        # `_LOSS_PARTS_FOLD` steps and at log time, so that the step itself pays no bookkeeping ops; and their sums so
        # far (see `_fold_loss_parts`). Evaluation measures the student alone and records none.
        self._loss_parts: list[tuple] = []
        self._loss_sums: torch.Tensor | None = None

    def _check_and_set_teacher(self, teacher: Teacher | None, paths, teacher_processing_class, weights) -> None:
        """Every check of `hfdistill.checks` that needs the models and data, then the teacher the loss reads."""
        student = self.accelerator.unwrap_model(self.model)
        models = teacher.models if teacher is not None else []
        self._student_arg_names = forward_arg_names(student)
        self._teacher_arg_names = teacher.input_names if teacher is not None else set()
        columns = column_names(self.train_dataset) or []
        own_inputs = bool(teacher_input_columns(columns)) or TEACHER_LOGITS_COLUMN in columns
        checks.check_ensemble_inputs(models, columns, paths)
        self.problem_type, self._hidden_state_pairs = checks.check_teachers(
            student, models, self.args, paths, self.processing_class, teacher_processing_class, own_inputs)
        if teacher_input_columns(columns) and isinstance(self._data_collator, TeacherLogitsCollator):
            self._data_collator.teacher_collator = teacher_collator(models, paths, teacher_processing_class)
        eval_sets = self.eval_dataset if isinstance(self.eval_dataset, dict) else {"evaluation": self.eval_dataset}
        setup = checks.check_data(self.args, self.problem_type, student, models, weights, self.train_dataset,
                                  eval_sets, self._student_arg_names | self._teacher_arg_names, teacher is None)
        self._class_weights, self.teacher_weights = setup
        self.teacher_models = list(models)
        widths = [getattr(getattr(model, "config", None), "hidden_size", None) for model in (student, *models[:1])]
        self._relation_projections = checks.check_attention_relations(self.args, student, models)
        self._hidden_projection = (HiddenStateProjection(*widths, len(self._hidden_state_pairs)).to(self.args.device)
                                   if self._hidden_state_pairs and widths[0] != widths[1] else None)
        for split, dataset in {"training": self.train_dataset, **eval_sets}.items():
            self._check_input_lengths(dataset, split)
        self.teacher = StoredLogitsTeacher(teacher, self._combine_teacher_logits)
        self._teacher_prepared = False

    @property
    def teacher_model(self) -> nn.Module | None:
        """The (first) teacher model, when there is one."""
        return self.teacher_models[0] if self.teacher_models else None

    @property
    def data_collator(self) -> Callable:
        return self._data_collator

    @data_collator.setter
    def data_collator(self, collator: Callable) -> None:
        # Wrapped whenever it is set, by Trainer's __init__ or later by the user: see TeacherLogitsCollator.
        # Not a collator that is not callable: Trainer's own check then explains the old `collate_batch` API.
        wrap = callable(collator) and not isinstance(collator, TeacherLogitsCollator)
        self._data_collator = TeacherLogitsCollator(collator) if wrap else collator

    def hyperparameter_search(self, hp_space=None, compute_objective=None, n_trials: int = 20,
                              direction: str | list[str] | None = None, backend: str | None = "optuna", hp_name=None,
                              **kwargs):
        """[`Trainer.hyperparameter_search`] over the distillation settings; see `hfdistill.search.run_search`."""
        from .search import run_search

        return run_search(self, super().hyperparameter_search, hp_space, compute_objective, n_trials, direction,
                          backend, hp_name, **kwargs)

    def create_optimizer(self):
        """Trainer's optimizer, plus TinyBERT's projections of a narrower student's hidden states: trained with the
        student, never part of it (so never saved with it)."""
        optimizer = super().create_optimizer()
        projection = self._hidden_projection
        if projection is not None and not any(group.get("hfdistill_projection") for group in optimizer.param_groups):
            optimizer.add_param_group({"params": list(projection.parameters()), "hfdistill_projection": True})
        return optimizer

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """[`Trainer.train`]; `resume_from_checkpoint=True` (or `"true"`/`"last"` from a command line) resumes from the
        last *complete* checkpoint in `output_dir`, skipping one a kill left half-written."""
        return super().train(resume_from_checkpoint=resume_checkpoint(resume_from_checkpoint, self.args.output_dir),
                             **kwargs)

    def _check_input_lengths(self, dataset, split: str) -> None:
        input_name = self.processing_class.model_input_names[0] if self.processing_class is not None and hasattr(
            self.processing_class, "model_input_names") else "input_ids"
        own = TEACHER_INPUT_PREFIX + "input_ids"  # a teacher with a tokenizer of its own reads its own ids
        teacher_column = own if own in (column_names(dataset) or []) else input_name
        checks.check_input_lengths(dataset, [("student", self.accelerator.unwrap_model(self.model))], split, input_name)
        checks.check_input_lengths(dataset, [("teacher", teacher) for teacher in self.teacher_models], split,
                                   teacher_column)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        """[`Trainer.evaluate`] of the student, with rows in dataset order and inputs checked against its positions."""
        if eval_dataset is not None and not isinstance(eval_dataset, (str, dict)):
            self._check_input_lengths(eval_dataset, "evaluation")
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test"):
        """[`Trainer.predict`] of the student: ``predictions[i]`` is row ``i`` of ``test_dataset``."""
        self._check_input_lengths(test_dataset, "prediction")
        return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    # ---- batches: keep what either model (or the loss) reads ----------------------------------------------------

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            super()._set_signature_columns_if_needed()
            # The teacher may read inputs the student ignores, and cached logits must survive `remove_unused_columns`.
            own = {TEACHER_INPUT_PREFIX + name for name in self._teacher_arg_names}  # its own tokenization
            extra = (self._teacher_arg_names | own | {TEACHER_LOGITS_COLUMN}) - set(self._signature_columns)
            self._signature_columns += sorted(extra)

    # ---- the loss -----------------------------------------------------------------------------------------------

    def _prepare_teacher(self) -> Teacher:
        # Lazily, so that a run whose batches all carry cached logits never places the teacher on the device, and
        # so that Trainer still prepares the student itself for an evaluation before training.
        if not self._teacher_prepared:
            self.teacher.prepare(lambda model: self.accelerator.prepare_model(model, evaluation_mode=True))
            self.teacher_models = list(self.teacher.models)
            self._teacher_prepared = True
        return self.teacher

    def _combine_teacher_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C) from K teachers' (N, K, C) logits at the run's settings, weighed by `teacher_weights` as they are."""
        return combine_teacher_logits(logits, self.teacher_weights, self.args.temperature, self.problem_type,
                                      self.args.distillation_loss)

    combined_teacher_logits = _combine_teacher_logits

    def teacher_logits(self, inputs: dict[str, Any], outputs=None) -> torch.Tensor:
        """(N, C): the batch's soft-target logits from the teacher (`hfdistill.teachers.Teacher.logits`): stored in
        the batch, or computed by the frozen teacher(s) (an ensemble's combined), with no gradient."""
        needs_model = inputs.get(TEACHER_LOGITS_COLUMN) is None or outputs is not None
        teacher = self._prepare_teacher() if needs_model and self.teacher.models else self.teacher
        return teacher.logits(inputs, outputs)

    def compute_loss(self, model: nn.Module, inputs: dict[str, torch.Tensor | Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None):
        training = model.training
        labels = inputs.get("labels")
        student_inputs = {k: v for k, v in inputs.items() if k in self._student_arg_names and k not in self.label_names}
        # Only in training: evaluation's outputs become predictions, which must stay the logits alone.
        match_hidden_states = training and bool(self._hidden_state_pairs)
        relations = self._relation_projections if training else None  # (student's, teacher's) q/k/v, or None
        if match_hidden_states:
            student_inputs["output_hidden_states"] = True
        with captured_states(relations[0] if relations else {}) as student_states:
            student_outputs = model(**student_inputs)
        student_logits = student_outputs["logits"] if isinstance(student_outputs, dict) else student_outputs[0]

        if not training:  # evaluation measures the student alone: its loss on the labels
            loss = evaluation_loss(student_logits, labels, self.problem_type)
            return (loss, student_outputs) if return_outputs else loss

        teacher_outputs = None
        if match_hidden_states or relations:  # inner states are never cached: the teacher runs, gives its logits too
            with captured_states(relations[1] if relations else {}) as teacher_states:
                teacher_outputs = self._prepare_teacher().forward(inputs, output_hidden_states=match_hidden_states)
        soft_term_weighs = not (self.args.alpha == 0 and labels is not None and bool(labels.ne(IGNORE_INDEX).all()))
        if soft_term_weighs or teacher_outputs is not None or inputs.get(TEACHER_LOGITS_COLUMN) is not None:
            teacher_logits = self.teacher_logits(inputs, teacher_outputs).to(student_logits.device)
        else:  # alpha=0 on a fully labeled batch: the soft term has weight 0, so skip the teacher's forward pass
            teacher_logits = student_logits.detach()
        checks.check_finite_logits(teacher_logits)
        output = distillation_loss(
            student_logits, teacher_logits, labels, alpha=self.args.alpha, temperature=self.args.temperature,
            loss_type=self.args.distillation_loss, num_items=num_items_in_batch, pseudo_labels=self.args.pseudo_labels,
            pseudo_label_threshold=self.args.pseudo_label_threshold, problem_type=self.problem_type,
            class_weights=self._class_weights,
        )
        loss = output.loss
        hidden_per_example = None
        if match_hidden_states:
            hidden_per_example = hidden_state_term(
                student_outputs["hidden_states"], teacher_outputs["hidden_states"], self._hidden_state_pairs,
                inputs.get("attention_mask"), self.args.hidden_state_loss, self._hidden_projection)
            num_items = num_items_in_batch if num_items_in_batch is not None else hidden_per_example.numel()
            loss = loss + self.args.hidden_state_weight * hidden_per_example.sum() / num_items
        if relations:
            relation = attention_relation_loss(student_states, teacher_states, self.args.attention_relation_heads,
                                               inputs.get("attention_mask"), reduction="none")
            num_items = num_items_in_batch if num_items_in_batch is not None else relation.numel()
            loss = loss + self.args.attention_relation_weight * relation.sum() / num_items
        if self.args.average_tokens_across_devices and num_items_in_batch is not None and self.args.world_size > 1:
            # Divided by the examples of all processes, while DDP averages gradients over processes: undo that mean.
            loss = loss * self.accelerator.num_processes
        self._record_loss_parts(output, soft_term_weighs, hidden_per_example)
        return (loss, student_outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # The student's forward must not see columns meant for the teacher or the loss (e.g. cached teacher logits).
        inputs = {k: v for k, v in inputs.items() if k in self._student_arg_names or k in self.label_names}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    # ---- logging: each loss part next to `loss` -----------------------------------------------------------------

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

    # ---- shipping: the student alone, with a distillation model card ------------------------------------------

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """Trainer's save, made atomic (see `hfdistill.hub.staged_save`)."""
        if not self.args.should_save:  # other processes write nothing (they may join collectives in Trainer's _save)
            return super()._save(output_dir, state_dict=state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        hub.staged_save(output_dir, lambda staging: super(DistillationTrainer, self)._save(staging, state_dict))

    def push_to_hub(self, *args, **kwargs):
        """[`Trainer.push_to_hub`], uploading the student and its card but never the teacher kept in `output_dir`.

        Extra keyword arguments reach [`create_model_card`], e.g. `results=` and `command=`.
        """
        with hub.uploads_without_teacher():
            return super().push_to_hub(*args, **kwargs)

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """Trainer's push during training (``hub_strategy="every_save"`` etc.), uploading a folder that loads: every
        code file the checkpoint's ``auto_map`` needs goes along (Trainer copies only config, weights and tokenizer)."""
        if self.is_world_process_zero():
            hub.copy_code_files(checkpoint_folder, self.args.output_dir)
        with hub.uploads_without_teacher():
            return super()._push_from_checkpoint(checkpoint_folder)

    def model_card_info(self, **extra) -> dict:
        """What the model card says (`hfdistill.hub.card_info`), plus any `results=`/`command=`/... given."""
        return hub.card_info(self.accelerator.unwrap_model(self.model), self.teacher_model, self.args,
                             self.problem_type, **extra)

    def create_model_card(self, model_name: str | None = None, dataset: str | None = None, **kwargs) -> None:
        """Write `output_dir/README.md` (`hfdistill.hub.model_card`): teacher, data, T, alpha, loss and, given
        `results=`, the metric kept and the speed."""
        if not self.is_world_process_zero():
            return
        names = ("results", "command", "student_kind", "teacher", "student_checkpoint")
        known = {key: kwargs.pop(key) for key in names if key in kwargs}
        info = self.model_card_info(model_name=model_name, dataset=dataset, **known)
        hub.model_card(info).save(os.path.join(self.args.output_dir, "README.md"))
