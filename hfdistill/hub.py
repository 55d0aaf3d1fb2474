"""Shipping the student: atomic saves, Hub uploads that leave the teacher behind, the code files a folder of our own
model type needs, and the model card (`huggingface_hub.ModelCard` from `templates/modelcard_template.md`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable

from huggingface_hub import ModelCard, ModelCardData
from transformers.utils import CONFIG_NAME
from transformers.utils.hub import hf_api

from .losses import describe_objective, get_loss
from .problem_types import REGRESSION, SINGLE_LABEL
from .teachers.loading import TEACHER_SUBFOLDER

TEMPLATE_PATH = os.path.join(os.path.dirname(__file__), "templates", "modelcard_template.md")
HUB_IGNORE_PATTERNS = [f"{TEACHER_SUBFOLDER}/*", f"{TEACHER_SUBFOLDER}-*/*"]  # one teacher, or an ensemble's


def staged_save(output_dir: str, write: Callable[[str], None]) -> None:
    """``write(folder)`` made atomic for ``output_dir``: an interrupted save never leaves a folder `from_pretrained`
    half-loads. Everything is written to a staging folder first; config.json is what makes a folder loadable, so the
    old one is removed first and the new one moved in last: an interruption leaves the complete new model, or a folder
    that `from_pretrained` refuses (no config), never new files mixed with old ones."""
    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".saving-", dir=output_dir)
    try:
        write(staging)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(output_dir, CONFIG_NAME))
        for name in sorted(os.listdir(staging), key=lambda name: name == CONFIG_NAME):
            os.replace(os.path.join(staging, name), os.path.join(output_dir, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def uploads_without_teacher():
    """Within the block, every `upload_folder` of the shared Hub client leaves `HUB_IGNORE_PATTERNS` behind.

    Trainer uploads all of output_dir (but `_*` and checkpoints); the teacher kept in output_dir/teacher must stay
    behind. upload_folder is shadowed on the shared client for the duration of our own pushes only."""
    api = hf_api()
    upload_folder = api.upload_folder

    def upload_student_only(*args, ignore_patterns=None, **kwargs):
        patterns = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])
        return upload_folder(*args, ignore_patterns=patterns + HUB_IGNORE_PATTERNS, **kwargs)

    api.upload_folder = upload_student_only
    try:
        yield
    finally:
        del api.upload_folder


def model_code_files(folder: str) -> list[str]:
    """The Python files of ``folder`` that its config's ``auto_map`` loads with ``trust_remote_code=True``."""
    try:
        with open(os.path.join(folder, CONFIG_NAME), encoding="utf-8") as f:
            auto_map = json.load(f).get("auto_map") or {}
    except (OSError, ValueError):
        return []
    references = [value for entry in auto_map.values() for value in (entry if isinstance(entry, list) else [entry])
                  if value]
    modules = {reference.split("--")[-1].rsplit(".", 1)[0] for reference in references}
    return sorted(f"{module}.py" for module in modules if os.path.isfile(os.path.join(folder, f"{module}.py")))


def copy_code_files(source: str, target: str) -> None:
    """Copy `model_code_files` of ``source`` into ``target`` (when it exists)."""
    if os.path.isdir(target):
        for name in model_code_files(source):
            shutil.copy(os.path.join(source, name), os.path.join(target, name))


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
    from .students import get_student_kind

    kind = get_student_kind(info.get("student_kind"), missing_ok=True)
    return kind.model_type if kind is not None else None


def _usage(info: dict, results: dict) -> list[str]:
    """How to call the student: a text, a sentence pair, or every label's score (multi-label)."""
    remote = ", trust_remote_code=True" if _own_architecture(info) else ""
    if results.get("text_pair_column"):
        call = 'classifier({"text": "A man is playing a guitar.", "text_pair": "A man plays guitar."}, truncation=True)'
    elif info.get("problem_type") == "multi_label_classification":
        call = 'classifier("I love this, thank you!", top_k=None, truncation=True)  # every label\'s sigmoid score'
    else:
        call = ('classifier("a gripping, beautifully acted film", truncation=True)  '
                '# truncation: longer texts would not fit')
    return ["", "## Use", "", "```python", "from transformers import pipeline",
            "classifier = pipeline(\"text-classification\", "
            f"model=\"{info.get('model_id') or 'path/to/this/folder'}\"{remote})",
            call, "```", ""]


def _ratio(value) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _transfer_set_rows(transfer_set: dict | None) -> list[str]:
    """What the student learned from beyond the labeled rows, which only the teacher labelled."""
    if not transfer_set or not (transfer_set.get("unlabeled") or transfer_set.get("augmented")):
        return []
    available = transfer_set.get("unlabeled_available")
    drawn = f" (drawn from {available:,})" if available else ""
    rows = [f"| transfer set | {transfer_set['labeled']:,} labeled, {transfer_set.get('unlabeled', 0):,} unlabeled"
            f"{drawn}, {transfer_set.get('augmented', 0):,} augmented (labelled by the teacher alone) |"]
    augmentation = transfer_set.get("augmentation")
    if augmentation:
        rows.append("| augmentation | " + ", ".join(f"{key} {value}" for key, value in augmentation.items()) + " |")
    return rows


