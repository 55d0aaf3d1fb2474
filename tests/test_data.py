import json

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from hfdistill.data import build_label_map, encode_labels, load_files, resolve_text_column, tokenize


def _write(path, text):
    path.write_text(text)
    return str(path)


def _data(train_labels, validation_labels, string=False):
    dtype = "string" if string else "int64"
    features = Features({"text": Value("string"), "label": Value(dtype)})
    make = lambda labels: Dataset.from_dict({"text": ["x"] * len(labels), "label": labels}, features=features)  # noqa: E731
    return DatasetDict({"train": make(train_labels), "validation": make(validation_labels)})


def test_tsv_csv_and_json_lines_load_by_extension(tmp_path):
    tsv = _write(tmp_path / "a.tsv", "sentence\tlabel\nit 's \"good\" , really\t1\nbad\t0\n")
    csv_file = _write(tmp_path / "a.csv", 'text,label\n"good, really",pos\nbad,neg\n')
    jsonl = _write(tmp_path / "a.jsonl", "\n".join(json.dumps({"text": text, "label": label})
                                                   for text, label in [("good", 1), ("bad", 0)]))
    data = load_files({"train": tsv, "validation": csv_file, "test": jsonl})
    assert data["train"]["sentence"][0] == 'it \'s "good" , really'  # GLUE TSV: quotes are text, not quoting
    assert data["validation"]["text"][0] == "good, really"
    assert data["test"]["label"] == [1, 0]


def test_missing_file_says_which_and_where(tmp_path):
    with pytest.raises(ValueError, match="The train file .*nope.tsv' does not exist"):
        load_files({"train": str(tmp_path / "nope.tsv")})


def test_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="use a .csv, .tsv, .json or .jsonl"):
        load_files({"train": _write(tmp_path / "a.xlsx", "hello")})


def test_unlabeled_text_files(tmp_path):
    from hfdistill.data import load_unlabeled

    lines = load_unlabeled(_write(tmp_path / "u.txt", "first text\n\n  \nsecond text\n"), "sentence")
    assert lines["sentence"] == ["first text", "second text"] and set(lines["labels"]) == {-100}
    table = load_unlabeled(_write(tmp_path / "u.tsv", "text\tsource\na review\tweb\n"), "sentence")
    assert table.column_names == ["sentence", "labels"] and table["sentence"] == ["a review"]
    with pytest.raises(ValueError, match="has no non-empty text"):
        load_unlabeled(_write(tmp_path / "blank.txt", "\n \n"), "sentence")


def test_unlabeled_rows_from_several_files_and_a_seeded_draw(tmp_path):
    from hfdistill.data import TransferSetArguments, build_transfer_set

    labeled = Dataset.from_dict({"text": ["a fine film"], "labels": [1]})
    first = _write(tmp_path / "a.txt", "".join(f"a{i}\n" for i in range(6)))
    second = _write(tmp_path / "b.tsv", "text\n" + "".join(f"b{i}\n" for i in range(4)))
    both, info = build_transfer_set(labeled, "text", [first, second])
    assert both["text"] == ["a fine film", *(f"a{i}" for i in range(6)), *(f"b{i}" for i in range(4))]
    assert info == {"labeled": 1, "unlabeled": 10, "augmented": 0}
    drawn, info = build_transfer_set(labeled, "text", [first, second], max_unlabeled_samples=4, unlabeled_seed=3)
    rows = drawn["text"][1:]
    assert info == {"labeled": 1, "unlabeled": 4, "unlabeled_available": 10, "augmented": 0}
    assert len(set(rows)) == 4 and rows == sorted(rows, key=both["text"].index)  # no repeats, in file order
    assert set(drawn["labels"][1:]) == {-100} and drawn["text"][0] == "a fine film"  # labeled rows never drawn
    assert build_transfer_set(labeled, "text", [first, second], max_unlabeled_samples=4, unlabeled_seed=3)[0][
        "text"] == drawn["text"]  # the seed fixes the draw
    assert build_transfer_set(labeled, "text", first, max_unlabeled_samples=99)[1] == {
        "labeled": 1, "unlabeled": 6, "augmented": 0}  # asking for more than there are keeps them all
    assert TransferSetArguments(unlabeled_file=first).unlabeled_file == [first]
    with pytest.raises(ValueError, match="--max_unlabeled_samples must be at least 1, got 0"):
        TransferSetArguments(unlabeled_file=first, max_unlabeled_samples=0)
    with pytest.raises(ValueError, match="without --unlabeled_file"):
        TransferSetArguments(max_unlabeled_samples=5)


