"""The student's model card: what it was distilled from, how, and what it kept."""

from __future__ import annotations

import json
import os

from .losses import REGRESSION, SINGLE_LABEL, describe_objective, get_soft_loss

_KIND_DESCRIPTIONS = {
    "layers": "transformer cut from the teacher (fewer of its layers)",
    "compact": "compact transformer (narrower and shallower than the teacher)",
    "linear": "linear model (averaged token embeddings and one linear layer)",
}


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


_METRIC_NAMES = {"accuracy": "Accuracy", "f1": "F1", "f1_macro": "Macro-F1", "f1_micro": "Micro-F1",
                 "subset_accuracy": "Subset accuracy", "spearman": "Spearman's rho", "pearson": "Pearson's r"}


def _score(metric: str, value) -> str:
    """Accuracies and F1 as percentages, correlations as they are."""
    if value is None:
        return "n/a"
    return f"{value:.4f}" if metric in ("spearman", "pearson") else f"{100 * value:.2f}%"


def _own_architecture(info: dict) -> str | None:
    """The student's model type when it is one of hfdistill's own (the linear student, the mean-pooling BERT), else
    ``None``: such a model loads without hfdistill only with its code, which `save_pretrained` copies into the folder,
    and transformers.js does not run it."""
    model_type = str(info.get("model_type") or "")
    if model_type.startswith("hfdistill-"):
        return model_type
    return "hfdistill-linear" if info.get("student_kind") == "linear" else None


def _usage(info: dict, results: dict) -> list[str]:
    """How to call the student: a text, a sentence pair, or every label's score (multi-label)."""
    remote = ", trust_remote_code=True" if _own_architecture(info) else ""
    if results.get("text_pair_column"):
        call = 'classifier({"text": "A man is playing a guitar.", "text_pair": "A man plays guitar."}, truncation=True)'
    elif info.get("problem_type") == "multi_label_classification":
        call = 'classifier("I love this, thank you!", top_k=None, truncation=True)  # every label\'s sigmoid score'
    else:
        call = 'classifier("a gripping, beautifully acted film", truncation=True)  # truncation: longer texts would not fit'
    return ["", "## Use", "", "```python", "from transformers import pipeline",
            f"classifier = pipeline(\"text-classification\", model=\"{info.get('model_id') or 'path/to/this/folder'}\"{remote})",
            call, "```", ""]


def _ratio(value) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _transfer_set_rows(transfer_set: dict | None) -> list[str]:
    """What the student learned from beyond the labeled rows, which only the teacher labelled."""
    if not transfer_set or not (transfer_set.get("unlabeled") or transfer_set.get("augmented")):
        return []
    rows = [f"| transfer set | {transfer_set['labeled']:,} labeled, {transfer_set.get('unlabeled', 0):,} unlabeled, "
            f"{transfer_set.get('augmented', 0):,} augmented (labelled by the teacher alone) |"]
    augmentation = transfer_set.get("augmentation")
    if augmentation:
        rows.append("| augmentation | " + ", ".join(f"{key} {value}" for key, value in augmentation.items()) + " |")
    return rows