def _settings_table(info: dict, results: dict) -> list[str]:
    return [
        f"| teacher | `{info.get('teacher', 'unknown')}` |",
        f"| data | {info.get('dataset') or 'n/a'} |",
        f"| soft loss | {info.get('distillation_loss')} |",
        f"| temperature T | {info.get('temperature')} |",
        f"| alpha (soft-term weight) | {info.get('alpha')} |",
        f"| epochs | {info.get('num_train_epochs')} |",
        f"| learning rate | {info.get('learning_rate')} |",
        f"| seed | {info.get('seed')} |",
        *([f"| class weights (hard term) | {info['class_weights']} |"] if info.get("class_weights") else []),
        *_transfer_set_rows(results.get("transfer_set")),
        *_truncation_rows(results.get("truncation")),
    ]


def _truncation_rows(truncation: dict | None) -> list[str]:
    """How long inputs were cut, and how many rows of each split were (see `hfdistill.data.lengths`)."""
    if not truncation:
        return []
    kept = {"right": "the head", "left": "the tail", "middle": "the head and the tail"}[truncation["truncation_side"]]
    cut = ", ".join(f"{100 * stats['truncated_fraction']:.1f}% of {split}"
                    for split, stats in truncation["splits"].items())
    return [f"| max_seq_length | {truncation['max_seq_length']} tokens; longer rows truncated ({cut}), "
            f"keeping {kept} |"]


def _objective(info: dict) -> list[str]:
    loss_type, problem_type = info.get("distillation_loss") or "kl", info.get("problem_type") or SINGLE_LABEL
    lines = [f"- {line}" for line in describe_objective(loss_type, info.get("pseudo_labels") or "none", problem_type)]
    if not get_loss("soft", loss_type, problem_type).uses_temperature:
        lines += ["", "The temperature T does not enter this soft term" + (
            " (a regression's output is a score, not a distribution)." if problem_type == REGRESSION else ".")]
    if info.get("hidden_state_weight"):
        lines.append(
            f"Plus {info['hidden_state_weight']} x the {info.get('hidden_state_loss')} distance between each student "
            "layer's output and the output of the teacher layer it was copied from."
        )
    if info.get("attention_relation_weight"):
        lines.append(f"Plus {info['attention_relation_weight']} x the KL between the teacher's and the student's "
                     "self-attention relations (queries, keys and values; MiniLMv2).")
    return lines


