"""The task a data set poses: its text columns (one text or a sentence pair), its task shape (``problem_type``:
single-label, multi-label or regression), its classes, and its labels encoded as the models' losses take them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from datasets import ClassLabel, Dataset, DatasetDict, Sequence

from ..problem_types import IGNORE_INDEX, MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL

TEXT_COLUMN_DEFAULTS = ("sentence", "text")
# Sentence-pair columns as GLUE, SNLI/MNLI, QNLI, MRPC's own TSV, SICK and QQP name them.
TEXT_PAIR_COLUMN_DEFAULTS = (
    ("sentence1", "sentence2"), ("premise", "hypothesis"), ("question", "sentence"), ("#1 String", "#2 String"),
    ("sentence_A", "sentence_B"), ("question1", "question2"),
)


def _is_text(feature) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _is_float(feature) -> bool:
    return getattr(feature, "dtype", "").startswith("float")


def is_list_feature(feature) -> bool:
    """Whether a `datasets` feature holds a list per row (Sequence, List or LargeList)."""
    return isinstance(feature, (list, Sequence)) or type(feature).__name__ in ("List", "LargeList")


@dataclass
class LabelMap:
    """Class names by index, as the models' configs store them, and how the data's labels map onto them.

    ``data_names``: what the data's integer labels mean, ``data_names[i]`` for label ``i`` (from ``--class_names`` or
    a ``ClassLabel``), when they are matched to the classes by name; ``None`` when label ``i`` is class ``i``.
    ``problem_type``: the task shape, as `transformers` configs name it. A regression has one "class", its score.
    """

    id2label: dict[int, str]
    data_names: list[str] | None = None
    problem_type: str = SINGLE_LABEL

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
        if self.problem_type == REGRESSION:
            return f"a score ({self.id2label[0]!r})"
        mapping = self.data_to_class()
        if mapping is None:
            return ", ".join(f"{index} {name!r}" for index, name in sorted(self.id2label.items()))
        return ", ".join(f"data {data} {self.data_names[data]!r} -> class {index}" for data, index in mapping.items())


def resolve_text_column(dataset: Dataset, text_column: str | None) -> str:
    """``text_column``, checked, or the first of `TEXT_COLUMN_DEFAULTS` the data has."""
    columns = dataset.column_names
    if text_column is None:
        for candidate in TEXT_COLUMN_DEFAULTS:
            if candidate in columns:
                return candidate
        raise ValueError(f"No text column: the data has columns {columns}. Name one with --text_column.")
    if text_column not in columns:
        raise ValueError(f"Text column {text_column!r} not found; the data has columns {columns}. Set --text_column.")
    return text_column


def resolve_text_columns(dataset: Dataset, text_column: str | None = None,
                         text_pair_column: str | None = None) -> tuple[str, str | None]:
    """``(text, text_pair)`` columns: as given, or detected, a known pair (`TEXT_PAIR_COLUMN_DEFAULTS`) first, then a
    single text column (`TEXT_COLUMN_DEFAULTS`); ``text_pair`` is ``None`` for single texts."""
    columns = dataset.column_names
    if text_pair_column is not None and text_pair_column not in columns:
        raise ValueError(f"Text pair column {text_pair_column!r} not found; the data has columns {columns}. "
                         "Set --text_pair_column.")
    if text_column is None and text_pair_column is None:
        for first, second in TEXT_PAIR_COLUMN_DEFAULTS:
            if first in columns and second in columns:
                return first, second
    text_column = resolve_text_column(dataset, text_column)
    if text_pair_column == text_column:
        raise ValueError(f"--text_column and --text_pair_column are both {text_column!r}: name two columns.")
    return text_column, text_pair_column


def _split_names(value) -> list[str]:
    return [item.strip() for item in str(value).split(",") if item.strip()]


def infer_problem_type(train: Dataset, label_columns: list[str], problem_type: str | None = None) -> str:
    """The task shape of the labels, unless ``problem_type`` says it: several label columns (0/1 each), a list column
    or comma-separated values (``4,27``) mean multi-label; fractional numbers (``3.8``) mean regression; anything
    else is single-label classification."""
    if problem_type is not None:
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}.")
        return problem_type
    if len(label_columns) > 1:
        return MULTI_LABEL
    column = label_columns[0]
    feature = train.features[column]
    if is_list_feature(feature):
        return MULTI_LABEL
    if _is_text(feature):
        return MULTI_LABEL if any("," in value for value in train[column] if value) else SINGLE_LABEL
    if _is_float(feature):
        values = [value for value in train[column] if value is not None]
        return REGRESSION if any(not float(value).is_integer() for value in values) else SINGLE_LABEL
    return SINGLE_LABEL


def _data_class_names(train: Dataset, label_column: str, class_names: list[str] | None,
                      problem_type: str = SINGLE_LABEL) -> tuple[list[str] | None, bool]:
    """The data's own class names in the order of its label ids, and whether its labels are names (strings)."""
    feature = train.features[label_column]
    inner = getattr(feature, "feature", None)
    if isinstance(feature, ClassLabel) or isinstance(inner, ClassLabel):
        return list((feature if isinstance(feature, ClassLabel) else inner).names), False
    if problem_type == MULTI_LABEL and (_is_text(feature) or is_list_feature(feature)):
        items = {str(item).strip() for value in train[label_column] if value is not None
                 for item in (value if isinstance(value, list) else _split_names(value))}
        if all(item.lstrip("-").isdigit() for item in items):  # ids, e.g. GoEmotions' "4,27"
            return (list(class_names) if class_names else None), False
        present = sorted(items)
    elif _is_text(feature):
        present = _distinct_names(train[label_column], label_column)
    else:
        return (list(class_names) if class_names else None), False
    if class_names:  # the order of string labels, e.g. to match a teacher whose classes have no names
        missing = [name for name in present if name not in class_names]
        if missing:
            raise ValueError(f"--class_names {class_names} lacks the data's labels {missing[:10]}: name every class.")
        return list(class_names), True
    return present, True


