"""`OnnxClassifier`: run an exported student with ONNX Runtime, answering like `pipeline("text-classification")`."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
from transformers import AutoConfig, AutoTokenizer

from ..evaluation.predictions import apply_function, pipeline_function
from ._inputs import encode, require, split_texts

# Past this, a tokenizer's model_max_length is transformers' "no limit" placeholder (int(1e30)).
_NO_LIMIT = 1_000_000


class OnnxClassifier:
    """A text classifier served by ONNX Runtime from a folder written by `export_to_onnx` (or optimum).

    Args:
        folder: holds ``config.json`` (labels, ``problem_type``), the tokenizer files and ``onnx/<file>``.
        file: ``"model_quantized.onnx"`` (int8, default) or ``"model.onnx"`` (fp32); looked up in ``folder/onnx/``,
            then ``folder/``.
        max_length: truncate inputs to this many tokens (default: the tokenizer's ``model_max_length``, capped at the
            model's ``max_position_embeddings``).
        batch_size: texts per ONNX Runtime call (each batch padded to its longest text).
        num_threads: ONNX Runtime intra-op threads (default: ONNX Runtime's choice, one per physical core).
        providers: ONNX Runtime execution providers (default ``["CPUExecutionProvider"]``).

    Calling it works like ``pipeline("text-classification")``: a string, a list of strings, a
    ``{"text": ..., "text_pair": ...}`` dict or a list of them in; ``[{"label": ..., "score": ...}]`` out, one dict
    per text (``top_k=None``: all labels per text, best first; ``top_k=k``: the best k). Scores are softmax
    probabilities for single-label classification, per-label sigmoids for multi-label (and a one-logit classifier),
    the raw output for regression; ``function_to_apply="softmax" | "sigmoid" | "none"`` overrides, as in pipeline.
    """

    def __init__(
        self,
        folder: str,
        file: str = "model_quantized.onnx",
        max_length: int | None = None,
        batch_size: int = 32,
        num_threads: int | None = None,
        providers: list[str] | None = None,
    ):
        path = next(
            (p for p in (os.path.join(folder, "onnx", file), os.path.join(folder, file)) if os.path.isfile(p)), None
        )
        if path is None:
            raise FileNotFoundError(
                f"No {file} in {folder}/onnx or {folder}. Write it with hfdistill.export.export_to_onnx(model, "
                "tokenizer, folder) (quantize='int8' for model_quantized.onnx), or pass file='model.onnx'."
            )
        self._setup(path, AutoTokenizer.from_pretrained(folder), AutoConfig.from_pretrained(folder), max_length,
                    batch_size, num_threads, providers)

    @classmethod
    def from_parts(cls, onnx_path: str, tokenizer, config, max_length: int | None = None, batch_size: int = 32,
                   num_threads: int | None = None, providers: list[str] | None = None) -> OnnxClassifier:
        """From an ONNX file, a tokenizer and a config already in memory (no folder needed)."""
        classifier = cls.__new__(cls)
        classifier._setup(onnx_path, tokenizer, config, max_length, batch_size, num_threads, providers)
        return classifier

    def _setup(self, path, tokenizer, config, max_length, batch_size, num_threads, providers) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(path, options, providers=providers or ["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer, self.config = tokenizer, config
        if max_length is None:
            limits = [tokenizer.model_max_length, getattr(config, "max_position_embeddings", None)]
            limits = [limit for limit in limits if limit is not None and limit < _NO_LIMIT]
            max_length = min(limits) if limits else None
        self.max_length, self.batch_size = max_length, batch_size
        self.id2label = {int(i): label for i, label in config.id2label.items()}

    def encode(self, inputs, max_length: int | None = None) -> dict[str, np.ndarray]:
        """Tokenize one batch to the arrays the session takes (int64, padded to the longest)."""

        return encode(self.tokenizer, inputs, self.input_names, max_length or self.max_length)

    def run(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Logits ``(batch, num_labels)`` for already tokenized inputs (what is timed in `measure_onnx_speed`)."""
        return self.session.run(["logits"], arrays)[0]

    def logits(self, inputs, batch_size: int | None = None, max_length: int | None = None) -> np.ndarray:
        """Float32 logits ``(num_texts, num_labels)`` for any input `__call__` takes, in batches."""
        items = inputs if isinstance(inputs, list) else [inputs]
        split_texts(items)  # validate the whole input before the first batch runs
        batch_size = batch_size or self.batch_size
        chunks = [self.run(self.encode(items[start : start + batch_size], max_length))
                  for start in range(0, len(items), batch_size)]
        return np.concatenate(chunks).astype(np.float32)

    def _function(self, function_to_apply: str | None) -> str:
        if function_to_apply is not None:
            function = str(getattr(function_to_apply, "value", function_to_apply)).lower()
            if function not in ("softmax", "sigmoid", "none"):
                raise ValueError(
                    f"function_to_apply must be 'softmax', 'sigmoid' or 'none', got {function_to_apply!r}."
                )
            return function
        return pipeline_function(getattr(self.config, "problem_type", None), len(self.id2label))

    def __call__(self, inputs, top_k: int | None | str = "", function_to_apply: str | None = None,
                 batch_size: int | None = None, max_length: int | None = None):
        logits = self.logits(inputs, batch_size, max_length)
        function = self._function(function_to_apply)
        scores = apply_function(logits, function)
        legacy = top_k == ""  # pipeline's quirk: without top_k, one dict per text (a list for a lone string)
        results = []
        for row in scores:
            if legacy:
                best = int(row.argmax())
                results.append({"label": self.id2label[best], "score": float(row[best])})
            else:
                ranked = sorted(({"label": self.id2label[i], "score": float(s)} for i, s in enumerate(row)),
                                key=lambda d: d["score"], reverse=True)
                results.append(ranked if top_k is None else ranked[:top_k])
        if isinstance(inputs, list):
            return results
        return [results[0]] if legacy and isinstance(inputs, str) else results[0]


def measure_onnx_speed(
    classifier: OnnxClassifier,
    texts: list[str],
    batch_size: int = 32,
    num_latency_examples: int = 200,
    warmup: int = 3,
) -> tuple[float, float]:
    """``(median ms per single text, examples per second at batch_size)``, the conventions of
    `hfdistill.evaluation.profiling.measure_cpu_speed`: real tokenized texts, truncation at the classifier's
    ``max_length``, batches padded to their longest text, tokenization excluded, a few warm-up calls first."""
    if not texts:
        raise ValueError("measure_onnx_speed needs at least one text to time the model on.")
    singles = [classifier.encode([text]) for text in texts[:num_latency_examples]]
    for arrays in singles[:warmup]:
        classifier.run(arrays)
    latencies = []
    for arrays in singles:
        start = time.perf_counter()
        classifier.run(arrays)
        latencies.append((time.perf_counter() - start) * 1000)
    batched = [classifier.encode(texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)]
    for arrays in batched[:warmup]:
        classifier.run(arrays)
    start = time.perf_counter()
    for arrays in batched:
        classifier.run(arrays)
    return statistics.median(latencies), len(texts) / (time.perf_counter() - start)
