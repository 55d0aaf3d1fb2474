"""Single-sentence classification data: local CSV / TSV / JSON lines files or Hub datasets, checked up front."""

from __future__ import annotations

import codecs
import csv
import math
import os
from dataclasses import dataclass, field

from datasets import ClassLabel, Dataset, DatasetDict, concatenate_datasets, load_dataset

from .augment import AugmentationConfig, augment_dataset
from .losses import IGNORE_INDEX

TEXT_COLUMN_DEFAULTS = ("sentence", "text")
_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".txt": "text"}


def _is_text(feature) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


@dataclass
class LabelMap:
    """Class names by index, as the models' configs store them, and how the data's labels map onto them.

    ``data_names``: what the data's integer labels mean, ``data_names[i]`` for label ``i`` (from ``--class_names`` or
    a ``ClassLabel``), when they are matched to the classes by name; ``None`` when label ``i`` is class ``i``.
    """

    id2label: dict[int, str]
    data_names: list[str] | None = None

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    def data_to_class(self) -> dict[int, int] | None:
        """Class index of each of the data's integer labels, when they are matched by name; else ``None``."""
        if self.data_names is None:
            return None
        return {index: self.label2id[name] for index, name in enumerate(self.data_names)}

    def describe(self) -> str:
        """E.g. ``data 0 'negative' -> class 1, data 1 'positive' -> class 0``, or ``0 'negative', 1 'positive'``."""
        mapping = self.data_to_class()
        if mapping is None:
            return ", ".join(f"{index} {name!r}" for index, name in sorted(self.id2label.items()))
        return ", ".join(f"data {data} {self.data_names[data]!r} -> class {index}" for data, index in mapping.items())


