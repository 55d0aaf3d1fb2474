"""Issues 7 and 15: each bad input a new user might try fails before any training step, with a message that names the
bad value and the fix. Through the real recipe (recipes/sst2.py, its command line) and through the Python API
(DistillationTrainer), with a tiny randomly initialised teacher and small data files: seconds in all, CPU."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import RECIPE, SST2, _head, load_recipe
from datasets import Dataset
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
)

from hfdistill import DistillationTrainer, DistillationTrainingArguments

pytestmark = pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2 beside the checkout")


@pytest.fixture(scope="module")
def bad(tiny_teacher, tmp_path_factory) -> SimpleNamespace:
    """The teachers and data files the cases point at, written once for the module. ``tiny_teacher`` (conftest) is a
    backbone without a classification head, with the packaged tokenizer; ``other_vocab`` is a fine-tuned
    negative/positive teacher whose vocab_size (500) is not its tokenizer's (30522)."""
    work = tmp_path_factory.mktemp("bad_inputs")
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    other_vocab = work / "other_vocab_teacher"
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=500, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=16, id2label={0: "negative", 1: "positive"},
                                             label2id={"negative": 0, "positive": 1})).save_pretrained(other_vocab)
    tokenizer.save_pretrained(other_vocab)
    (work / "not_a_model").mkdir()

    files = {
        "empty.tsv": "sentence\tlabel\n",
        "bad_ids.tsv": "sentence\tlabel\ngood\t1\nbad\t2\n",
        "strings.csv": "text,label\ngood,positive\nbad,negative\nmeh,neutral\n",
        "s_valid.csv": "text,label\ngood,positive\n",
        "two.csv": "text,label\ngood,pos\nbad,neg\n",
        "three.csv": "text,label\ngood,pos\nok,neutral\n",
        "bad_rows.tsv": "sentence\tlabel\ngood\t1\nbad\t0\textra\nok\n",
        "moods.csv": "text,label\ngood,1\nbad,0\n",
        "moods_valid.csv": "text,label\ngood,1\n",
        "empty_text.tsv": "sentence\tlabel\ngood\t1\n\t0\n",
        "empty_label.csv": "sentence,label\ngood,1\nbad,\n",
        "empty.jsonl": '{"sentence": "good", "label": 1}\n{"sentence": "", "label": 0}\n',
    }
    for name, text in files.items():
        (work / name).write_text(text)
    (work / "cp1252.tsv").write_bytes("sentence\tlabel\ngood\t1\ncafé\t0\n".encode("cp1252"))
    train = _head(SST2 / "train.tsv", work / "train.tsv", 200)
    valid = _head(SST2 / "validation.tsv", work / "valid.tsv", 40)
    return SimpleNamespace(work=work, tokenizer=tokenizer, teacher=tiny_teacher, other_vocab=str(other_vocab),
                           train=str(train), valid=str(valid), file=lambda name: str(work / name))


def teacher_and_data(d, teacher=None) -> list[str]:
    return ["--teacher_model_name_or_path", teacher or d.teacher, "--train_file", d.train, "--validation_file", d.valid]


def with_train(d, train: str, teacher=None) -> list[str]:
    return ["--teacher_model_name_or_path", teacher or d.teacher, "--train_file", train, "--validation_file", d.valid]


def csv_pair(d, train: str, valid: str, *extra: str, teacher=None) -> list[str]:
    return ["--teacher_model_name_or_path", teacher or d.teacher, "--train_file", d.file(train),
            "--validation_file", d.file(valid), *extra]


