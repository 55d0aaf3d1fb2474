"""Accuracy and F1 for single-label classification, as an `evaluate` metric loadable offline by path.

`evaluate.load("accuracy")` fetches its script from the Hub; this module needs nothing but numpy:

    evaluate.load(hfdistill.metrics.CLASSIFICATION_METRIC_PATH)
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Accuracy, plus F1 of the positive class (label 1) for two classes or macro-averaged F1 for more."""
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class indices.
    references (`list[int]`): true class indices.
    num_labels (`int`, optional): number of classes; defaults to 1 + the largest index seen. Two classes give binary
        F1 of class 1 (reported as `f1`); more give macro-averaged F1 over all classes (reported as `f1_macro`).
Returns:
    accuracy, and `f1` (binary) or `f1_macro` (three classes or more).
"""


def _f1(predictions: np.ndarray, references: np.ndarray, label: int) -> float:
    true_positive = np.sum((predictions == label) & (references == label))
    predicted, actual = np.sum(predictions == label), np.sum(references == label)
    if predicted + actual == 0:
        return 0.0
    return float(2 * true_positive / (predicted + actual))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_labels=None):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if num_labels is None:
            num_labels = int(max(predictions.max(initial=0), references.max(initial=0))) + 1
        results = {"accuracy": float(np.mean(predictions == references)) if len(references) else 0.0}
        if num_labels <= 2:
            results["f1"] = _f1(predictions, references, 1)
        else:
            results["f1_macro"] = float(np.mean([_f1(predictions, references, label) for label in range(num_labels)]))
        return results
