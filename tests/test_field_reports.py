"""Field reports, round 2: situations users of transformers, setfit, optimum and TextBrewer reported, replayed."""

import csv
import json
import logging

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from torch.testing import assert_close
from transformers import EvalPrediction

from conftest import SST2, random_token_dataset, tiny_bert
from hfdistill import DistillationTrainer
from hfdistill.data import TaskDataArguments, build_label_map, check_required_fields, encode_labels, load_task, tokenize
from hfdistill.data.lengths import choose_max_length, resolve_max_length
from hfdistill.evaluation.metrics import class_coverage, multi_label_scores, report_metric, task_metrics
from test_distillation_trainer import make_args

pytestmark = pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2 beside the checkout")

LONG = "the story starts slowly and the cast is large " * 20  # 180 words: past 64 and the tiny teacher's 128 positions


def _tsv(path, rows, header=("sentence", "label")):
    """A GLUE-style TSV: fields joined by tabs, nothing quoted."""
    with open(path, "w") as f:
        f.writelines("\t".join(str(field) for field in row) + "\n" for row in [header, *rows])
    return str(path)


# ---- 1. long texts: measured, chosen from the data, reported, and head+tail kept on request --------------------


def test_max_seq_length_follows_the_data_and_truncation_is_reported(tokenizer, caplog):
    short = Dataset.from_dict({"sentence": ["good", "bad film"] * 50})
    assert choose_max_length([5] * 100, 512) == 64  # short texts keep the floor
    assert choose_max_length(list(range(1, 301)), 512) == 304  # p99 of 1..300 is 297.01, up to a multiple of 8
    assert choose_max_length([900] * 10, 512) == 512  # never past the models' positions
    long = Dataset.from_dict({"sentence": ["good " * 200] * 10 + ["bad"] * 90})
    with caplog.at_level(logging.WARNING):
        length, report = resolve_max_length({"train": long, "validation": short}, tokenizer, "sentence", None, None)
    assert length == 32  # the tiny tokenizer's model_max_length
    train = report["splits"]["train"]
    assert (train["rows"], train["truncated"], train["truncated_fraction"]) == (100, 10, 0.1)
    assert train["max"] == 202 and report["splits"]["validation"]["truncated"] == 0
    assert "MANY INPUTS ARE TRUNCATED: 10.0% of train" in caplog.text
    with pytest.raises(ValueError, match="max_seq_length=64 exceeds the model's limit of 32"):
        resolve_max_length({"train": short}, tokenizer, "sentence", None, 64)


def test_the_transfer_sets_teacher_labelled_rows_get_a_truncation_report_of_their_own(tokenizer, caplog):
    from hfdistill.data import report_transfer_lengths

    labeled = Dataset.from_dict({"sentence": ["good", "bad film"] * 5})
    length, report = resolve_max_length({"train": labeled}, tokenizer, "sentence", None, None,
                                        other_tokenizers={"student": tokenizer})
    transfer = Dataset.from_dict({"sentence": list(labeled["sentence"]) + ["good " * 100, "fine"]})
    with caplog.at_level(logging.WARNING):
        report_transfer_lengths(report, transfer, {"labeled": 10, "unlabeled": 2, "augmented": 0}, tokenizer,
                                "sentence", None, other_tokenizers={"student": tokenizer})
    for each in (report, report["student"]):  # through the teacher's tokenizer and the student's
        assert (each["splits"]["unlabeled"]["rows"], each["splits"]["unlabeled"]["truncated"]) == (2, 1)
        assert each["splits"]["train"]["rows"] == 10  # the task's own splits stay as measured
    assert report["max_seq_length"] == length and "MANY INPUTS ARE TRUNCATED: 50.0% of unlabeled" in caplog.text
    before = dict(report["splits"])
    report_transfer_lengths(report, labeled, {"labeled": 10, "unlabeled": 0, "augmented": 0}, tokenizer, "sentence",
                            None)
    assert report["splits"] == before  # nothing but labeled rows: nothing added


def test_middle_truncation_keeps_the_head_and_the_tail(tokenizer):
    words = "great " + "the " * 40 + "awful"
    row = tokenize(Dataset.from_dict({"sentence": [words]}), tokenizer, "sentence", 18, truncation_side="middle")[0]
    text = tokenizer.decode(row["input_ids"])
    assert len(row["input_ids"]) == 18 and text.startswith("[CLS] great") and text.endswith("awful [SEP]")
    right = tokenize(Dataset.from_dict({"sentence": [words]}), tokenizer, "sentence", 18)[0]["input_ids"]
    right = tokenizer.decode(right)
    assert "awful" not in right and right.startswith("[CLS] great")
    with pytest.raises(ValueError, match="a sentence pair has two"):
        tokenize(Dataset.from_dict({"a": ["x"], "b": ["y"]}), tokenizer, "a", 18, text_pair_column="b",
                 truncation_side="middle")


