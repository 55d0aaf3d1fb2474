"""Measuring what was gained: results.json, a printed table, and an accuracy-vs-latency plot."""

from __future__ import annotations

import json
import os

import numpy as np

from .metrics import load_classification_metric
from .profiling import ModelStats


def classification_metrics(num_labels: int):
    """A `compute_metrics` for Trainer: accuracy plus F1 (binary) or macro-F1, through `evaluate`, offline."""
    metric = load_classification_metric()

    def compute_metrics(eval_prediction) -> dict:
        logits = eval_prediction.predictions[0] if isinstance(eval_prediction.predictions, tuple) else eval_prediction.predictions
        return metric.compute(predictions=np.argmax(logits, axis=-1), references=eval_prediction.label_ids, num_labels=num_labels)

    return compute_metrics


def _model_row(metrics: dict, stats: ModelStats, prefix: str = "eval_") -> dict:
    row = {key[len(prefix):]: value for key, value in metrics.items() if key.startswith(prefix)}
    row.pop("model_preparation_time", None)
    return {**row, **stats.to_dict()}


def build_results(
    teacher_metrics: dict,
    student_metrics: dict,
    teacher_stats: ModelStats,
    student_stats: ModelStats,
    **details,
) -> dict:
    """Teacher and student side by side, with the ratios users ask about first."""
    teacher = _model_row(teacher_metrics, teacher_stats)
    student = _model_row(student_metrics, student_stats)
    ratios = {
        "accuracy_kept": student["accuracy"] / teacher["accuracy"] if teacher.get("accuracy") else None,
        "size": teacher["num_parameters"] / student["num_parameters"],
        "disk_size": teacher["disk_size_mb"] / student["disk_size_mb"],
        "latency_speedup": teacher["latency_ms_batch1"] / student["latency_ms_batch1"],
        "throughput_speedup": student["throughput_batch32"] / teacher["throughput_batch32"],
    }
    return {"teacher": teacher, "student": student, "ratios": ratios, **details}


def _rows(results: dict) -> list[tuple[str, dict]]:
    """Teacher, student, then each exported form (``results["exported"]``, see `hfdistill.export.export_student`)."""
    return [("teacher", results["teacher"]), ("student", results["student"]), *(results.get("exported") or {}).items()]


def format_table(results: dict) -> str:
    header = f"{'model':<16} {'accuracy':>9} {'f1':>7} {'params':>12} {'disk MB':>8} {'ms @1':>8} {'ex/s @32':>9}"
    lines = [header, "-" * len(header)]
    for name, row in _rows(results):
        f1 = row.get("f1", row.get("f1_macro"))
        lines.append(
            f"{name:<16} {100 * row['accuracy']:>8.2f}% {'' if f1 is None else f'{100 * f1:.2f}':>7} "
            f"{row['num_parameters']:>12,} {row['disk_size_mb']:>8.1f} {row['latency_ms_batch1']:>8.2f} "
            f"{row['throughput_batch32']:>9.0f}"
        )
    ratios = results["ratios"]
    lines.append(
        f"accuracy kept {100 * ratios['accuracy_kept']:.1f}% | {ratios['size']:.1f}x fewer parameters | "
        f"{ratios['latency_speedup']:.1f}x lower latency | {ratios['throughput_speedup']:.1f}x throughput"
    )
    return "\n".join(lines)


def plot_accuracy_vs_latency(results: dict, path: str) -> None:
    """PNG: accuracy against CPU latency at batch 1, one point per model."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.6), dpi=120)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for (name, row), color in zip(_rows(results), colors * 2):
        axes.scatter(row["latency_ms_batch1"], 100 * row["accuracy"], s=80, color=color, label=name)
        axes.annotate(f"{name}\n{row['num_parameters'] / 1e6:.1f}M params", (row["latency_ms_batch1"], 100 * row["accuracy"]),
                      textcoords="offset points", xytext=(8, -4), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("CPU latency at batch 1 (ms, log scale)")
    axes.set_ylabel("validation accuracy (%)")
    axes.set_title("Accuracy vs. latency")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_report(results: dict, output_dir: str) -> str:
    """Write `results.json` and `accuracy_vs_latency.png` into ``output_dir``; return the printable table."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    plot_accuracy_vs_latency(results, os.path.join(output_dir, "accuracy_vs_latency.png"))
    return format_table(results)