# (id, the recipe's arguments, the exception, fragments of its message that must all be there). argparse errors
# (SystemExit) have their message on stderr.
RECIPE_CASES = [
    ("missing_data_file", lambda d: with_train(d, "data/trian.tsv"), ValueError,
     ["The train file 'data/trian.tsv' does not exist"]),
    ("missing_text_column", lambda d: [*teacher_and_data(d), "--text_column", "review"], ValueError,
     ["Text column 'review' not found", "Set --text_column"]),
    ("missing_label_column", lambda d: [*teacher_and_data(d), "--label_column", "sentiment"], ValueError,
     ["Label column 'sentiment' not found", "Set --label_column"]),
    ("empty_validation_split", lambda d: [*teacher_and_data(d)[:4], "--validation_file", d.file("empty.tsv")],
     ValueError, ["empty.tsv has a header but no rows"]),
    ("labels_outside_0_to_C-1", lambda d: [*teacher_and_data(d)[:4], "--validation_file", d.file("bad_ids.tsv")],
     ValueError, ["integer labels [2] outside 0..1", "pass --class_names"]),
    ("string_labels_the_teacher_does_not_know",
     lambda d: csv_pair(d, "strings.csv", "s_valid.csv", teacher=d.other_vocab), ValueError,
     ["['neutral'] are on one side only", "--teacher_fine_tuning always"]),
    ("validation_labels_never_in_training",
     lambda d: csv_pair(d, "two.csv", "three.csv", "--class_names", "neg", "neutral", "pos"), ValueError,
     ["validation split has labels ['neutral'] that the training split never has"]),
    ("tsv_rows_with_wrong_field_count", lambda d: with_train(d, d.file("bad_rows.tsv")), ValueError,
     ["bad_rows.tsv: 2 row(s) do not have the header's 2 fields", "line 3 has 3, line 4 has 1"]),
    ("temperature_not_positive", lambda d: [*teacher_and_data(d), "--temperature", "0"], ValueError,
     ["temperature must be > 0, got 0.0"]),
    ("alpha_outside_0_1", lambda d: [*teacher_and_data(d), "--alpha", "1.5"], ValueError,
     ["alpha must be in [0, 1], got 1.5"]),
    ("unknown_student_kind", lambda d: [*teacher_and_data(d), "--student", "lstm"], SystemExit,
     ["argument --student: invalid choice: 'lstm'"]),
    ("hidden_size_not_divisible_by_heads",
     lambda d: [*teacher_and_data(d), "--student", "compact", "--student_hidden_size", "100",
                "--student_num_attention_heads", "3"], ValueError,
     ["hidden_size (100) must be divisible by num_attention_heads (3)"]),
    ("more_student_layers_than_the_teacher",
     lambda d: [*teacher_and_data(d), "--student", "layers", "--student_num_layers", "8"], ValueError,
     ["num_layers must be between 1 and the teacher's 2 layers, got 8"]),
    ("max_seq_length_above_the_model_limit", lambda d: [*teacher_and_data(d), "--max_seq_length", "4096"], ValueError,
     ["max_seq_length=4096 exceeds the model's limit of 128 tokens", "--max_seq_length 128"]),
    ("teacher_path_not_a_model_folder", lambda d: teacher_and_data(d, teacher=d.file("not_a_model")), ValueError,
     ["not_a_model' is a folder without config.json"]),
    ("teacher_vocab_is_not_the_tokenizer", lambda d: teacher_and_data(d, teacher=d.other_vocab), ValueError,
     ["The tokenizer has 30522 tokens but the teacher's vocab_size is 500"]),
    ("class_names_contradict_the_teacher",
     lambda d: csv_pair(d, "moods.csv", "moods_valid.csv", "--class_names", "sad", "happy", teacher=d.other_vocab),
     ValueError, ["data (from --class_names) {0: 'sad', 1: 'happy'} against teacher id2label"]),
    ("empty_text_in_a_tsv_row", lambda d: with_train(d, d.file("empty_text.tsv")), ValueError,
     ["empty_text.tsv: empty 'sentence' on line 3"]),
    ("empty_label_in_a_csv_row", lambda d: with_train(d, d.file("empty_label.csv")), ValueError,
     ["empty_label.csv: empty 'label' on line 3"]),
    ("empty_text_in_a_jsonl_row", lambda d: with_train(d, d.file("empty.jsonl")), ValueError,
     ["empty.jsonl: empty 'sentence' on line 2"]),
    ("cp1252_data_file", lambda d: with_train(d, d.file("cp1252.tsv")), ValueError,
     ["cp1252.tsv, line 3", "are not valid utf-8", "--encoding cp1252"]),
    ("fine_tuning_never_on_a_backbone", lambda d: [*teacher_and_data(d), "--teacher_fine_tuning", "never"], ValueError,
     ["has no trained classification head", "--teacher_fine_tuning auto"]),
]