# ---- 2. labels that differ in spaces or case; a class without a training row --------------------------------------


def _label_map_of(train_labels, validation_labels, **kwargs):
    data = DatasetDict({"train": Dataset.from_dict({"label": train_labels}),
                        "validation": Dataset.from_dict({"label": validation_labels})})
    label_map = build_label_map(data, "label", **kwargs)
    return label_map, encode_labels(data, label_map)


def test_labels_are_stripped_and_case_only_variants_are_refused():
    label_map, data = _label_map_of(["Positive", "Positive ", " Negative"], ["Positive", "Negative "])
    assert label_map.id2label == {0: "Negative", 1: "Positive"}
    assert data["train"]["labels"] == [1, 1, 0] and data["validation"]["labels"] == [1, 0]
    with pytest.raises(ValueError, match=r"differ only in case: 'Positive' \(2 rows\) and 'positive' \(1 rows\)"):
        _label_map_of(["Positive", "Positive", "positive", "Negative"], ["Positive"])
    with pytest.raises(ValueError, match=r"The classes \['neutral'\] have no training row"):
        _label_map_of(["pos", "neg"], ["pos"], class_names=["neg", "neutral", "pos"])


# ---- 3. macro-F1 over the classes that occur; which classes the split lacks -----------------------------------------


def test_macro_f1_does_not_count_a_class_the_split_lacks(caplog):
    perfect = np.eye(3)[[0, 1, 0, 1]] * 5
    scores = task_metrics("single_label_classification", 3)(EvalPrediction(predictions=perfect,
                                                                           label_ids=np.array([0, 1, 0, 1])))
    assert scores == {"accuracy": 1.0, "f1_macro": 1.0}
    references = np.array([[1, 0, 0], [0, 1, 0]])
    assert multi_label_scores(np.where(references > 0, 5.0, -5.0), references)["f1_macro"] == 1.0
    with caplog.at_level(logging.WARNING):
        coverage = class_coverage([0, 1, 0], {0: "a", 1: "b", 2: "c"}, "single_label_classification")
    assert coverage == {"present": ["a", "b"], "missing": ["c"]} and "no row of the classes ['c']" in caplog.text


# ---- 4. the headline is the task's metric, whatever model selection used ------------------------------------------


def test_the_report_never_headlines_a_loss():
    assert report_metric("single_label_classification", "loss", False) == "accuracy"
    assert report_metric("regression", "eval_loss") == "spearman"
    assert report_metric("single_label_classification", "f1", True) == "f1"
    assert report_metric("multi_label_classification", "f1_micro", False) == "f1_macro"


# ---- 5, 7 and 8 through the recipe --------------------------------------------------------------------------------


def test_flags_that_cannot_run_together_are_refused_at_parse_time(tiny_teacher, tmp_path, monkeypatch):
    from conftest import load_recipe

    recipe = load_recipe(monkeypatch)
    base = ["--output_dir", str(tmp_path / "out"), "--use_cpu", "true"]
    with pytest.raises(ValueError, match="ensemble of 2 teachers"):
        recipe.parse_arguments([*base, "--teacher_model_name_or_path", tiny_teacher, tiny_teacher,
                                "--hidden_state_weight", "1"])
    with pytest.raises(ValueError, match="ensemble of 3 teachers"):
        recipe.parse_arguments([*base, "--teacher_seeds", "0", "1", "2", "--hidden_state_weight", "1"])
    with pytest.raises(ValueError, match="a 'linear' student does not have"):
        recipe.parse_arguments([*base, "--student", "linear", "--hidden_state_weight", "1"])
    with pytest.raises(ValueError, match="--do_predict predicts the rows of --test_file"):
        recipe.parse_arguments([*base, "--do_predict", "true"])
    with pytest.raises(ValueError, match="3 weights for 1 teachers"):
        recipe.parse_arguments([*base, "--teacher_weights", "1", "2", "3"])
    assert not (tmp_path / "out").exists()


