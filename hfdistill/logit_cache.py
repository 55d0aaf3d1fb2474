"""Teacher logits computed once over the training set and stored with it (a `teacher_logits` column).

Online distillation runs the teacher forward on every step of every epoch, although its outputs on an unchanged
training set never change. Computing them once, in inference mode, on length-sorted batches with dynamic padding,
costs about one teacher inference pass; `DistillationTrainer` then reads the column instead of running the teacher.

The cache file is keyed by a fingerprint of everything that changes the logits (teacher weights and config,
tokenizer, tokenized inputs, and the caller's extras such as `max_seq_length` or augmentation settings), stored as
safetensors (no pickle) beside a JSON record with its checksum: a truncated or corrupted file is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import nullcontext

import torch
from datasets import Dataset
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding
from transformers.utils import logging

from .distillation_trainer import TEACHER_LOGITS_COLUMN, arrow_lengths, forward_arg_names

logger = logging.get_logger(__name__)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _hash_tensor(digest, tensor: torch.Tensor) -> None:
    digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
    digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())


# Bookkeeping that changes when a model is saved and reloaded, not what it computes.
_CONFIG_BOOKKEEPING = ("_name_or_path", "architectures", "transformers_version", "_commit_hash")


def teacher_fingerprint(teacher: nn.Module) -> str:
    digest = hashlib.sha256()
    config = getattr(teacher, "config", None)
    if config is not None:
        settings = {k: v for k, v in config.to_dict().items() if k not in _CONFIG_BOOKKEEPING}
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, tensor in sorted(teacher.state_dict().items()):
        digest.update(name.encode())
        _hash_tensor(digest, tensor)
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # Truncation and padding settings are call state (`tokenizer(..., truncation=True)` sets them), not vocabulary.
        state = json.loads(backend.to_str())
        state.pop("truncation", None), state.pop("padding", None)
        state = json.dumps(state, sort_keys=True)
    else:
        state = json.dumps(tokenizer.get_vocab(), sort_keys=True)
    special = json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str)
    return hashlib.sha256((state + special + type(tokenizer).__name__).encode()).hexdigest()


def inputs_fingerprint(dataset: Dataset, columns: list[str]) -> str:
    """Hash of the model-input columns, row by row in the dataset's order (selections and shuffles included)."""
    digest = hashlib.sha256()
    table = dataset.select_columns(columns).with_format("arrow")[:]
    for column in columns:
        digest.update(column.encode())
        for chunk in table.column(column).chunks:
            digest.update(json.dumps(chunk.to_pylist()).encode())
    return digest.hexdigest()


@torch.inference_mode()
def compute_teacher_logits(
    teacher: nn.Module,
    dataset: Dataset,
    tokenizer,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    dtype: str = "float32",
    show_progress: bool = True,
) -> torch.Tensor:
    """(N, C) float32 teacher logits over ``dataset``'s rows, in the dataset's order.

    Batches are formed over examples sorted by length and padded to their own longest (so almost no compute goes to
    padding), then scattered back to the original order. ``dtype`` (`bfloat16`/`float16`) applies on CUDA only.
    """
    device = torch.device(device) if device is not None else next(teacher.parameters()).device
    teacher.to(device)
    accepted = forward_arg_names(teacher)
    input_columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names and c in accepted]
    if "input_ids" not in input_columns:
        raise ValueError(f"The dataset needs tokenized input_ids to compute teacher logits; it has {dataset.column_names}.")
    was_training = teacher.training
    teacher.eval()
    autocast = nullcontext()
    if dtype != "float32":
        if device.type == "cuda":
            autocast = torch.autocast("cuda", dtype=_DTYPES[dtype])
        else:
            logger.warning(f"teacher_inference_dtype={dtype} applies on CUDA only; the CPU keeps float32.")
    lengths = torch.tensor(arrow_lengths(dataset, "input_ids"))
    order = torch.argsort(lengths, descending=True, stable=True)
    collator = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    rows = dataset.select_columns(input_columns)
    logits = None
    try:
        for start in tqdm(range(0, len(order), batch_size), desc="Teacher logits", disable=not show_progress):
            indices = order[start : start + batch_size]
            batch = collator(rows.select(indices.tolist()).to_list())
            with autocast:
                output = teacher(**{k: v.to(device) for k, v in batch.items()})
            batch_logits = (output["logits"] if isinstance(output, dict) else output[0]).float().cpu()
            if logits is None:
                logits = torch.empty(len(dataset), batch_logits.shape[-1])
            logits[indices] = batch_logits
    finally:
        teacher.train(was_training)
    if not torch.isfinite(logits).all():
        raise ValueError(
            "The teacher produced non-finite logits (NaN or inf); distilling them would corrupt the student. Check the "
            "teacher and, on GPU, use teacher_inference_dtype=float32 or bfloat16 rather than float16."
        )
    return logits


