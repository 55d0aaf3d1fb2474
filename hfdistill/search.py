"""Choosing temperature, alpha and learning rate by measurement (`DistillationTrainer.hyperparameter_search`) on a part
of the training data held out for it, never on the split a run reports."""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable

from datasets import Dataset

from transformers.utils import logging

from .trainer import DistillationTrainer

logger = logging.get_logger(__name__)


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


def run_search(trainer, trainer_search: Callable, hp_space: Callable | None = None,
               compute_objective: Callable[[dict[str, float]], float] | None = None, n_trials: int = 20,
               direction: str | list[str] | None = None, backend: str | None = "optuna",
               hp_name: Callable | None = None,
               **kwargs):
    """`DistillationTrainer.hyperparameter_search` (``trainer_search``: `Trainer.hyperparameter_search`) over the
    distillation settings: each trial rebuilds the student with
    `model_init` and trains it against the same frozen teacher, prepared once and never trained or saved.

    Defaults differ from Trainer's where distillation needs it: ``hp_space`` is `distillation_hp_space`
    (temperature, alpha and a learning rate within a factor of 10 of ``args.learning_rate``). The objective follows
    Trainer: without ``compute_metrics`` the evaluation loss (``direction`` default ``"minimize"``); with it, the
    evaluation's ``metric_for_best_model`` (else the task's primary metric: accuracy, macro-F1 or Spearman; see
    `hfdistill.evaluation.metrics.primary_metric`), maximised.
    Needs `model_init` and an `eval_dataset`; raises ``ValueError`` otherwise. With optuna, every trial (number,
    objective, parameters, state) is kept in ``trainer.hp_search_trials``.
    """
    if trainer.model_init is None:
        raise ValueError("hyperparameter_search rebuilds the student for every trial: pass model_init (a function "
                         "returning a fresh student) instead of model.")
    if trainer.eval_dataset is None:
        raise ValueError("hyperparameter_search compares trials on an evaluation set: pass eval_dataset (a part held "
                         "out of the training data, not the set you report).")
    if compute_objective is None:
        from .evaluation.metrics import report_metric

        # As Trainer: the evaluation loss when no metric is computed (minimised), else the task's metric (maximised).
        metric = (report_metric(trainer.problem_type, trainer.args.metric_for_best_model,
                                trainer.args.greater_is_better) if trainer.compute_metrics is not None else "loss")
        direction = direction or ("minimize" if metric == "loss" else "maximize")

        def compute_objective(metrics: dict[str, float]) -> float:
            if f"eval_{metric}" not in metrics:
                raise ValueError(f"The evaluation gave {sorted(metrics)}, without eval_{metric}: pass compute_metrics, "
                                 "or set metric_for_best_model to one it returns.")
            return metrics[f"eval_{metric}"]
    else:
        metric = getattr(compute_objective, "__name__", "compute_objective")
    direction = direction or "maximize"
    logger.warning(f"hyperparameter_search: objective {metric}, direction {direction}.")
    trainer.hp_search_objective = {"objective": metric, "direction": direction}
    record = backend in (None, "optuna") and "storage" not in kwargs
    if record:  # keep every trial, not only the best, for the caller to report (`hp_search_trials`)
        import optuna

        kwargs.update(storage=optuna.storages.InMemoryStorage(), study_name=kwargs.get("study_name") or "hfdistill")
    hp_space = hp_space or functools.partial(distillation_hp_space, learning_rate=trainer.args.learning_rate)
    best = trainer_search(hp_space=hp_space, compute_objective=compute_objective, n_trials=n_trials,
                          direction=direction, backend=backend, hp_name=hp_name, **kwargs)
    if record:
        study = optuna.load_study(study_name=kwargs["study_name"], storage=kwargs["storage"])
        trainer.hp_search_trials = [
            {"number": t.number, "objective": t.value, "params": t.params, "state": t.state.name}
            for t in study.trials
        ]
    return best


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
    trainer = DistillationTrainer(model_init=build_student, train_dataset=train, eval_dataset=held_out,
                                  **trainer_kwargs)
    best = trainer.hyperparameter_search(hp_space=hp_space, n_trials=n_trials)
    return dict(best.hyperparameters), trainer.hp_search_trials


def search_and_apply(build_student: Callable, labeled: Dataset, args, **trainer_kwargs) -> dict | None:
    """The recipe's search: with ``args.search_trials`` > 0, `search_distillation_settings` on ``labeled`` holding
    out ``args.search_holdout``, the best values set on ``args`` for the run itself; returns what results.json
    records (``best``, every trial, the held-out fraction, the seconds it took), or ``None`` without a search."""
    if not args.search_trials:
        return None
    start = time.perf_counter()
    best, trials = search_distillation_settings(build_student, labeled, args.search_trials, args.search_holdout,
                                                args=args, **trainer_kwargs)
    for name, value in best.items():
        setattr(args, name, value)
    return {"best": best, "trials": trials, "held_out_fraction": args.search_holdout,
            "seconds": time.perf_counter() - start}
