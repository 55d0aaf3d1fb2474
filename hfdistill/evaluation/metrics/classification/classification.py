"""Accuracy and F1 for single-label classification, as an `evaluate` metric loadable offline by path.

`evaluate.load("accuracy")` fetches its script from the Hub; this module needs nothing but numpy:

    evaluate.load(hfdistill.evaluation.metrics.CLASSIFICATION_METRIC_PATH)
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import f1_score

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
            results["f1"] = float(f1_score(references, predictions, labels=[1], average="macro", zero_division=0))
        else:
            # scikit-learn's own default: the mean over the classes that occur in the references or the predictions,
            # so that a class the split lacks (and no row is predicted as) does not count as an F1 of 0.
            results["f1_macro"] = float(f1_score(references, predictions, average="macro", zero_division=0))
        return results