def _load_verified(path: str, record_path: str, fingerprint: str) -> tuple[torch.Tensor, dict] | None:
    try:
        with open(record_path) as f:
            record = json.load(f)
        logits = load_file(path)["teacher_logits"]
    except (OSError, ValueError, KeyError, SafetensorError) as error:
        logger.warning(f"Teacher-logit cache {path} is unreadable ({error}): rebuilding it.")
        return None
    digest = hashlib.sha256()
    _hash_tensor(digest, logits)
    if record.get("fingerprint") != fingerprint or record.get("sha256") != digest.hexdigest():
        logger.warning(f"Teacher-logit cache {path} does not match its record (corrupted?): rebuilding it.")
        return None
    return logits, record


def add_teacher_logits(
    dataset: Dataset,
    teacher: nn.Module,
    tokenizer,
    cache_dir: str,
    extra_fingerprint: dict | None = None,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    dtype: str = "float32",
    show_progress: bool = True,
) -> tuple[Dataset, dict]:
    """``dataset`` with a `teacher_logits` column, loaded from ``cache_dir`` when a cache with the same fingerprint
    exists and computed (then cached) otherwise. Returns ``(dataset, info)``; ``info`` says which and how long.

    In a multi-process launch, call it inside ``training_args.main_process_first()``: the main process builds the
    cache while the others wait, then they load it.
    """
    input_columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names]
    key = {
        "teacher": teacher_fingerprint(teacher),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "inputs": inputs_fingerprint(dataset, input_columns),
        "extra": extra_fingerprint or {},
    }
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"teacher_logits-{fingerprint[:20]}.safetensors")
    record_path = path + ".json"

    start = time.perf_counter()
    loaded = _load_verified(path, record_path, fingerprint) if os.path.exists(path) else None
    if loaded is not None:
        logits, record = loaded
        elapsed = time.perf_counter() - start
        info = {"source": "loaded", "path": path, "seconds": elapsed, "build_seconds": record["build_seconds"],
                "seconds_saved": record["build_seconds"] - elapsed}
        logger.info(f"Loaded teacher logits from {path} in {elapsed:.1f}s (building took {record['build_seconds']:.1f}s).")
    else:
        logits = compute_teacher_logits(teacher, dataset, tokenizer, batch_size, device, dtype, show_progress)
        elapsed = time.perf_counter() - start
        digest = hashlib.sha256()
        _hash_tensor(digest, logits)
        # Written under temporary names then renamed: an interrupted write never leaves a cache that looks valid.
        save_file({"teacher_logits": logits.contiguous()}, path + ".tmp")
        with open(record_path + ".tmp", "w") as f:
            json.dump({"fingerprint": fingerprint, "sha256": digest.hexdigest(), "build_seconds": elapsed,
                       "examples": len(dataset), "key": key}, f, indent=2)
        os.replace(path + ".tmp", path)
        os.replace(record_path + ".tmp", record_path)
        info = {"source": "built", "path": path, "seconds": elapsed, "examples_per_second": len(dataset) / elapsed}
    if len(logits) != len(dataset):
        raise ValueError(f"Cached logits have {len(logits)} rows for a dataset of {len(dataset)}; delete {path}.")
    if TEACHER_LOGITS_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns(TEACHER_LOGITS_COLUMN)
    return dataset.add_column(TEACHER_LOGITS_COLUMN, logits.tolist()), info