@pytest.mark.parametrize("arguments, error, fragments", [case[1:] for case in RECIPE_CASES],
                         ids=[case[0] for case in RECIPE_CASES])
def test_recipe_rejects_bad_input_before_training(arguments, error, fragments, bad, tmp_path, monkeypatch, capsys):
    recipe = load_recipe(monkeypatch)
    output_dir = tmp_path / "out"
    monkeypatch.chdir(tmp_path)  # 'data/trian.tsv' is relative: it must not exist wherever pytest runs
    monkeypatch.setattr(sys, "argv", [str(RECIPE), *arguments(bad), "--output_dir", str(output_dir),
                                      "--use_cpu", "true", "--disable_tqdm", "true"])
    with pytest.raises(error) as raised:
        recipe.main()
    if error is SystemExit:
        assert raised.value.code == 2
        message = capsys.readouterr().err
    else:
        message = str(raised.value)
    for fragment in fragments:
        assert fragment in message
    assert not (output_dir / "teacher").exists()
    assert not list(output_dir.glob("checkpoint-*"))


def tiny(tokenizer, layers: int) -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8,
                                                    num_hidden_layers=layers, num_attention_heads=2,
                                                    intermediate_size=16, max_position_embeddings=128))


def other_ids_tokenizer(tokenizer) -> BertTokenizerFast:
    """The teacher's vocabulary with the ids of 'good' and 'bad' swapped: the same size, other ids."""
    vocab = tokenizer.get_vocab()
    swapped = dict(vocab, good=vocab["bad"], bad=vocab["good"])
    return BertTokenizerFast(vocab=dict(sorted(swapped.items(), key=lambda item: item[1])))


def rows(tokenizer, texts: list[str]) -> Dataset:
    return Dataset.from_dict({**tokenizer(texts), "labels": [1, 0]})  # no truncation


REVIEW = " ".join(["a long , winding and ultimately rewarding review"] * 120)  # 1,082 tokens

# (id, DistillationTrainer's keyword arguments but args, fragments of the ValueError's message)
API_CASES = [
    ("student_tokenizer_maps_tokens_to_other_ids",
     lambda t: {"model": tiny(t, 1), "teacher_model": tiny(t, 2), "train_dataset": rows(t, ["good", "bad"]),
                "processing_class": other_ids_tokenizer(t), "teacher_processing_class": t},
     ["map tokens to different ids", "'bad': 2204 vs 2919", "Tokenize the data with the teacher's tokenizer"]),
    ("inputs_longer_than_max_position_embeddings",
     lambda t: {"model": tiny(t, 1), "teacher_model": tiny(t, 2), "train_dataset": rows(t, [REVIEW, "short"])},
     ["longer than the student's 128 positions", "row 0 with 1082 tokens", "truncation=True, max_length=128"]),
    ("no_teacher_and_no_teacher_logits_column",
     lambda t: {"model": tiny(t, 1), "train_dataset": rows(t, ["good", "bad"])},
     ["teacher_model is None", "'teacher_logits' column", "pass teacher_model"]),
    ("no_teacher_and_a_row_without_teacher_logits",
     lambda t: {"model": tiny(t, 1),
                "train_dataset": rows(t, ["good", "bad"]).add_column("teacher_logits", [[0.5, -0.5], None])},
     ["1 training row(s) have no teacher_logits (e.g. rows [1])", "pass teacher_model"]),
]


@pytest.mark.parametrize("build, fragments", [case[1:] for case in API_CASES], ids=[case[0] for case in API_CASES])
def test_trainer_rejects_bad_input(build, fragments, bad, tmp_path):
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none")
    with pytest.raises(ValueError) as raised:
        DistillationTrainer(args=args, **build(bad.tokenizer))
    for fragment in fragments:
        assert fragment in str(raised.value)