def render_model_card(info: dict) -> str:
    """Markdown with YAML front matter for the Hub. ``info`` holds the distillation settings and, when known, the
    recipe's results (see `hfdistill.report.build_results`)."""
    results = info.get("results") or {}
    loss_type, problem_type = info.get("distillation_loss") or "kl", info.get("problem_type") or SINGLE_LABEL
    teacher, student = results.get("teacher", {}), results.get("student", {})
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "tags": ["hfdistill", "knowledge-distillation", "text-classification"],
    }
    if info.get("teacher") and not os.path.exists(str(info["teacher"])):  # a Hub id, not a path on this machine
        metadata["base_model"] = info["teacher"]
    if info.get("dataset"):
        metadata["datasets"] = [info["dataset"]]
    front = "\n".join(f"{key}: {json.dumps(value)}" for key, value in metadata.items())

    lines = [
        "---",
        front,
        "---",
        "",
        f"# {info.get('model_name') or 'Distilled student'}",
        "",
        f"A {_KIND_DESCRIPTIONS.get(info.get('student_kind'), info.get('student_kind') or 'student model')} distilled with "
        "[hfdistill](https://github.com/hfdistill/hfdistill) "
        f"from the teacher `{info.get('teacher', 'unknown')}` on {info.get('dataset') or 'the training data'}.",
        "",
        "## Distillation",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| teacher | `{info.get('teacher', 'unknown')}` |",
        f"| data | {info.get('dataset') or 'n/a'} |",
        f"| soft loss | {info.get('distillation_loss')} |",
        f"| temperature T | {info.get('temperature')} |",
        f"| alpha (soft-term weight) | {info.get('alpha')} |",
        f"| epochs | {info.get('num_train_epochs')} |",
        f"| learning rate | {info.get('learning_rate')} |",
        f"| seed | {info.get('seed')} |",
        *_transfer_set_rows(results.get("transfer_set")),
        "",
        "Objective:",
        "",
        *(f"- {line}" for line in describe_objective(loss_type, info.get("pseudo_labels") or "none", problem_type)),
    ]
    if not get_soft_loss(loss_type, problem_type).uses_temperature:
        lines += ["", "The temperature T does not enter this soft term" + (
            " (a regression's output is a score, not a distribution)." if problem_type == REGRESSION else ".")]
    if info.get("hidden_state_weight"):
        lines.append(
            f"Plus {info['hidden_state_weight']} x the {info.get('hidden_state_loss')} distance between each student "
            "layer's output and the output of the teacher layer it was copied from."
        )
    if results:
        metric = results.get("primary_metric", "accuracy")
        lines += [
            "",
            "## Results",
            "",
            f"On {results.get('eval_examples', 'the')} validation examples; speed measured on the CPU "
            f"({student.get('num_threads', '?')} threads).",
            "",
            f"| model | {metric} | parameters | size on disk | latency, batch 1 | throughput, batch 32 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in (("teacher", teacher), ("student", student)):
            lines.append(
                f"| {name} | {_score(metric, row.get(metric))} | {row.get('num_parameters', 0):,} | "
                f"{row.get('disk_size_mb', 0):.1f} MB | {row.get('latency_ms_batch1', 0):.2f} ms | "
                f"{row.get('throughput_batch32', 0):.0f} ex/s |"
            )
        for name, row in (results.get("exported") or {}).items():  # hfdistill.export: one row per exported form
            lines.append(
                f"| {name} (`{row.get('file')}`) | "
                f"{_score(metric, row.get(metric))} | {row.get('num_parameters', 0):,} | {row.get('disk_size_mb', 0):.1f} MB | "
                f"{row.get('latency_ms_batch1', 0):.2f} ms | {row.get('throughput_batch32', 0):.0f} ex/s |"
            )
        if results.get("each_teacher"):  # an ensemble: the teacher row above is their mean prediction
            lines += ["", "The teacher is an ensemble of " + ", ".join(
                f"teacher {index + 1} ({_score(metric, row.get(f'eval_{metric}'))})" for index, row in enumerate(results["each_teacher"]))
                + " on its own; the row above is their mean prediction."]
        ratios = results.get("ratios", {})
        lines += [
            "",
            f"{_METRIC_NAMES.get(metric, metric)} kept: **{_pct(ratios.get('metric_kept', ratios.get('accuracy_kept')))}** "
            "of the teacher's. "
            f"{_ratio(ratios.get('size'))} smaller, {_ratio(ratios.get('latency_speedup'))} faster at batch 1, "
            f"{_ratio(ratios.get('throughput_speedup'))} higher throughput at batch 32.",
        ]
    if info.get("command"):
        lines += ["", "## Reproduce", "", "```bash", info["command"], "```"]
    lines += _usage(info, results)
    lines += _onnx_usage(results.get("exported"), info.get("model_id") or "path/to/this/folder", _own_architecture(info))
    return "\n".join(lines)


def _onnx_usage(exported: dict | None, model_id: str, own_architecture: str | None = None) -> list[str]:
    """Snippets for the ONNX files `hfdistill.export` wrote (``onnx/model.onnx``, ``onnx/model_quantized.onnx``);
    ``own_architecture``: hfdistill's model type of the student (see `_own_architecture`), which transformers.js lacks."""
    files = [os.path.basename(row["file"]) for name, row in (exported or {}).items() if not name.startswith("pruned")]
    if not files:
        return []
    file = "model_quantized.onnx" if "model_quantized.onnx" in files else files[0]
    dtype = "q8" if file == "model_quantized.onnx" else "fp32"
    return [
        "## Use with ONNX Runtime", "",
        f"`onnx/{file}` runs without PyTorch (`pip install \"hfdistill[export]\"`, or onnxruntime and transformers):", "",
        "```python", "from hfdistill import OnnxClassifier",
        f"classifier = OnnxClassifier(\"{model_id}\", file=\"{file}\")",
        "classifier(\"a gripping, beautifully acted film\")  # [{'label': ..., 'score': ...}], as pipeline returns", "```", "",
    ] + ([
        f"transformers.js does not know the `{own_architecture}` architecture: in JavaScript, run the ONNX file with "
        "onnxruntime-web or onnxruntime-node and the tokenizer of `@huggingface/transformers`.", "",
    ] if own_architecture else [
        "In the browser or Node.js with [transformers.js](https://huggingface.co/docs/transformers.js):", "",
        "```js", "import { pipeline } from \"@huggingface/transformers\";",
        f"const classifier = await pipeline(\"text-classification\", \"{model_id}\", {{ dtype: \"{dtype}\" }});",
        "console.log(await classifier(\"a gripping, beautifully acted film\"));", "```", "",
    ])
