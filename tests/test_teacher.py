from pathlib import Path

import torch
from datasets import Dataset

from conftest import sentiment_sentences, tiny_bert
from hfdistill import DistillationTrainingArguments
from hfdistill.data import LabelMap
from hfdistill import teacher as teacher_module
from hfdistill.teacher import default_teacher, fine_tuned_labels, prepare_teacher


def test_default_teacher_is_a_plain_string_path():
    assert isinstance(default_teacher(), str)


def test_prepare_teacher_fine_tunes_once_then_reuses(tmp_path, tokenizer, monkeypatch):
    backbone = tmp_path / "backbone"
    tiny_bert(seed=0, id2label=None, label2id=None).save_pretrained(backbone)  # placeholder LABEL_0/LABEL_1: untrained
    tokenizer.save_pretrained(backbone)
    assert fine_tuned_labels(str(backbone)) is None
    sentences, labels = sentiment_sentences(32)
    train = Dataset.from_dict({"text": sentences, "labels": labels}).map(
        lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    args = DistillationTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True, disable_tqdm=True)
    label_map = LabelMap({0: "negative", 1: "positive"})
    # Settings as a recipe has them: paths, tuples. They must be stored and compared as JSON would have them.
    settings = {"data": {"train_file": Path("/data/train.tsv"), "columns": ("sentence", "label")}}

    teacher, info = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, settings,
                                    num_train_epochs=1, learning_rate=1e-3)
    assert info["source"] == "fine_tuned" and info["fine_tuning_s"] > 0
    assert fine_tuned_labels(info["path"]) == {0: "negative", 1: "positive"}

    again, reused = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, settings,
                                    num_train_epochs=1, learning_rate=1e-3)
    assert reused["source"] == "reused"
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), again.state_dict().values()))

    _, changed = prepare_teacher(str(backbone), label_map, args.output_dir, train, tokenizer, args, settings,
                                 num_train_epochs=1, learning_rate=5e-4)
    assert changed["source"] == "fine_tuned"  # other settings: fine-tuned again, not silently reused

    seen = {}
    monkeypatch.setattr(teacher_module.Trainer, "train", lambda self, *a, **k: seen.setdefault("args", self.args))
    grouped = DistillationTrainingArguments(output_dir=str(tmp_path / "grouped"), report_to="none", use_cpu=True,
                                            train_sampling_strategy="group_by_length")
    prepare_teacher(str(backbone), label_map, grouped.output_dir, train, tokenizer, grouped, settings,
                    num_train_epochs=1, learning_rate=1e-3, train_sampling_strategy="random")
    # The teacher gets its own batch order; the run's (the student's) is left as it was.
    assert seen["args"].train_sampling_strategy == "random" and grouped.train_sampling_strategy == "group_by_length"

    as_is, used = prepare_teacher(info["path"], label_map, str(tmp_path / "other"), train, tokenizer, args, settings)
    assert used["source"] == "as_is"  # an already fine-tuned teacher is used as it is
