"""Reading local data files as their publishers ship them: CSV, TSV (GLUE style), JSON lines and text, gzip or not,
with or without a header, in any encoding, with every problem reported by file and line before training."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import os

from datasets import DatasetDict, load_dataset

_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".txt": "text", ".parquet": "parquet",
            ".arrow": "arrow"}
_LINE_FORMATS = ("csv", "json", "text")  # files whose rows are lines, so that a problem has a line number


def data_format(path: str) -> tuple[str | None, str]:
    """``(builder, extension)`` of a data file: ``("csv", ".tsv")`` for ``train.tsv`` or ``train.tsv.gz``,
    ``("disk", "")`` for a folder written by `datasets.Dataset.save_to_disk`; the builder is ``None`` for an extension
    hfdistill cannot read."""
    if _is_saved_dataset(path):
        return "disk", ""
    name = path.lower()
    name = name[:-3] if name.endswith(".gz") else name
    extension = os.path.splitext(name)[1]
    return _FORMATS.get(extension), extension


def _is_saved_dataset(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name))
                                       for name in ("state.json", "dataset_dict.json"))


def _load_saved_dataset(path: str, split: str):
    """A `save_to_disk` folder: a `Dataset`, or the ``split`` (else the only split) of a `DatasetDict`."""
    from datasets import load_from_disk

    loaded = load_from_disk(path)
    if isinstance(loaded, DatasetDict):
        if split in loaded:
            return loaded[split]
        if len(loaded) == 1:
            return next(iter(loaded.values()))
        raise ValueError(f"{path!r} holds the splits {list(loaded)}, none named {split!r}: pass the folder of one "
                         "split, or name its split train/validation/test.")
    return loaded


def _open_binary(path: str):
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def _open_text(path: str, encoding: str):
    return io.TextIOWrapper(_open_binary(path), encoding=encoding, newline="")


def file_encoding(path: str, encoding: str = "utf-8") -> str:
    """The encoding to read ``path`` with: ``encoding``, or ``"utf-8-sig"`` when a UTF-8 file starts with a byte-order
    mark (GLUE's MRPC files do). Raises ``ValueError`` naming the line and bytes that ``encoding`` cannot decode
    (e.g. a file saved as Latin-1/cp1252 by a spreadsheet), with the fix."""
    with _open_binary(path) as f:
        start = f.read(3)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and start == b"\xef\xbb\xbf":
        encoding = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)()
    with _open_binary(path) as f:
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


def _delimited_options(path: str) -> dict:
    extension = data_format(path)[1]
    if extension == ".tsv":
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    if extension == ".csv":
        return {"delimiter": ",", "quoting": csv.QUOTE_MINIMAL}
    return {}


def _check_delimited_rows(path: str, options: dict, encoding: str, column_names: list[str] | None = None) -> None:
    """Rows with the wrong number of fields, reported by line number before the CSV reader trips on them."""
    with _open_text(path, encoding) as f:
        reader = csv.reader(f, **options)
        header = list(column_names) if column_names else next(reader, None)
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
        named = "--column_names'" if column_names else "header's"
        raise ValueError(
            f"{path}: {len(bad)} row(s) do not have the {named} {len(header)} fields ({', '.join(header)}): "
            f"{shown}{more}. Fix or remove those lines (a tab or comma inside the text must be quoted in CSV)"
            + ("." if column_names else "; a file without a header needs --column_names.")
        )


def row_line_numbers(path: str, encoding: str = "utf-8", has_header: bool = True) -> list[int]:
    """The line of ``path`` on which each data row starts (row 0 is the first row after a CSV/TSV header, or the first
    non-blank line of a JSON lines or text file), as the loaders of :func:`load_files` number rows."""
    encoding = file_encoding(path, encoding)
    options = _delimited_options(path)
    with _open_text(path, encoding) as f:
        if data_format(path)[1] == ".txt":  # the text loader keeps blank lines as rows
            return [number for number, _ in enumerate(f, start=1)]
        if not options:
            return [number for number, line in enumerate(f, start=1) if line.strip()]
        reader = csv.reader(f, **options)
        if has_header:
            next(reader, None)
        lines, previous = [], reader.line_num
        for row in reader:
            if row:  # blank lines are skipped by the loader, so they are no row
                lines.append(previous + 1)
            previous = reader.line_num
        return lines


def load_files(
    data_files: dict[str, str], encoding: str = "utf-8", column_names: list[str] | None = None
) -> DatasetDict:
    """Load local files by extension: .csv, .tsv (tab-separated, no quoting, as GLUE ships them), .json / .jsonl,
    .txt (one text per line, column ``text``, for unlabeled data), each may be gzip-compressed (``train.tsv.gz``);
    .parquet and .arrow files; and folders written by `datasets.Dataset.save_to_disk` (or a `DatasetDict`'s, its
    split of the same name).

    Files are read in ``encoding`` (a UTF-8 byte-order mark is skipped). A CSV/TSV file without a header line needs
    ``column_names``. An empty CSV/TSV field is missing (``None``), while text such as ``NA`` or ``null`` stays text.
    Raises ``ValueError`` naming the file (and line) for a missing, empty or undecodable file and for rows with the
    wrong number of fields.
    """
    splits = {}
    for split, path in data_files.items():
        if _is_saved_dataset(path):
            splits[split] = _load_saved_dataset(path, split)
            continue
        if not os.path.isfile(path):
            raise ValueError(f"The {split} file {path!r} does not exist (working directory: {os.getcwd()}).")
        builder, _ = data_format(path)
        if builder is None:
            raise ValueError(f"Cannot read {path!r}: use a .csv, .tsv, .json or .jsonl (JSON lines), .parquet or "
                             ".arrow file, a folder written by Dataset.save_to_disk, or .txt for text alone (text "
                             "files may be gzip-compressed, e.g. .tsv.gz).")
        if os.path.getsize(path) == 0:
            raise ValueError(f"The {split} file {path!r} is empty: it needs at least one example.")
        if builder not in _LINE_FORMATS:  # binary columnar files: no encoding, no rows to check by line
            splits[split] = load_dataset(builder, data_files={split: path}, split=split)
            continue
        kwargs = {"encoding": file_encoding(path, encoding)}
        options = _delimited_options(path)
        if options:
            _check_delimited_rows(path, options, kwargs["encoding"], column_names)
            # pandas would otherwise read the texts "NA", "null", "nan", ... as missing values.
            kwargs.update(options, keep_default_na=False, na_values=[""])
            if column_names:
                kwargs["column_names"] = list(column_names)
        splits[split] = load_dataset(builder, data_files={split: path}, split=split, **kwargs)
    return DatasetDict(splits)


def _is_blank(value) -> bool:
    """Missing, NaN, or text with no visible character (white space, zero-width or other non-printing ones only)."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not any(char.isprintable() and not char.isspace() for char in value))
    )


def check_required_fields(data: DatasetDict, columns: list[str], data_files: dict[str, str] | None = None,
                          encoding: str = "utf-8", has_header: bool = True) -> None:
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
        if path is not None and os.path.isfile(path) and data_format(path)[0] in _LINE_FORMATS:
            lines = row_line_numbers(path, encoding, has_header)
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
