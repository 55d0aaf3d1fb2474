"""Export a student (or any `...ForSequenceClassification` model) to ONNX, quantize it to int8, check parity.

Layout written, the one optimum and transformers.js read::

    folder/config.json, tokenizer files      (beside onnx/)
    folder/onnx/model.onnx                   fp32, torch.onnx.export (dynamo exporter)
    folder/onnx/model_quantized.onnx         int8 weights, onnxruntime.quantization.quantize_dynamic, after
                                             ONNX Runtime's transformer fusions (:func:`fuse_for_onnx_runtime`)

Inputs ``input_ids``, ``attention_mask`` and ``token_type_ids`` (when the model's forward takes it), int64 of shape
``(batch, sequence)``, both axes dynamic; output ``logits``, float32 of shape ``(batch, num_labels)``.

Every file written is checked against PyTorch on a sample before the call returns (:func:`.parity.check_parity`); a
file that fails raises :class:`OnnxParityError` and is deleted, so no silently worse file stays in the folder.
"""

from __future__ import annotations

import linecache
import os
import re
import traceback
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._inputs import OnnxExportError, encode, onnx_input_names, require
from .fusions import fuse_for_onnx_runtime
from .parity import DEFAULT_SAMPLE, OnnxParityError, ParityReport, check_parity, torch_logits

ONNX_SUBFOLDER = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"
# The opset the dynamo exporter writes natively (older ones go through a version converter); ORT >= 1.14 runs it.
DEFAULT_OPSET = 18


@dataclass
class ExportResult:
    folder: str
    onnx_files: dict[str, str]  # "fp32" / "int8" -> path
    parity: dict[str, ParityReport]
    # The int8 file's fused operators (op type -> count, see fuse_for_onnx_runtime; {} when no pattern matched),
    # None when it is unfused: fusing was off, or failed (fusion_error says how, and the file was quantized unfused).
    fusions: dict[str, int] | None = None
    fusion_error: str | None = None

    def to_dict(self) -> dict:
        return {"folder": self.folder, "onnx_files": dict(self.onnx_files),
                "parity": {name: report.to_dict() for name, report in self.parity.items()},
                "fusions": self.fusions, "fusion_error": self.fusion_error}


class _LogitsOnly(nn.Module):
    """The model with positional tensor inputs and the logits tensor as its only output: what the exporter traces."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.model(**inputs, return_dict=True).logits


def _failing_part(model: nn.Module, error: BaseException) -> str | None:
    """``"name (Class, file:line)"`` of the deepest submodule of ``model`` whose forward is on the failing call
    stack, looking through the chain of errors the exporter wraps the tracer's in; None if none is."""
    names = {id(module): name for name, module in model.named_modules()}
    best, seen = None, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for frame, line in traceback.walk_tb(error.__traceback__):
            module = frame.f_locals.get("self")
            if frame.f_code.co_name == "forward" and isinstance(module, nn.Module) and id(module) in names:
                name = names[id(module)]
                depth = name.count(".") + 1 if name else 0
                where = f"{frame.f_code.co_filename}:{line}"
                # The tracer may cut the traceback at the call of a child module: name the child on that line.
                called = re.search(r"self\.([A-Za-z_]\w*)\s*\(", linecache.getline(frame.f_code.co_filename, line))
                child = getattr(module, called.group(1), None) if called else None
                if isinstance(child, nn.Module) and id(child) in names:
                    module, name, depth, where = child, names[id(child)], depth + 1, f"called at {where}"
                if best is None or depth >= best[0]:
                    best = (depth, f"`{name or '(the model itself)'}` ({type(module).__name__}, {where})")
        error = error.__cause__ or error.__context__
    return None if best is None else best[1]


