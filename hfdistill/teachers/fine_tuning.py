"""Step 1 of the classic pipeline: a teacher fine-tuned for the task (used as is, reused, or fine-tuned here), and its
evaluation."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

import torch
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedModel, TrainingArguments, set_seed
from transformers.trainer_utils import EvalPrediction, PredictionOutput
from transformers.utils import logging

from ..data import LabelMap
from ..losses import resolve_class_weights
from ..precision import remove_autocast_wrapper
from ..problem_types import IGNORE_INDEX, SINGLE_LABEL
from ..samplers import TRAIN_SAMPLING_STRATEGIES
from ..training import ClassifierTrainer
from ..utils import one_per
from .loading import (TEACHER_SUBFOLDER, TeacherCheckpoint, check_classifier_pooling, inspect_teacher, load_teacher,
                      new_classifier)

logger = logging.get_logger(__name__)
SETTINGS_FILE = "hfdistill_teacher.json"


def _teacher_arguments(args: TrainingArguments, output_dir: str, **overrides) -> TrainingArguments:
    """Plain TrainingArguments for the teacher, sharing the run's device, precision, seed and logging settings."""
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingArguments) if f.init}
    shared.update(
        output_dir=output_dir, eval_strategy="no", save_strategy="no", push_to_hub=False, hub_model_id=None,
        load_best_model_at_end=False, metric_for_best_model=None, resume_from_checkpoint=None,
        **{key: value for key, value in overrides.items() if value is not None},
    )
    return TrainingArguments(**shared)


class TeacherTrainer(ClassifierTrainer):
    """`transformers.Trainer` for the teacher's fine-tuning and evaluation; predictions come in dataset order, and
    evaluation on the CPU runs in fp32 even when training autocasts to bf16.

    ``train_sampling_strategy="length_window"`` batches rows of similar lengths inside shuffled windows of
    ``length_window_batches`` batches (:class:`~hfdistill.samplers.LengthWindowSampler`), lengths read from Arrow.
    ``class_weights`` ((C,), single-label): the training loss weighs each example's cross-entropy by its class.
    """

    class_weights: torch.Tensor | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.class_weights is None or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        per_example = torch.nn.functional.cross_entropy(outputs.logits.float(), labels, reduction="none",
                                                        ignore_index=IGNORE_INDEX)
        weighted = per_example * self.class_weights.to(per_example)[labels.clamp(min=0)]
        loss = weighted.sum() / (num_items_in_batch if num_items_in_batch is not None else len(labels))
        return (loss, outputs) if return_outputs else loss


