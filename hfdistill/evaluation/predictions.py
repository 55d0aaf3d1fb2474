"""Predictions for a test file, as `run_glue.py`'s ``--do_predict`` writes them: one row per input row, in its order,
with the text, the predicted label and the scores; and the metrics when the file is labeled."""

from __future__ import annotations

import csv
import os

import numpy as np

from ..problem_types import MULTI_LABEL, REGRESSION

PREDICTIONS_FILE = "predictions.tsv"


def pipeline_function(problem_type: str | None, num_labels: int) -> str:
    """The function `pipeline("text-classification")` applies to a model's logits, by its rule
    (`TextClassificationPipeline.postprocess`, in its order): ``"none"`` for regression, ``"sigmoid"`` for
    multi-label or one output, else ``"softmax"``."""
    if problem_type == REGRESSION:
        return "none"
    if problem_type == MULTI_LABEL or num_labels == 1:
        return "sigmoid"
    return "softmax"


def apply_function(logits: np.ndarray, function: str) -> np.ndarray:
    """``"softmax"`` over the last axis, ``"sigmoid"`` per value, or ``"none"`` (the logits as they are)."""
    if function == "softmax":
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    if function == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    return logits


def scores_of(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """(N, C) scores from (N, C) logits as `pipeline("text-classification")` gives them: softmax probabilities,
    per-label sigmoids (multi-label), or the raw output (regression)."""
    logits = np.asarray(logits, dtype=np.float64)
    return apply_function(logits, pipeline_function(problem_type, logits.shape[-1]))


def predicted_labels(scores: np.ndarray, id2label: dict, problem_type: str, threshold: float = 0.5) -> list[str]:
    """Each row's label: the top class's name; multi-label, the names at or above ``threshold`` joined by commas;
    regression, the predicted score."""
    if problem_type == REGRESSION:
        return [f"{value:.6g}" for value in scores.reshape(len(scores), -1)[:, 0]]
    if problem_type == MULTI_LABEL:
        return [",".join(id2label[index] for index in np.flatnonzero(row >= threshold)) for row in scores]
    return [id2label[int(index)] for index in scores.argmax(-1)]


def write_predictions(path: str, texts: list, id2label: dict, problem_type: str, models: dict[str, np.ndarray]
                      ) -> str:
    """Write a TSV (header, then one line per row in ``texts``' order; fields quoted where they hold a tab, a quote
    or a newline) of each row's text (``text``, and ``text_pair`` for pairs given as ``(text, text_pair)``), and for
    each model in ``models`` (name -> (N, C) logits, e.g. ``{"student": ..., "teacher": ...}``) its predicted label
    (``<name>_label``) and the score of every class (``<name>_score_<class>``; regression: ``<name>_score``)."""
    pairs = bool(texts) and isinstance(texts[0], (tuple, list))
    header = ["text", "text_pair"] if pairs else ["text"]
    columns = []
    for name, logits in models.items():
        scores = scores_of(logits, problem_type)
        header.append(f"{name}_label")
        columns.append(predicted_labels(scores, id2label, problem_type))
        if problem_type == REGRESSION:
            header.append(f"{name}_score")
            columns.append([f"{value:.6g}" for value in scores.reshape(len(scores), -1)[:, 0]])
        else:
            for index in sorted(id2label):
                header.append(f"{name}_score_{id2label[index]}")
                columns.append([f"{value:.6f}" for value in scores[:, index]])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        for row, text in enumerate(texts):
            writer.writerow([*(text if pairs else [text]), *(column[row] for column in columns)])
    return path


def predict_test(dataset, texts: list, label_map, output_dir: str, write: bool = True, **predictors) -> dict:
    """Run each of ``predictors`` (name -> a function of the tokenized ``dataset`` returning a
    `transformers.trainer_utils.PredictionOutput`, e.g. ``student=trainer.predict``) and write their predictions to
    ``output_dir/predictions.tsv`` (on the main process: ``write``). Returns what results.json records: the file,
    its rows, and each model's metrics when ``dataset`` has ``labels``."""
    outputs = {name: predict(dataset) for name, predict in predictors.items()}
    logits = {name: output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
              for name, output in outputs.items()}
    path = os.path.join(output_dir, PREDICTIONS_FILE)
    if write:
        write_predictions(path, texts, label_map.id2label, label_map.problem_type, logits)
    labeled = "labels" in dataset.column_names
    metrics = {name: {key.removeprefix("test_"): value for key, value in output.metrics.items()}
               for name, output in outputs.items()} if labeled else None
    return {"file": PREDICTIONS_FILE, "rows": len(texts), "labeled": labeled, "metrics": metrics}