def export_onnx_file(model: nn.Module, tokenizer, path: str, opset: int = DEFAULT_OPSET) -> str:
    """Write ``model`` to ``path`` as ONNX with dynamic batch and sequence axes; return ``path``.

    The model is traced on the CPU in eval mode from a copy, with a sample of two sentence pairs (or texts) of
    different lengths, so that neither axis is specialised to 1. Raises :class:`OnnxExportError` naming the
    submodule whose forward failed.
    """
    import copy

    require("onnx")
    require("onnxscript")  # torch's dynamo exporter translates through it
    input_names = onnx_input_names(model)
    cpu_model = copy.deepcopy(model).cpu().eval()
    sample = [("a sample text to trace the model with", "and its pair"), ("short", "pair")]
    if "token_type_ids" not in input_names:
        sample = [text for text, _ in sample]
    arrays = encode(tokenizer, sample, input_names, max_length=None)
    args = tuple(torch.from_numpy(arrays[name]) for name in input_names)
    axes = {0: "batch", 1: "sequence"}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with torch.no_grad():
            torch.onnx.export(
                _LogitsOnly(cpu_model, input_names).eval(), args, path, input_names=input_names,
                output_names=["logits"],
                dynamic_shapes={name: axes for name in input_names}, opset_version=opset, dynamo=True,
                external_data=False, verbose=False,
            )
    except Exception as error:  # the exporter raises many types; each gets the same clear message
        part = _failing_part(cpu_model, error)
        root = error
        while root.__cause__ is not None and root.__cause__ is not root:  # the exporter's wrappers say less
            root = root.__cause__
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(root)).strip()
        summary = text.splitlines()[0] if text else ""
        raise OnnxExportError(
            f"Cannot export {type(model).__name__} to ONNX: torch.onnx.export failed"
            + (f" in {part}" if part else "") + f": {type(root).__name__}: {summary[:500]}. "
            "ONNX needs a forward without Python branches on tensor values and with ops the exporter supports; "
            "rewrite or replace that part (students built by hfdistill all export)."
        ) from error
    return path


def quantize_onnx_file(source: str, target: str, per_channel: bool = True) -> str:
    """Dynamic int8 quantization (weights int8, activations quantized on the fly) of ``source`` into ``target``;
    returns ``target``.

    ``onnxruntime.quantization.quantize_dynamic`` with signed int8 weights: MatMul / Gemm weights and embedding
    tables (Gather) become int8, which is most of a student's bytes. ``per_channel`` (default) gives each output
    column its own scale: on the quick-mode 2-layer SST-2 student, one scale per tensor changed 2.5% of the
    validation labels (max logit error 0.74) against PyTorch, one per channel 0.6% (0.29), for the same file size.
    ``source`` may be a graph :func:`fuse_for_onnx_runtime` wrote.
    """
    import onnx

    quantization = require("onnxruntime.quantization")
    graph = onnx.load(source, load_external_data=False).graph
    # Shape inference cannot type the outputs of ONNX Runtime's fused operators, and the quantizer stops on an
    # untyped tensor; for a standard graph an untyped tensor is a real error, so the default is not given there.
    fused = any(node.domain == "com.microsoft" for node in graph.node)
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT} if fused else {}
    quantization.quantize_dynamic(source, target, weight_type=quantization.QuantType.QInt8, per_channel=per_channel,
                                  extra_options=extra)
    return target


def _checked_fusion(model: nn.Module, tokenizer, fp32: str, target: str, texts, max_length: int | None,
                    plain: np.ndarray) -> dict:
    """:func:`fuse_for_onnx_runtime` of ``fp32`` into ``target``, whose logits must then match ``plain`` (``fp32``'s
    own on ``texts``, from its parity check) within 1e-4 of their scale: the int8 parity check compares labels only,
    and so could not tell a wrong rewrite from int8 rounding. Raises ValueError when they do not."""
    from .runtime import OnnxClassifier

    fusions = fuse_for_onnx_runtime(fp32, target)
    runtime = OnnxClassifier.from_parts(target, tokenizer, model.config, max_length=max_length)
    fused = runtime.logits(list(texts))
    difference = float(np.abs(fused - plain).max())
    if difference > 1e-4 * max(1.0, float(np.abs(plain).max())):
        raise ValueError(f"the fused graph's logits differ from model.onnx's by up to {difference:.3g}")
    return fusions


