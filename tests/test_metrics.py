import math

import numpy as np
from transformers import EvalPrediction

from hfdistill.evaluation.metrics import primary_metric, task_metrics


def test_single_label_accuracy_and_f1():
    scores = task_metrics("single_label_classification", 2)(EvalPrediction(
        predictions=np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), label_ids=np.array([0, 1, 0, 0])))
    assert scores == {"accuracy": 0.75, "f1": 2 / 3}


def test_multi_label_micro_macro_f1_and_subset_accuracy_by_hand():
    logits = np.array([[2.0, -2.0, 1.0], [-1.0, 3.0, -3.0]])  # predicted labels [1, 0, 1] and [0, 1, 0]
    references = np.array([[1, 0, 0], [0, 1, 0]])
    scores = task_metrics("multi_label_classification", 3)(EvalPrediction(predictions=logits, label_ids=references))
    # label 0: tp 1, f1 1; label 1: tp 1, f1 1; label 2: fp 1, f1 0 -> macro 2/3; micro: tp 2, fp 1, fn 0 -> 4/5
    assert math.isclose(scores["f1_macro"], 2 / 3) and math.isclose(scores["f1_micro"], 0.8)
    assert scores["subset_accuracy"] == 0.5


def test_regression_pearson_and_spearman():
    scores = task_metrics("regression", 1)(EvalPrediction(predictions=np.array([[1.0], [2.0], [3.0], [10.0]]),
                                                          label_ids=np.array([1.0, 2.0, 3.0, 4.0])))
    assert math.isclose(scores["spearman"], 1.0) and 0.8 < scores["pearson"] < 1.0
    assert primary_metric("regression") == "spearman" and primary_metric("multi_label_classification") == "f1_macro"
