import json
import os
from pathlib import Path

import torch
from datasets import Dataset

from conftest import sentiment_sentences, tiny_bert
from hfdistill import DistillationTrainingArguments
from hfdistill.data import LabelMap
from hfdistill.teachers import fine_tuning as teacher_module
import pytest

from hfdistill.teachers import default_teacher, inspect_teacher
from hfdistill.teachers.fine_tuning import prepare_teacher


def test_default_teacher_is_a_plain_string_path():
    assert isinstance(default_teacher(), str)


def test_prepare_teacher_fine_tunes_once_then_reuses(tmp_path, tokenizer, monkeypatch):
    backbone = tmp_path / "backbone"
    tiny_bert(seed=0, id2label=None, label2id=None).bert.save_pretrained(backbone)  # no classification head
    tokenizer.save_pretrained(backbone)
    assert not inspect_teacher(str(backbone)).has_classifier
    sentences, labels = sentiment_sentences(32)
    train = Dataset.from_dict({"text": sentences, "labels": labels}).map(
        lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                         disable_tqdm=True)
    label_map = LabelMap({0: "negative", 1: "positive"})
    # Settings as a recipe has them: paths, tuples. They must be stored and compared as JSON would have them.
    settings = {"data": {"train_file": Path("/data/train.tsv"), "columns": ("sentence", "label")}}

    teacher, info = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, settings,
                                    num_train_epochs=1, learning_rate=1e-3)
    assert info["source"] == "fine_tuned" and info["fine_tuning_s"] > 0
    fine_tuned = inspect_teacher(info["path"])
    assert fine_tuned.has_classifier and fine_tuned.id2label == {0: "negative", 1: "positive"}

    again, reused = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, settings,
                                    num_train_epochs=1, learning_rate=1e-3)
    assert reused["source"] == "reused"
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), again.state_dict().values()))

    _, changed = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, settings,
                                 num_train_epochs=1, learning_rate=5e-4)
    assert changed["source"] == "fine_tuned"  # other settings: fine-tuned again, not silently reused

    seen = {}
    monkeypatch.setattr(teacher_module.TeacherTrainer, "train",
                        lambda self, *a, **k: seen.setdefault("args", self.args))
    grouped = DistillationTrainingArguments(output_dir=str(tmp_path / "grouped"), report_to="none", use_cpu=True,
                                            train_sampling_strategy="group_by_length")
    prepare_teacher(str(backbone), label_map, grouped.output_dir, train, tokenizer, grouped, settings,
                    num_train_epochs=1, learning_rate=1e-3, train_sampling_strategy="random")
    # The teacher gets its own batch order; the run's (the student's) is left as it was.
    assert seen["args"].train_sampling_strategy == "random" and grouped.train_sampling_strategy == "group_by_length"

    as_is, used = prepare_teacher(info["path"], label_map, str(tmp_path / "other"), train, tokenizer, args, settings)
    assert used["source"] == "as_is"  # an already fine-tuned teacher is used as it is


def test_a_trained_head_with_placeholder_names_is_used_as_is_and_gets_the_datas_names(tmp_path, tokenizer, caplog):
    """Decided from the checkpoint's weights, not from its label names (transformers' LABEL_0, LABEL_1)."""
    trained = tmp_path / "trained"
    tiny_bert(seed=0, id2label=None, label2id=None).save_pretrained(trained)
    checkpoint = inspect_teacher(str(trained))
    assert checkpoint.has_classifier and checkpoint.id2label is None
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    label_map = LabelMap({0: "negative", 1: "positive"})
    with caplog.at_level("WARNING"):
        teacher, info = prepare_teacher(checkpoint, label_map, args.output_dir, None, tokenizer, args, {})
    assert info["source"] == "as_is" and info["classes_matched"] == "by_index"
    assert teacher.config.id2label == {0: "negative", 1: "positive"}
    assert not (tmp_path / "out" / "teacher").exists()
    assert ("used as is, not fine-tuned. Classes matched by index" in caplog.text
            and "--teacher_fine_tuning always" in caplog.text)


