"""The recipe's export step: `ExportArguments` (``--export onnx --quantize int8 --prune_vocabulary``) and the one
call that exports, prunes and measures each exported form."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)
PRUNED_SUBFOLDER = "pruned"
# Texts the parity check compares on: enough that 99% label agreement allows a few near-tie flips.
PARITY_SAMPLE_SIZE = 512


@dataclass
class ExportArguments:
    export: str | None = field(
        default=None,
        metadata={"help": "Export the student after training: 'onnx' writes output_dir/onnx/model.onnx (checked "
                          "against PyTorch).",
                  "choices": ["onnx"]},
    )
    quantize: str | None = field(
        default=None,
        metadata={"help": "With --export onnx: 'int8' also writes onnx/model_quantized.onnx (dynamic quantization, "
                          "checked for label agreement).",
                  "choices": ["int8"]},
    )
    onnx_fusions: bool = field(
        default=True,
        metadata={"help": "With --quantize int8: apply ONNX Runtime's transformer fusions (SkipLayerNormalization, "
                          "MultiHeadAttention, BiasGelu) before quantizing, a faster file that only ONNX Runtime runs "
                          "(com.microsoft operators); --no_onnx_fusions keeps standard ONNX operators."},
    )
    prune_vocabulary: bool = field(
        default=False,
        metadata={"help": "With --export onnx: also export a copy whose vocabulary keeps only the training and "
                          "transfer texts' tokens (output_dir/pruned).",
                  "nargs": "?", "const": True},
    )
    export_strict: bool = field(default=False, metadata={"help": (
        "Exit with an error (after the report and card are written) when an exported file does not match PyTorch; "
        "by default a mismatch is reported in results.json and the log, and that file is not kept."),
        "nargs": "?", "const": True})

    def __post_init__(self):
        if self.export is None and (self.quantize or self.prune_vocabulary):
            raise ValueError("--quantize and --prune_vocabulary apply to an exported model: add --export onnx.")
        if not self.onnx_fusions and self.quantize is None:
            raise ValueError("--no_onnx_fusions applies to the int8 file: add --export onnx --quantize int8, or drop "
                             "it (the fp32 file is never fused).")


def failed_exports(exported: dict | None) -> list[str]:
    """The exported forms whose parity check failed, or whose export itself did (see `export_student`)."""
    return [form for form, row in (exported or {}).items() if not row.get("parity", {}).get("passed", True)]


def check_export_strict(args: ExportArguments, exported: dict | None) -> None:
    """With ``--export_strict``, exit non-zero when an exported form failed its parity check; called after the
    run's report is written, so that nothing is lost."""
    failed = failed_exports(exported)
    if args.export_strict and failed:
        raise SystemExit(f"--export_strict: {', '.join(failed)} failed or did not match PyTorch (see results.json, "
                         "'exported'); the student and the report are written.")


def _form_row(classifier, texts, labels, compute_metrics, num_parameters: int) -> dict:
    from transformers import EvalPrediction

    from .runtime import measure_onnx_speed

    metrics = compute_metrics(EvalPrediction(predictions=classifier.logits(texts), label_ids=labels))
    latency, throughput = measure_onnx_speed(classifier, texts)
    return {**metrics, "num_parameters": num_parameters, "disk_size_mb": os.path.getsize(classifier.path) / 2**20,
            "latency_ms_batch1": latency, "throughput_batch32": throughput, "num_threads": torch.get_num_threads(),
            "file": classifier.path}  # the caller makes it relative to output_dir