def _results(results: dict) -> list[str]:
    if not results:
        return []
    metric = results.get("primary_metric", "accuracy")
    teacher, student = results.get("teacher", {}), results.get("student", {})
    lines = [
        "",
        "## Results",
        "",
        f"On {results.get('eval_examples', 'the')} validation examples; speed measured on the CPU "
        f"({student.get('num_threads', '?')} threads).",
        "",
        f"| model | {metric} | parameters | size on disk | latency, batch 1 | throughput, batch 32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(name, row) for name, row in (("teacher", teacher), ("student", student))]
    # hfdistill.export: one row per exported form
    exported = results.get("exported") or {}
    rows += [(f"{name} (`{row.get('file')}`)", row) for name, row in exported.items() if row.get("file")]
    for name, row in rows:
        lines.append(
            f"| {name} | {_score(metric, row.get(metric))} | {row.get('num_parameters', 0):,} | "
            f"{row.get('disk_size_mb', 0):.1f} MB | {row.get('latency_ms_batch1', 0):.2f} ms | "
            f"{row.get('throughput_batch32', 0):.0f} ex/s |"
        )
    if results.get("each_teacher"):  # an ensemble: the teacher row above is their mean prediction
        lines += ["", "The teacher is an ensemble of " + ", ".join(
            f"teacher {index + 1} ({_score(metric, row.get(f'eval_{metric}'))})"
            for index, row in enumerate(results["each_teacher"]))
            + " on its own; the row above is their mean prediction."]
    for name, row in exported.items():
        if row.get("error"):  # the export itself failed: reported, nothing shipped
            lines += ["", f"The {name} export failed ({row['error']}) and is not shipped."]
        elif not row.get("file"):  # a parity check that failed: reported, the file not kept
            parity = row.get("parity", {})
            lines += ["", f"The {name} export did not match PyTorch ({parity.get('criterion')}; label agreement "
                          f"{parity.get('label_agreement')}) and is not shipped."]
    ratios = results.get("ratios", {})
    lines += [
        "",
        f"{_METRIC_NAMES.get(metric, metric)} kept: **{_pct(ratios.get('metric_kept', ratios.get('accuracy_kept')))}** "
        "of the teacher's. "
        f"{_ratio(ratios.get('size'))} smaller, {_ratio(ratios.get('latency_speedup'))} faster at batch 1, "
        f"{_ratio(ratios.get('throughput_speedup'))} higher throughput at batch 32.",
    ]
    return lines


def card_info(student, teacher_model, args, problem_type: str, **extra) -> dict:
    """What the card says of a run: the teacher (its checkpoint, or stored logits), the student's model type, the
    distillation settings of ``args`` (a `DistillationTrainingArguments`), the task shape, and ``extra`` (e.g.
    ``results=``, ``command=``) where not ``None``."""
    name = ("stored teacher_logits" if teacher_model is None else
            getattr(getattr(teacher_model, "config", None), "_name_or_path", None) or type(teacher_model).__name__)
    model_type = getattr(getattr(student, "config", None), "model_type", None)
    info = {"teacher": name, "student_kind": model_type or type(student).__name__, "model_type": model_type,
            **args.distillation_settings(), "problem_type": problem_type, "model_id": args.hub_model_id}
    info.update({key: value for key, value in extra.items() if value is not None})
    return info


def model_card(info: dict) -> ModelCard:
    """The student's `huggingface_hub.ModelCard` (YAML metadata for the Hub, then what it was distilled from, how, and
    what it kept). ``info`` holds the distillation settings and, when known, the recipe's results (see
    `hfdistill.evaluation.report.build_results`); `DistillationTrainer.model_card_info` gathers them."""
    from .students import describe_kind

    results = info.get("results") or {}
    teacher = info.get("teacher")
    base_model = teacher if teacher and not os.path.exists(str(teacher)) else None  # a Hub id, not a local path
    card_data = ModelCardData(library_name="transformers", pipeline_tag="text-classification",
                              tags=["hfdistill", "knowledge-distillation", "text-classification"],
                              base_model=base_model,
                              datasets=[info["dataset"]] if info.get("dataset") else None)
    kind = info.get("student_kind")
    student = f" (`{info['student_checkpoint']}`)" if info.get("student_checkpoint") else ""
    summary = (f"A {describe_kind(kind) or kind or 'student model'}{student} distilled with "
               "[hfdistill](https://github.com/hfdistill/hfdistill) "
               f"from the teacher `{info.get('teacher', 'unknown')}` on {info.get('dataset') or 'the training data'}.")
    reproduce = ["", "## Reproduce", "", "```bash", info["command"], "```"] if info.get("command") else []
    sections = {
        "model_name": info.get("model_name") or "Distilled student", "summary": summary,
        "settings_table": _settings_table(info, results), "objective": _objective(info), "results": _results(results),
        "reproduce": reproduce, "usage": _usage(info, results),
        "onnx_usage": _onnx_usage(results.get("exported"), info.get("model_id") or "path/to/this/folder",
                                  _own_architecture(info)),
    }
    return ModelCard.from_template(card_data, template_path=TEMPLATE_PATH,
                                   **{name: "\n".join(value) if isinstance(value, list) else value
                                      for name, value in sections.items()})


def render_model_card(info: dict) -> str:
    """The text of `model_card` (Markdown with YAML front matter)."""
    return str(model_card(info))


def _onnx_usage(exported: dict | None, model_id: str, own_architecture: str | None = None) -> list[str]:
    """Snippets for the ONNX files `hfdistill.export` wrote (``onnx/model.onnx``, ``onnx/model_quantized.onnx``);
    ``own_architecture``: hfdistill's model type of the student (see `_own_architecture`), which transformers.js
    lacks."""
    files = [os.path.basename(row["file"]) for name, row in (exported or {}).items()
             if not name.startswith("pruned") and row.get("file")]
    if not files:
        return []
    file = "model_quantized.onnx" if "model_quantized.onnx" in files else files[0]
    dtype = "q8" if file == "model_quantized.onnx" else "fp32"
    fused = (exported.get("onnx int8") or {}).get("fusions") if file == "model_quantized.onnx" else None
    runtime = [  # the fused operators are ONNX Runtime's own, and its CPU kernel got their mask right in 1.22
        f"`onnx/{file}` holds ONNX Runtime's fused operators ({', '.join(sorted(fused))}): run it with ONNX Runtime "
        ">= 1.22 (in JavaScript, onnxruntime-node; the browser's onnxruntime-web was not checked), or use "
        "`onnx/model.onnx`, standard ONNX.", "",
    ] if fused else []
    return [
        "## Use with ONNX Runtime", "",
        f"`onnx/{file}` runs without PyTorch (`pip install \"hfdistill[export]\"`, "
        "or onnxruntime and transformers):", "",
        "```python", "from hfdistill import OnnxClassifier",
        f"classifier = OnnxClassifier(\"{model_id}\", file=\"{file}\")",
        "classifier(\"a gripping, beautifully acted film\")  # [{'label': ..., 'score': ...}], as pipeline returns",
        "```", "",
    ] + runtime + ([
        f"transformers.js does not know the `{own_architecture}` architecture: in JavaScript, run the ONNX file with "
        "onnxruntime-web or onnxruntime-node and the tokenizer of `@huggingface/transformers`.", "",
    ] if own_architecture else [
        ("In Node.js" if fused else "In the browser or Node.js")
        + " with [transformers.js](https://huggingface.co/docs/transformers.js):", "",
        "```js", "import { pipeline } from \"@huggingface/transformers\";",
        f"const classifier = await pipeline(\"text-classification\", \"{model_id}\", {{ dtype: \"{dtype}\" }});",
        "console.log(await classifier(\"a gripping, beautifully acted film\"));", "```", "",
    ])
