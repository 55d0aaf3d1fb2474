"""The teacher's mean-pooling head (`--teacher_classifier_pooling mean`): the model, its loading, and the teacher
option."""

import json

import pytest
import torch
from datasets import Dataset
from torch.testing import assert_close
from transformers import AutoModelForSequenceClassification, RobertaConfig, RobertaModel, pipeline

from conftest import logits_loaded_without_hfdistill, sentiment_sentences, tiny_bert, tiny_bert_config
from hfdistill import (DistillationTrainingArguments, MeanPoolingBertConfig, MeanPoolingBertForSequenceClassification,
                       StudentSpec, student_from_teacher)
from hfdistill.data import LabelMap
from hfdistill.hub import render_model_card
from hfdistill.teachers import check_classifier_pooling, inspect_teacher, new_classifier
from hfdistill.teachers.fine_tuning import prepare_teacher


def mean_pooling_model(seed: int = 0, **overrides) -> MeanPoolingBertForSequenceClassification:
    torch.manual_seed(seed)
    return MeanPoolingBertForSequenceClassification(
        MeanPoolingBertConfig.from_bert_config(tiny_bert_config(), **overrides)).eval()


def test_logits_are_the_head_applied_to_the_masked_mean_of_the_last_token_states():
    model = mean_pooling_model()
    ids = torch.tensor([[2, 7, 8, 9, 3], [2, 10, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        states = model.bert(ids, attention_mask=mask).last_hidden_state
        logits = model(input_ids=ids, attention_mask=mask).logits
    expected = (torch.stack([states[0].mean(0), states[1, :3].mean(0)]) @ model.classifier.weight.T
                + model.classifier.bias)
    assert_close(logits, expected)
    with torch.no_grad():  # the padding never enters the mean
        alone = model(input_ids=ids[1:, :3], attention_mask=mask[1:, :3]).logits
    assert_close(logits[1:], alone)
    assert model.bert.pooler is None


@pytest.mark.parametrize("problem_type, labels, loss", [
    ("single_label_classification", torch.tensor([1, 0]), torch.nn.functional.cross_entropy),
    ("multi_label_classification", torch.tensor([[1.0, 0.0], [1.0, 1.0]]),
     torch.nn.functional.binary_cross_entropy_with_logits),
])
def test_the_loss_follows_the_problem_type_as_bert_for_sequence_classification(problem_type, labels, loss):
    model = mean_pooling_model(problem_type=problem_type)
    ids = torch.tensor([[2, 7, 8, 3], [2, 9, 10, 3]])
    output = model(input_ids=ids, labels=labels)
    assert_close(output.loss, loss(output.logits, labels))
    regression = mean_pooling_model(num_labels=1, problem_type="regression")
    output = regression(input_ids=ids, labels=torch.tensor([0.5, 2.0]))
    assert_close(output.loss, ((output.logits.squeeze(-1) - torch.tensor([0.5, 2.0])) ** 2).mean())


def test_a_bert_checkpoint_loads_under_the_head_and_the_folder_loads_through_the_auto_classes(tmp_path, tokenizer):
    bert = tiny_bert(seed=3)
    bert.bert.save_pretrained(tmp_path / "backbone")
    model = new_classifier(str(tmp_path / "backbone"), "mean", num_labels=3, id2label={0: "a", 1: "b", 2: "c"},
                           label2id={"a": 0, "b": 1, "c": 2})
    assert isinstance(model, MeanPoolingBertForSequenceClassification) and model.config.num_labels == 3
    for name, tensor in bert.bert.state_dict().items():
        if not name.startswith("pooler."):
            assert_close(model.bert.state_dict()[name], tensor)
    model.save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    config = json.loads((tmp_path / "teacher" / "config.json").read_text())
    assert config["model_type"] == "hfdistill-mean-pooling-bert"
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling_mean_pooling_bert.")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "teacher").eval()
    assert isinstance(loaded, MeanPoolingBertForSequenceClassification)
    assert inspect_teacher(str(tmp_path / "teacher")).has_classifier
    scores = pipeline("text-classification", model=str(tmp_path / "teacher"), device="cpu")("good film", top_k=None)
    assert {s["label"] for s in scores} == {"a", "b", "c"}

    ids = [[2, 7, 8, 9, 3]]
    with torch.no_grad():
        expected = loaded(input_ids=torch.tensor(ids)).logits.tolist()
    loaded_class, logits = logits_loaded_without_hfdistill(tmp_path / "teacher", ids, tmp_path)
    assert loaded_class.endswith(".MeanPoolingBertForSequenceClassification")
    assert "hfdistill" not in loaded_class.split(".")[0], loaded_class
    assert_close(torch.tensor(logits), torch.tensor(expected))


def test_the_students_cut_from_a_mean_pooling_teacher_keep_its_head():
    teacher = mean_pooling_model()
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    every_layer = student_from_teacher(teacher, layers=[0, 1]).eval()
    assert isinstance(every_layer, MeanPoolingBertForSequenceClassification)
    with torch.no_grad():
        assert_close(every_layer(input_ids=ids).logits, teacher(input_ids=ids).logits)
    for kind in ("layers", "compact"):
        spec = StudentSpec(kind, num_layers=1, hidden_size=4)
        spec.check(teacher.config)
        assert isinstance(spec.build(teacher), MeanPoolingBertForSequenceClassification)


def test_mean_pooling_is_refused_before_training_where_it_cannot_apply(tmp_path):
    roberta = tmp_path / "roberta"
    RobertaModel(RobertaConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(roberta)
    with pytest.raises(ValueError, match="needs a BERT checkpoint.*'roberta'.*Pass --teacher_classifier_pooling cls"):
        check_classifier_pooling(inspect_teacher(str(roberta)), "mean")
    fine_tuned = tmp_path / "fine_tuned"
    tiny_bert(seed=0).save_pretrained(fine_tuned)
    checkpoint = inspect_teacher(str(fine_tuned))
    with pytest.raises(ValueError, match="used as is. Pass --teacher_fine_tuning always"):
        check_classifier_pooling(checkpoint, "mean")
    check_classifier_pooling(checkpoint, "mean", fine_tuning="always")
    check_classifier_pooling(checkpoint, "cls")
    with pytest.raises(ValueError, match="one of cls, mean"):
        check_classifier_pooling(checkpoint, "max")


def test_prepare_teacher_fine_tunes_a_mean_pooling_head_and_reuses_it_only_with_that_setting(tmp_path, tokenizer):
    backbone = tmp_path / "backbone"
    tiny_bert(seed=0, id2label=None, label2id=None).bert.save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    sentences, labels = sentiment_sentences(32)
    train = Dataset.from_dict({"text": sentences, "labels": labels}).map(
        lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                         disable_tqdm=True)
    label_map = LabelMap({0: "negative", 1: "positive"})
    teacher, info = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, {},
                                    num_train_epochs=1, learning_rate=1e-3, classifier_pooling="mean")
    assert isinstance(teacher, MeanPoolingBertForSequenceClassification) and info["source"] == "fine_tuned"
    settings = json.loads((tmp_path / "out" / "teacher" / "hfdistill_teacher.json").read_text())
    assert settings["classifier_pooling"] == "mean"
    again, reused = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, {},
                                    num_train_epochs=1, learning_rate=1e-3, classifier_pooling="mean")
    assert reused["source"] == "reused" and isinstance(again, MeanPoolingBertForSequenceClassification)
    other, refit = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, {},
                                   num_train_epochs=1, learning_rate=1e-3)
    assert refit["source"] == "fine_tuned" and type(other).__name__ == "BertForSequenceClassification"


def test_the_card_of_a_mean_pooling_student_loads_it_with_its_code():
    card = render_model_card({"teacher": "t", "student_kind": "layers", "model_type": "hfdistill-mean-pooling-bert",
                              "results": {"exported": {"onnx": {"file": "onnx/model.onnx"}}}})
    assert "trust_remote_code=True" in card
    assert "transformers.js does not know the `hfdistill-mean-pooling-bert` architecture" in card
    plain = render_model_card({"teacher": "t", "student_kind": "layers", "model_type": "bert"})
    assert "trust_remote_code" not in plain