def test_masking_needs_a_mask_token():
    from hfdistill.data.augment import AugmentationConfig
    from hfdistill.data import build_transfer_set

    labeled = Dataset.from_dict({"text": ["a fine film", "a dull one"], "labels": [1, 0]})
    with pytest.raises(ValueError, match="no mask token.*--augment_p_mask 0"):
        build_transfer_set(labeled, "text", augmentation=AugmentationConfig(factor=1), mask_token=None)
    grown, info = build_transfer_set(labeled, "text", augmentation=AugmentationConfig(factor=2, p_mask=0.0))
    assert info == {"labeled": 2, "unlabeled": 0, "augmented": 4,
                    "augmentation": AugmentationConfig(factor=2, p_mask=0.0).to_dict()}
    assert grown["labels"] == [1, 0, -100, -100, -100, -100]  # gold labels are never copied onto augmented rows


def test_bad_rows_are_reported_with_line_numbers(tmp_path):
    path = _write(tmp_path / "bad.tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\nfine\t1\nno label\n")
    with pytest.raises(ValueError, match=r"2 row\(s\) do not have the header's 2 fields .*line 3 has 3, line 5 has 1"):
        load_files({"train": path})


def test_missing_text_column_lists_the_columns():
    dataset = Dataset.from_dict({"review": ["a"], "label": [0]})
    with pytest.raises(ValueError, match=r"No text column: the data has columns \['review', 'label'\].*--text_column"):
        resolve_text_column(dataset, None)
    with pytest.raises(ValueError, match=r"Text column 'body' not found; the data has columns \['review', 'label'\]"):
        resolve_text_column(dataset, "body")
    assert resolve_text_column(Dataset.from_dict({"text": ["a"]}), None) == "text"


def test_missing_label_column_lists_the_columns():
    data = DatasetDict({"train": Dataset.from_dict({"text": ["a"], "y": [0]}),
                        "validation": Dataset.from_dict({"text": ["a"], "y": [0]})})
    with pytest.raises(ValueError,
                       match=r"Label column 'label' not found in the train split; it has columns \['text', 'y'\]"):
        build_label_map(data, "label")


def test_empty_split():
    with pytest.raises(ValueError, match="The validation split is empty"):
        build_label_map(_data([0, 1], []), "label")


def test_integer_labels_outside_the_classes():
    data = _data([0, 1, 2], [0])
    label_map = build_label_map(data, "label", class_names=["negative", "positive"])
    with pytest.raises(ValueError, match=r"integer labels \[2\] outside 0..1 .*--class_names"):
        encode_labels(data, label_map)


def test_string_labels_the_fine_tuned_teacher_does_not_know():
    data = _data(["positive", "negative", "meh"], ["positive"], string=True)
    with pytest.raises(ValueError,
                       match=r"contradict each other: data \(from the data's labels\) \{0: 'meh', 1: 'negative', "
                             r"2: 'positive'\} against teacher id2label \{0: 'negative', 1: 'positive'\}; "
                             r"\['meh'\] are on one side only"):
        build_label_map(data, "label", teacher_id2label={0: "negative", 1: "positive"})
    validation_only = DatasetDict({"train": _data(["positive", "negative"], [], string=True)["train"],
                                   "validation": _data([], ["meh"], string=True)["validation"]})
    label_map = build_label_map(validation_only, "label", teacher_id2label={0: "negative", 1: "positive"})
    with pytest.raises(ValueError, match=r"labels \['meh'\] outside the known classes \['negative', 'positive'\]"):
        encode_labels(validation_only, label_map)


