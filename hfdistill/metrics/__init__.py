"""Metrics that work offline: `evaluate` modules shipped inside the package, loaded by file path."""

import os

CLASSIFICATION_METRIC_PATH = os.path.join(os.path.dirname(__file__), "classification", "classification.py")


def load_classification_metric():
    """`evaluate.load` of our accuracy/F1 module, by path: no Hub access needed."""
    import evaluate

    return evaluate.load(CLASSIFICATION_METRIC_PATH)
