"""Input lengths: measured on every split before training, so that truncation is chosen and reported, never silent.

`resolve_max_length` picks ``max_seq_length`` from the data when it is not given (the 99th percentile of the token
lengths, rounded up to a multiple of 8, at least `AUTO_MIN_LENGTH`, at most the models' positions), logs how many rows
of each split it truncates with the length percentiles, and warns when more than `TRUNCATION_WARNING` of a split
would be cut. Texts longer than the models' positions may keep their head (``truncation_side="right"``, the
tokenizer's default), their tail (``"left"``) or both ends (``"middle"``: the head and tail of a long document carry
most of its label, Sun et al., 2019, "How to Fine-Tune BERT for Text Classification?").
"""

from __future__ import annotations

import math

import numpy as np
from datasets import Dataset
from transformers.utils import logging

logger = logging.get_logger(__name__)

AUTO_MIN_LENGTH = 64
TRUNCATION_WARNING = 0.05
TRUNCATION_SIDES = ("right", "left", "middle")
_NO_LIMIT = 1_000_000  # tokenizers without a limit report a huge model_max_length


def length_limit(tokenizer, model_configs=()) -> int | None:
    """The longest input the tokenizer and every model (``max_position_embeddings`` of each config) accept."""
    positions = [getattr(config, "max_position_embeddings", None) for config in model_configs]
    limits = [tokenizer.model_max_length, *positions]
    return min((value for value in limits if value and value < _NO_LIMIT), default=None)


def check_max_length(max_seq_length: int | None, limit: int | None) -> None:
    """``ValueError`` for a ``max_seq_length`` past ``limit`` (see `length_limit`), naming the largest that fits."""
    if max_seq_length is not None and limit is not None and max_seq_length > limit:
        raise ValueError(f"max_seq_length={max_seq_length} exceeds the model's limit of {limit} tokens; "
                         f"set --max_seq_length {limit} or less.")


def token_lengths(dataset: Dataset, tokenizer, text_column: str, text_pair_column: str | None = None) -> list[int]:
    """Each row's length in tokens, special tokens included and nothing truncated (a pair: both texts together)."""

    def measure(batch):
        pairs = batch[text_pair_column] if text_pair_column is not None else None
        encoded = tokenizer(batch[text_column], pairs, truncation=False, verbose=False)
        return {"length": [len(ids) for ids in encoded["input_ids"]]}

    columns = [text_column] + ([text_pair_column] if text_pair_column else [])
    measured = dataset.select_columns(columns).map(measure, batched=True, remove_columns=columns,
                                                   desc="Measuring lengths")
    return list(measured["length"])


def length_stats(lengths: list[int], max_length: int) -> dict:
    """Rows, how many are longer than ``max_length`` (truncated) and which fraction, and the length percentiles."""
    values = np.asarray(lengths, dtype=float)
    truncated = int((values > max_length).sum())
    stats = {"rows": len(lengths), "truncated": truncated, "truncated_fraction": truncated / max(len(lengths), 1)}
    if len(lengths):
        stats.update({f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}, max=int(values.max()))
    return stats


def choose_max_length(lengths: list[int], limit: int | None) -> int:
    """The 99th percentile of ``lengths`` rounded up to a multiple of 8, at least `AUTO_MIN_LENGTH`, at most
    ``limit``."""
    p99 = float(np.percentile(np.asarray(lengths, dtype=float), 99)) if lengths else 0.0
    chosen = max(AUTO_MIN_LENGTH, 8 * math.ceil(p99 / 8))
    return min(chosen, limit) if limit else chosen


