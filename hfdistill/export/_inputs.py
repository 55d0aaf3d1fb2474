"""Shared by export, runtime and pruning: one way to read texts and sentence pairs, to encode them for ONNX, and to
import the extras."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..utils import forward_arg_names

if TYPE_CHECKING:
    from torch import nn

EXPORT_EXTRA_HINT = 'pip install "hfdistill[export]"'


class OnnxExportError(RuntimeError):
    """torch.onnx.export could not convert the model; the message names the submodule that failed."""


def onnx_input_names(model: nn.Module) -> list[str]:
    """``input_ids``, ``attention_mask``, and ``token_type_ids`` when ``model.forward`` takes it."""
    accepted = forward_arg_names(model)
    missing = [name for name in ("input_ids", "attention_mask") if name not in accepted]
    if missing:
        raise OnnxExportError(
            f"{type(model).__name__}.forward does not take {' or '.join(missing)}; ONNX export needs a text classifier "
            "whose forward takes input_ids and attention_mask (an AutoModelForSequenceClassification model)."
        )
    return ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in accepted else [])


def require(module: str):
    """Import an optional dependency of hfdistill.export, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"hfdistill.export needs the `{module.split('.')[0]}` package, which is not installed. "
            f"Install the export extra: {EXPORT_EXTRA_HINT}"
        ) from error


def split_texts(inputs: Any) -> tuple[list[str], list[str] | None]:
    """``(texts, text_pairs or None)`` from a string, a ``{"text", "text_pair"}`` dict, a ``(text, text_pair)``
    tuple, or a list of any of those (pipeline's formats, plus tuples). Pairs and single texts cannot be mixed."""
    items = inputs if isinstance(inputs, list) else [inputs]
    if not items:
        raise ValueError("Got an empty list of texts; give at least one string or {'text': ..., 'text_pair': ...}.")
    texts, pairs = [], []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
            pairs.append(None)
        elif isinstance(item, dict) and "text" in item:
            texts.append(item["text"])
            pairs.append(item.get("text_pair"))
        elif isinstance(item, tuple) and len(item) == 2:
            texts.append(item[0])
            pairs.append(item[1])
        else:
            raise ValueError(
                f"Cannot read {type(item).__name__} {item!r:.80} as a text: give a string, a "
                '{"text": ..., "text_pair": ...} dict or a (text, text_pair) tuple, or a list of them.'
            )
    if all(pair is None for pair in pairs):
        return texts, None
    if any(pair is None for pair in pairs):
        raise ValueError("Some inputs are sentence pairs and some single texts; run them in separate calls.")
    return texts, pairs


def encode(
    tokenizer, texts, input_names: list[str], max_length: int | None = 128, padding=True
) -> dict[str, np.ndarray]:
    """Tokenize strings, dicts or pairs (see `split_texts`) to int64 arrays named as the ONNX inputs.

    A model input the tokenizer does not produce (``token_type_ids`` for a RoBERTa-style tokenizer) is zeros, which
    is what the model's forward uses when it is not given.
    """
    first, pairs = split_texts(texts)
    encoded = tokenizer(first, pairs, padding=padding, truncation=max_length is not None, max_length=max_length,
                        return_tensors="np")
    arrays = {}
    for name in input_names:
        arrays[name] = (encoded[name] if name in encoded else np.zeros_like(encoded["input_ids"])).astype(np.int64)
    return arrays