def prepare_teacher(
    checkpoint: TeacherCheckpoint | str,
    label_map: LabelMap,
    output_dir: str,
    train_dataset,
    tokenizer,
    args: TrainingArguments,
    settings: dict,
    num_train_epochs: float | None = None,
    learning_rate: float | None = None,
    per_device_train_batch_size: int | None = None,
    train_sampling_strategy: str | None = None,
    warmup_steps: float | None = None,
    fine_tuning: str = "auto",
    freeze_word_embeddings: bool = False,
    seed: int | None = None,
    subfolder: str = TEACHER_SUBFOLDER,
    classifier_pooling: str = "cls",
    class_weights=None,
) -> tuple[PreTrainedModel, dict]:
    """Return ``(teacher, info)``: the teacher for ``label_map``'s classes and how it was obtained.

    - the checkpoint carries a trained classification head (see :class:`TeacherCheckpoint`; ``fine_tuning="auto"``
      or ``"never"``): loaded and used as is. Classes were matched to the data by
      :func:`hfdistill.data.build_label_map`;
      a teacher whose config only has placeholder names gets ``label_map``'s names, in memory;
    - ``output_dir/teacher`` holds a teacher fine-tuned with the same ``settings``: reused, no training;
    - otherwise (a backbone, or ``fine_tuning="always"``) a new head is fine-tuned with `transformers.Trainer`, then
      saved to ``output_dir/teacher`` with ``settings`` beside it, for the next run to reuse.

    The choice is logged with how to force the other one (``--teacher_fine_tuning always|never``).
    ``train_sampling_strategy``: one of ``TRAIN_SAMPLING_STRATEGIES`` (see :class:`TeacherTrainer`).
    ``num_train_epochs``, ``learning_rate``, ``per_device_train_batch_size``, ``warmup_steps``: ``None`` takes
    ``args``'.
    ``freeze_word_embeddings``: keep the backbone's word embeddings (``get_input_embeddings()``) frozen during
    fine-tuning: no dense gradient or AdamW update for the largest weight (a faster step on a CPU).
    ``classifier_pooling``: the new head's input, ``"cls"`` (the checkpoint's own `AutoModelForSequenceClassification`
    head) or ``"mean"`` (the mean of the token states, :class:`~hfdistill.MeanPoolingBertForSequenceClassification`;
    BERT checkpoints only, checked by :func:`check_classifier_pooling`).
    Precision follows ``args`` (``bf16`` autocast on the CPU: see :mod:`hfdistill.precision`).
    """
    if train_sampling_strategy is not None and train_sampling_strategy not in TRAIN_SAMPLING_STRATEGIES:
        raise ValueError("The teacher's train_sampling_strategy must be one of "
                         f"{', '.join(TRAIN_SAMPLING_STRATEGIES)}, "
                         f"got {train_sampling_strategy!r}.")
    if isinstance(checkpoint, str):
        checkpoint = inspect_teacher(checkpoint)
    check_classifier_pooling(checkpoint, classifier_pooling, fine_tuning)
    name_or_path = checkpoint.name_or_path
    if checkpoint.use_as_is(fine_tuning):
        teacher = load_teacher(name_or_path)
        matched = "by index (the teacher's config names no classes)" if checkpoint.id2label is None else "by name"
        if checkpoint.id2label is None:
            teacher.config.id2label, teacher.config.label2id = dict(label_map.id2label), dict(label_map.label2id)
        logger.warning(
            f"Teacher {name_or_path} carries a trained classification head for {checkpoint.config.num_labels} classes: "
            f"used as is, not fine-tuned. Classes matched {matched}: {label_map.describe()}. To fine-tune a new head "
            "instead, pass --teacher_fine_tuning always."
        )
        return teacher, {"source": "as_is", "path": name_or_path, "fine_tuning_s": 0.0,
                         "classes_matched": "by_index" if checkpoint.id2label is None else "by_name"}
    logger.warning(
        f"Teacher {name_or_path}: " + ("--teacher_fine_tuning always" if checkpoint.has_classifier else
                                       "no trained classification head in the checkpoint (a backbone)")
        + f"; fine-tuning a new head for {label_map.num_labels} classes ({label_map.describe()})."
    )

    teacher_dir = os.path.join(output_dir, subfolder)
    seed = args.seed if seed is None else seed  # one seed per teacher of an ensemble (--teacher_seeds)
    settings = {"teacher": name_or_path, "id2label": {str(k): v for k, v in label_map.id2label.items()},
                "problem_type": label_map.problem_type,
                "num_train_epochs": num_train_epochs, "learning_rate": learning_rate,
                "per_device_train_batch_size": per_device_train_batch_size,
                "train_sampling_strategy": train_sampling_strategy,
                "seed": seed, **settings}
    # Present only when not the old default, so that a teacher fine-tuned before these options existed is reused.
    if freeze_word_embeddings:
        settings["freeze_word_embeddings"] = True
    if classifier_pooling != "cls":
        settings["classifier_pooling"] = classifier_pooling
    weights = resolve_class_weights(class_weights, train_dataset["labels"], label_map.num_labels) if (
        class_weights is not None and label_map.problem_type == SINGLE_LABEL) else None
    if weights is not None:
        settings["class_weights"] = weights
    teacher_warmup = args.warmup_steps if warmup_steps is None else warmup_steps
    if teacher_warmup != 0.1:
        settings["warmup_steps"] = teacher_warmup
    if args.bf16 or args.fp16:
        settings["mixed_precision"] = "bf16" if args.bf16 else "fp16"
    # As JSON will store them (paths as strings, tuples as lists), so that a rerun compares like with like.
    settings = json.loads(json.dumps(settings, default=str))
    settings_path = os.path.join(teacher_dir, SETTINGS_FILE)
    if os.path.isfile(settings_path):
        with open(settings_path) as f:
            saved = json.load(f)
        if saved == settings:
            logger.info(f"Reusing the teacher fine-tuned by an earlier run in {teacher_dir}.")
            return load_teacher(teacher_dir), {"source": "reused", "path": teacher_dir, "fine_tuning_s": 0.0}
        changed = sorted(key for key in set(saved) | set(settings) if saved.get(key) != settings.get(key))
        logger.warning(f"{teacher_dir} was fine-tuned with other settings ({', '.join(changed)}): fine-tuning again.")

    # A new head for these classes; any head in the checkpoint is not trained for them, whatever its size. Seeded, so
    # that teachers fine-tuned with other seeds start from other heads.
    set_seed(seed)
    teacher = new_classifier(name_or_path, classifier_pooling, num_labels=label_map.num_labels,
                             id2label=label_map.id2label,
                             label2id=label_map.label2id, problem_type=label_map.problem_type)
    if freeze_word_embeddings:  # before Trainer builds the optimizer, which then leaves them out
        teacher.get_input_embeddings().requires_grad_(False)
    teacher_args = _teacher_arguments(
        args, teacher_dir, num_train_epochs=num_train_epochs, seed=seed,
        learning_rate=learning_rate, per_device_train_batch_size=per_device_train_batch_size,
        train_sampling_strategy=train_sampling_strategy, warmup_steps=warmup_steps,
    )
    trainer = TeacherTrainer(
        model=teacher, args=teacher_args, train_dataset=train_dataset, processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    trainer.class_weights = torch.tensor(weights) if weights is not None else None
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    trainer.save_model(teacher_dir)
    if trainer.is_world_process_zero():
        # Written last: a teacher folder without it (an interrupted save) is never reused.
        with open(settings_path, "w") as f:
            json.dump(settings, f, indent=2)
    trainer.accelerator.wait_for_everyone()
    teacher = trainer.accelerator.unwrap_model(trainer.model).eval()
    # A frozen embedding is a detail of this fine-tuning: students copied from the teacher must not inherit it.
    teacher.requires_grad_(True)
    return teacher, {"source": "fine_tuned", "path": teacher_dir, "fine_tuning_s": elapsed,
                     "train_examples": len(train_dataset)}


def evaluate_model(model: PreTrainedModel, dataset, tokenizer, args: TrainingArguments, compute_metrics,
                   predict: bool = False, metric_key_prefix: str | None = None):
    """`Trainer.evaluate` of any model (the teacher here) with the run's device and batch settings (`Trainer.predict`
    with ``predict``: a `PredictionOutput`, logits in ``dataset``'s row order). The model comes
    back as it came: the mixed-precision autocast wrapper that accelerate puts on its forward for the evaluation is
    taken off again, so that later passes (profiling, a teacher run online) choose their own precision."""
    wrapped_before = "_original_forward" in vars(model)
    with tempfile.TemporaryDirectory() as scratch:  # evaluation writes nothing worth keeping
        # No loss rescaling across processes: that compensates DDP's gradient averaging, and evaluation has none.
        eval_args = _teacher_arguments(args, scratch, average_tokens_across_devices=False)
        trainer = TeacherTrainer(model=model, args=eval_args, processing_class=tokenizer,
                          data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics)
        try:
            prefix = {"metric_key_prefix": metric_key_prefix} if metric_key_prefix else {}
            return trainer.predict(dataset, **prefix) if predict else trainer.evaluate(dataset, **prefix)
        finally:
            if not wrapped_before:
                remove_autocast_wrapper(trainer.accelerator.unwrap_model(model))
                vars(model).pop("_is_accelerate_prepared", None)  # or a later prepare_model would skip it, autocast too


def prepare_teachers(
    checkpoints: list[TeacherCheckpoint | str],
    label_map: LabelMap,
    output_dir: str,
    train_dataset,
    tokenizer,
    args: TrainingArguments,
    settings: dict,
    seeds: list[int] | None = None,
    **fine_tuning,
) -> tuple[list[PreTrainedModel], list[dict]]:
    """Every teacher of the run, each by :func:`prepare_teacher`: one per checkpoint, or, with ``seeds``, the one
    checkpoint fine-tuned once per seed (kept in ``output_dir/teacher-seed{N}``), for an ensemble of the same
    backbone. Returns ``(teachers, infos)`` in that order; ``fine_tuning`` holds `prepare_teacher`'s keywords.
    Teachers of different tokenizers: ``train_dataset`` and ``tokenizer`` are lists, one per checkpoint (each
    checkpoint's tokenization of the same rows, and its tokenizer)."""
    if seeds:
        if len(checkpoints) != 1:
            raise ValueError("--teacher_seeds fine-tunes one backbone once per seed, "
                             f"but {len(checkpoints)} teachers were "
                             "given: pass one --teacher_model_name_or_path with --teacher_seeds, or several without.")
        plans = [(checkpoints[0], seed, f"{TEACHER_SUBFOLDER}-seed{seed}") for seed in seeds]
    else:
        plans = [(checkpoint, None, TEACHER_SUBFOLDER if index == 0 else f"{TEACHER_SUBFOLDER}-{index}")
                 for index, checkpoint in enumerate(checkpoints)]
    datasets, tokenizers = (one_per(value, len(checkpoints), what)
                            for value, what in ((train_dataset, "train_dataset"), (tokenizer, "tokenizer")))
    teachers, infos = [], []
    for index, (checkpoint, seed, subfolder) in enumerate(plans):
        view = 0 if seeds else index
        teacher, info = prepare_teacher(checkpoint, label_map, output_dir, datasets[view], tokenizers[view], args,
                                        settings, seed=seed, subfolder=subfolder, **fine_tuning)
        teachers.append(teacher)
        infos.append({**info, "seed": seed if seed is not None else args.seed})
    return teachers, infos


def evaluate_teachers(teachers: list[PreTrainedModel], weights, dataset, tokenizer, args: TrainingArguments,
                      compute_metrics, predict: bool = False) -> tuple[nn.Module, dict | PredictionOutput, list]:
    """``(teacher, metrics, each)``: the model the report calls the teacher (the one teacher, or the
    `hfdistill.teachers.TeacherEnsemble` of several), its evaluation metrics, and each teacher's own.

    An ensemble is measured from its members' predictions, each teacher reading ``dataset`` through ``tokenizer``
    (or, for teachers of different tokenizers, lists of both, one per teacher), combined as
    `TeacherEnsemble.forward` combines them (`combine_teacher_logits` at T = 1) and scored by ``compute_metrics``
    with the task's evaluation loss. ``predict``: `PredictionOutput` s (logits in row order, metrics prefixed
    ``test_``) instead of metrics."""
    datasets, tokenizers = (one_per(value, len(teachers), what)
                            for value, what in ((dataset, "dataset"), (tokenizer, "tokenizer")))
    if len(teachers) == 1:
        result = evaluate_model(teachers[0], datasets[0], tokenizers[0], args, compute_metrics, predict)
        return teachers[0], result, [result]
    from ..losses import evaluation_loss
    from .ensemble import TeacherEnsemble, combine_teacher_logits

    ensemble = TeacherEnsemble(teachers, weights).eval()
    prefix = "test" if predict else "eval"
    outputs = [evaluate_model(teacher, view, one, args, compute_metrics, predict=True, metric_key_prefix=prefix)
               for teacher, view, one in zip(teachers, datasets, tokenizers, strict=True)]
    each = [output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
            for output in outputs]  # the logits, whatever else a model returns
    logits = combine_teacher_logits(torch.stack([torch.as_tensor(one).float() for one in each], dim=1),
                                    ensemble.weights, 1.0, ensemble.problem_type)
    label_ids = outputs[0].label_ids
    runtime = sum(output.metrics.get(f"{prefix}_runtime", 0.0) for output in outputs)  # the members run in turn
    metrics = {f"{prefix}_runtime": runtime,
               f"{prefix}_samples_per_second": len(logits) / runtime if runtime else None}
    if label_ids is not None:
        metrics[f"{prefix}_loss"] = float(evaluation_loss(logits, torch.as_tensor(label_ids), ensemble.problem_type))
        if compute_metrics is not None:
            scores = compute_metrics(EvalPrediction(predictions=logits.numpy(), label_ids=label_ids))
            metrics.update({f"{prefix}_{key}": value for key, value in scores.items()})
    if predict:
        return ensemble, PredictionOutput(logits.numpy(), label_ids, metrics), outputs
    return ensemble, metrics, [output.metrics for output in outputs]
