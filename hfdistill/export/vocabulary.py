"""Vocabulary pruning (TextPruner's, Yang et al., 2022): drop the embedding rows of tokens the task never uses.

A 2-layer cut of MiniLM-L6 spends 11.7M of its 15.6M parameters on a 30,522-token word embedding, of which SST-2's
training text uses about a third. Pruning keeps the tokens that occur in the given texts plus every special and
added token, renumbers them contiguously in their original order, and slices the word embedding to those rows.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile

import torch
from torch import nn
from transformers import AutoTokenizer

from ._inputs import split_texts


def _kept_token_ids(tokenizer, texts, batch_size: int = 1024) -> list[int]:
    first, pairs = split_texts(texts)
    kept = set(tokenizer.all_special_ids) | {int(i) for i in getattr(tokenizer, "added_tokens_decoder", {})}
    for start in range(0, len(first), batch_size):
        chunk_pairs = None if pairs is None else pairs[start : start + batch_size]
        encoded = tokenizer(first[start : start + batch_size], chunk_pairs, add_special_tokens=False)
        for ids in encoded["input_ids"]:
            kept.update(ids)
    return sorted(kept)


def _remap_post_processor(node, new_id: dict[int, int]):
    """Special-token ids inside a tokenizers post-processor (TemplateProcessing, BertProcessing, Sequence)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                out[key] = [new_id[i] for i in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                out[key] = [value[0], new_id[value[1]]]
            else:
                out[key] = _remap_post_processor(value, new_id)
        return out
    if isinstance(node, list):
        return [_remap_post_processor(value, new_id) for value in node]
    return node


def _pruned_tokenizer(tokenizer, kept: list[int], new_id: dict[int, int], folder: str):
    if not getattr(tokenizer, "is_fast", False) or not hasattr(tokenizer, "backend_tokenizer"):
        raise ValueError(
            f"prune_vocabulary needs a fast (tokenizers-backed) tokenizer, got {type(tokenizer).__name__}. "
            "Load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model_type = state["model"].get("type")
    if model_type != "WordPiece":
        # BPE merges and Unigram scores would need pruning too (a merge whose result is dropped breaks the merge
        # chain); not done yet.
        raise ValueError(
            f"prune_vocabulary supports WordPiece tokenizers (BERT, MiniLM, ELECTRA, MPNet); this one is {model_type}. "
            "Export without --prune_vocabulary."
        )
    kept_set = set(kept)
    # Sorted by new id, so that the JSON (and any vocab.txt written from it) lists tokens in id order.
    state["model"]["vocab"] = dict(sorted(
        ((token, new_id[i]) for token, i in state["model"]["vocab"].items() if i in kept_set),
        key=lambda item: item[1],
    ))
    for token in state.get("added_tokens") or []:
        token["id"] = new_id[token["id"]]
    state["post_processor"] = _remap_post_processor(state.get("post_processor"), new_id)
    tokenizer.save_pretrained(folder)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False)
    vocab_file = os.path.join(folder, "vocab.txt")
    if os.path.exists(vocab_file):  # slow-tokenizer vocabulary, one token per line in id order
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token in state["model"]["vocab"])
    return AutoTokenizer.from_pretrained(folder)