def test_long_texts_a_test_file_class_weights_and_best_model_selection_through_the_recipe(
        tiny_teacher, tmp_path, monkeypatch):
    from test_recipe import FAST, run_in_process

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = [(f"a fine film {LONG}", 1), (f"{LONG} a dull film", 0), ("a fine film", 1), ("dull", 0)] * 10
    train = _tsv(tmp_path / "train.tsv", rows)
    validation = _tsv(tmp_path / "validation.tsv", rows[:8])
    test_rows = [("a fine film", ""), ('dull, "and" slow', ""), (LONG, "")]
    test = _tsv(tmp_path / "test.tsv", [row[:1] for row in test_rows], header=("sentence",))
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, "--train_file", train, "--validation_file",
                    validation, "--test_file", test, "--teacher_predictions", "--class_weights", "auto",
                    "--load_best_model_at_end", "true", "--class_names", "negative", "positive",
                    "--output_dir", str(output_dir), *FAST], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    # The length follows the data up to the teacher's 128 positions, and every split says what it truncated.
    truncation = results["truncation"]
    assert truncation["max_seq_length"] == 128 and truncation["splits"]["train"]["truncated_fraction"] == 0.5
    card = (output_dir / "README.md").read_text()
    assert "| max_seq_length | 128 tokens; longer rows truncated (50.0% of train, 50.0% of validation" in card
    # load_best_model_at_end picked by loss; the headline stays the task's metric, "kept" a share of it.
    assert results["primary_metric"] == "accuracy" and "Accuracy kept" in card and "loss kept" not in card
    assert results["distillation"]["class_weights"] == "auto" and "| class weights (hard term) | auto |" in card
    # Predictions for the unlabeled test file, in its row order, student and teacher.
    with open(output_dir / "predictions.tsv", newline="") as f:
        predicted = list(csv.DictReader(f, delimiter="\t"))
    assert [row["text"] for row in predicted] == ["a fine film", 'dull, "and" slow', LONG]
    assert {row["student_label"] for row in predicted} <= {"negative", "positive"}
    for row in predicted:
        total = float(row["student_score_negative"]) + float(row["student_score_positive"])
        assert abs(total - 1) < 1e-4 and row["teacher_label"] in ("negative", "positive")
    assert results["predictions"] == {"file": "predictions.tsv", "rows": 3, "labeled": False, "metrics": None}


def test_a_labeled_test_file_gets_its_metrics(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    from test_recipe import FAST, run_in_process

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    test = _tsv(tmp_path / "test.tsv", [("a fine film", 1), ("dull", 0), ("moving", 1)])
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--test_file", test, "--do_predict",
                    "true", "--output_dir", str(output_dir), *FAST], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["predictions"]["labeled"] and 0 <= results["predictions"]["metrics"]["student"]["accuracy"] <= 1


# ---- 6. an int8 parity miss is reported, never the end of the run's report -------------------------------------


def test_a_failed_int8_parity_check_keeps_the_report_and_fails_only_when_strict(tiny_teacher, sst2_files, tmp_path,
                                                                             monkeypatch):
    from test_recipe import FAST, run_in_process

    from hfdistill.export import onnx as onnx_export

    original = onnx_export.check_parity

    def impossible_for_int8(*args, quantized=False, **kwargs):  # as if int8 flipped rows PyTorch is sure of
        if quantized:
            kwargs["min_label_agreement"] = 1.01
        return original(*args, quantized=quantized, **kwargs)

    monkeypatch.setattr(onnx_export, "check_parity", impossible_for_int8)
    flags = ["--teacher_model_name_or_path", tiny_teacher, *sst2_files, *FAST, "--student", "linear", "--export",
             "onnx", "--quantize", "int8"]
    output_dir = tmp_path / "out"
    run_in_process([*flags, "--output_dir", str(output_dir)], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["exported"]["onnx fp32"]["parity"]["passed"]
    int8 = results["exported"]["onnx int8"]
    assert int8["file"] is None and not int8["parity"]["passed"] and "label_agreement" in int8["parity"]
    assert not (output_dir / "onnx" / "model_quantized.onnx").exists()
    assert "The onnx int8 export did not match PyTorch" in (output_dir / "README.md").read_text()
    strict_dir = tmp_path / "strict"
    with pytest.raises(SystemExit, match="--export_strict: onnx int8 failed or did not match PyTorch"):
        run_in_process([*flags, "--output_dir", str(strict_dir), "--export_strict"], monkeypatch)
    assert (strict_dir / "results.json").is_file() and (strict_dir / "README.md").is_file()


def test_int8_parity_tolerates_flips_of_near_ties_only():
    from hfdistill.export.parity import decision_margins

    reference = np.array([[2.0, -2.0], [0.01, 0.0], [3.0, 0.0], [-1.0, 1.0]])
    candidate = np.array([[2.0, -2.0], [0.0, 0.01], [0.0, 3.0], [-1.0, 1.0]])
    rows, margins = decision_margins(reference, candidate, "single_label_classification")
    assert rows == [1, 2]
    assert margins[1] < 0.01 and margins[2] > 0.9  # row 1 a coin toss, row 2 a confident decision flipped
    multi_rows, multi_margins = decision_margins(np.array([[0.05, 3.0]]), np.array([[-0.05, 3.0]]),
                                                 "multi_label_classification")
    assert multi_rows == [0] and multi_margins[0] < 0.05


# ---- 9. class weights ---------------------------------------------------------------------------------------------


def test_class_weights_weigh_the_hard_term_by_hand(tmp_path, teacher, student):
    from hfdistill.losses import distillation_loss, resolve_class_weights

    assert resolve_class_weights("auto", [0, 0, 0, 1], 2) == [4 / 6, 4 / 2]
    student_logits, teacher_logits = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.zeros(2, 2)
    labels = torch.tensor([0, 1])
    plain = distillation_loss(student_logits, teacher_logits, labels, alpha=0.0)
    weighted = distillation_loss(student_logits, teacher_logits, labels, alpha=0.0,
                                 class_weights=torch.tensor([1.0, 3.0]))
    assert_close(weighted.loss, (plain.hard_per_example * torch.tensor([1.0, 3.0])).mean())
    train = random_token_dataset(num_examples=8)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, train_dataset=train,
                                  args=make_args(tmp_path, class_weights=["auto"]))
    counts = np.bincount(train["labels"], minlength=2)
    assert_close(trainer._class_weights, torch.tensor(8 / (2 * counts), dtype=torch.float32))
    with pytest.raises(ValueError, match="class_weights has 3 values for 2 classes"):
        DistillationTrainer(model=student, teacher_model=teacher, train_dataset=train,
                            args=make_args(tmp_path, class_weights=["1", "2", "3"]))
    with pytest.raises(ValueError, match="must be 'auto' or one positive number per class"):
        make_args(tmp_path, class_weights=["heavy"])


