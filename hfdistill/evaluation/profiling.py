"""What a student gained: parameter count, size on disk, CPU latency and throughput, for any model."""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..precision import without_autocast_wrappers
from ..utils import count_parameters, forward_arg_names, one_per


@dataclass
class ModelStats:
    num_parameters: int
    disk_size_mb: float
    latency_ms_batch1: float  # median over single texts
    throughput_batch32: float  # examples per second, batches of 32 padded to their longest text
    num_threads: int

    def to_dict(self) -> dict:
        return asdict(self)


def disk_size_bytes(model: nn.Module) -> int:
    """Bytes of the weight files `save_pretrained` writes (safetensors, in any subfolder: an ensemble writes one per
    member), without config or tokenizer."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder)
                   for name in names if name.endswith(".safetensors"))


def _batches(tokenizer, texts: list, batch_size: int, max_length: int) -> list[dict[str, torch.Tensor]]:
    """Tokenized batches of single texts, or of sentence pairs given as ``(text, text_pair)`` tuples."""
    batches = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        arguments = (list(chunk),) if isinstance(chunk[0], str) else tuple(map(list, zip(*chunk)))
        batches.append(dict(tokenizer(*arguments, padding=True, truncation=True, max_length=max_length,
                                      return_tensors="pt")))
    return batches


def _model_inputs(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    accepted = forward_arg_names(model)
    return {k: v for k, v in batch.items() if k in accepted}


@torch.inference_mode()
def measure_cpu_speed(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    max_length: int = 128,
    batch_size: int = 32,
    num_latency_examples: int = 200,
    warmup: int = 3,
) -> tuple[float, float]:
    """``(median ms per single text, examples per second at batch_size)`` on the CPU, with real tokenized texts
    (strings, or ``(text, text_pair)`` tuples for a sentence-pair task).

    The model is measured in eval mode on a CPU copy when it lives elsewhere, in its own precision: an autocast
    wrapper that accelerate put on its forward (``Trainer.evaluate`` under bf16 mixed precision does) is undone for the
    measurement, so that a teacher and its student are timed alike. Tokenization is excluded.
    """
    if not texts:
        raise ValueError("measure_cpu_speed needs at least one text to time the model on.")
    cpu_model = model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
    was_training = cpu_model.training
    cpu_model.eval()
    try:
        with without_autocast_wrappers(cpu_model):
            singles = [_model_inputs(cpu_model, b)
                       for b in _batches(tokenizer, texts[:num_latency_examples], 1, max_length)]
            for batch in singles[:warmup]:
                cpu_model(**batch)
            latencies = []
            for batch in singles:
                start = time.perf_counter()
                cpu_model(**batch)
                latencies.append((time.perf_counter() - start) * 1000)
            batched = [_model_inputs(cpu_model, b) for b in _batches(tokenizer, texts, batch_size, max_length)]
            for batch in batched[:warmup]:
                cpu_model(**batch)
            start = time.perf_counter()
            for batch in batched:
                cpu_model(**batch)
            throughput = len(texts) / (time.perf_counter() - start)
    finally:
        cpu_model.train(was_training)
    return statistics.median(latencies), throughput


def model_stats(model: nn.Module | list[nn.Module], tokenizer, texts: list[str], max_length: int = 128,
                **speed_kwargs) -> ModelStats:
    """Parameters, on-disk size and CPU speed of ``model`` on ``texts`` (see :func:`measure_cpu_speed`).

    ``model`` and ``tokenizer`` may be lists, one tokenizer per model (or one for all): an ensemble whose members
    read the text through their own tokenizers and run one after another, so parameters, sizes and latencies add
    up and the throughput is ``1 / sum(1 / throughput_k)``."""
    if isinstance(model, (list, tuple)):
        tokenizers = one_per(tokenizer, len(model), "tokenizer", whose="models")
        each = [model_stats(one, one_tokenizer, texts, max_length, **speed_kwargs)
                for one, one_tokenizer in zip(model, tokenizers, strict=True)]
        return ModelStats(num_parameters=sum(s.num_parameters for s in each),
                          disk_size_mb=sum(s.disk_size_mb for s in each),
                          latency_ms_batch1=sum(s.latency_ms_batch1 for s in each),
                          throughput_batch32=1.0 / sum(1.0 / s.throughput_batch32 for s in each),
                          num_threads=each[0].num_threads)
    latency, throughput = measure_cpu_speed(model, tokenizer, texts, max_length=max_length, **speed_kwargs)
    return ModelStats(
        num_parameters=count_parameters(model),
        disk_size_mb=disk_size_bytes(model) / 2**20,
        latency_ms_batch1=latency,
        throughput_batch32=throughput,
        num_threads=torch.get_num_threads(),
    )
