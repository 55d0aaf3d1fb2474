"""The teacher-logit cache's files: a fingerprint of everything that changes the logits, and safetensors files
beside a JSON record with their checksum, so that a truncated or corrupted file is rebuilt, never used."""

from __future__ import annotations

import hashlib
import json
import os

import torch
from datasets import Dataset
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.utils import logging

logger = logging.get_logger(__name__)

def _hash_tensor(digest, tensor: torch.Tensor) -> None:
    digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
    digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())


# Bookkeeping that changes when a model is saved and reloaded, not what it computes. `Trainer` sets use_cache=False on
# the model it trains (MPNet's config has the field) and the saved config drops it: the fine-tuned teacher in memory
# and the one reloaded from its folder must key the same cache.
_CONFIG_BOOKKEEPING = ("_name_or_path", "architectures", "transformers_version", "_commit_hash", "use_cache")


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


def input_columns(dataset: Dataset) -> list[str]:
    """The columns a row's logits depend on (those of them the dataset has)."""
    return [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names]


def inputs_fingerprint(dataset: Dataset, columns: list[str]) -> str:
    """Hash of the model-input columns, row by row in the dataset's order (selections and shuffles included)."""
    digest = hashlib.sha256()
    table = dataset.select_columns(columns).with_format("arrow")[:]
    for column in columns:
        digest.update(column.encode())
        for chunk in table.column(column).chunks:
            digest.update(json.dumps(chunk.to_pylist()).encode())
    return digest.hexdigest()


def row_keys(dataset: Dataset, columns: list[str]) -> torch.Tensor:
    """(N,) int64: a 64-bit BLAKE2b hash of each row's model-input columns (names and values), so that the logits of a
    row can be found again in another cache built over other rows (a transfer set grown by unlabeled text). Read one
    Arrow record batch at a time."""
    keys = []
    for batch in dataset.select_columns(columns).with_format("arrow").iter(batch_size=10_000):
        values = [batch.column(column).to_pylist() for column in columns]
        keys.extend(int.from_bytes(hashlib.blake2b(json.dumps(dict(zip(columns, row))).encode(),
                                                   digest_size=8).digest(), "little", signed=True)
                     for row in zip(*values))
    return torch.tensor(keys, dtype=torch.int64)


def _model_part(key: dict) -> dict:
    """What a row's logits depend on besides its ids: the teacher, the tokenizer and the pass's precision."""
    return {k: v for k, v in key.items() if k not in ("inputs", "extra")}


