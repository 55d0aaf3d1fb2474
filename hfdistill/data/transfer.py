"""The transfer set (Tang et al., 2019): the labeled rows, plus unlabeled text and augmented copies that only the
teacher labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from datasets import Dataset, concatenate_datasets

from .augment import AugmentationConfig, augment_dataset
from ..problem_types import IGNORE_INDEX
from .files import load_files
from .tasks import resolve_text_column


def load_unlabeled(path: str, text_column: str, encoding: str = "utf-8", text_pair_column: str | None = None,
                   unlabeled=IGNORE_INDEX) -> Dataset:
    """Unlabeled text as rows of ``text_column`` (and ``text_pair_column`` for a sentence-pair task) with ``labels =
    unlabeled`` (`IGNORE_INDEX`, or a vector of it for multi-label); blank lines of a .txt are dropped. A file may be
    gzip-compressed (``.txt.gz``)."""
    dataset = load_files({"unlabeled": path}, encoding)["unlabeled"]
    if text_pair_column is not None:
        missing = [column for column in (text_column, text_pair_column) if column not in dataset.column_names]
        if missing:
            raise ValueError(
                f"The unlabeled file {path!r} lacks the pair column(s) {missing} (it has {dataset.column_names}): a "
                "sentence-pair task needs unlabeled pairs, e.g. a TSV with both columns."
            )
        columns = [text_column, text_pair_column]
    else:
        source_column = resolve_text_column(dataset, text_column if text_column in dataset.column_names else None)
        dataset = dataset.select_columns([source_column])
        if source_column != text_column:
            dataset = dataset.rename_column(source_column, text_column)
        columns = [text_column]
    dataset = dataset.select_columns(columns).filter(
        lambda batch: [all(t and t.strip() for t in row) for row in zip(*(batch[c] for c in columns))], batched=True)
    if len(dataset) == 0:
        raise ValueError(f"The unlabeled file {path!r} has no non-empty text in column(s) {columns}.")
    return dataset.add_column("labels", [unlabeled] * len(dataset))


@dataclass
class TransferSetArguments:
    """Command-line arguments of the transfer set (for `HfArgumentParser`): unlabeled text and augmentation."""

    unlabeled_file: list[str] | None = field(
        default=None,
        metadata={"help": "Unlabeled text (.txt, one per line, or CSV/TSV/JSON lines with the text column(s); gzip "
                          "allowed) added to the transfer set; the teacher's soft labels are its only targets. "
                          "Several files: their rows in the order given."},
    )
    max_unlabeled_samples: int | None = field(
        default=None,
        metadata={"help": "Keep at most N of the unlabeled rows (of all the files together), drawn at random with "
                          "--unlabeled_seed, in file order: a subset of a large corpus, whose teacher logits cost "
                          "one teacher pass per row. None: every row."},
    )
    unlabeled_seed: int = field(default=0, metadata={"help": "Seed of the --max_unlabeled_samples draw."})
    augment_factor: int | None = field(
        default=None,
        metadata={"help": "Augmented copies of each training text added to the transfer set (0: none). They carry no "
                          "hard label. None (the default): the recipe picks it by student kind "
                          "(hfdistill.students.kind_defaults: none on hard labels only); anywhere else, none."},
    )
    augment_p_mask: float = field(default=0.1, metadata={"help": "Augmentation: probability of masking each word."})
    augment_p_replace: float = field(
        default=0.1,
        metadata={"help": "Augmentation: probability of replacing each word by one seen after the same word in the "
                          "corpus."},
    )
    augment_p_ngram: float = field(
        default=0.25, metadata={"help": "Augmentation: probability of keeping only a random span of the text."}
    )
    augment_max_ngram: int = field(
        default=5, metadata={"help": "Augmentation: longest span n-gram sampling keeps, in words."}
    )
    augment_seed: int = field(
        default=0,
        metadata={"help": "Augmentation seed (part of the teacher-logit cache key through the texts it makes)."},
    )

    def __post_init__(self):
        if isinstance(self.unlabeled_file, str):  # the Python API's one file
            self.unlabeled_file = [self.unlabeled_file]
        if self.max_unlabeled_samples is not None and self.max_unlabeled_samples < 1:
            raise ValueError(f"--max_unlabeled_samples must be at least 1, got {self.max_unlabeled_samples}: leave "
                             "it out to keep every unlabeled row, or leave out --unlabeled_file to use none.")
        if self.max_unlabeled_samples is not None and not self.unlabeled_file:
            raise ValueError(f"--max_unlabeled_samples {self.max_unlabeled_samples} was given without "
                             "--unlabeled_file: name the unlabeled text to draw from, or leave it out.")

    def augmentation(self) -> AugmentationConfig:
        return AugmentationConfig(
            self.augment_factor or 0, self.augment_p_mask, self.augment_p_replace, self.augment_p_ngram,
            self.augment_max_ngram, self.augment_seed,
        )


def build_transfer_set(
    labeled: Dataset,
    text_column: str,
    unlabeled_file: str | list[str] | None = None,
    augmentation: AugmentationConfig | None = None,
    mask_token: str | None = None,
    encoding: str = "utf-8",
    text_pair_column: str | None = None,
    unlabeled=IGNORE_INDEX,
    max_unlabeled_samples: int | None = None,
    unlabeled_seed: int = 0,
) -> tuple[Dataset, dict]:
    """The student's training set: the labeled rows first, then unlabeled text, then augmented copies of the labeled
    texts (Tang et al., 2019; each text of a pair augmented on its own). Only the labeled rows have gold labels; the
    others carry ``unlabeled`` (see `hfdistill.data.unlabeled_value`) and are distilled from the teacher alone.

    ``unlabeled_file``: one path or several (their rows in that order); ``max_unlabeled_samples``: keep that many of
    their rows, drawn without replacement with ``unlabeled_seed`` (numpy's ``default_rng``) and kept in file order.

    Returns ``(dataset, info)``; ``dataset`` has the text column(s) and ``labels``, ``info`` counts each part (and,
    after a draw, ``unlabeled_available``: the rows it was drawn from).
    """
    text_columns = [text_column] if text_pair_column is None else [text_column, text_pair_column]
    parts = [labeled.select_columns([*text_columns, "labels"])]
    info = {"labeled": len(labeled), "unlabeled": 0, "augmented": 0}
    if unlabeled_file:
        paths = [unlabeled_file] if isinstance(unlabeled_file, str) else list(unlabeled_file)
        texts = [load_unlabeled(path, text_column, encoding, text_pair_column, unlabeled).cast(parts[0].features)
                 for path in paths]
        texts = concatenate_datasets(texts) if len(texts) > 1 else texts[0]
        if max_unlabeled_samples is not None and max_unlabeled_samples < len(texts):
            info["unlabeled_available"] = len(texts)
            drawn = np.random.default_rng(unlabeled_seed).choice(len(texts), max_unlabeled_samples, replace=False)
            texts = texts.select(np.sort(drawn))
        parts.append(texts)
        info["unlabeled"] = len(texts)
    if augmentation is not None and augmentation.factor > 0:
        if mask_token is None and augmentation.p_mask > 0:
            raise ValueError("The tokenizer has no mask token, so masking cannot be used: set --augment_p_mask 0.")
        parts.append(augment_dataset(parts[0], text_columns if text_pair_column else text_column, augmentation,
                                     mask_token, unlabeled).cast(parts[0].features))
        info["augmented"] = len(parts[-1])
        info["augmentation"] = augmentation.to_dict()
    return (concatenate_datasets(parts) if len(parts) > 1 else parts[0]), info
