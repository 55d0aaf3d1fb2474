"""Metrics that work offline, per task shape: an `evaluate` module shipped inside the package (loaded by file path)
for single-label classification, scikit-learn's F1 for multi-label and SciPy's correlations for regression."""

from __future__ import annotations

import os

import numpy as np

from ...problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL

CLASSIFICATION_METRIC_PATH = os.path.join(os.path.dirname(__file__), "classification", "classification.py")


def load_classification_metric():
    """`evaluate.load` of our accuracy/F1 module, by path: no Hub access needed."""
    import evaluate

    return evaluate.load(CLASSIFICATION_METRIC_PATH)


def primary_metric(problem_type: str, num_labels: int = 2) -> str:
    """The metric a task is reported by, and "kept" is measured on: accuracy (single-label; GLUE reports MRPC by F1,
    which the recipe can choose), macro-F1 (multi-label, as GoEmotions is reported) or Spearman's rho (regression,
    as STS-B is)."""
    return {SINGLE_LABEL: "accuracy", MULTI_LABEL: "f1_macro", REGRESSION: "spearman"}[problem_type]


def report_metric(problem_type: str, metric_for_best_model: str | None = None) -> str:
    """The metric a run is reported and searched by: ``metric_for_best_model`` (without its ``eval_`` prefix) when
    set, else the task's `primary_metric`."""
    return (metric_for_best_model or primary_metric(problem_type)).removeprefix("eval_")


def multi_label_scores(logits: np.ndarray, references: np.ndarray, threshold: float = 0.5) -> dict:
    """Micro- and macro-averaged F1 (scikit-learn, ``zero_division=0``) and subset accuracy (every label right) of
    ``sigmoid(logits) >= threshold`` against 0/1 ``references``, both (N, C)."""
    from sklearn.metrics import accuracy_score, f1_score

    predictions = (1 / (1 + np.exp(-logits)) >= threshold).astype(int)
    references = np.asarray(references).astype(int)
    return {
        "f1_micro": float(f1_score(references, predictions, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(references, predictions, average="macro", zero_division=0)),
        "subset_accuracy": float(accuracy_score(references, predictions)),
    }


def regression_scores(predictions: np.ndarray, references: np.ndarray) -> dict:
    """Pearson's r and Spearman's rho (SciPy) of (N,) or (N, 1) predicted scores against the gold scores; 0 where a
    side is constant (the correlation is undefined there)."""
    from scipy.stats import pearsonr, spearmanr

    predictions, references = (
        np.asarray(predictions, dtype=float).reshape(-1), np.asarray(references, dtype=float).reshape(-1)
    )
    if len(predictions) < 2 or np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return {"pearson": 0.0, "spearman": 0.0}
    return {"pearson": float(pearsonr(predictions, references)[0]),
            "spearman": float(spearmanr(predictions, references)[0])}


def task_metrics(problem_type: str = SINGLE_LABEL, num_labels: int = 2):
    """A `compute_metrics` for Trainer, by task shape: single-label accuracy plus F1 (binary) or macro-F1; multi-label
    micro/macro-F1 and subset accuracy; regression Pearson and Spearman. All offline."""
    metric = load_classification_metric() if problem_type == SINGLE_LABEL else None

    def compute_metrics(eval_prediction) -> dict:
        predictions = eval_prediction.predictions
        logits = predictions[0] if isinstance(predictions, tuple) else predictions
        if problem_type == MULTI_LABEL:
            return multi_label_scores(logits, eval_prediction.label_ids)
        if problem_type == REGRESSION:
            return regression_scores(logits, eval_prediction.label_ids)
        return metric.compute(predictions=np.argmax(logits, axis=-1), references=eval_prediction.label_ids,
                              num_labels=num_labels)

    return compute_metrics