def test_fine_tuning_can_be_forced_either_way(tmp_path, tokenizer, monkeypatch):
    trained, backbone = tmp_path / "trained", tmp_path / "backbone"
    tiny_bert(seed=0).save_pretrained(trained)
    tiny_bert(seed=0).bert.save_pretrained(backbone)
    assert inspect_teacher(str(trained)).use_as_is("auto") and not inspect_teacher(str(trained)).use_as_is("always")
    assert not inspect_teacher(str(backbone)).use_as_is("auto")
    with pytest.raises(ValueError, match="--teacher_fine_tuning never, but .* has no trained classification head"):
        inspect_teacher(str(backbone)).use_as_is("never")
    monkeypatch.setattr(teacher_module.TeacherTrainer, "train", lambda self, *a, **k: None)
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    _, info = prepare_teacher(str(trained), LabelMap({0: "negative", 1: "positive"}), args.output_dir, [], tokenizer,
                              args, {}, fine_tuning="always")
    assert info["source"] == "fine_tuned"


def test_a_head_for_other_classes_than_the_configs_is_no_trained_head(tmp_path):
    folder = tmp_path / "mismatch"
    tiny_bert(seed=0).save_pretrained(folder)
    import json

    settings = json.loads((folder / "config.json").read_text())
    settings.update(id2label={"0": "a", "1": "b", "2": "c"}, label2id={"a": 0, "b": 1, "c": 2})
    (folder / "config.json").write_text(json.dumps(settings))
    assert not inspect_teacher(str(folder)).has_classifier


def _backbone_and_train(tmp_path, tokenizer, rows=48):
    backbone = tmp_path / "backbone"
    tiny_bert(seed=0, id2label=None, label2id=None).bert.save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    sentences, labels = sentiment_sentences(rows)
    sentences = [" ".join([s] * (1 + i % 4)) for i, s in enumerate(sentences)]  # lengths from 7 to 22 tokens
    train = Dataset.from_dict({"text": sentences, "labels": labels}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True, remove_columns=["text"])
    return str(backbone), train


def test_length_window_batches_pad_little_and_cover_every_row(tmp_path, tokenizer, monkeypatch):
    from hfdistill.samplers import LengthWindowSampler

    backbone, train = _backbone_and_train(tmp_path, tokenizer)
    batches = []
    original = teacher_module.TeacherTrainer.compute_loss

    def record(self, model, inputs, *args, **kwargs):
        batches.append(inputs["attention_mask"].clone())
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(teacher_module.TeacherTrainer, "compute_loss", record)
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                         disable_tqdm=True, per_device_train_batch_size=8, seed=1)
    label_map = LabelMap({0: "negative", 1: "positive"})
    prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {}, num_train_epochs=1,
                    train_sampling_strategy="length_window")
    assert sum(len(mask) for mask in batches) == len(train)  # every row once
    lengths = sorted(len(ids) for ids in train["input_ids"])
    # Windows of 50 batches hold the whole set here: each batch is a run of the sorted lengths, padded to its own.
    expected = sorted(max(lengths[i : i + 8]) for i in range(0, len(lengths), 8))
    assert sorted(mask.shape[1] for mask in batches) == expected
    trainer = teacher_module.TeacherTrainer(model=tiny_bert(), args=teacher_module._teacher_arguments(
        args, str(tmp_path / "x"), train_sampling_strategy="length_window"), train_dataset=train,
        processing_class=tokenizer)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthWindowSampler) and sampler.seed == 1 and sampler.batch_size == 8
    with pytest.raises(ValueError, match="must be one of random, group_by_length, length_window"):
        prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {},
                        train_sampling_strategy="sorted")