def _earlier_cache(path: str, record_path: str, model: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(row_keys, logits)`` of the cache ``path`` if it is sound, keyed per row and of the same model; else None."""
    try:
        with open(record_path) as f:
            record = json.load(f)
        if not (isinstance(record, dict) and record.get("row_keys_sha256") and isinstance(record.get("key"), dict)
                and _model_part(record["key"]) == model):
            return None
        tensors = load_file(path)
        logits, keys = tensors["teacher_logits"], tensors["row_keys"]
    except (OSError, ValueError, KeyError, TypeError, SafetensorError):
        return None
    if (_sha256(logits) != record.get("sha256") or _sha256(keys) != record["row_keys_sha256"]
            or len(keys) != len(logits)):
        logger.info(f"Teacher-logit cache {path} does not match its record: its rows are not reused.")
        return None
    return keys, logits


def reusable_rows(cache_dir: str, key: dict, keys: torch.Tensor) -> tuple[list[int], torch.Tensor | None]:
    """``(positions, logits)``: the rows of ``keys`` (:func:`row_keys`) whose logits an earlier, sound cache in
    ``cache_dir`` holds for the same teacher, tokenizer and pass precision (``key`` without its inputs and extras),
    and those (len(positions), C) logits. A row's logits depend only on the model and the row's ids (up to float
    rounding from its batch's padding), so a transfer set that adds rows computes only the new ones. Caches written
    without row keys (before hfdistill stored them), damaged ones and other files are passed over."""
    model = _model_part(key)
    found: dict[int, torch.Tensor] = {}
    key_list = keys.tolist()
    wanted = set(key_list)
    for name in sorted(os.listdir(cache_dir)) if os.path.isdir(cache_dir) else []:
        if not name.startswith("teacher_logits-") or not name.endswith(".safetensors.json") or ".shard" in name:
            continue
        path = os.path.join(cache_dir, name.removesuffix(".json"))
        earlier = _earlier_cache(path, path + ".json", model)
        if earlier is None:
            continue
        for row_key, row_logits in zip(earlier[0].tolist(), earlier[1], strict=True):
            if row_key in wanted and row_key not in found:
                found[row_key] = row_logits
        if len(found) == len(wanted):
            break
    positions = [i for i, row_key in enumerate(key_list) if row_key in found]
    if not positions:
        return [], None
    return positions, torch.stack([found[key_list[i]] for i in positions])


def _sha256(tensor: torch.Tensor) -> str:
    digest = hashlib.sha256()
    _hash_tensor(digest, tensor)
    return digest.hexdigest()


def load_verified(path: str, record_path: str, fingerprint: str) -> tuple[torch.Tensor, dict] | None:
    try:
        with open(record_path) as f:
            record = json.load(f)
        logits = load_file(path)["teacher_logits"]
    except (OSError, ValueError, KeyError, SafetensorError) as error:
        logger.warning(f"Teacher-logit cache {path} is unreadable ({error}): rebuilding it.")
        return None
    if record.get("fingerprint") != fingerprint or record.get("sha256") != _sha256(logits):
        logger.warning(f"Teacher-logit cache {path} does not match its record (corrupted?): rebuilding it.")
        return None
    return logits, record


def cache_key(dataset: Dataset, teacher: nn.Module, tokenizer, extra_fingerprint: dict | None = None,
              dtype: str = "float32") -> tuple[str, dict]:
    """``(fingerprint, key)``: SHA-256 of everything that changes the logits, and what went into it (``dtype``, the
    pass's precision, included: bf16 logits are not the fp32 ones)."""
    key = {
        "teacher": teacher_fingerprint(teacher),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "inputs": inputs_fingerprint(dataset, input_columns(dataset)),
        "extra": extra_fingerprint or {},
    }
    if dtype != "float32":  # fp32 keys stay as they were, so existing fp32 caches remain valid
        key["dtype"] = dtype
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest(), key


def cache_path(cache_dir: str, fingerprint: str) -> str:
    return os.path.join(cache_dir, f"teacher_logits-{fingerprint[:20]}.safetensors")


def shard_path(path: str, shard: int, num_shards: int, batch_size: int) -> str:
    """Where shard ``shard`` of ``num_shards`` of the cache ``path`` goes (the cuts depend on all three numbers)."""
    return f"{path.removesuffix('.safetensors')}.b{batch_size}.shard{shard}-of-{num_shards}.safetensors"


def save_verified(path: str, tensors: dict[str, torch.Tensor], record: dict) -> None:
    """Write ``tensors`` to ``path`` and ``record`` plus the checksums of the logits (and of the row keys, if given) to
    ``path.json``, under temporary names then renamed: an interrupted write never leaves a file that looks valid."""
    record = {**record, "sha256": _sha256(tensors["teacher_logits"])}
    if "row_keys" in tensors:
        record["row_keys_sha256"] = _sha256(tensors["row_keys"])
    save_file({k: v.contiguous() for k, v in tensors.items()}, path + ".tmp")
    with open(path + ".json.tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".tmp", path)
    os.replace(path + ".json.tmp", path + ".json")


def load_shard(path: str, fingerprint: str, rows: torch.Tensor) -> torch.Tensor | None:
    """A shard's logits if its file, checksum, fingerprint and rows are all as expected; ``None`` otherwise."""
    if not os.path.exists(path):
        return None
    loaded = load_verified(path, path + ".json", fingerprint)
    if loaded is None:
        return None
    try:
        stored_rows = load_file(path)["rows"]
    except (OSError, KeyError, SafetensorError):
        stored_rows = None
    if stored_rows is None or not torch.equal(stored_rows, rows) or len(loaded[0]) != len(rows):
        logger.warning(f"Teacher-logit shard {path} holds other rows: recomputing it.")
        return None
    return loaded[0]