def test_classes_that_differ_from_the_fine_tuned_teachers():
    data = DatasetDict({split: Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}, features=Features(
        {"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})) for split in ("train", "validation")})
    with pytest.raises(ValueError, match=r"data \(from the data's ClassLabel\) \{0: 'bad', 1: 'good'\} against teacher "
                       r"id2label \{0: 'negative', 1: 'positive'\}.*--teacher_fine_tuning always"):
        build_label_map(data, "label", teacher_id2label={0: "negative", 1: "positive"})


@pytest.mark.parametrize("teacher_id2label", [{0: "positive", 1: "negative"}, {0: "negative", 1: "positive"}])
def test_the_datas_class_names_are_matched_to_the_teachers_by_name(teacher_id2label):
    """--class_names negative positive on data whose 0 means negative, whatever order the teacher names them in."""
    data = _data([0, 1, 1, 0], [1, 0])
    label_map = build_label_map(data, "label", class_names=["negative", "positive"], teacher_id2label=teacher_id2label)
    assert label_map.id2label == teacher_id2label
    encoded = encode_labels(data, label_map)
    negative, positive = label_map.label2id["negative"], label_map.label2id["positive"]
    assert encoded["train"]["labels"] == [negative, positive, positive, negative]
    assert encoded["validation"]["labels"] == [positive, negative]
    assert label_map.describe().startswith(f"data 0 'negative' -> class {negative}")


def test_string_labels_and_a_classlabel_are_matched_by_name_too():
    strings = _data(["negative", "positive"], ["positive"], string=True)
    label_map = build_label_map(strings, "label", teacher_id2label={0: "positive", 1: "negative"})
    assert encode_labels(strings, label_map)["train"]["labels"] == [1, 0]
    features = Features({"text": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    class_label = DatasetDict({split: Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}, features=features)
                               for split in ("train", "validation")})
    label_map = build_label_map(class_label, "label", teacher_id2label={0: "positive", 1: "negative"})
    assert encode_labels(class_label, label_map)["train"]["labels"] == [1, 0]


def test_an_unnamed_teacher_is_matched_by_index_and_needs_as_many_classes():
    data = _data([0, 1, 2], [1])
    label_map = build_label_map(data, "label", class_names=["neg", "neutral", "pos"], teacher_num_labels=3)
    assert label_map.id2label == {0: "neg", 1: "neutral", 2: "pos"} and label_map.data_names is None
    with pytest.raises(ValueError, match=r"trained head for 2 classes \(unnamed in its config\) but the data has 3"):
        build_label_map(data, "label", class_names=["neg", "neutral", "pos"], teacher_num_labels=2)


def test_validation_labels_never_seen_in_training():
    data = _data(["a", "b"], ["a", "c"], string=True)
    label_map = build_label_map(DatasetDict({"train": _data(["a", "b", "c"], ["a"], string=True)["train"],
                                             "validation": data["validation"]}), "label")
    with pytest.raises(ValueError, match=r"validation split has labels \['c'\] that the training split never has"):
        encode_labels(data, label_map)


def test_string_labels_become_sorted_classes_and_ids():
    data = _data(["pos", "neg", "neutral", "pos"], ["neg"], string=True)
    label_map = build_label_map(data, "label")
    assert label_map.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    assert encode_labels(data, label_map)["train"]["labels"] == [2, 0, 1, 2]


def test_max_seq_length_above_the_model_limit(tokenizer):
    dataset = Dataset.from_dict({"text": ["good film"]})
    with pytest.raises(ValueError,
                       match=r"max_seq_length=64 exceeds the model's limit of 32 tokens; set --max_seq_length 32"):
        tokenize(dataset, tokenizer, "text", 64)
    assert tokenize(dataset, tokenizer, "text", 16).column_names == ["input_ids", "token_type_ids", "attention_mask"]


def test_string_labels_read_from_a_real_csv_file(tmp_path):
    # datasets types them large_string, not string: both are text labels.
    train = _write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\nok,neutral\n")
    valid = _write(tmp_path / "valid.csv", "text,label\ngood,pos\nok,other\n")
    data = load_files({"train": train, "validation": valid})
    label_map = build_label_map(data, "label")
    assert label_map.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    with pytest.raises(ValueError, match=r"validation split has labels \['other'\] outside the known classes"):
        encode_labels(data, label_map)


def test_a_file_with_a_header_and_no_rows(tmp_path):
    with pytest.raises(ValueError, match="has a header but no rows"):
        load_files({"validation": _write(tmp_path / "empty.tsv", "sentence\tlabel\n")})
    with pytest.raises(ValueError, match="is empty"):
        load_files({"validation": _write(tmp_path / "empty.jsonl", "")})


def test_max_seq_length_above_the_models_positions(tokenizer):
    from transformers import BertConfig

    dataset = Dataset.from_dict({"text": ["good film"]})
    with pytest.raises(ValueError, match="exceeds the model's limit of 16 tokens"):
        tokenize(dataset, tokenizer, "text", 24, model_config=BertConfig(max_position_embeddings=16))


def test_a_tokenizer_larger_than_the_teachers_vocabulary(tokenizer):
    from transformers import BertConfig

    from hfdistill.checks import check_tokenizer

    check_tokenizer(tokenizer, BertConfig(vocab_size=len(tokenizer)))
    with pytest.raises(ValueError, match="is not the teacher's tokenizer"):
        check_tokenizer(tokenizer, BertConfig(vocab_size=len(tokenizer) - 1))


# ---- field reports (issue 15): empty fields and encodings, named by file and line ----------------


@pytest.mark.parametrize("name, content, column, line", [
    ("train.csv", "text,label\ngood film,1\n,0\nbad film,0\n", "text", 3),
    ("train.csv", 'text,label\n"a quoted\nmulti-line text",1\nbad film,\n', "label", 4),
    ("train.tsv", "sentence\tlabel\ngood\t1\n\nbad\t\n", "label", 4),
    ("train.tsv", "sentence\tlabel\ngood\t1\n   \t0\n", "sentence", 3),
    ("train.jsonl", '{"text": "good", "label": 1}\n\n{"text": "", "label": 0}\n', "text", 3),
    ("train.jsonl", '{"text": "good", "label": 1}\n{"text": "bad"}\n', "label", 2),
])
def test_an_empty_text_or_label_field_names_the_file_and_line(tmp_path, name, content, column, line):
    from hfdistill.data import check_required_fields

    path = _write(tmp_path / name, content)
    data = load_files({"train": path})
    text_column = resolve_text_column(data["train"], None)
    with pytest.raises(ValueError, match=rf"{path}: empty '{column}' on line {line}\..*fill them in or delete"):
        check_required_fields(data, [text_column, "label"], {"train": path})


def test_text_that_reads_like_a_missing_value_stays_text(tmp_path):
    from hfdistill.data import check_required_fields

    path = _write(tmp_path / "train.tsv", "sentence\tlabel\nNA\t1\nnull\t0\nnan\t1\n")
    data = load_files({"train": path})
    assert list(data["train"]["sentence"]) == ["NA", "null", "nan"]
    check_required_fields(data, ["sentence", "label"], {"train": path})


@pytest.mark.parametrize("name, header, row", [("train.csv", "text,label", "café crème,1"),
                                                ("train.tsv", "text\tlabel", "café crème\t1"),
                                                ("train.jsonl", None, '{"text": "café crème", "label": 1}')])
def test_a_file_that_is_not_utf8_names_the_line_and_the_fix_and_loads_with_its_encoding(tmp_path, name, header, row):
    lines = ([header] if header else []) + ['{"text": "good", "label": 0}' if header is None
                                            else row.replace("café crème", "good"), row]
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    with pytest.raises(ValueError, match=rf"{path}, line 3: bytes .* not valid utf-8.*--encoding cp1252" if header else
                       rf"{path}, line 2: bytes .* not valid utf-8.*--encoding cp1252"):
        load_files({"train": str(path)})
    data = load_files({"train": str(path)}, encoding="cp1252")
    assert data["train"]["text"][-1] == "café crème"


@pytest.mark.parametrize("name, content", [("train.csv", "text,label\ngood,1\n"),
                                           ("train.tsv", "text\tlabel\ngood\t1\n"),
                                           ("train.jsonl", '{"text": "good", "label": 1}\n')])
def test_a_utf8_byte_order_mark_is_skipped(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode())
    data = load_files({"train": str(path)})
    assert data["train"].column_names == ["text", "label"] and data["train"]["text"] == ["good"]


def test_glue_mrpc_with_its_byte_order_mark_and_quotes_loads_every_row():
    from conftest import REPO

    mrpc = REPO.parent / "shared" / "data" / "mrpc" / "dev.tsv"
    if not mrpc.is_file():
        pytest.skip("needs ../shared/data/mrpc")
    data = load_files({"validation": str(mrpc)})["validation"]
    assert data.column_names[0] == "Quality" and len(data) == 408


# ---- every task shape (issue 17): pairs, multi-label, regression, header-less and gzip files ------------


def test_sentence_pair_columns_are_detected_as_glue_and_mrpc_name_them():
    from hfdistill.data import resolve_text_columns

    for first, second in (("sentence1", "sentence2"), ("#1 String", "#2 String"), ("premise", "hypothesis"),
                          ("question", "sentence"), ("sentence_A", "sentence_B")):
        assert resolve_text_columns(Dataset.from_dict({first: ["a"], second: ["b"], "label": [0]})) == (first, second)
    assert resolve_text_columns(Dataset.from_dict({"sentence": ["a"], "label": [0]})) == ("sentence", None)
    assert resolve_text_columns(Dataset.from_dict({"a": ["x"], "b": ["y"]}), "a", "b") == ("a", "b")
    with pytest.raises(ValueError, match="Text pair column 'c' not found"):
        resolve_text_columns(Dataset.from_dict({"a": ["x"], "b": ["y"]}), "a", "c")


def test_pairs_are_tokenized_as_pairs(tokenizer):
    from hfdistill.data import tokenize

    pairs = Dataset.from_dict({"s1": ["good film"], "s2": ["bad plot"], "labels": [1]})
    encoded = tokenize(pairs, tokenizer, "s1", 32, text_pair_column="s2")
    assert encoded[0]["input_ids"] == tokenizer("good film", "bad plot")["input_ids"]
    assert encoded[0]["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]


def _task(train_labels, validation_labels, **features):
    return DatasetDict({"train": Dataset.from_dict({"text": ["x"] * len(train_labels), "label": train_labels}),
                        "validation": Dataset.from_dict({"text": ["x"] * len(validation_labels),
                                                         "label": validation_labels})})


def test_fractional_scores_are_a_regression():
    data = _task([3.8, 0.0, 5.0], [2.5])
    label_map = build_label_map(data, "label")
    assert label_map.problem_type == "regression" and label_map.id2label == {0: "label"}
    assert encode_labels(data, label_map)["train"]["labels"] == [3.8, 0.0, 5.0]


def test_comma_separated_ids_with_names_from_a_file_are_multi_label(tmp_path):
    from hfdistill.data import read_class_names

    names = read_class_names(_write(tmp_path / "labels.txt", "admiration\namusement\nanger\n"))
    data = _task(["0,2", "1", "2"], ["0"])
    label_map = build_label_map(data, "label", class_names=names)
    assert label_map.problem_type == "multi_label_classification" and label_map.num_labels == 3
    assert encode_labels(data, label_map)["train"]["labels"] == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    by_name = _task(["anger,amusement", "admiration"], ["anger"])
    label_map = build_label_map(by_name, "label")
    assert label_map.id2label == {0: "admiration", 1: "amusement", 2: "anger"}
    assert encode_labels(by_name, label_map)["train"]["labels"] == [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match=r"integer labels \[7\] outside 0..2"):
        encode_labels(_task(["0,7", "1,2"], ["0"]),
                      build_label_map(_task(["0,2", "1"], ["0"]), "label", class_names=names))


def test_several_zero_one_columns_are_multi_label():
    data = DatasetDict({split: Dataset.from_dict({"text": ["a", "b"], "toxic": [1, 0], "insult": [1, 1]})
                        for split in ("train", "validation")})
    label_map = build_label_map(data, label_columns=["toxic", "insult"])
    assert label_map.problem_type == "multi_label_classification" and label_map.id2label == {0: "toxic", 1: "insult"}
    assert (encode_labels(data, label_map, label_columns=["toxic", "insult"])["train"]["labels"]
            == [[1.0, 1.0], [0.0, 1.0]])


def test_problem_type_can_be_said_and_a_teacher_of_another_shape_is_an_error():
    data = _task([0, 1, 2], [1])  # no commas in this sample: integer ids, which --problem_type says are multi-label
    assert (build_label_map(data, "label", problem_type="multi_label_classification").problem_type
            == "multi_label_classification")
    with pytest.raises(ValueError,
                       match="fine-tuned teacher is a multi_label_classification model but the data's labels "
                             "make a single_label_classification task.*--problem_type multi_label_classification"):
        build_label_map(data, "label", teacher_num_labels=3, teacher_problem_type="multi_label_classification")


def test_a_header_less_gzip_tsv_reads_with_column_names(tmp_path):
    import gzip

    from hfdistill.data import load_text_classification

    for split in ("train", "dev"):
        with gzip.open(tmp_path / f"{split}.tsv.gz", "wt") as f:
            f.write('My "favourite" food\t27\teebbqej\nWHY\t2,4\teezlygj\n')
    data = load_text_classification(str(tmp_path / "train.tsv.gz"), str(tmp_path / "dev.tsv.gz"),
                                    column_names=["text", "labels", "id"])
    assert data["train"]["text"] == ['My "favourite" food', "WHY"] and data["train"]["labels"] == ["27", "2,4"]
    label_map = build_label_map(data, "labels")
    assert label_map.problem_type == "multi_label_classification" and label_map.num_labels == 28
    assert encode_labels(data, label_map, "labels")["train"]["labels"][1][2] == 1.0
    with pytest.raises(ValueError, match="do not have the --column_names' 2 fields"):
        load_text_classification(str(tmp_path / "train.tsv.gz"), str(tmp_path / "dev.tsv.gz"),
                                 column_names=["text", "labels"])


@pytest.mark.parametrize("name, rows", [("goemotions/train.tsv", 43410), ("stsb/dev.tsv", 1500), ("rte/dev.tsv", 277)])
def test_the_shipped_data_sets_read_right(name, rows):
    from conftest import REPO
    from hfdistill.data import load_files, resolve_text_columns

    path = REPO.parent / "shared" / "data" / name
    if not path.is_file():
        pytest.skip(f"needs ../shared/data/{name}")
    column_names = ["text", "labels", "id"] if name.startswith("goemotions") else None
    data = load_files({"train": str(path)}, column_names=column_names)
    assert len(data["train"]) == rows
    label_column = "labels" if column_names else "score" if "stsb" in name else "label"
    expected = {"goemotions": "multi_label_classification", "stsb": "regression", "rte": "single_label_classification"}
    assert (build_label_map(DatasetDict({"train": data["train"]}), label_column).problem_type
            == expected[name.split("/")[0]])
    if not column_names:
        assert resolve_text_columns(data["train"]) == ("sentence1", "sentence2")


def test_unlabeled_text_can_be_gzip(tmp_path):
    import gzip

    from hfdistill.data import load_unlabeled

    with gzip.open(tmp_path / "u.txt.gz", "wt") as f:
        f.write("one sentence\n\nanother one\n")
    assert load_unlabeled(str(tmp_path / "u.txt.gz"), "sentence")["sentence"] == ["one sentence", "another one"]
