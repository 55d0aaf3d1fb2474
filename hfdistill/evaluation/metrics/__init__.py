"""Metrics that work offline, per task shape: an `evaluate` module shipped inside the package (loaded by file path)
for single-label classification, scikit-learn's F1 for multi-label and SciPy's correlations for regression."""

from __future__ import annotations

import os

import numpy as np

from transformers.utils import logging

from ...problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL

logger = logging.get_logger(__name__)

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


def report_metric(problem_type: str, metric_for_best_model: str | None = None,
                  greater_is_better: bool | None = None) -> str:
    """The metric a run is reported (and "kept" is measured) and searched by: ``metric_for_best_model`` (without its
    ``eval_`` prefix) when it is one where higher is better, else the task's `primary_metric`. A loss, or any metric
    with ``greater_is_better=False`` (what transformers sets for ``load_best_model_at_end`` alone), is never a
    headline: a ratio of losses is no share kept."""
    name = (metric_for_best_model or "").removeprefix("eval_")
    if not name or name.endswith("loss") or greater_is_better is False:
        return primary_metric(problem_type)
    return name


def class_coverage(labels, id2label: dict, problem_type: str) -> dict | None:
    """Which classes an evaluation split has rows of (single-label: its class indices, (N,); multi-label: 0/1 rows,
    (N, C)) and which it lacks; ``None`` for regression. Its macro-F1 averages over the classes that occur in the
    references or the predictions, so a class it lacks counts only where a model predicts it."""
    if problem_type == REGRESSION:
        return None
    values = np.asarray(labels)
    present = set(np.flatnonzero(values.any(0)).tolist()) if problem_type == MULTI_LABEL else set(values.tolist())
    coverage = {"present": [id2label[index] for index in sorted(id2label) if index in present],
                "missing": [id2label[index] for index in sorted(id2label) if index not in present]}
    if coverage["missing"]:
        logger.warning(f"The evaluation split has no row of the classes {coverage['missing']}: its macro-F1 averages "
                       f"over the classes its rows have ({len(coverage['present'])}) and those a model predicts.")
    return coverage


def multi_label_scores(logits: np.ndarray, references: np.ndarray, threshold: float = 0.5) -> dict:
    """Micro- and macro-averaged F1 (scikit-learn, ``zero_division=0``) and subset accuracy (every label right) of
    ``sigmoid(logits) >= threshold`` against 0/1 ``references``, both (N, C). Macro-F1 averages over the labels that
    occur in the references or the predictions, as scikit-learn does for single-label data: a label the split lacks
    and no row is predicted as does not count as an F1 of 0."""
    from sklearn.metrics import accuracy_score, f1_score

    predictions = (1 / (1 + np.exp(-logits)) >= threshold).astype(int)
    references = np.asarray(references).astype(int)
    return {
        "f1_micro": float(f1_score(references, predictions, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(references, predictions, average="macro", zero_division=0,
                                   labels=np.flatnonzero(references.any(0) | predictions.any(0)))
                          if (references.any() or predictions.any()) else 0.0),
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
