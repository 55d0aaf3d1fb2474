"""Parity of an exported ONNX file with the PyTorch model it came from: logits on a sample of texts, compared within a
tolerance (fp32) or by decision, near-ties aside (int8); see :func:`check_parity`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn

from ..problem_types import MULTI_LABEL, REGRESSION, problem_type_of
from ._inputs import encode, onnx_input_names

# Used for the parity check when no texts are given: varied lengths, so padding is exercised.
DEFAULT_SAMPLE = [
    "a gripping, beautifully acted film",
    "dull",
    "the plot goes nowhere and the acting is flat, but the music is lovely and the last twenty minutes are a joy",
    "not bad at all",
    "I would not watch it again.",
    "an uneven, overlong mess with a few moments of real charm",
    "superb",
    "it is what it is",
]


class OnnxParityError(ValueError):
    """An exported file's outputs differ from PyTorch's by more than the tolerance; the file was removed."""


@dataclass
class ParityReport:
    """Exported model against PyTorch on ``num_examples`` texts (logits, before any softmax)."""

    file: str
    num_examples: int
    max_abs_diff: float  # max |onnx - torch| over all logits
    mean_abs_diff: float
    label_agreement: float | None  # share of identical decisions (argmax, or logit > 0 per label for multi-label)
    criterion: str  # what was required, in words
    passed: bool = True
    # int8: the rows whose decision changed, each with PyTorch's margin (top-2 probability gap; multi-label, the
    # smallest |sigmoid - 0.5| * 2 of a flipped label), and how many of them were near-ties the check tolerates.
    disagreements: list = None
    near_ties: int = 0
    # The file's own logits (num_examples, num_labels), for the checks that follow it in the same export; not
    # reported.
    logits: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        report = asdict(replace(self, logits=None))
        del report["logits"]
        return report


def _agreement(reference: np.ndarray, candidate: np.ndarray, problem_type: str) -> float | None:
    if problem_type == REGRESSION:
        return None
    if problem_type == MULTI_LABEL:
        return float(np.mean((reference > 0) == (candidate > 0)))
    return float(np.mean(reference.argmax(-1) == candidate.argmax(-1)))


def decision_margins(reference: np.ndarray, candidate: np.ndarray, problem_type: str) -> tuple[list[int], np.ndarray]:
    """``(rows, margins)``: the rows whose decision differs between the two (N, C) logit arrays, and every row's
    margin in ``reference``: the gap between its two most probable classes' softmax probabilities (multi-label: the
    smallest ``|2 * sigmoid - 1|`` over the labels that differ, 1 where none does), in [0, 1]."""
    if problem_type == MULTI_LABEL:
        differ = (reference > 0) != (candidate > 0)
        closeness = np.abs(2 / (1 + np.exp(-reference)) - 1)
        margins = np.where(differ, closeness, 1.0).min(-1)
        return np.flatnonzero(differ.any(-1)).tolist(), margins
    shifted = np.exp(reference - reference.max(-1, keepdims=True))
    probabilities = np.sort(shifted / shifted.sum(-1, keepdims=True), -1)
    margins = probabilities[:, -1] - probabilities[:, -2] if reference.shape[-1] > 1 else np.ones(len(reference))
    return np.flatnonzero(reference.argmax(-1) != candidate.argmax(-1)).tolist(), margins


@torch.inference_mode()
def torch_logits(model: nn.Module, tokenizer, texts, max_length: int | None = 128, batch_size: int = 32) -> np.ndarray:
    """PyTorch logits, float32 ``(len(texts), num_labels)``, for the inputs the ONNX file takes."""
    input_names = onnx_input_names(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    items = texts if isinstance(texts, list) else [texts]
    try:
        chunks = []
        for start in range(0, len(items), batch_size):
            arrays = encode(tokenizer, items[start : start + batch_size], input_names, max_length)
            inputs = {name: torch.from_numpy(array).to(device) for name, array in arrays.items()}
            chunks.append(model(**inputs, return_dict=True).logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(chunks)


def check_parity(
    model: nn.Module,
    tokenizer,
    onnx_path: str,
    texts=None,
    quantized: bool = False,
    atol: float = 1e-4,
    min_label_agreement: float = 0.99,
    regression_atol: float = 0.1,
    max_length: int | None = 128,
    near_tie_margin: float = 0.1,
    min_overall_agreement: float = 0.9,
    raise_on_failure: bool = True,
    reference: np.ndarray | None = None,
) -> ParityReport:
    """Compare the ONNX file's logits with the PyTorch model's on ``texts`` (default: a built-in sample).

    fp32 (``quantized=False``): every logit within ``atol`` (absolute; default 1e-4). int8: decisions (argmax, or
    per label ``logit > 0`` for multi-label) agree on at least ``min_label_agreement`` of the sample (default 99%),
    not counting rows PyTorch itself calls a near-tie (margin below ``near_tie_margin``, see `decision_margins`),
    where int8's rounding may flip a coin-toss without the model being off, while at least
    ``min_overall_agreement`` of all rows still agree (so that a file that is off everywhere fails); for regression
    the outputs are within ``regression_atol`` (in the label's units, default 0.1). The report (max and mean absolute
    differences, agreement, the disagreeing rows with their margins) is returned; a failure raises
    :class:`OnnxParityError` (with ``raise_on_failure=False`` the report says ``passed=False`` instead).
    ``reference``: PyTorch's logits on ``texts`` when already computed (`torch_logits`), so that an export checking
    several files runs the model once.
    """
    from .runtime import OnnxClassifier

    texts = DEFAULT_SAMPLE if texts is None else texts
    if reference is None:
        reference = torch_logits(model, tokenizer, texts, max_length)
    runtime = OnnxClassifier.from_parts(onnx_path, tokenizer, model.config, max_length=max_length)
    candidate = runtime.logits(texts)
    difference = np.abs(candidate - reference)
    problem_type = problem_type_of(model.config)
    agreement = _agreement(reference, candidate, problem_type)
    if not quantized:
        criterion, passed = f"max |onnx - torch| <= {atol}", bool(difference.max() <= atol)
    elif problem_type == REGRESSION:
        criterion, passed = (
            f"int8 regression error bound: max |onnx - torch| <= {regression_atol}",
            bool(difference.max() <= regression_atol),
        )
    disagreements, near_ties = [], 0
    if quantized and problem_type != REGRESSION:
        rows, margins = decision_margins(reference, candidate, problem_type)
        disagreements = [{"row": row, "margin": round(float(margins[row]), 4)} for row in rows]
        near_ties = sum(margin["margin"] < near_tie_margin for margin in disagreements)
        confident = int((margins >= near_tie_margin).sum())
        counted = 1.0 - (len(rows) - near_ties) / confident if confident else 1.0
        criterion = (f"int8 label agreement >= {min_label_agreement:.0%} on the rows PyTorch decides with a margin "
                     f">= {near_tie_margin}, and >= {min_overall_agreement:.0%} on all")
        passed = bool(counted >= min_label_agreement and agreement >= min_overall_agreement)
    report = ParityReport(
        file=onnx_path, num_examples=len(reference), max_abs_diff=float(difference.max()),
        mean_abs_diff=float(difference.mean()), label_agreement=agreement, criterion=criterion, passed=passed,
        disagreements=disagreements[:20], near_ties=near_ties, logits=candidate,
    )
    if not passed and raise_on_failure:
        raise OnnxParityError(
            f"{os.path.basename(onnx_path)} does not match PyTorch on {report.num_examples} texts: max |onnx - torch| "
            f"= {report.max_abs_diff:.3g}, label agreement {agreement if agreement is None else f'{agreement:.1%}'}; "
            f"required: {criterion}. The file was removed. "
            + ("Keep the fp32 file (quantize=None), or try per_channel=True if it was off." if quantized else
               "Check the model runs in eval mode without dropout, and report the model class.")
        )
    return report