def file_encoding(path: str, encoding: str = "utf-8") -> str:
    """The encoding to read ``path`` with: ``encoding``, or ``"utf-8-sig"`` when a UTF-8 file starts with a byte-order
    mark (GLUE's MRPC files do). Raises ``ValueError`` naming the line and bytes that ``encoding`` cannot decode
    (e.g. a file saved as Latin-1/cp1252 by a spreadsheet), with the fix."""
    with open(path, "rb") as f:
        start = f.read(3)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and start == b"\xef\xbb\xbf":
        encoding = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as f:
        for line_number, line in enumerate(f, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as error:
                bad = line[error.start:error.end + 3]
                raise ValueError(
                    f"{path}, line {line_number}: bytes {bad!r} at column {error.start + 1} are not valid {encoding} "
                    f"({error.reason}). The file was probably saved in another encoding (a spreadsheet's Latin-1 or "
                    "cp1252, say). Re-save it as UTF-8, or pass the encoding it was saved in, e.g. --encoding cp1252."
                ) from None
    return encoding


def _check_delimited_rows(path: str, delimiter: str, quoting: int, encoding: str = "utf-8") -> None:
    """Rows with the wrong number of fields, reported by line number before the CSV reader trips on them."""
    with open(path, newline="", encoding=encoding) as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty: expected a header line naming the columns, then one row per example.")
        rows, bad = 0, []
        for row in reader:
            rows += 1
            if row and len(row) != len(header):
                bad.append((reader.line_num, len(row)))
    if rows == 0:
        raise ValueError(f"{path} has a header but no rows: it needs at least one example.")
    if bad:
        shown = ", ".join(f"line {line} has {count}" for line, count in bad[:10])
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise ValueError(
            f"{path}: {len(bad)} row(s) do not have the header's {len(header)} fields ({', '.join(header)}): "
            f"{shown}{more}. Fix or remove those lines (a tab or comma inside the text must be quoted in CSV)."
        )


def _delimited_options(path: str) -> dict:
    extension = os.path.splitext(path)[1].lower()
    if extension == ".tsv":
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    if extension == ".csv":
        return {"delimiter": ",", "quoting": csv.QUOTE_MINIMAL}
    return {}


def row_line_numbers(path: str, encoding: str = "utf-8") -> list[int]:
    """The line of ``path`` on which each data row starts (row 0 is the first row after a CSV/TSV header, or the first
    non-blank line of a JSON lines or text file), as the loaders of :func:`load_files` number rows."""
    encoding = file_encoding(path, encoding)
    options = _delimited_options(path)
    with open(path, newline="", encoding=encoding) as f:
        if path.lower().endswith(".txt"):  # the text loader keeps blank lines as rows
            return [number for number, _ in enumerate(f, start=1)]
        if not options:
            return [number for number, line in enumerate(f, start=1) if line.strip()]
        reader = csv.reader(f, **options)
        next(reader, None)
        lines, previous = [], reader.line_num
        for row in reader:
            if row:  # blank lines are skipped by the loader, so they are no row
                lines.append(previous + 1)
            previous = reader.line_num
        return lines


def load_files(data_files: dict[str, str], encoding: str = "utf-8") -> DatasetDict:
    """Load local files by extension: .csv, .tsv (tab-separated, no quoting, as GLUE ships them), .json / .jsonl.

    A .txt file is one text per line (column ``text``), for unlabeled data. Files are read in ``encoding`` (a UTF-8
    byte-order mark is skipped); an empty CSV/TSV field is missing (``None``), while text such as ``NA`` or ``null``
    stays text. Raises ``ValueError`` naming the file (and line) for a missing, empty or undecodable file and for
    rows with the wrong number of fields.
    """
    splits = {}
    for split, path in data_files.items():
        if not os.path.isfile(path):
            raise ValueError(f"The {split} file {path!r} does not exist (working directory: {os.getcwd()}).")
        extension = os.path.splitext(path)[1].lower()
        if extension not in _FORMATS:
            raise ValueError(f"Cannot read {path!r}: use a .csv, .tsv, .json or .jsonl (JSON lines) file, or .txt for text alone.")
        if os.path.getsize(path) == 0:
            raise ValueError(f"The {split} file {path!r} is empty: it needs at least one example.")
        file_encoding_ = file_encoding(path, encoding)
        kwargs = {"encoding": file_encoding_}
        options = _delimited_options(path)
        if options:
            _check_delimited_rows(path, options["delimiter"], options["quoting"], file_encoding_)
            # pandas would otherwise read the texts "NA", "null", "nan", ... as missing values.
            kwargs.update(options, keep_default_na=False, na_values=[""])
        splits[split] = load_dataset(_FORMATS[extension], data_files={split: path}, split=split, **kwargs)
    return DatasetDict(splits)


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def check_required_fields(data: DatasetDict, columns: list[str], data_files: dict[str, str] | None = None,
                          encoding: str = "utf-8") -> None:
    """Raise ``ValueError`` when a row of any split has an empty or missing value in one of ``columns`` (an empty text
    would reach the tokenizer as ``None``, an empty label ``int()``), naming the file and line of each (the row
    index for a Hub dataset) and the fix. ``data_files`` maps a split to the file it was read from."""
    problems = []
    for split, dataset in data.items():
        for column in columns:
            if column not in dataset.column_names:
                continue
            blank = [index for index, value in enumerate(dataset[column]) if _is_blank(value)]
            if blank:
                problems.append((split, column, blank))
    if not problems:
        return
    messages = []
    for split, column, rows in problems:
        path = (data_files or {}).get(split)
        if path is not None and os.path.isfile(path):
            lines = row_line_numbers(path, encoding)
            where = ", ".join(f"line {lines[index]}" if index < len(lines) else f"row {index}" for index in rows[:10])
            source = path
        else:
            where, source = ", ".join(f"row {index}" for index in rows[:10]), f"the {split} split"
        more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
        messages.append(f"{source}: empty {column!r} on {where}{more}")
    raise ValueError(
        "Rows with an empty field: " + "; ".join(messages) + ". Every row needs its text and its label: fill them in "
        "or delete those rows (use --unlabeled_file for text without a label)."
    )


def load_text_classification(
    train_file: str | None = None,
    validation_file: str | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    encoding: str = "utf-8",
) -> DatasetDict:
    """A DatasetDict with `train` and `validation` splits (their first N rows, if limited), from files (read in
    ``encoding``) or the Hub."""
    data = _load_splits(train_file, validation_file, dataset_name, dataset_config_name, encoding)
    for split, limit in (("train", max_train_samples), ("validation", max_eval_samples)):
        if limit is not None:
            if limit < 1:
                raise ValueError(f"max_{'train' if split == 'train' else 'eval'}_samples must be >= 1, got {limit}.")
            data[split] = data[split].select(range(min(limit, len(data[split]))))
    return data


def _load_splits(train_file, validation_file, dataset_name, dataset_config_name, encoding="utf-8") -> DatasetDict:
    if dataset_name is not None:
        data = load_dataset(dataset_name, dataset_config_name)
        missing = {"train", "validation"} - set(data)
        if missing:
            raise ValueError(f"{dataset_name} has splits {sorted(data)}; the recipe needs 'train' and 'validation'.")
        return DatasetDict({"train": data["train"], "validation": data["validation"]})
    if train_file is None or validation_file is None:
        raise ValueError("Pass --train_file and --validation_file (CSV, TSV or JSON lines), or --dataset_name.")
    return load_files({"train": train_file, "validation": validation_file}, encoding)


def load_unlabeled(path: str, text_column: str, encoding: str = "utf-8") -> Dataset:
    """Unlabeled text as rows of ``text_column`` with ``labels = IGNORE_INDEX`` (blank lines of a .txt dropped)."""
    dataset = load_files({"unlabeled": path}, encoding)["unlabeled"]
    source_column = resolve_text_column(dataset, text_column if text_column in dataset.column_names else None)
    dataset = dataset.select_columns([source_column])
    if source_column != text_column:
        dataset = dataset.rename_column(source_column, text_column)
    dataset = dataset.filter(lambda batch: [bool(t and t.strip()) for t in batch[text_column]], batched=True)
    if len(dataset) == 0:
        raise ValueError(f"The unlabeled file {path!r} has no non-empty text in column {text_column!r}.")
    return dataset.add_column("labels", [IGNORE_INDEX] * len(dataset))


@dataclass
class TransferSetArguments:
    """Command-line arguments of the transfer set (for `HfArgumentParser`): unlabeled text and augmentation."""

    unlabeled_file: str | None = field(
        default=None,
        metadata={"help": "Unlabeled text (.txt, one per line, or CSV/TSV/JSON lines with the text column) added to the "
                          "transfer set; the teacher's soft labels are its only targets."},
    )
    augment_factor: int | None = field(
        default=None,
        metadata={"help": "Augmented copies of each training text added to the transfer set (0: none). They carry no "
                          "hard label. None (the default): the recipe picks it by student kind "
                          "(hfdistill.students.kind_defaults: none on hard labels only); anywhere else, none."},
    )
    augment_p_mask: float = field(default=0.1, metadata={"help": "Augmentation: probability of masking each word."})
    augment_p_replace: float = field(
        default=0.1,
        metadata={"help": "Augmentation: probability of replacing each word by one seen after the same word in the corpus."},
    )
    augment_p_ngram: float = field(
        default=0.25, metadata={"help": "Augmentation: probability of keeping only a random span of the text."}
    )
    augment_max_ngram: int = field(default=5, metadata={"help": "Augmentation: longest span n-gram sampling keeps, in words."})
    augment_seed: int = field(
        default=0,
        metadata={"help": "Augmentation seed (part of the teacher-logit cache key through the texts it makes)."},
    )

    def augmentation(self) -> AugmentationConfig:
        return AugmentationConfig(
            self.augment_factor or 0, self.augment_p_mask, self.augment_p_replace, self.augment_p_ngram,
            self.augment_max_ngram, self.augment_seed,
        )


def build_transfer_set(
    labeled: Dataset,
    text_column: str,
    unlabeled_file: str | None = None,
    augmentation: AugmentationConfig | None = None,
    mask_token: str | None = None,
    encoding: str = "utf-8",
) -> tuple[Dataset, dict]:
    """The student's training set: the labeled rows first, then unlabeled text, then augmented copies of the labeled
    texts (Tang et al., 2019). Only the labeled rows have labels; the others are distilled from the teacher alone.

    Returns ``(dataset, info)``; ``dataset`` has ``text_column`` and ``labels``, ``info`` counts each part.
    """
    parts = [labeled.select_columns([text_column, "labels"])]
    info = {"labeled": len(labeled), "unlabeled": 0, "augmented": 0}
    if unlabeled_file:
        parts.append(load_unlabeled(unlabeled_file, text_column, encoding).cast(parts[0].features))
        info["unlabeled"] = len(parts[-1])
    if augmentation is not None and augmentation.factor > 0:
        if mask_token is None and augmentation.p_mask > 0:
            raise ValueError("The tokenizer has no mask token, so masking cannot be used: set --augment_p_mask 0.")
        parts.append(augment_dataset(parts[0], text_column, augmentation, mask_token).cast(parts[0].features))
        info["augmented"] = len(parts[-1])
        info["augmentation"] = augmentation.to_dict()
    return (concatenate_datasets(parts) if len(parts) > 1 else parts[0]), info


def resolve_text_column(dataset: Dataset, text_column: str | None) -> str:
    columns = dataset.column_names
    if text_column is None:
        for candidate in TEXT_COLUMN_DEFAULTS:
            if candidate in columns:
                return candidate
        raise ValueError(f"No text column: the data has columns {columns}. Name one with --text_column.")
    if text_column not in columns:
        raise ValueError(f"Text column {text_column!r} not found; the data has columns {columns}. Set --text_column.")
    return text_column


def _data_class_names(train: Dataset, label_column: str, class_names: list[str] | None) -> tuple[list[str] | None, bool]:
    """The data's own class names in the order of its label ids, and whether its labels are strings."""
    feature = train.features[label_column]
    if isinstance(feature, ClassLabel):
        return list(feature.names), False
    if _is_text(feature):
        present = sorted(set(train[label_column]))
        if class_names:  # the order of string labels, e.g. to match a teacher whose classes have no names
            missing = [name for name in present if name not in class_names]
            if missing:
                raise ValueError(f"--class_names {class_names} lacks the data's labels {missing[:10]}: name every class.")
            return list(class_names), True
        return present, True
    return (list(class_names) if class_names else None), False


def build_label_map(
    data: DatasetDict,
    label_column: str = "label",
    class_names: list[str] | None = None,
    teacher_id2label: dict[int, str] | None = None,
    teacher_num_labels: int | None = None,
) -> LabelMap:
    """Decide the classes and how the data's labels map onto them.

    Without a fine-tuned teacher (``teacher_num_labels is None``): the data's names (a ``ClassLabel``'s, sorted string
    labels, or ``class_names`` for integer labels), else ``"0"``, ``"1"``, ....

    With a teacher used as is (``teacher_num_labels`` classes, named ``teacher_id2label`` or ``None`` when its config
    only has placeholders), the classes are the teacher's, and soft and gold labels must mean the same class:
    - both have names: the data's labels are matched to the teacher's classes by name (in any order); names that do
      not match are a ``ValueError`` showing both mappings;
    - one side has no names: matched by index, which needs the same number of classes.
    """
    train = data["train"]
    for split, dataset in data.items():
        if label_column not in dataset.column_names:
            raise ValueError(
                f"Label column {label_column!r} not found in the {split} split; it has columns {dataset.column_names}. "
                "Set --label_column."
            )
        if len(dataset) == 0:
            raise ValueError(f"The {split} split is empty: check the file and --max_{'train' if split == 'train' else 'eval'}_samples.")
    names, string_labels = _data_class_names(train, label_column, class_names)
    if teacher_id2label is not None and teacher_num_labels is None:
        teacher_num_labels = len(teacher_id2label)
    if teacher_num_labels is None:
        if names is None:
            names = [str(i) for i in range(max(train[label_column]) + 1)]
        return LabelMap(id2label=dict(enumerate(names)))

    if teacher_id2label is None:  # matched by index
        if names is None:
            return LabelMap(id2label={i: f"LABEL_{i}" for i in range(teacher_num_labels)})
        if len(names) != teacher_num_labels:
            raise ValueError(
                f"The teacher has a trained head for {teacher_num_labels} classes (unnamed in its config) but the data "
                f"has {len(names)}: {names}. Use a teacher fine-tuned for these classes, or --teacher_fine_tuning always "
                "to fine-tune a new head."
            )
        return LabelMap(id2label=dict(enumerate(names)))

    teacher_names = [teacher_id2label[i] for i in sorted(teacher_id2label)]
    if names is None:  # the data's integer labels are the teacher's class ids
        return LabelMap(id2label=dict(enumerate(teacher_names)))
    if sorted(names) != sorted(teacher_names):
        source = "the data's labels" if string_labels else "--class_names" if class_names else "the data's ClassLabel"
        raise ValueError(
            f"The data's classes and the fine-tuned teacher's contradict each other: data (from {source}) "
            f"{dict(enumerate(names))} against teacher id2label {dict(enumerate(teacher_names))}; "
            f"{sorted(set(names) ^ set(teacher_names))} are on one side only. Name the data's classes as the teacher "
            "does (--class_names in the order of the data's label ids), use a teacher fine-tuned on these classes, or "
            "--teacher_fine_tuning always to fine-tune a new head."
        )
    if string_labels:  # strings are looked up by name in the teacher's label2id
        return LabelMap(id2label=dict(enumerate(teacher_names)))
    return LabelMap(id2label=dict(enumerate(teacher_names)), data_names=names)


def encode_labels(data: DatasetDict, label_map: LabelMap, label_column: str = "label") -> DatasetDict:
    """Add an int `labels` column, checking every label is one of the classes and every class is in training."""
    num_labels = label_map.num_labels
    seen_in_training = None
    encoded = {}
    for split, dataset in data.items():
        values = dataset[label_column]
        if _is_text(dataset.features[label_column]):
            unknown = sorted(set(values) - set(label_map.label2id))
            if unknown:
                raise ValueError(
                    f"The {split} split has labels {unknown[:10]} outside the known classes "
                    f"{list(label_map.label2id)}. Fix the data, or use a teacher trained on these classes."
                )
            ids = [label_map.label2id[value] for value in values]
        else:
            ids = [int(value) for value in values]
            bad = sorted({value for value in ids if not 0 <= value < num_labels})
            if bad:
                raise ValueError(
                    f"The {split} split has integer labels {bad[:10]} outside 0..{num_labels - 1} "
                    f"({num_labels} classes: {list(label_map.label2id)}). Renumber them 0..C-1, or pass --class_names "
                    "naming every class."
                )
            to_class = label_map.data_to_class()
            if to_class is not None:  # matched by name: the data's label i is the teacher's class to_class[i]
                ids = [to_class[value] for value in ids]
        present = set(ids)
        if split == "train":
            seen_in_training = present
        elif seen_in_training is not None and present - seen_in_training:
            never = [label_map.id2label[i] for i in sorted(present - seen_in_training)]
            raise ValueError(
                f"The {split} split has labels {never} that the training split never has: the student cannot learn "
                "them. Add training examples of those classes, or drop them from validation."
            )
        encoded[split] = dataset.add_column("labels", ids) if label_column != "labels" else dataset
    return DatasetDict(encoded)


def tokenize(
    dataset: Dataset, tokenizer, text_column: str, max_seq_length: int, keep: tuple[str, ...] = ("labels",),
    model_config=None,
) -> Dataset:
    """Tokenize without padding (batches are padded to their longest example by the collator).

    ``max_seq_length`` is checked against the tokenizer's limit and, given ``model_config``, the model's positions.
    """
    limits = [tokenizer.model_max_length, getattr(model_config, "max_position_embeddings", None)]
    limit = min((value for value in limits if value and value < 1_000_000), default=None)
    if limit is not None and max_seq_length > limit:
        raise ValueError(
            f"max_seq_length={max_seq_length} exceeds the model's limit of {limit} tokens; set --max_seq_length {limit} or less."
        )
    drop = [column for column in dataset.column_names if column not in keep]
    return dataset.map(
        lambda batch: tokenizer(batch[text_column], truncation=True, max_length=max_seq_length),
        batched=True,
        remove_columns=drop,
        desc="Tokenizing",
    )