def export_to_onnx(
    model: nn.Module,
    tokenizer,
    folder: str,
    quantize: str | None = "int8",
    texts=None,
    opset: int = DEFAULT_OPSET,
    save_pretrained: bool = False,
    per_channel: bool = True,
    fuse: bool = True,
    max_length: int | None = 128,
    **parity_kwargs,
) -> ExportResult:
    """Write ``folder/onnx/model.onnx`` (and, with ``quantize="int8"``, ``model_quantized.onnx``) plus ``config.json``
    and the tokenizer files beside ``onnx/``, checking each file against PyTorch on ``texts`` (strings,
    ``{"text", "text_pair"}`` dicts or ``(text, text_pair)`` tuples; default a built-in sample).

    ``fuse`` (default) applies ONNX Runtime's transformer fusions before quantizing (:func:`quantize_onnx_file`):
    a faster int8 file with ``com.microsoft`` operators; ``fuse=False`` keeps it to standard ONNX operators for
    other runtimes. The fp32 file is never fused; ``result.fusions`` counts the int8 file's fused operators.

    ``save_pretrained=True`` also writes the PyTorch weights (needed by `pipeline(model=folder)`, not by ONNX
    Runtime or transformers.js). ``max_length``: tokens kept per text in the parity checks (default 128, as
    `check_parity`'s). ``parity_kwargs`` go to :func:`check_parity`. Raises :class:`OnnxExportError` if
    the model cannot be exported and :class:`OnnxParityError` if a file's outputs are off (that file is removed).
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None (fp32 only) or 'int8' (also model_quantized.onnx), got {quantize!r}.")
    os.makedirs(os.path.join(folder, ONNX_SUBFOLDER), exist_ok=True)
    stale = os.path.join(folder, ONNX_SUBFOLDER, INT8_FILE)
    if os.path.exists(stale):  # an earlier export's int8 file would not match this model, even if none is written
        os.remove(stale)
    if save_pretrained:
        model.save_pretrained(folder)
    else:
        model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    files, parity, fusions, fusion_error = {}, {}, None, None
    fp32 = export_onnx_file(model, tokenizer, os.path.join(folder, ONNX_SUBFOLDER, FP32_FILE), opset)
    texts = DEFAULT_SAMPLE if texts is None else texts
    reference = torch_logits(model, tokenizer, texts, max_length)

    def checked(name: str, path: str, quantized: bool, failed_fused: bool = False) -> ParityReport | None:
        try:
            report = check_parity(model, tokenizer, path, texts, quantized=quantized, max_length=max_length,
                                  reference=reference, **parity_kwargs)
        except OnnxParityError:
            os.remove(path)
            if failed_fused:  # retried unfused below
                return None
            raise
        if report.passed:
            files[name] = path
        else:  # raise_on_failure=False: reported, and the file that failed removed
            os.remove(path)
        return report

    parity["fp32"] = checked("fp32", fp32, False)
    if quantize == "int8" and "fp32" in files:
        path = os.path.join(folder, ONNX_SUBFOLDER, INT8_FILE)
        if fuse:
            with tempfile.TemporaryDirectory() as scratch:  # not in the folder: a killed run leaves nothing to ship
                try:
                    fusions = _checked_fusion(model, tokenizer, fp32, os.path.join(scratch, "fused.onnx"), texts,
                                              max_length, parity["fp32"].logits)
                    quantize_onnx_file(os.path.join(scratch, "fused.onnx"), path, per_channel=per_channel)
                    report = checked("int8", path, True, failed_fused=True)
                    if report is None or not report.passed:  # checked() kept no file
                        raise ValueError("the fused int8 file failed its parity check"
                                         + (f" ({report.criterion})" if report else ""))
                    parity["int8"] = report
                except Exception as error:  # onnxscript's rewriters and the quantizer raise many types
                    fusions, fusion_error = None, f"{type(error).__name__}: {str(error)[:300]}"
                    warnings.warn(f"ONNX Runtime's fusions did not give a usable int8 file ({fusion_error}); it is "
                                  "quantized unfused instead: only slower. fuse=False (--no_onnx_fusions) skips "
                                  "them.", stacklevel=2)
        if "int8" not in parity:
            quantize_onnx_file(fp32, path, per_channel=per_channel)
            parity["int8"] = checked("int8", path, True)
    return ExportResult(folder=folder, onnx_files=files, parity=parity, fusions=fusions,
                        fusion_error=fusion_error)