def test_frozen_word_embeddings_stay_as_loaded_and_are_a_reuse_setting(tmp_path, tokenizer):
    backbone, train = _backbone_and_train(tmp_path, tokenizer)
    loaded = tiny_bert(seed=0)
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                         disable_tqdm=True)
    label_map = LabelMap({0: "negative", 1: "positive"})
    frozen, info = prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {}, num_train_epochs=1,
                                   learning_rate=1e-2, freeze_word_embeddings=True)
    assert info["source"] == "fine_tuned"
    assert torch.equal(frozen.get_input_embeddings().weight, loaded.get_input_embeddings().weight)
    assert not torch.equal(frozen.bert.embeddings.position_embeddings.weight,
                           loaded.bert.embeddings.position_embeddings.weight)
    assert all(p.requires_grad for p in frozen.parameters())  # students copied from it are not frozen by accident
    _, again = prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {}, num_train_epochs=1,
                               learning_rate=1e-2, freeze_word_embeddings=True)
    assert again["source"] == "reused"
    trainable, other = prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {},
                                       num_train_epochs=1, learning_rate=1e-2)
    assert other["source"] == "fine_tuned"
    assert not torch.equal(trainable.get_input_embeddings().weight, loaded.get_input_embeddings().weight)


def test_the_teachers_warmup_is_its_own_and_a_reuse_setting(tmp_path, tokenizer, monkeypatch):
    backbone, train = _backbone_and_train(tmp_path, tokenizer, rows=16)
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                         disable_tqdm=True, warmup_steps=0.0)  # the student's
    label_map = LabelMap({0: "negative", 1: "positive"})
    seen = []
    original = teacher_module.TeacherTrainer.train
    monkeypatch.setattr(teacher_module.TeacherTrainer, "train",
                        lambda self, *a, **k: (seen.append(self.args.warmup_steps), original(self, *a, **k))[1])
    _, info = prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {}, num_train_epochs=1,
                              warmup_steps=0.1)
    assert info["source"] == "fine_tuned" and seen == [0.1] and args.warmup_steps == 0.0
    settings_path = os.path.join(args.output_dir, "teacher", teacher_module.SETTINGS_FILE)
    assert "warmup_steps" not in json.load(open(settings_path))  # as teachers saved before the option existed
    _, again = prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {}, num_train_epochs=1,
                               warmup_steps=0.1)
    _, other = prepare_teacher(backbone, label_map, args.output_dir, train, tokenizer, args, {}, num_train_epochs=1,
                               warmup_steps=5)
    assert (again["source"], other["source"], seen) == ("reused", "fine_tuned", [0.1, 5])
    assert json.load(open(settings_path))["warmup_steps"] == 5


def test_teacher_fine_tunes_in_bf16_autocast_on_the_cpu_and_comes_out_fp32(tmp_path, tokenizer, monkeypatch):
    from hfdistill import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    backbone, train = _backbone_and_train(tmp_path, tokenizer, rows=16)
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True,
                                         disable_tqdm=True)
    precision.apply_cpu_bf16(args, "auto")
    seen = []
    original = teacher_module.TeacherTrainer.compute_loss

    def record(self, model, inputs, *a, **k):
        hook = self.model.classifier.register_forward_hook(lambda module, i, output: seen.append(output.dtype))
        try:
            return original(self, model, inputs, *a, **k)
        finally:
            hook.remove()

    monkeypatch.setattr(teacher_module.TeacherTrainer, "compute_loss", record)
    teacher, _ = prepare_teacher(backbone, LabelMap({0: "negative", 1: "positive"}), args.output_dir, train, tokenizer,
                                 args, {}, num_train_epochs=1)
    assert seen and set(seen) == {torch.bfloat16}
    with torch.no_grad():
        logits = teacher(**{k: torch.tensor(train[:1][k]) for k in ("input_ids", "attention_mask")}).logits
    assert logits.dtype == torch.float32 and "_original_forward" not in teacher.__dict__  # the logit pass runs in fp32
    assert (json.loads((tmp_path / "out" / "teacher" / "hfdistill_teacher.json").read_text())["mixed_precision"]
            == "bf16")
