"""Choosing temperature, alpha and learning rate by measurement (`DistillationTrainer.hyperparameter_search`) on a part
of the training data held out for it, never on the split a run reports."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from datasets import Dataset

from .distillation_trainer import DistillationTrainer


def holdout_split(labeled: Dataset, fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
    """``(search_train, held_out)``: a seeded random ``fraction`` of the labeled rows held out, the rest to train on.
    Raises ``ValueError`` for a fraction outside (0, 1) or a held-out part without rows."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"search_holdout must be in (0, 1), got {fraction}.")
    split = labeled.train_test_split(test_size=fraction, seed=seed)
    if len(split["test"]) == 0 or len(split["train"]) == 0:
        raise ValueError(f"Holding out {fraction} of {len(labeled)} labeled rows leaves one side empty: use more rows.")
    return split["train"], split["test"]


def search_distillation_settings(build_student: Callable, labeled: Dataset, n_trials: int, fraction: float = 0.1,
                                 hp_space: Callable | None = None, **trainer_kwargs) -> tuple[dict, list[dict]]:
    """Search the distillation settings with ``n_trials`` trials: each builds a fresh student (``build_student()``),
    trains it on the labeled rows less a held-out ``fraction`` and scores it on that fraction (the task's primary
    metric, see `DistillationTrainer.hyperparameter_search`). Returns ``(best parameters, every trial)``.

    ``trainer_kwargs`` are `DistillationTrainer`'s (teacher, args, collator, compute_metrics, ...); the augmented and
    unlabeled rows stay out, so that no copy of a held-out text is trained on."""
    args = trainer_kwargs.pop("args")
    train, held_out = holdout_split(labeled, fraction, seed=args.seed)
    # The run's settings, evaluated every epoch, saving and pushing nothing, in a scratch folder of the run.
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    shared.update(output_dir=os.path.join(args.output_dir, "_search"), eval_strategy="epoch", save_strategy="no",
                  push_to_hub=False, load_best_model_at_end=False, report_to="none")
    trainer_kwargs["args"] = type(args)(**shared)
    trainer = DistillationTrainer(model_init=build_student, train_dataset=train, eval_dataset=held_out, **trainer_kwargs)
    best = trainer.hyperparameter_search(hp_space=hp_space, n_trials=n_trials)
    return dict(best.hyperparameters), trainer.hp_search_trials