def _distinct_names(values, label_column: str) -> list[str]:
    """The sorted distinct string labels, surrounding white space stripped ("Positive " is "Positive"). Labels that
    still differ only in case are a ``ValueError`` naming each spelling with its row count."""
    counts = Counter(value.strip() for value in values if value is not None)
    by_case: dict[str, list[str]] = {}
    for name in counts:
        by_case.setdefault(name.casefold(), []).append(name)
    clashes = [sorted(names) for names in by_case.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(" and ".join(f"{name!r} ({counts[name]:,} rows)" for name in names) for names in clashes)
        raise ValueError(
            f"The training labels in column {label_column!r} differ only in case: {shown}. Each spelling would become "
            "a class of its own. Spell each class one way in the data (or map them, e.g. with --class_names after "
            "fixing the file)."
        )
    return sorted(counts)


def _largest_id(train: Dataset, label_column: str) -> int:
    largest = -1
    for value in train[label_column]:
        items = value if isinstance(value, list) else _split_names(value) if isinstance(value, str) else [value]
        largest = max([largest, *(int(item) for item in items)])
    return largest


def build_label_map(
    data: DatasetDict,
    label_column: str = "label",
    class_names: list[str] | None = None,
    teacher_id2label: dict[int, str] | None = None,
    teacher_num_labels: int | None = None,
    problem_type: str | None = None,
    label_columns: list[str] | None = None,
    teacher_problem_type: str | None = None,
) -> LabelMap:
    """Decide the task shape, the classes and how the data's labels map onto them.

    The task shape is ``problem_type``, else read from the labels (:func:`infer_problem_type`); ``label_columns``
    (several 0/1 columns) name the classes of a multi-label task. A regression has one output, named after its label
    column.

    Without a fine-tuned teacher (``teacher_num_labels is None``): the data's names (a ``ClassLabel``'s, sorted string
    labels, or ``class_names`` for integer labels), else ``"0"``, ``"1"``, ....

    With a teacher used as is (``teacher_num_labels`` classes, named ``teacher_id2label`` or ``None`` when its config
    only has placeholders, of task shape ``teacher_problem_type``), the classes are the teacher's, and soft and gold
    labels must mean the same class:
    - both have names: the data's labels are matched to the teacher's classes by name (in any order); names that do
      not match are a ``ValueError`` showing both mappings;
    - one side has no names: matched by index, which needs the same number of classes.
    A teacher of another task shape than the data's is a ``ValueError``.
    """
    label_columns = list(label_columns) if label_columns else [label_column]
    train = data["train"]
    for split, dataset in data.items():
        missing = [column for column in label_columns if column not in dataset.column_names]
        if missing:
            named = f"Label column {missing[0]!r}" if len(missing) == 1 else f"Label columns {missing}"
            raise ValueError(
                f"{named} not found in the {split} split; it has columns {dataset.column_names}. Set --label_column "
                "(or --label_columns for several 0/1 columns)."
            )
        if len(dataset) == 0:
            raise ValueError(
                f"The {split} split is empty: check the file and "
                f"--max_{'train' if split == 'train' else 'eval'}_samples."
            )
    problem_type = infer_problem_type(train, label_columns, problem_type)
    if teacher_id2label is not None and teacher_num_labels is None:
        teacher_num_labels = len(teacher_id2label)
    if teacher_num_labels is not None and teacher_problem_type is not None and teacher_problem_type != problem_type:
        raise ValueError(
            f"The fine-tuned teacher is a {teacher_problem_type} model but the data's labels make a "
            f"{problem_type} task "
            f"(column(s) {label_columns}). Pass --problem_type {teacher_problem_type} if the labels mean that, use a "
            "teacher fine-tuned for this task, or --teacher_fine_tuning always to fine-tune a new head."
        )
    if problem_type == REGRESSION:
        if teacher_num_labels not in (None, 1):
            raise ValueError(f"A regression needs one output, but the fine-tuned teacher has {teacher_num_labels}.")
        return LabelMap(id2label={0: (teacher_id2label or {0: label_column})[0]}, problem_type=REGRESSION)

    if len(label_columns) > 1:
        names, string_labels = (list(class_names) if class_names else label_columns), False
    else:
        names, string_labels = _data_class_names(train, label_column, class_names, problem_type)
    if teacher_num_labels is None:
        if names is None:
            names = [str(i) for i in range(_largest_id(train, label_column) + 1)]
        return LabelMap(id2label=dict(enumerate(names)), problem_type=problem_type)

    if teacher_id2label is None:  # matched by index
        if names is None:
            return LabelMap(id2label={i: f"LABEL_{i}" for i in range(teacher_num_labels)}, problem_type=problem_type)
        if len(names) != teacher_num_labels:
            raise ValueError(
                f"The teacher has a trained head for {teacher_num_labels} classes (unnamed in its config) but the data "
                f"has {len(names)}: {names}. Use a teacher fine-tuned for these classes, or "
                "--teacher_fine_tuning always "
                "to fine-tune a new head."
            )
        return LabelMap(id2label=dict(enumerate(names)), problem_type=problem_type)

    teacher_names = [teacher_id2label[i] for i in sorted(teacher_id2label)]
    if names is None:  # the data's integer labels are the teacher's class ids
        return LabelMap(id2label=dict(enumerate(teacher_names)), problem_type=problem_type)
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
        return LabelMap(id2label=dict(enumerate(teacher_names)), problem_type=problem_type)
    return LabelMap(id2label=dict(enumerate(teacher_names)), data_names=names, problem_type=problem_type)


def _class_of(item, label_map: LabelMap, split: str) -> int:
    """The class index of one label item: a name, or an integer id (through ``data_names`` when matched by name)."""
    if isinstance(item, float) and item.is_integer():
        item = int(item)
    text = str(item).strip()
    if not isinstance(item, int) and text in label_map.label2id:  # a name; an integer is always an id
        return label_map.label2id[text]
    if text.lstrip("-").isdigit():
        index = int(text)
        limit = len(label_map.data_names) if label_map.data_names is not None else label_map.num_labels
        if 0 <= index < limit:
            to_class = label_map.data_to_class()
            return to_class[index] if to_class is not None else index
        raise ValueError(
            f"The {split} split has the label id {index}, outside 0..{limit - 1} ({label_map.num_labels} classes: "
            f"{list(label_map.label2id)}). Renumber the labels 0..C-1, or pass --class_names naming every class."
        )
    raise ValueError(
        f"The {split} split has the label {text!r}, outside the known classes {list(label_map.label2id)}. "
        "Fix the data, "
        "or use a teacher trained on these classes."
    )


def _check_label_values(values, label_map: LabelMap, split: str) -> None:
    """Every label item must be a class name or an id in range; all bad ones are listed at once."""
    items = {item.strip() if isinstance(item, str) else item for value in values
             for item in (value if isinstance(value, list) else _split_names(value) if isinstance(value, str)
                          and label_map.problem_type == MULTI_LABEL else [value])}
    limit = len(label_map.data_names) if label_map.data_names is not None else label_map.num_labels
    ids = {int(item) for item in items
           if isinstance(item, (int, float)) or (isinstance(item, str) and item.lstrip("-").isdigit()
                                                 and item not in label_map.label2id)}
    bad_ids = sorted(index for index in ids if not 0 <= index < limit)
    if bad_ids:
        raise ValueError(
            f"The {split} split has integer labels {bad_ids[:10]} outside 0..{limit - 1} ({label_map.num_labels} "
            f"classes: {list(label_map.label2id)}). Renumber them 0..C-1, or pass --class_names naming every class."
        )
    names = {item for item in items if isinstance(item, str) and not item.lstrip("-").isdigit()}
    unknown = sorted(names - set(label_map.label2id))
    if unknown:
        raise ValueError(
            f"The {split} split has labels {unknown[:10]} outside the known classes {list(label_map.label2id)}. "
            "Fix the "
            "data, or use a teacher trained on these classes."
        )


def _multi_hot(value, label_map: LabelMap, split: str) -> list[float]:
    items = value if isinstance(value, list) else _split_names(value) if isinstance(value, str) else [value]
    vector = [0.0] * label_map.num_labels
    for item in items:
        vector[_class_of(item, label_map, split)] = 1.0
    return vector


def encode_labels(data: DatasetDict, label_map: LabelMap, label_column: str = "label",
                  label_columns: list[str] | None = None) -> DatasetDict:
    """Add the `labels` column the models' losses take, checking every value:

    single-label, an int class index (every validation class must occur in training); multi-label, a 0/1 float vector
    of ``num_labels`` values (from comma-separated ids or names, a list, or several 0/1 ``label_columns``);
    regression, the float score.
    """
    seen_in_training = None
    encoded = {}
    for split, dataset in data.items():
        if label_map.problem_type == REGRESSION:
            labels = [float(value) for value in dataset[label_column]]
            bad = [index for index, value in enumerate(labels) if not math.isfinite(value)]
            if bad:
                raise ValueError(
                    f"The {split} split has non-finite scores in rows {bad[:10]}: every row needs a number."
                )
        elif label_map.problem_type == MULTI_LABEL and label_columns and len(label_columns) > 1:
            rows = zip(*(dataset[column] for column in label_columns))
            labels = [[float(value) for value in row] for row in rows]
            bad = sorted({value for row in labels for value in row if value not in (0.0, 1.0)})
            if bad:
                raise ValueError(
                    f"The {split} split's label columns {label_columns} hold {bad[:10]}; each must be 0 or 1."
                )
        elif label_map.problem_type == MULTI_LABEL:
            _check_label_values(dataset[label_column], label_map, split)
            labels = [_multi_hot(value, label_map, split) for value in dataset[label_column]]
        else:
            _check_label_values(dataset[label_column], label_map, split)
            labels = [_class_of(value, label_map, split) for value in dataset[label_column]]
            present = set(labels)
            if split == "train":
                seen_in_training = present
                never_trained = [name for index, name in label_map.id2label.items() if index not in present]
            elif seen_in_training is not None and present - seen_in_training:
                never = [label_map.id2label[i] for i in sorted(present - seen_in_training)]
                raise ValueError(
                    f"The {split} split has labels {never} that the training split never has: the student cannot learn "
                    "them. Add training examples of those classes, or drop them from validation."
                )
        if "labels" in dataset.column_names:
            dataset = dataset.remove_columns("labels")
        encoded[split] = dataset.add_column("labels", labels)
    if seen_in_training is not None and never_trained:
        raise ValueError(
            f"The classes {never_trained} have no training row: the student would get outputs it never learns. Drop "
            "them from --class_names (or --class_names_file), add training rows of them, or use a teacher of the "
            "data's classes."
        )
    return DatasetDict(encoded)


def unlabeled_value(label_map: LabelMap):
    """The `labels` value of a row without a gold label: `IGNORE_INDEX`, once per class for multi-label."""
    if label_map.problem_type == MULTI_LABEL:
        return [float(IGNORE_INDEX)] * label_map.num_labels
    return float(IGNORE_INDEX) if label_map.problem_type == REGRESSION else IGNORE_INDEX
