"""Ship a student to the edge: ONNX export, int8 quantization, vocabulary pruning and an ONNX Runtime classifier.

Importing this package needs only torch and transformers; `onnx`, `onnxscript` and `onnxruntime` are imported when
a function needs them (``pip install "hfdistill[export]"``).
"""

from .arguments import ExportArguments, check_export_strict, export_student, failed_exports
from ._inputs import OnnxExportError
from .onnx import ExportResult, export_onnx_file, export_to_onnx, quantize_onnx_file
from .parity import OnnxParityError, ParityReport, check_parity
from .fusions import fuse_for_onnx_runtime
from .runtime import OnnxClassifier, measure_onnx_speed
from .vocabulary import prune_vocabulary

__all__ = [
    "ExportArguments",
    "check_export_strict",
    "failed_exports",
    "ExportResult",
    "OnnxClassifier",
    "OnnxExportError",
    "OnnxParityError",
    "ParityReport",
    "check_parity",
    "export_onnx_file",
    "export_student",
    "export_to_onnx",
    "fuse_for_onnx_runtime",
    "measure_onnx_speed",
    "prune_vocabulary",
    "quantize_onnx_file",
]
