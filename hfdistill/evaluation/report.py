"""Measuring what was gained: results.json, a printed table, and an accuracy-vs-latency plot."""

from __future__ import annotations

import json
import os

from .metrics import task_metrics
from .profiling import ModelStats


def classification_metrics(num_labels: int):
    """A `compute_metrics` for Trainer: accuracy plus F1 (binary) or macro-F1, through `evaluate`, offline (see
    `hfdistill.evaluation.metrics.task_metrics` for every task shape)."""
    return task_metrics("single_label_classification", num_labels)


def _model_row(metrics: dict, stats: ModelStats, prefix: str = "eval_") -> dict:
    row = {key[len(prefix):]: value for key, value in metrics.items() if key.startswith(prefix)}
    row.pop("model_preparation_time", None)
    return {**row, **stats.to_dict()}


def build_results(
    teacher_metrics: dict,
    student_metrics: dict,
    teacher_stats: ModelStats,
    student_stats: ModelStats,
    primary_metric: str = "accuracy",
    **details,
) -> dict:
    """Teacher and student side by side, with the ratios users ask about first: ``metric_kept`` is the student's
    ``primary_metric`` (the task's, see `hfdistill.evaluation.metrics.primary_metric`) over the teacher's."""
    teacher = _model_row(teacher_metrics, teacher_stats)
    student = _model_row(student_metrics, student_stats)
    if primary_metric not in teacher or primary_metric not in student:
        raise ValueError(
            f"The primary metric {primary_metric!r} was not computed; the evaluation gave {sorted(teacher)}."
        )
    ratios = {
        "metric_kept": student[primary_metric] / teacher[primary_metric] if teacher[primary_metric] else None,
        "accuracy_kept": student["accuracy"] / teacher["accuracy"] if teacher.get("accuracy") else None,
        "size": teacher["num_parameters"] / student["num_parameters"],
        "disk_size": teacher["disk_size_mb"] / student["disk_size_mb"],
        "latency_speedup": teacher["latency_ms_batch1"] / student["latency_ms_batch1"],
        "throughput_speedup": student["throughput_batch32"] / teacher["throughput_batch32"],
    }
    return {"teacher": teacher, "student": student, "ratios": ratios, "primary_metric": primary_metric, **details}


def _rows(results: dict) -> list[tuple[str, dict]]:
    """Teacher, student, then each exported form that was kept (``results["exported"]``, see
    `hfdistill.export.export_student`; a form that failed its parity check has no file)."""
    exported = [(name, row) for name, row in (results.get("exported") or {}).items() if row.get("file")]
    return [("teacher", results["teacher"]), ("student", results["student"]), *exported]


def _x100(value) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def format_table(results: dict) -> str:
    metric = results.get("primary_metric", "accuracy")
    second = next(
        (name for name in ("f1", "f1_macro", "pearson", "f1_micro") if name != metric and name in results["student"]),
        None,
    )
    header = (f"{'model':<16} {metric:>9} {second or '':>9} {'params':>12} {'disk MB':>8} {'ms @1':>8} {'ex/s @32':>9}")
    lines = [header, "-" * len(header)]
    for name, row in _rows(results):
        other = row.get(second) if second else None
        lines.append(
            f"{name:<16} {_x100(row.get(metric)):>9} {_x100(other):>9} "
            f"{row['num_parameters']:>12,} {row['disk_size_mb']:>8.1f} {row['latency_ms_batch1']:>8.2f} "
            f"{row['throughput_batch32']:>9.0f}"
        )
    ratios = results["ratios"]
    kept = ratios.get("metric_kept", ratios.get("accuracy_kept"))
    lines.append(
        f"{metric} kept {'n/a' if kept is None else f'{100 * kept:.1f}%'} | {ratios['size']:.1f}x fewer parameters | "
        f"{ratios['latency_speedup']:.1f}x lower latency | {ratios['throughput_speedup']:.1f}x throughput"
    )
    return "\n".join(lines)


def plot_accuracy_vs_latency(results: dict, path: str) -> None:
    """PNG: the task's primary metric (accuracy, macro-F1, Spearman, ...) against CPU latency at batch 1, one point per
    model."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    metric = results.get("primary_metric", "accuracy")
    figure, axes = plt.subplots(figsize=(5, 3.6), dpi=120)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for (name, row), color in zip(_rows(results), colors * 2):
        if row.get(metric) is None:
            continue
        axes.scatter(row["latency_ms_batch1"], 100 * row[metric], s=80, color=color, label=name)
        axes.annotate(f"{name}\n{row['num_parameters'] / 1e6:.1f}M params",
                      (row["latency_ms_batch1"], 100 * row[metric]),
                      textcoords="offset points", xytext=(8, -4), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("CPU latency at batch 1 (ms, log scale)")
    axes.set_ylabel(f"validation {metric} (x 100)")
    axes.set_title(f"{metric} vs. latency")
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