def _export_form(args, prefix, student, trainer, train_texts, eval_texts, eval_labels, max_length) -> dict:
    """One exported form of the student (``prefix`` "pruned ": its vocabulary pruned to ``train_texts``' tokens
    first), fp32 and int8 as ``args`` asks, each parity-checked and measured (see `export_student`)."""
    from ..evaluation.metrics import task_metrics
    from ..problem_types import problem_type_of
    from ..utils import count_parameters
    from .onnx import export_to_onnx
    from .runtime import OnnxClassifier
    from .vocabulary import prune_vocabulary

    model, tokenizer, output_dir = student, trainer.processing_class, trainer.args.output_dir
    folder, save = output_dir, False
    if prefix:
        model, tokenizer = prune_vocabulary(student, tokenizer, list(train_texts))
        folder, save = os.path.join(output_dir, PRUNED_SUBFOLDER), True
    compute_metrics = task_metrics(problem_type_of(student.config), student.config.num_labels)
    result = export_to_onnx(model, tokenizer, folder, quantize=args.quantize,
                            texts=list(eval_texts[:PARITY_SAMPLE_SIZE]), save_pretrained=save, max_length=max_length,
                            raise_on_failure=False, fuse=args.onnx_fusions)
    rows = {}
    for precision, report in result.parity.items():
        if not report.passed:  # training output is never lost to a post-training check: reported, not raised
            logger.warning(
                f"The {prefix}onnx {precision} export does not match PyTorch ({report.criterion}): agreement "
                f"{report.label_agreement}, max |onnx - torch| {report.max_abs_diff:.3g}, disagreeing rows (row, "
                f"PyTorch's margin) {report.disagreements}. The file was not kept."
            )
            rows[f"{prefix}onnx {precision}"] = {"file": None, "parity": report.to_dict()}
    for precision, path in result.onnx_files.items():
        classifier = OnnxClassifier.from_parts(path, tokenizer, model.config, max_length=max_length,
                                               num_threads=torch.get_num_threads())
        row = _form_row(classifier, list(eval_texts), list(eval_labels), compute_metrics, count_parameters(model))
        row["file"] = os.path.relpath(path, output_dir)
        rows[f"{prefix}onnx {precision}"] = {**row, "parity": result.parity[precision].to_dict()}
    if f"{prefix}onnx int8" in rows:  # kept or not: what was fused, or why it was not, explains the file
        rows[f"{prefix}onnx int8"].update(fusions=result.fusions, fusion_error=result.fusion_error)
    return rows


def export_student(
    args: ExportArguments, trainer, train_texts, eval_texts, eval_labels, max_length: int = 128
) -> dict | None:
    """Export ``trainer``'s student into its ``output_dir`` as ``args`` asks, and measure each exported form.

    Returns ``{form: row}`` (forms ``onnx fp32``, ``onnx int8``, ``pruned onnx fp32``, ``pruned onnx int8``; each
    row has the validation metrics, parameters, the ONNX file's size on disk in MB, CPU latency at batch 1 in ms and
    throughput at batch 32 in examples/s, measured like `hfdistill.evaluation.profiling`, plus the parity report),
    or None when nothing is exported or this is not the main process. ``train_texts`` decide the pruned vocabulary.
    """
    if args.export is None or not trainer.is_world_process_zero():
        return None
    from ..precision import without_autocast_wrapper

    student = trainer.accelerator.unwrap_model(trainer.model).cpu().eval()
    rows = {}
    # The student exports in its own precision: under mixed precision accelerate leaves an autocast wrapper on its
    # forward, which would trace bf16 ops that ONNX Runtime's CPU provider does not implement.
    with without_autocast_wrapper(student):
        for prefix in ("", "pruned ") if args.prune_vocabulary else ("",):
            try:
                rows.update(_export_form(args, prefix, student, trainer, train_texts, eval_texts, eval_labels,
                                         max_length))
            except Exception as error:  # after training: reported, never the end of the run's report
                folder = trainer.args.output_dir
                logger.exception(f"The {prefix}onnx export failed; the trained student is saved in {folder}: export "
                                 "it from there with hfdistill.export.export_to_onnx(model, tokenizer, folder).")
                rows[f"{prefix}onnx"] = {"file": None, "error": f"{type(error).__name__}: {error}"[:500],
                                         "parity": {"passed": False, "criterion": "the export itself failed"}}
    return rows