# ---- 10. Parquet, Arrow and save_to_disk folders read like CSV ----------------------------------------------------


def test_parquet_arrow_and_saved_datasets_as_local_files(tmp_path):
    rows = {"sentence": ["a fine film", "dull", "moving"], "label": [1, 0, 1]}
    Dataset.from_dict(rows).to_parquet(str(tmp_path / "train.parquet"))
    Dataset.from_dict(rows).to_parquet(str(tmp_path / "validation.parquet"))
    Dataset.from_dict(rows).save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    validation = str(tmp_path / "validation.parquet")
    for train in (tmp_path / "train.parquet", arrow, tmp_path / "saved"):
        task = load_task(TaskDataArguments(train_file=str(train), validation_file=validation,
                                           class_names=["negative", "positive"]))
        assert task.text_column == "sentence" and task.data["train"]["labels"] == [1, 0, 1], train
    with pytest.raises(ValueError, match="Text column 'review' not found"):
        load_task(TaskDataArguments(train_file=str(tmp_path / "saved"), validation_file=validation,
                                    text_column="review"))


# ---- smaller gaps ---------------------------------------------------------------------------------------------------


def test_add_teacher_logits_names_rows_longer_than_the_teachers_positions(tmp_path, tokenizer):
    from hfdistill.teachers.logit_cache import add_teacher_logits

    rows = Dataset.from_dict({"input_ids": [[2] + [7] * 40 + [3], [2, 7, 3]], "attention_mask": [[1] * 42, [1] * 3]})
    with pytest.raises(ValueError, match="longer than the teacher's 32 positions"):
        add_teacher_logits(rows, tiny_bert(), tokenizer, str(tmp_path), show_progress=False)


def test_an_unknown_teacher_tokenizer_is_said_once(tmp_path, teacher, student, caplog):
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("hfdistill.checks").warning_once.cache_clear()
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path))
    assert caplog.text.count("teacher's tokenizer is not known") == 1 and "teacher_processing_class=" in caplog.text


def test_text_of_invisible_characters_is_empty_and_one_file_cannot_be_both_splits(tmp_path):
    data = DatasetDict({"train": Dataset.from_dict({"sentence": ["good", "\u200b\u200c", " \u2060 "]})})
    with pytest.raises(ValueError, match="empty 'sentence' on row 1, row 2"):
        check_required_fields(data, ["sentence"])
    same = _tsv(tmp_path / "train.tsv", [("good", 1)])
    with pytest.raises(ValueError, match="--train_file and --validation_file are the same file"):
        TaskDataArguments(train_file=same, validation_file=same)


def test_hyperparameter_search_minimises_the_loss_without_compute_metrics(tmp_path, teacher, caplog):
    pytest.importorskip("optuna")
    trainer = DistillationTrainer(model_init=lambda trial=None: tiny_bert(seed=1, num_hidden_layers=1),
                                  teacher_model=teacher, args=make_args(tmp_path, eval_strategy="epoch"),
                                  train_dataset=random_token_dataset(num_examples=8),
                                  eval_dataset=random_token_dataset(num_examples=8, seed=1))
    with caplog.at_level(logging.WARNING):
        best = trainer.hyperparameter_search(direction="minimize", n_trials=2)
    assert trainer.hp_search_objective == {"objective": "loss", "direction": "minimize"}
    assert best.objective == min(t["objective"] for t in trainer.hp_search_trials)
    assert "objective loss, direction minimize" in caplog.text
