"""Teacher logits computed once over the training set and stored with it (a `teacher_logits` column).

Online distillation runs the teacher forward on every step of every epoch, although its outputs on an unchanged
training set never change. Computing them once, in inference mode, on length-sorted batches with dynamic padding,
costs about one teacher inference pass; `DistillationTrainer` then reads the column instead of running the teacher.

The cache file is keyed by a fingerprint of everything that changes the logits (teacher weights and config,
tokenizer, tokenized inputs, and the caller's extras such as `max_seq_length` or augmentation settings), stored as
safetensors (no pickle) beside a JSON record with its checksum: a truncated or corrupted file is rebuilt, never used.
It also stores a hash of each row's inputs, so that a cache for a grown transfer set (the labeled rows plus unlabeled
text) reads the rows an earlier cache of the same teacher holds and computes only the new ones.

With several processes the pass is sharded: each computes a contiguous run of the length-sorted batches and writes it
as a shard (safetensors plus checksum record), then the main process assembles the cache. The cuts fall on the
one-process batches because a row's logits depend on its batch on the CPU (a MiniLM-L6 row alone and in a padded
batch of 4 differed by 5e-8): computed in the same batches, the assembled cache equals the one-process cache bit
for bit.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import nullcontext

import torch
from datasets import Dataset
from torch import nn
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding
from transformers.utils import logging

from ..checks import check_finite_logits, check_input_lengths
from ..data.collator import TEACHER_LOGITS_COLUMN
from ..utils import arrow_lengths, forward_arg_names, one_per
from .cache_files import (cache_key, cache_path, input_columns, load_shard, load_verified, reusable_rows, row_keys,
                          save_verified, shard_path)

logger = logging.get_logger(__name__)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def length_sorted_batches(dataset: Dataset, batch_size: int) -> list[torch.Tensor]:
    """The teacher-logit pass's batches: row indices sorted by length, longest first (stable), ``batch_size`` a batch.

    Each batch pads only to its own longest row. The sharded pass cuts this same list, so that every batch, and thus
    every row's logits, is computed exactly as in one process.
    """
    lengths = torch.tensor(arrow_lengths(dataset, "input_ids"))
    return list(torch.argsort(lengths, descending=True, stable=True).split(batch_size))


def shard_batches(batches: list[torch.Tensor], lengths: list[int], num_shards: int, shard: int) -> range:
    """Indices into ``batches`` (contiguous) that shard ``shard`` of ``num_shards`` computes.

    The cuts balance the padded tokens (a batch's rows times its longest row, ``lengths`` giving each row's length),
    since the longest batches come first in the sorted order. Deterministic: every process computes the same cuts.
    """
    costs = torch.tensor([len(batch) * max(lengths[i] for i in batch.tolist()) for batch in batches],
                         dtype=torch.float64)
    ends = torch.cumsum(costs, 0)
    total = float(ends[-1]) if len(ends) else 0.0
    # Shard k ends with the batch whose running total first reaches k/N of all tokens.
    cuts = [0] + [min(int(torch.searchsorted(ends, total * k / num_shards)) + 1, len(batches))
                  for k in range(1, num_shards)]
    cuts.append(len(batches))
    return range(cuts[shard], cuts[shard + 1])


def _input_columns(teacher: nn.Module, dataset: Dataset) -> list[str]:
    accepted = forward_arg_names(teacher)
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids")
               if c in dataset.column_names and c in accepted]
    if "input_ids" not in columns:
        raise ValueError(
            f"The dataset needs tokenized input_ids to compute teacher logits; it has {dataset.column_names}."
        )
    # A row past the teacher's positions would die inside its forward with a tensor-size error: say so first.
    check_input_lengths(dataset, [("teacher", teacher)], "teacher-logit", "input_ids")
    return columns


@torch.inference_mode()
def _run_batches(teacher: nn.Module, dataset: Dataset, tokenizer, batches: list[torch.Tensor], device, dtype: str,
                 show_progress: bool) -> torch.Tensor:
    """(sum of the batches' sizes, C) float32 logits, batch after batch in the given order."""
    device = torch.device(device) if device is not None else next(teacher.parameters()).device
    teacher.to(device)
    rows = dataset.select_columns(_input_columns(teacher, dataset))
    was_training = teacher.training
    teacher.eval()
    autocast = nullcontext()
    if dtype != "float32":
        if device.type == "cuda" or (device.type == "cpu" and dtype == "bfloat16"):
            autocast = torch.autocast(device.type, dtype=_DTYPES[dtype])
        else:
            logger.warning(f"teacher_inference_dtype={dtype} is not supported on {device.type}; it keeps float32.")
    collator = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    outputs = []
    try:
        for indices in tqdm(batches, desc="Teacher logits", disable=not show_progress):
            batch = collator(rows.select(indices.tolist()).to_list())
            with autocast:
                output = teacher(**{k: v.to(device) for k, v in batch.items()})
            outputs.append((output["logits"] if isinstance(output, dict) else output[0]).float().cpu())
    finally:
        teacher.train(was_training)
    logits = (torch.cat(outputs) if outputs
              else torch.empty(0, getattr(getattr(teacher, "config", None), "num_labels", 0)))
    check_finite_logits(logits, "teacher_inference_dtype=float32 or bfloat16")
    return logits


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
    padding), then scattered back to the original order. ``dtype``: `bfloat16` autocasts on CUDA and on the CPU (faster
    than fp32 on a CPU with native bf16, see `hfdistill.precision`), `float16` on CUDA only.
    """
    _input_columns(teacher, dataset)
    batches = length_sorted_batches(dataset, batch_size)
    computed = _run_batches(teacher, dataset, tokenizer, batches, device, dtype, show_progress)
    logits = torch.empty(len(dataset), computed.shape[-1])
    logits[torch.cat(batches)] = computed
    return logits


def build_logit_shard(
    dataset: Dataset,
    teacher: nn.Module,
    tokenizer,
    path: str,
    fingerprint: str,
    shard: int,
    num_shards: int,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    dtype: str = "float32",
    show_progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, logits)`` of shard ``shard`` of ``num_shards`` of the cache ``path``, computed and written to
    :func:`shard_path` unless a valid shard (same fingerprint, rows and checksum) is already there.

    The shard is a contiguous run of :func:`length_sorted_batches` (cut by :func:`shard_batches`), so each of its
    batches holds the same rows, padded alike, as in the one-process pass. ``rows``: (M,) row indices; ``logits``:
    (M, C) float32.
    """
    batches = length_sorted_batches(dataset, batch_size)
    mine = [batches[i] for i in shard_batches(batches, arrow_lengths(dataset, "input_ids"), num_shards, shard)]
    rows = torch.cat(mine) if mine else torch.empty(0, dtype=torch.long)
    target = shard_path(path, shard, num_shards, batch_size)
    logits = load_shard(target, fingerprint, rows)
    if logits is None:
        logits = _run_batches(teacher, dataset, tokenizer, mine, device, dtype, show_progress)
        save_verified(target, {"teacher_logits": logits, "rows": rows},
                       {"fingerprint": fingerprint, "shard": shard, "num_shards": num_shards, "batch_size": batch_size})
    return rows, logits