def prune_vocabulary(model: nn.Module, tokenizer, texts, save_directory: str | None = None):
    """``(pruned model, pruned tokenizer)``: only the tokens of ``texts`` plus the special tokens survive.

    Args:
        model: a `transformers` model whose word embedding is `get_input_embeddings()` (every hfdistill student). Left
            untouched: the pruned model is a copy.
        tokenizer: its fast WordPiece tokenizer (BERT family).
        texts: strings, ``{"text", "text_pair"}`` dicts or ``(text, text_pair)`` tuples: the training and transfer
            data; every token they produce is kept.
        save_directory: where the pruned tokenizer files are written (default: a temporary folder); save both with
            ``save_pretrained`` to ship them.

    Kept tokens get new ids ``0 .. K-1`` in their original order, so the special tokens below the first dropped id
    (BERT's ``[PAD]`` = 0) keep theirs. The word embedding keeps the matching rows; ``config.vocab_size`` becomes K
    and ``config.pruned_vocabulary`` records the sizes. A word the pruned vocabulary cannot spell becomes ``[UNK]``.
    Any text the original tokenizer splits into kept tokens is split into the same tokens, renumbered (WordPiece's
    greedy longest match finds the same pieces in a subset that still holds them), so the pruned model gives the
    same logits on it.

    The linear student's hashed bigrams are hashed from token ids: after pruning it keeps a buffer
    ``original_token_ids`` (new id -> id before pruning, ``config.remapped_token_ids = True``) and hashes those, so
    each bigram lands in the bucket it was trained in. The bucket table itself is kept whole: which buckets the kept
    bigrams can reach is not known without the texts' bigrams, and it is usually far smaller than the word embedding.

    Raises `ValueError` for a non-WordPiece or slow tokenizer, or a model whose padding id would move.
    """
    if not texts:
        raise ValueError("prune_vocabulary needs the texts whose tokens to keep (training + transfer data).")
    kept = _kept_token_ids(tokenizer, texts)
    old_embeddings = model.get_input_embeddings()
    if max(kept) >= old_embeddings.num_embeddings:
        raise ValueError(
            f"The tokenizer produces id {max(kept)} but the model's word embedding has {old_embeddings.num_embeddings} "
            "rows: give prune_vocabulary the tokenizer the model was trained with."
        )
    new_id = {old: new for new, old in enumerate(kept)}
    config = model.config
    pad = getattr(config, "pad_token_id", None)
    if pad is not None and new_id.get(pad, pad) != pad and any(
        hasattr(module, "padding_idx") and not isinstance(module, nn.Embedding) for module in model.modules()
    ):  # RoBERTa-style position ids are offset by the padding id itself
        raise ValueError(
            f"Pruning would move the padding id {pad} to {new_id[pad]}, which this model also uses as a position "
            "offset. Keep every token below it by adding them to texts."
        )

    if save_directory is None:
        save_directory = tempfile.mkdtemp(prefix="hfdistill_pruned_tokenizer_")
    pruned_tokenizer = _pruned_tokenizer(tokenizer, kept, new_id, save_directory)

    pruned = copy.deepcopy(model)
    index = torch.tensor(kept, dtype=torch.long, device=old_embeddings.weight.device)
    embeddings = nn.Embedding(len(kept), old_embeddings.embedding_dim,
                              padding_idx=(None if old_embeddings.padding_idx is None
                                           else new_id[old_embeddings.padding_idx]),
                              device=old_embeddings.weight.device, dtype=old_embeddings.weight.dtype)
    with torch.no_grad():
        embeddings.weight.copy_(old_embeddings.weight[index])
    embeddings.weight.requires_grad_(old_embeddings.weight.requires_grad)
    pruned.set_input_embeddings(embeddings)
    output = pruned.get_output_embeddings() if hasattr(pruned, "get_output_embeddings") else None
    if (output is not None and getattr(output, "weight", None) is not None
            and output.weight.shape[0] == old_embeddings.num_embeddings):
        # a tied or untied LM-style output layer over the vocabulary: same rows
        with torch.no_grad():
            new_output = nn.Linear(output.in_features, len(kept), bias=output.bias is not None)
            new_output.weight.copy_(output.weight[index])
            if output.bias is not None:
                new_output.bias.copy_(output.bias[index])
        pruned.set_output_embeddings(new_output)

    original_size = config.vocab_size
    pruned.config.vocab_size = len(kept)
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id"):
        value = getattr(pruned.config, name, None)
        if isinstance(value, int) and value in new_id:
            setattr(pruned.config, name, new_id[value])
    pruned.config.pruned_vocabulary = {"original_vocab_size": original_size, "kept": len(kept)}
    if getattr(pruned.config, "model_type", None) == "hfdistill-linear" and pruned.config.num_bigram_buckets > 0:
        previous = getattr(pruned, "original_token_ids", None)  # pruned twice: compose the maps
        original = index.cpu() if previous is None else previous[index.cpu()]
        pruned.config.remapped_token_ids = True
        pruned.register_buffer("original_token_ids", original.clone(), persistent=True)
    return pruned, pruned_tokenizer