def resolve_max_length(splits: dict[str, Dataset], tokenizer, text_column: str, text_pair_column: str | None,
                       max_seq_length: int | None, model_configs=(), truncation_side: str = "right",
                       other_tokenizers: dict | None = None) -> tuple[int, dict]:
    """``(max_seq_length, report)``: the length to tokenize with (``max_seq_length`` when given, else chosen from the
    data by `choose_max_length`) and what it truncates in each split (`length_stats` by split name, plus how it was
    chosen). ``other_tokenizers`` (e.g. ``{"student": ...}``, a student reading through its own) bound the length
    too and get a report of their own under their name. Raises ``ValueError`` for a given length over the models'
    limit, naming the largest that fits."""
    if truncation_side not in TRUNCATION_SIDES:
        raise ValueError(f"--truncation_side must be one of {', '.join(TRUNCATION_SIDES)}, got {truncation_side!r}.")
    other_tokenizers = other_tokenizers or {}
    limits = [length_limit(tokenizer, model_configs), *(length_limit(other) for other in other_tokenizers.values())]
    limit = min((value for value in limits if value), default=None)
    check_max_length(max_seq_length, limit)
    lengths = {split: token_lengths(dataset, tokenizer, text_column, text_pair_column)
               for split, dataset in splits.items()}
    chosen = max_seq_length if max_seq_length is not None else choose_max_length(
        [length for values in lengths.values() for length in values], limit)
    how = ("--max_seq_length" if max_seq_length is not None else
           f"the data: 99th-percentile length, at least {AUTO_MIN_LENGTH}, at most the models' {limit}")
    report = {"max_seq_length": chosen, "chosen_by": how, "truncation_side": truncation_side, "model_limit": limit,
              "splits": {split: length_stats(values, chosen) for split, values in lengths.items()}}
    for split, stats in report["splits"].items():
        if not stats["rows"]:
            continue
        logger.warning(
            f"{split}: {stats['rows']:,} rows, {stats['truncated']:,} ({stats['truncated_fraction']:.1%}) longer than "
            f"{chosen} tokens and truncated (keeping the {_kept(truncation_side)}); token lengths p50 "
            f"{stats['p50']:.0f}, p95 {stats['p95']:.0f}, p99 {stats['p99']:.0f}, max {stats['max']}."
        )
    cut = {split: stats for split, stats in report["splits"].items()
           if stats["truncated_fraction"] > TRUNCATION_WARNING}
    if cut:
        if limit is None or chosen < limit:
            fix = f"If the label can sit past them, set --max_seq_length up to {limit or 'the models limit'}."
        elif truncation_side == "middle":
            fix = "The models take no more: each keeps its head and tail."
        else:
            fix = ("The models take no more; if the label can sit at the end, set --truncation_side middle (keep "
                   "the head and the tail) or left (the tail).")
        logger.warning(
            "MANY INPUTS ARE TRUNCATED: " + ", ".join(f"{stats['truncated_fraction']:.1%} of {split}"
                                                      for split, stats in cut.items())
            + f" run past max_seq_length={chosen} tokens and lose their {_lost(truncation_side)}. {fix}"
        )
    for name, other in other_tokenizers.items():
        logger.warning(f"Through the {name}'s tokenizer:")
        report[name] = resolve_max_length(splits, other, text_column, text_pair_column, chosen, (),
                                          truncation_side)[1]
    return chosen, report


def report_transfer_lengths(report: dict, transfer: Dataset, info: dict, tokenizer, text_column: str,
                            text_pair_column: str | None, truncation_side: str = "right",
                            other_tokenizers: dict | None = None) -> None:
    """Add to ``report`` (from `resolve_max_length`) what its length truncates among the transfer set's rows past the
    ``info["labeled"]`` labeled ones (unlabeled text, augmented copies), under the name of their parts (e.g.
    ``"unlabeled"``), through each tokenizer, with the same warnings; the length itself stays as chosen from the
    task's splits. Does nothing when there are no such rows."""
    name = "+".join(part for part in ("unlabeled", "augmented") if info.get(part))
    if not name:  # the labeled rows alone, measured with the task's splits
        return
    rows = {name: transfer.select(range(info["labeled"], len(transfer)))}
    more = resolve_max_length(rows, tokenizer, text_column, text_pair_column, report["max_seq_length"], (),
                              truncation_side, other_tokenizers)[1]
    report["splits"].update(more["splits"])
    for reader in other_tokenizers or {}:
        report[reader]["splits"].update(more[reader]["splits"])


def _lost(truncation_side: str) -> str:
    return {"right": "end", "left": "start", "middle": "middle"}[truncation_side]


def _kept(truncation_side: str) -> str:
    return {"right": "head", "left": "tail", "middle": "head and tail"}[truncation_side]


def cut_middle(encoded: dict, max_length: int, num_special_tokens: int) -> dict:
    """Shorten each over-long row of a tokenizer's batch output (single texts: one special token before the text,
    the rest after it) to ``max_length`` tokens by cutting from the middle of its text: a quarter of the text budget
    from its head and the rest from its tail, the proportion Sun et al. (2019) found best (128 + 382 of 510)."""
    budget = max_length - num_special_tokens
    head = budget // 4
    tail = budget - head
    shortened = {key: [] for key in encoded}
    for row in range(len(encoded["input_ids"])):
        length = len(encoded["input_ids"][row])
        if length <= max_length:
            keep = None
        else:
            text_end = length - (num_special_tokens - 1)
            keep = [*range(0, 1 + head), *range(text_end - tail, length)]
        for key, values in encoded.items():
            shortened[key].append(values[row] if keep is None else [values[row][i] for i in keep])
    return shortened
