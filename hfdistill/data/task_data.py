"""A text-classification task ready to tokenize: loaded, checked and encoded in one step, from command-line
arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from datasets import DatasetDict

from ..problem_types import PROBLEM_TYPES
from .files import check_required_fields, file_encoding
from .tasks import LabelMap, build_label_map, encode_labels, resolve_text_columns


@dataclass
class TaskDataArguments:
    """Command-line arguments of the task's data (for `HfArgumentParser`). A recipe subclasses it for its defaults."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset (e.g. glue), instead of local files."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its configuration (e.g. sst2)."})
    train_file: str | None = field(
        default=None, metadata={"help": "Training data: CSV, TSV, JSON lines (gzip allowed)."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Validation data, same format."})
    test_file: str | None = field(default=None, metadata={"help": (
        "Data to predict after training, same format, labeled or not: the student's predictions go to "
        "output_dir/predictions.tsv in the file's row order, and a labeled file's metrics to results.json.")})
    column_names: list[str] | None = field(
        default=None,
        metadata={"help": "Column names of CSV/TSV files without a header line, e.g. text labels id."},
    )
    text_column: str | None = field(default=None, metadata={"help": (
        "Text column (default: a known pair such as sentence1/sentence2, else 'sentence' or 'text').")})
    text_pair_column: str | None = field(
        default=None,
        metadata={"help": "Second text of a sentence pair (detected for the usual names when --text_column is not "
                          "given)."},
    )
    label_column: str = field(
        default="label",
        metadata={"help": "Label column: class ids or names, comma-separated ids or names (multi-label), or scores "
                          "(regression)."},
    )
    label_columns: list[str] | None = field(
        default=None, metadata={"help": "Several 0/1 columns, one per class: a multi-label task."}
    )
    problem_type: str | None = field(
        default=None,
        metadata={"help": "Task shape, when the labels do not make it plain (default: read from the labels).",
                  "choices": list(PROBLEM_TYPES)},
    )
    class_names: list[str] | None = field(
        default=None,
        metadata={"help": "Names of integer labels 0..C-1 (e.g. negative positive), or the order of string labels."},
    )
    class_names_file: str | None = field(
        default=None,
        metadata={"help": "A text file naming the classes, line i naming class i (instead of --class_names)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N validation examples."})
    max_seq_length: int | None = field(default=None, metadata={"help": (
        "Truncate texts (a pair: both together) to this many tokens. Default: from the data, the 99th percentile "
        "of the token lengths of every split (rounded up to a multiple of 8), at least 64, at most the models' "
        "positions; the log and results.json say how many rows each split truncates.")})
    truncation_side: str = field(default="right", metadata={"help": (
        "What a text longer than max_seq_length keeps: 'right' cuts its end (keeps the head), 'left' its start "
        "(keeps the tail), 'middle' its middle (keeps a quarter of the budget from the head and the rest from the "
        "tail, for long documents; single texts only)."), "choices": ["right", "left", "middle"]})
    encoding: str = field(
        default="utf-8",
        metadata={"help": "Encoding of the data files, e.g. cp1252 for a spreadsheet's export (a UTF-8 byte-order "
                          "mark is skipped)."},
    )

    def __post_init__(self):
        if self.train_file and self.validation_file and os.path.exists(self.train_file) and os.path.exists(
                self.validation_file) and os.path.samefile(self.train_file, self.validation_file):
            raise ValueError(
                f"--train_file and --validation_file are the same file, {self.validation_file!r}: scores measured on "
                "the training rows say nothing of new text. Pass a held-out split as --validation_file."
            )
        if self.class_names and self.class_names_file:
            raise ValueError("Pass --class_names or --class_names_file, not both.")
        if self.label_columns is not None and len(self.label_columns) < 2:
            raise ValueError(f"--label_columns names the 0/1 columns of a multi-label task, at least two; got "
                             f"{self.label_columns}. For one label column use --label_column.")


@dataclass
class TaskData:
    """The task's splits with an encoded ``labels`` column, the text column(s) and the classes."""

    data: DatasetDict
    text_column: str
    text_pair_column: str | None
    label_map: LabelMap

    @property
    def text_columns(self) -> list[str]:
        return [self.text_column] if self.text_pair_column is None else [self.text_column, self.text_pair_column]

    def texts(self, split: str) -> list:
        """The split's inputs as `pipeline` and `hfdistill.model_stats` take them: strings, or ``(text, text_pair)``."""
        dataset = self.data[split]
        if self.text_pair_column is None:
            return list(dataset[self.text_column])
        return list(zip(dataset[self.text_column], dataset[self.text_pair_column]))


def read_class_names(path: str, encoding: str = "utf-8") -> list[str]:
    """Class names from a text file, one per line, line i naming class i (GoEmotions' ``labels.txt``)."""
    with open(path, encoding=file_encoding(path, encoding)) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f"The class names file {path!r} is empty: write one class name per line.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"The class names file {path!r} names {duplicates} twice: each line must name another class.")
    return names


def load_task(args: TaskDataArguments, teacher=None, teacher_as_is: bool = False) -> TaskData:
    """Load the splits, find the text columns, check every row (empty fields by file and line), decide the task shape
    and classes (matched to ``teacher``, a `hfdistill.teachers.TeacherCheckpoint`, when it is used as is) and encode
    the labels. Everything that can fail does so here, before any training."""
    from . import load_text_classification
    from ..losses import problem_type_of

    data = load_text_classification(args.train_file, args.validation_file, args.dataset_name, args.dataset_config_name,
                                    args.max_train_samples, args.max_eval_samples, args.encoding, args.column_names)
    text_column, text_pair_column = resolve_text_columns(data["train"], args.text_column, args.text_pair_column)
    label_columns = args.label_columns or [args.label_column]
    files = None if args.dataset_name else {"train": args.train_file, "validation": args.validation_file}
    check_required_fields(data, [text_column, *([text_pair_column] if text_pair_column else []), *label_columns], files,
                          args.encoding, has_header=not args.column_names)
    class_names = args.class_names or (
        read_class_names(args.class_names_file, args.encoding) if args.class_names_file else None
    )
    label_map = build_label_map(
        data, args.label_column, class_names,
        teacher.id2label if teacher is not None and teacher_as_is else None,
        teacher.config.num_labels if teacher is not None and teacher_as_is else None,
        args.problem_type, args.label_columns,
        problem_type_of(teacher.config) if teacher is not None and teacher_as_is else None,
    )
    data = encode_labels(data, label_map, args.label_column, args.label_columns)
    if args.test_file:
        data["test"] = _load_test(args, [text_column, *([text_pair_column] if text_pair_column else [])],
                                  label_columns, label_map)
    return TaskData(data, text_column, text_pair_column, label_map)


def _load_test(args: TaskDataArguments, text_columns: list[str], label_columns: list[str], label_map: LabelMap):
    """The test file, checked as the other splits are; encoded ``labels`` when it has every label column."""
    from .files import load_files

    test = load_files({"test": args.test_file}, args.encoding, args.column_names)
    missing = [column for column in text_columns if column not in test["test"].column_names]
    if missing:
        raise ValueError(f"The test file {args.test_file!r} lacks the text column(s) {missing}; it has "
                         f"{test['test'].column_names}. Give it the training file's text columns.")
    labeled = all(column in test["test"].column_names for column in label_columns)
    check_required_fields(test, text_columns + (label_columns if labeled else []), {"test": args.test_file},
                          args.encoding, has_header=not args.column_names)
    if not labeled:
        return test["test"]
    return encode_labels(test, label_map, args.label_column, args.label_columns)["test"]