def assemble_logit_shards(
    dataset: Dataset,
    teacher: nn.Module,
    tokenizer,
    path: str,
    fingerprint: str,
    num_shards: int,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    dtype: str = "float32",
    show_progress: bool = True,
) -> torch.Tensor:
    """(N, C) logits in the dataset's order from the ``num_shards`` shard files of ``path``; a shard that is missing,
    truncated or does not match its checksum is recomputed here (:func:`build_logit_shard`), never half-used. The
    shard files are removed once assembled."""
    logits = None
    for shard in range(num_shards):
        rows, shard_logits = build_logit_shard(dataset, teacher, tokenizer, path, fingerprint, shard, num_shards,
                                               batch_size, device, dtype, show_progress)
        if logits is None:
            logits = torch.full((len(dataset), shard_logits.shape[-1]), float("nan"))
        logits[rows] = shard_logits
    if logits is None or torch.isnan(logits).any():
        raise ValueError(f"The teacher-logit shards of {path} do not cover every row; delete them and rerun.")
    return logits


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised `torch.distributed` group (accelerate's), else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _main_decides(value):
    """The main process's ``value``, on every process (so that all take the same branch)."""
    if _distributed()[1] == 1:
        return value
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def add_teacher_logits(
    dataset: Dataset | list[Dataset],
    teacher: nn.Module | list[nn.Module],
    tokenizer,
    cache_dir: str,
    extra_fingerprint: dict | None = None,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    dtype: str = "float32",
    show_progress: bool = True,
    reuse_rows: bool = True,
) -> tuple[Dataset, dict]:
    """``dataset`` with a `teacher_logits` column, loaded from ``cache_dir`` when a cache with the same fingerprint
    exists and computed (then cached) otherwise. Returns ``(dataset, info)``; ``info`` says which and how long, and
    for a built cache how many rows were read from earlier caches of the same teacher in ``cache_dir``
    (``info["reused_rows"]``, see :func:`hfdistill.teachers.cache_files.reusable_rows`) rather than computed. Rows
    are matched by their input ids alone, whatever ``extra_fingerprint`` holds: pass ``reuse_rows=False`` when an
    extra changes the logits without changing the ids.

    Several teachers (a list): each has its own cache, keyed by its own fingerprint, so adding or reweighting a
    teacher computes nothing for the others; the column then holds each row's (K, C) logits, K teachers in the
    list's order, which `DistillationTrainer` combines per batch (see `hfdistill.teachers.ensemble`).
    ``info["teachers"]`` has each teacher's info. Teachers of different tokenizers (an ensemble mixing families) each
    read their own tokenization of the same rows: ``dataset`` and ``tokenizer`` are then lists in the teachers' order
    (one tokenized view and one tokenizer per teacher), and the column is added to the first view. Raises
    ``ValueError`` when those lists do not match the teachers or hold different numbers of rows.

    Call it on every process of a multi-process launch (not inside ``main_process_first``): with N processes each
    computes 1/N of the length-sorted batches (:func:`build_logit_shard`), the main process assembles the shards into
    the same cache file one process would write (identical on the CPU: every batch is computed alike) and every
    process loads it. A shard left by a killed run is reused if valid and recomputed otherwise.
    """
    teachers = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    datasets = one_per(dataset, len(teachers), "dataset")
    tokenizers = one_per(tokenizer, len(teachers), "tokenizer")
    if len({len(view) for view in datasets}) > 1:
        raise ValueError(f"The teachers' tokenized views hold different numbers of rows "
                         f"({', '.join(str(len(view)) for view in datasets)}): tokenize the same rows with each "
                         "teacher's tokenizer.")
    dataset = datasets[0]
    if isinstance(teacher, (list, tuple)):
        if len(teacher) == 1:
            return add_teacher_logits(dataset, teacher[0], tokenizers[0], cache_dir, extra_fingerprint, batch_size,
                                      device, dtype, show_progress, reuse_rows)
        each = [_teacher_logits_cached(view, one, one_tokenizer, cache_dir, extra_fingerprint, batch_size, device,
                                       dtype, show_progress, reuse_rows)
                for view, one, one_tokenizer in zip(datasets, teachers, tokenizers, strict=True)]
        logits = torch.stack([logits for logits, _ in each], dim=1)
        info = {"source": "+".join(sorted({i["source"] for _, i in each})),
                "seconds": sum(i["seconds"] for _, i in each),
                "teachers": [i for _, i in each]}
    else:
        logits, info = _teacher_logits_cached(dataset, teacher, tokenizers[0], cache_dir, extra_fingerprint,
                                              batch_size, device, dtype, show_progress, reuse_rows)
    if TEACHER_LOGITS_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns(TEACHER_LOGITS_COLUMN)
    return dataset.add_column(TEACHER_LOGITS_COLUMN, logits.tolist()), info


def _teacher_logits_cached(dataset, teacher, tokenizer, cache_dir, extra_fingerprint, batch_size, device, dtype,
                           show_progress, reuse_rows=True) -> tuple[torch.Tensor, dict]:
    """One teacher's (N, C) logits over ``dataset`` and the cache info (see :func:`add_teacher_logits`)."""
    fingerprint, key = cache_key(dataset, teacher, tokenizer, extra_fingerprint, dtype)
    os.makedirs(cache_dir, exist_ok=True)
    path = cache_path(cache_dir, fingerprint)
    record_path = path + ".json"
    rank, world_size = _distributed()

    start = time.perf_counter()
    cached = _main_decides(
        rank == 0 and os.path.exists(path) and load_verified(path, record_path, fingerprint) is not None
    )
    if not cached:
        # Rows an earlier cache of the same teacher already holds (the labeled rows, when unlabeled text is added) are
        # read from it; only the others are computed.
        keys = row_keys(dataset, input_columns(dataset))
        positions, reused = reusable_rows(cache_dir, key, keys) if rank == 0 and reuse_rows else ([], None)
        positions = _main_decides(positions)
        done = set(positions)
        missing = [i for i in range(len(dataset)) if i not in done]
        todo, todo_fingerprint = dataset, fingerprint
        if positions:  # the shards then hold these rows alone: a shard left by another subset must not match
            todo = dataset.select(missing)
            todo_fingerprint = hashlib.sha256(fingerprint.encode() + keys[missing].numpy().tobytes()).hexdigest()
        computed = None
        if len(todo) and world_size > 1:
            build_logit_shard(todo, teacher, tokenizer, path, todo_fingerprint, rank, world_size, batch_size, device,
                              dtype, show_progress and rank == 0)
            torch.distributed.barrier()
        if rank == 0:
            if len(todo):
                computed = (assemble_logit_shards(todo, teacher, tokenizer, path, todo_fingerprint, world_size,
                                                  batch_size, device, dtype, show_progress) if world_size > 1 else
                            compute_teacher_logits(teacher, todo, tokenizer, batch_size, device, dtype, show_progress))
            logits = computed
            if positions:
                logits = torch.empty(len(dataset), *reused.shape[1:])
                logits[positions] = reused
                if computed is not None:
                    logits[missing] = computed
            elapsed = time.perf_counter() - start
            save_verified(path, {"teacher_logits": logits, "row_keys": keys},
                          {"fingerprint": fingerprint, "build_seconds": elapsed, "examples": len(dataset), "key": key,
                           "processes": world_size, "reused_rows": len(positions)})
            for shard in range(world_size if world_size > 1 else 0):  # assembled: the shards are spent
                shard_file = shard_path(path, shard, world_size, batch_size)
                for name in (shard_file, shard_file + ".json"):
                    if os.path.exists(name):
                        os.remove(name)
        if world_size > 1:
            torch.distributed.barrier()
    loaded = load_verified(path, record_path, fingerprint)
    if loaded is None:
        raise ValueError(
            f"The teacher-logit cache {path} could not be read back after it was built; delete it and rerun."
        )
    logits, record = loaded
    elapsed = time.perf_counter() - start
    if cached:
        info = {"source": "loaded", "path": path, "seconds": elapsed, "build_seconds": record["build_seconds"],
                "seconds_saved": record["build_seconds"] - elapsed}
        logger.info(f"Loaded teacher logits from {path} in {elapsed:.1f}s "
                    f"(building took {record['build_seconds']:.1f}s).")
    else:
        seconds = record["build_seconds"]  # the main process's wall time, the same figure on every process
        reused_rows = record.get("reused_rows", 0)
        if reused_rows:
            logger.info(f"Read the teacher logits of {reused_rows} of {len(dataset)} rows from earlier caches in "
                        f"{cache_dir}; computed the others in {seconds:.1f}s.")
        info = {"source": "built", "path": path, "seconds": seconds, "processes": world_size,
                "examples_per_second": (len(dataset) - reused_rows) / seconds if len(dataset) > reused_rows else None,
                "reused_rows": reused_rows}
    if len(logits) != len(dataset):
        raise ValueError(f"Cached logits have {len(logits)} rows for a dataset of {len(dataset)}; delete {path}.")
    return logits, info
