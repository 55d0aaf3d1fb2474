import copy
import dataclasses
import os

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch.testing import assert_close
from transformers import AutoModelForSequenceClassification, TrainingArguments

from conftest import random_token_dataset, tiny_bert
from hfdistill import DistillationTrainer, DistillationTrainingArguments, student_from_teacher
from hfdistill.losses import IGNORE_INDEX, distillation_loss, hidden_state_loss, kl_divergence_loss


def make_args(output_dir, **overrides):
    defaults = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-2,
        num_train_epochs=1,
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        data_seed=0,
    )
    defaults.update(overrides)
    return DistillationTrainingArguments(**defaults)


def batch_of(dataset, size=8):
    rows = dataset[:size]
    return {key: torch.tensor(value) for key, value in rows.items()}


def test_compute_loss_equals_the_formula_on_a_fixed_batch(tmp_path, teacher, student):
    args = make_args(tmp_path, alpha=0.3, temperature=2.0)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args)
    batch = batch_of(random_token_dataset())
    student.train()
    loss, outputs = trainer.compute_loss(student, dict(batch), return_outputs=True)

    model_inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        teacher_logits = teacher(**model_inputs).logits
    student_logits = student(**model_inputs).logits
    soft = 4.0 * F.kl_div(
        F.log_softmax(student_logits / 2, -1), F.softmax(teacher_logits / 2, -1), reduction="batchmean"
    )
    hard = F.cross_entropy(student_logits, batch["labels"])
    assert_close(loss, 0.3 * soft + 0.7 * hard)
    assert_close(outputs.logits, student_logits)


def test_training_changes_the_student_only_and_saves_only_the_student(tmp_path, teacher, student):
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in student.state_dict().items()}
    args = make_args(tmp_path / "run")
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=random_token_dataset())
    trainer.train()

    for name, tensor in teacher.state_dict().items():
        assert torch.equal(tensor, teacher_before[name]), f"teacher parameter {name} changed"
    assert not all(torch.equal(t, student_before[k]) for k, t in student.state_dict().items())
    assert not trainer.teacher_model.training
    assert not any(p.requires_grad for p in trainer.teacher_model.parameters())
    assert not isinstance(trainer.teacher_model, torch.nn.parallel.DistributedDataParallel)
    assert next(trainer.teacher_model.parameters()).device == next(trainer.model.parameters()).device

    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all({"loss", "loss_kd", "loss_ce"} <= set(entry) for entry in logged)

    trainer.save_model(str(tmp_path / "student"))
    reloaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "student"))
    assert reloaded.config.num_hidden_layers == 1  # the student's config, not the teacher's
    assert set(reloaded.state_dict()) == set(student.state_dict())
    batch = batch_of(random_token_dataset(seed=3))
    student.eval()
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=batch["input_ids"]).logits, student(input_ids=batch["input_ids"]).logits)


def test_checkpoints_hold_the_student_alone(tmp_path, teacher, student):
    args = make_args(tmp_path, save_strategy="steps", save_steps=2, max_steps=2)
    DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=random_token_dataset()).train()
    checkpoint = tmp_path / "checkpoint-2"
    from safetensors.torch import load_file

    saved = load_file(str(checkpoint / "model.safetensors"))
    assert set(saved) == set(student.state_dict())
    assert not any(name.startswith("teacher") for name in os.listdir(checkpoint))


@pytest.mark.parametrize("per_device_batch, accumulation", [(16, 2), (24, 2)])
def test_gradient_accumulation_matches_one_big_batch(tmp_path, teacher, per_device_batch, accumulation):
    """2 steps of 16 (or uneven 24 + 8) accumulate exactly the update of 1 step of 32."""
    dataset = random_token_dataset(num_examples=32)

    def train_once(output_dir, batch_size, steps):
        student = tiny_bert(seed=1, num_hidden_layers=1)
        args = make_args(
            output_dir, per_device_train_batch_size=batch_size, gradient_accumulation_steps=steps,
            optim="sgd", lr_scheduler_type="constant", max_grad_norm=0.0, learning_rate=0.5, max_steps=1,
        )
        DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=dataset).train()
        return student.state_dict()

    one_big = train_once(tmp_path / "big", 32, 1)
    accumulated = train_once(tmp_path / "acc", per_device_batch, accumulation)
    untrained = tiny_bert(seed=1, num_hidden_layers=1).state_dict()
    assert not torch.equal(one_big["classifier.weight"], untrained["classifier.weight"])
    for name in one_big:
        assert_close(accumulated[name], one_big[name], atol=1e-6, rtol=1e-5)


def test_evaluate_measures_the_student_cross_entropy_and_metrics_get_student_logits(tmp_path, teacher, student):
    eval_set = random_token_dataset(num_examples=16, seed=5)
    seen = {}

    def compute_metrics(eval_prediction):
        seen["logits"] = torch.tensor(eval_prediction.predictions)
        return {"accuracy": float((eval_prediction.predictions.argmax(-1) == eval_prediction.label_ids).mean())}

    trainer = DistillationTrainer(
        model=student, teacher_model=teacher, args=make_args(tmp_path), eval_dataset=eval_set,
        compute_metrics=compute_metrics,
    )
    metrics = trainer.evaluate()
    batch = batch_of(eval_set, 16)
    student.eval()
    with torch.no_grad():
        student_logits = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert_close(torch.tensor(metrics["eval_loss"]), F.cross_entropy(student_logits, batch["labels"]), atol=1e-5,
                 rtol=1e-5)
    assert_close(seen["logits"], student_logits)
    assert "eval_accuracy" in metrics


@pytest.mark.parametrize("fold_every", [256, 3])  # 3: the parts are summed in the middle of a logging window too
def test_logged_loss_parts_average_every_example_since_the_last_log(tmp_path, teacher, student, monkeypatch,
                                                                     fold_every):
    monkeypatch.setattr("hfdistill.trainer._LOSS_PARTS_FOLD", fold_every)
    # Learning rate 0: the student never changes, so each logged part can be recomputed from the whole dataset.
    dataset = random_token_dataset(num_examples=32)
    args = make_args(tmp_path, alpha=0.3, learning_rate=0.0, logging_steps=4, per_device_train_batch_size=4,
                     train_sampling_strategy="sequential")
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=dataset)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2  # 8 steps of 4 examples, logged every 4 steps

    inputs = batch_of(dataset, size=32)
    model_inputs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    with torch.no_grad():
        output = distillation_loss(student(**model_inputs).logits, teacher(**model_inputs).logits, inputs["labels"],
                                   alpha=0.3, temperature=2.0)
    for entry, window in zip(logged, (slice(0, 16), slice(16, 32))):
        assert_close(torch.tensor(entry["loss_kd"]), output.soft_per_example[window].mean(), atol=1e-5, rtol=1e-5)
        assert_close(torch.tensor(entry["loss_ce"]), output.hard_per_example[window].mean(), atol=1e-5, rtol=1e-5)
        assert_close(torch.tensor(entry["loss"]),
                     0.3 * torch.tensor(entry["loss_kd"]) + 0.7 * torch.tensor(entry["loss_ce"]), atol=1e-4, rtol=1e-4)


def test_loss_parts_are_summed_as_they_come_when_logging_is_rare(tmp_path, teacher, student, monkeypatch):
    monkeypatch.setattr("hfdistill.trainer._LOSS_PARTS_FOLD", 3)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path, logging_steps=100),
                                  train_dataset=random_token_dataset(num_examples=64))
    trainer.train()  # 8 steps, never logged: the parts of at most 2 steps may wait, the rest are in the sums
    assert len(trainer._loss_parts) < 3
    assert trainer._loss_sums[3].item() == 64 - 8 * len(trainer._loss_parts)  # labeled examples


def test_batches_without_labels_train_on_the_soft_term(tmp_path, teacher, student):
    trainer = DistillationTrainer(
        model=student, teacher_model=teacher, args=make_args(tmp_path),
        train_dataset=random_token_dataset(labeled=False),
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert all("loss_kd" in entry and "loss_ce" not in entry for entry in logged)
    assert_close(torch.tensor(logged[0]["loss"]), torch.tensor(logged[0]["loss_kd"]), atol=1e-4, rtol=1e-4)


def _loss_and_logits(trainer, dataset):
    """The trainer's loss on one batch of ``dataset``, with the batch and both models' logits on it."""
    batch = batch_of(dataset)
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        teacher_logits = trainer.teacher_model(**inputs).logits
    return loss, batch, trainer.model(**inputs).logits, teacher_logits


def test_mixed_labeled_and_unlabeled_rows_log_both_terms(tmp_path, teacher, student):
    dataset = random_token_dataset(num_examples=16)
    dataset = dataset.map(lambda row, i: {"labels": row["labels"] if i % 2 else IGNORE_INDEX}, with_indices=True)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), train_dataset=dataset)
    loss, batch, student_logits, teacher_logits = _loss_and_logits(trainer, dataset)
    expected = distillation_loss(student_logits, teacher_logits, batch["labels"], alpha=0.5, temperature=2.0).loss
    assert_close(loss, expected)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert all({"loss_kd", "loss_ce"} <= set(entry) for entry in logged)


def test_pseudo_labels_give_unlabeled_rows_the_teachers_hard_labels(tmp_path, teacher, student):
    dataset = random_token_dataset(num_examples=16, labeled=False)
    args = make_args(tmp_path, pseudo_labels="hard")
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=dataset)
    loss, _, student_logits, teacher_logits = _loss_and_logits(trainer, dataset)
    assert_close(loss, F.cross_entropy(student_logits, teacher_logits.argmax(-1)))
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all("loss_ce" in entry for entry in logged)  # without pseudo-labels these rows have no CE


def with_stored_logits(teacher, num_examples: int = 16):
    """Random token rows with a `teacher_logits` column computed by ``teacher``."""
    dataset = random_token_dataset(num_examples=num_examples)
    with torch.no_grad():
        logits = teacher(input_ids=torch.tensor(dataset["input_ids"])).logits
    return dataset.add_column("teacher_logits", logits.tolist())


def test_stored_teacher_logits_are_used_instead_of_the_teacher(tmp_path, teacher, student):
    cached = with_stored_logits(teacher)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), train_dataset=cached)
    batch = batch_of(cached)
    student.train()
    cached_loss = trainer.compute_loss(student, dict(batch))
    online_loss = trainer.compute_loss(student, {k: v for k, v in batch.items() if k != "teacher_logits"})
    assert_close(cached_loss, online_loss, atol=1e-5, rtol=1e-5)

    def fail(*args, **kwargs):
        raise AssertionError("the teacher ran although every batch carries its logits")

    teacher.forward = fail
    trainer.train()  # the column survives remove_unused_columns and replaces the teacher's forward pass


def test_stored_logits_are_stacked_beside_the_users_collator_not_padded_by_it(tmp_path, teacher, student, tokenizer):
    from transformers import DataCollatorWithPadding

    rows = [[2, 7, 3], [2, 8, 9, 10, 3]]
    dataset = Dataset.from_dict({"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows], "labels": [0, 1],
                                 "teacher_logits": [[0.25, -1.5], [2.0, 0.125]]})
    seen = []

    def padding_collator(features):
        seen.append(sorted(features[0]))
        return DataCollatorWithPadding(tokenizer)(features)

    trainer = DistillationTrainer(model=student, teacher_model=teacher, train_dataset=dataset,
                                  data_collator=padding_collator,
                                  args=make_args(tmp_path, per_device_train_batch_size=2,
                                                 train_sampling_strategy="sequential"))
    batch = next(iter(trainer.get_train_dataloader()))
    assert seen == [["attention_mask", "input_ids", "labels"]]
    assert batch["teacher_logits"].dtype == torch.float32
    assert_close(batch["teacher_logits"], torch.tensor([[0.25, -1.5], [2.0, 0.125]]))
    assert batch["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 8, 9, 10, 3]]

    as_tensors = trainer.data_collator([{k: torch.tensor(v) for k, v in dataset[i].items()} for i in range(2)])
    assert_close(as_tensors["teacher_logits"], batch["teacher_logits"])


def test_the_wrapped_collator_keeps_its_attributes_and_later_collators_are_wrapped(tmp_path, teacher, student,
                                                                                   tokenizer):
    from transformers import DataCollatorWithPadding

    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path),
                                  data_collator=DataCollatorWithPadding(tokenizer))
    assert trainer.data_collator.tokenizer is tokenizer
    trainer.save_model(str(tmp_path / "student"))  # without processing_class, Trainer saves the collator's tokenizer
    assert os.path.isfile(tmp_path / "student" / "tokenizer_config.json")

    seen = []
    trainer.data_collator = lambda features: seen.append(sorted(features[0])) or {"labels": torch.tensor([0])}
    batch = trainer.data_collator([{"labels": 0, "teacher_logits": [1.0, 2.0]}])
    assert seen == [["labels"]] and batch["teacher_logits"].tolist() == [[1.0, 2.0]]


def test_length_grouping_reads_lengths_from_arrow_in_trainers_order_without_decoding_rows(tmp_path, teacher, student,
                                                                                         monkeypatch):
    import random

    from transformers import Trainer

    rng = random.Random(0)
    rows = [[2] + [rng.randrange(5, 20) for _ in range(rng.randrange(1, 12))] + [3] for _ in range(64)]
    dataset = Dataset.from_dict({"input_ids": rows, "labels": [i % 2 for i in range(64)],
                                 "teacher_logits": [[0.5, -0.5]] * 64}).shuffle(seed=1).select(range(48))
    args = make_args(tmp_path, train_sampling_strategy="group_by_length")
    expected_lengths = [len(ids) for ids in dataset["input_ids"]]
    trainers_sampler = Trainer(model=student, args=args)._get_train_sampler(dataset)

    def no_row_decoding(self):
        raise AssertionError("the sampler decoded the dataset row by row")

    monkeypatch.setattr(Dataset, "__iter__", no_row_decoding)
    sampler = DistillationTrainer(model=student, teacher_model=teacher, args=args)._get_train_sampler(dataset)
    assert sampler.lengths == expected_lengths
    torch.manual_seed(0)
    expected = list(trainers_sampler)
    torch.manual_seed(0)
    assert list(sampler) == expected
    monkeypatch.undo()

    # A transform changes what Trainer measures: such a dataset is left to Trainer, whose lengths it gets.
    def first_four(batch):
        return {"input_ids": [ids[:4] for ids in batch["input_ids"]]}

    transformed = dataset.with_transform(first_four)
    sampler = DistillationTrainer(model=student, teacher_model=teacher, args=args)._get_train_sampler(transformed)
    assert sampler.lengths == [min(4, n) for n in expected_lengths]


def test_length_window_batches_the_students_rows_by_length_each_once_per_epoch(tmp_path, teacher, student):
    from hfdistill.samplers import LengthWindowSampler

    import random

    rng = random.Random(0)
    rows = [[2] + [rng.randrange(5, 20) for _ in range(rng.randrange(1, 30))] + [3] for _ in range(64)]
    dataset = Dataset.from_dict({"input_ids": rows, "labels": [i % 2 for i in range(64)],
                                 "teacher_logits": [[0.5, -0.5]] * 64})
    args = make_args(tmp_path, train_sampling_strategy="length_window", per_device_train_batch_size=8, seed=3)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=dataset)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthWindowSampler) and sampler.seed == 3 and sampler.batch_size == 8
    order = list(sampler)
    assert sorted(order) == list(range(64))
    lengths = [len(ids) for ids in rows]
    padded = sum(8 * max(lengths[i] for i in order[b : b + 8]) for b in range(0, 64, 8))
    # One window holds the whole set: each batch is a run of the sorted lengths, so padding is the least possible.
    ordered = sorted(lengths)
    assert padded == sum(8 * ordered[b + 7] for b in range(0, 64, 8))
    with pytest.raises(ValueError, match="list column"):
        DistillationTrainer(model=student, teacher_model=teacher, args=args)._get_train_sampler(list(dataset))


def test_hidden_state_term_matches_each_student_layer_to_the_teacher_layer_it_was_copied_from(tmp_path, teacher):
    student = student_from_teacher(teacher, layers=[1])  # its layer 0 is the teacher's layer 1
    dataset = random_token_dataset(num_examples=16)
    args = make_args(tmp_path, hidden_state_weight=2.0, hidden_state_loss="mse")
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=dataset)
    batch = batch_of(dataset)
    student.train()
    loss = trainer.compute_loss(student, dict(batch))

    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        teacher_outputs = teacher(**inputs, output_hidden_states=True)
    student_outputs = student(**inputs, output_hidden_states=True)
    # hidden_states[0] is the embeddings' output: student layer 0's output is [1], teacher layer 1's is [2].
    hidden = hidden_state_loss(student_outputs.hidden_states[1], teacher_outputs.hidden_states[2],
                               batch["attention_mask"])
    assert hidden > 0
    expected = distillation_loss(student_outputs.logits, teacher_outputs.logits, batch["labels"]).loss + 2.0 * hidden
    assert_close(loss, expected)


def test_hidden_state_term_runs_the_teacher_even_with_cached_logits_and_is_logged(tmp_path, teacher):
    dataset = random_token_dataset(num_examples=16)
    with torch.no_grad():
        logits = teacher(input_ids=torch.tensor(dataset["input_ids"])).logits
    cached = dataset.add_column("teacher_logits", logits.tolist())
    calls = []
    teacher.register_forward_hook(lambda *args: calls.append(1))
    student = student_from_teacher(teacher, layers=[1])
    args = make_args(tmp_path, hidden_state_weight=1.0)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=cached)
    trainer.train()
    assert len(calls) == 2  # one forward pass per training step, for its hidden states
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all({"loss_kd", "loss_ce", "loss_hidden"} <= set(entry) for entry in logged)
    assert trainer.predict(dataset).predictions.shape == (16, 2)  # evaluation still returns the logits alone


def test_hidden_state_term_needs_known_layers(tmp_path, teacher, student):
    args = make_args(tmp_path, hidden_state_weight=1.0)
    with pytest.raises(ValueError, match="build the student with hfdistill.student_from_teacher"):
        DistillationTrainer(model=student, teacher_model=teacher, args=args)
    student.config.distilled_from_layers = [2]
    with pytest.raises(ValueError, match=r"must name one teacher layer \(0 to 1\)"):
        DistillationTrainer(model=student, teacher_model=teacher, args=args)


def test_alpha_zero_skips_the_teacher_on_labeled_batches(tmp_path, teacher, student):
    calls = []
    teacher.register_forward_hook(lambda *args: calls.append(1))
    trainer = DistillationTrainer(
        model=student, teacher_model=teacher, args=make_args(tmp_path, alpha=0.0), train_dataset=random_token_dataset()
    )
    trainer.train()
    assert calls == []
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert all("loss_ce" in entry and "loss_kd" not in entry for entry in logged)


def test_non_finite_teacher_logits_stop_training(tmp_path, teacher, student):
    dataset = random_token_dataset(num_examples=8).add_column("teacher_logits", [[float("nan"), 0.0]] * 8)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), train_dataset=dataset)
    with pytest.raises(ValueError, match="non-finite logits"):
        trainer.train()


def test_user_args_are_never_mutated(tmp_path, teacher, student):
    args = make_args(tmp_path, eval_strategy="steps", eval_steps=2, max_steps=4)
    snapshot = copy.deepcopy({f.name: getattr(args, f.name) for f in dataclasses.fields(args)})
    trainer = DistillationTrainer(
        model=student, teacher_model=teacher, args=args, train_dataset=random_token_dataset(),
        eval_dataset=random_token_dataset(seed=2),
    )
    trainer.train()
    trainer.evaluate()
    assert {f.name: getattr(args, f.name) for f in dataclasses.fields(args)} == snapshot


def test_teacher_can_be_a_local_folder(tmp_path, teacher, student):
    teacher.save_pretrained(tmp_path / "teacher")
    trainer = DistillationTrainer(model=student, teacher_model=str(tmp_path / "teacher"), args=make_args(tmp_path))
    assert torch.equal(trainer.teacher_model.classifier.weight, teacher.classifier.weight)


# ---- checks before training, each a clear ValueError naming the fix ------------------------------


def test_num_labels_mismatch(tmp_path, teacher):
    student = tiny_bert(seed=1, num_labels=3, id2label=None, label2id=None)
    with pytest.raises(ValueError, match="teacher predicts 2 classes but the student 3"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path))


def test_label2id_mismatch(tmp_path, teacher):
    student = tiny_bert(seed=1, id2label={0: "positive", 1: "negative"}, label2id={"positive": 0, "negative": 1})
    with pytest.raises(ValueError, match="name their classes differently.*id2label and label2id"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path))


def test_vocabulary_mismatch(tmp_path, teacher):
    student = tiny_bert(seed=1, vocab_size=50)
    with pytest.raises(ValueError, match="vocabularies differ.*its own tokenization.*add_teacher_inputs"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path))


def test_tokenizer_that_is_not_the_teachers(tmp_path, teacher, student, tokenizer):
    tokenizer.add_tokens([f"extra{i}" for i in range(10)])
    with pytest.raises(ValueError, match="not the teacher's tokenizer"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), processing_class=tokenizer)


def test_training_set_with_nothing_to_distil(tmp_path, teacher, student):
    raw_text = Dataset.from_dict({"sentence": ["good film", "bad film"]})
    with pytest.raises(ValueError, match="neither labels nor anything to distil.*Tokenize the text first"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), train_dataset=raw_text)


def test_empty_training_set(tmp_path, teacher, student):
    empty = random_token_dataset(num_examples=4).select([])
    with pytest.raises(ValueError, match="training set is empty"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), train_dataset=empty)


def test_plain_training_arguments_are_refused_with_the_fix(tmp_path, teacher, student):
    with pytest.raises(ValueError, match="must be a DistillationTrainingArguments"):
        DistillationTrainer(model=student, teacher_model=teacher, args=TrainingArguments(output_dir=str(tmp_path)))


def test_teacher_path_that_is_not_a_model_folder(tmp_path, student):
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(ValueError, match="without config.json"):
        DistillationTrainer(model=student, teacher_model=str(tmp_path / "not_a_model"), args=make_args(tmp_path))


def test_save_is_atomic_an_interrupted_save_leaves_no_loadable_mix(tmp_path, teacher, student, monkeypatch):
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path / "run"))
    folder = tmp_path / "student"
    trainer.save_model(str(folder))
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no staging left behind
    AutoModelForSequenceClassification.from_pretrained(folder)

    real_replace = os.replace

    def interrupted(source, target):
        if str(target).endswith("config.json"):
            raise KeyboardInterrupt("killed while saving")
        return real_replace(source, target)

    with torch.no_grad():
        student.classifier.weight.add_(1.0)
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_model(str(folder))
    monkeypatch.setattr(os, "replace", real_replace)
    # New weights are in, but without config.json the folder is refused, not loaded as a mix of old and new.
    with pytest.raises((OSError, ValueError), match="config.json|model_type"):
        AutoModelForSequenceClassification.from_pretrained(folder)
    trainer.save_model(str(folder))
    reloaded = AutoModelForSequenceClassification.from_pretrained(folder)
    assert torch.equal(reloaded.classifier.weight, student.classifier.weight)


# ---- field reports (issue 15): silent wrong results and raw tracebacks at the edges ----------------


def mixed_length_dataset(num_examples: int = 40, seed: int = 0) -> Dataset:
    """Rows of 3 to 20 tokens with labels, so that length grouping would reorder them."""
    import random

    rng = random.Random(seed)
    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    for _ in range(num_examples):
        length = rng.randrange(3, 21)
        rows["input_ids"].append([2] + [rng.randrange(5, 40) for _ in range(length - 2)] + [3])
        rows["attention_mask"].append([1] * length)
        rows["labels"].append(rng.randrange(2))
    return Dataset.from_dict(rows)


@pytest.mark.parametrize("sampling", ["group_by_length", "random"])
def test_predict_and_evaluate_return_rows_in_dataset_order_whatever_the_training_sampler(tmp_path, teacher, student,
                                                                                        tokenizer, sampling):
    from transformers import DataCollatorWithPadding

    dataset = mixed_length_dataset()
    seen = {}

    def compute_metrics(prediction):
        seen["label_ids"], seen["predictions"] = prediction.label_ids, prediction.predictions
        return {}

    args = make_args(tmp_path, train_sampling_strategy=sampling, per_device_eval_batch_size=4)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, processing_class=tokenizer,
                                  data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics)
    predictions = trainer.predict(dataset).predictions
    student.eval()
    with torch.no_grad():
        expected = torch.cat([student(input_ids=torch.tensor([row["input_ids"]])).logits for row in dataset]).numpy()
    assert predictions.shape == expected.shape
    assert_close(torch.tensor(predictions), torch.tensor(expected), atol=1e-5, rtol=1e-4)
    trainer.evaluate(dataset)
    assert seen["label_ids"].tolist() == dataset["labels"]
    assert_close(torch.tensor(seen["predictions"]), torch.tensor(expected), atol=1e-5, rtol=1e-4)


def test_a_tokenizer_of_the_same_size_with_other_ids_is_refused(tmp_path, teacher, student, tokenizer_dir):
    from transformers import BertTokenizerFast

    from conftest import SPECIAL_TOKENS, WORDS

    teacher_tokenizer = BertTokenizerFast.from_pretrained(tokenizer_dir)
    shuffled = SPECIAL_TOKENS + list(reversed(WORDS))  # same size, same tokens, other ids
    other = BertTokenizerFast(vocab={token: index for index, token in enumerate(shuffled)}, do_lower_case=True)
    assert len(other) == len(teacher_tokenizer)
    with pytest.raises(ValueError, match="map tokens to different ids \\(34 tokens differ.*'good': 39 vs 5"):
        DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), processing_class=other,
                            teacher_processing_class=teacher_tokenizer)
    # Known through the teacher's folder, too.
    teacher.save_pretrained(tmp_path / "teacher")
    teacher_tokenizer.save_pretrained(tmp_path / "teacher")
    with pytest.raises(ValueError, match="map tokens to different ids"):
        DistillationTrainer(model=student, teacher_model=str(tmp_path / "teacher"), args=make_args(tmp_path),
                            processing_class=other)
    # The teacher's own tokenizer passes.
    DistillationTrainer(model=student, teacher_model=str(tmp_path / "teacher"), args=make_args(tmp_path),
                        processing_class=teacher_tokenizer)


@pytest.mark.parametrize("split", ["train", "eval", "predict"])
def test_inputs_longer_than_the_position_table_are_refused_before_the_forward_pass(tmp_path, teacher, student, split):
    long = random_token_dataset(num_examples=8, seq_len=40)  # the tiny models have 32 positions
    short = random_token_dataset(num_examples=8)
    kwargs = {"train_dataset": long if split == "train" else short, "eval_dataset": long if split == "eval" else None}
    message = "longer than the student's 32 positions.*row 0 with 40 tokens.*truncation=True, max_length=32"
    if split == "predict":
        trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), **kwargs)
        with pytest.raises(ValueError, match=message):
            trainer.predict(long)
        with pytest.raises(ValueError, match=message):
            trainer.evaluate(long)
    else:
        with pytest.raises(ValueError, match=message):
            DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path), **kwargs)


def test_the_teacher_limit_counts_too_and_roberta_positions_are_offset():
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from hfdistill.checks import check_input_lengths
    from hfdistill.utils import position_limit

    roberta = RobertaForSequenceClassification(RobertaConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                             num_attention_heads=2, intermediate_size=16,
                                                             max_position_embeddings=34, pad_token_id=1))
    assert position_limit(roberta) == 32 and position_limit(tiny_bert()) == 32
    with pytest.raises(ValueError, match="longer than the teacher's 16 positions"):
        check_input_lengths(random_token_dataset(seq_len=20),
                            [("student", tiny_bert()), ("teacher", tiny_bert(max_position_embeddings=16))], "training")


def test_stored_soft_labels_need_no_teacher_model(tmp_path, teacher, student):
    cached = with_stored_logits(teacher)
    trainer = DistillationTrainer(model=student, teacher_model=None, args=make_args(tmp_path), train_dataset=cached)
    batch = batch_of(cached)
    student.train()
    with_teacher = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path))
    online = with_teacher.compute_loss(student, {k: v for k, v in batch.items() if k != "teacher_logits"})
    assert_close(trainer.compute_loss(student, dict(batch)), online, atol=1e-5, rtol=1e-5)
    trainer.train()
    assert trainer.model_card_info()["teacher"] == "stored teacher_logits"


def test_without_a_teacher_every_row_needs_stored_logits_of_the_right_width(tmp_path, student):
    dataset = random_token_dataset(num_examples=4)
    with pytest.raises(ValueError, match="teacher_model is None.*'teacher_logits' column.*has columns"):
        DistillationTrainer(model=student, args=make_args(tmp_path), train_dataset=dataset)
    gaps = dataset.add_column("teacher_logits", [[0.1, 0.2], None, [0.3, 0.1], None])
    with pytest.raises(ValueError, match=r"2 training row\(s\) have no teacher_logits \(e.g. rows \[1, 3\]\)"):
        DistillationTrainer(model=student, args=make_args(tmp_path), train_dataset=gaps)
    wide = dataset.add_column("teacher_logits", [[0.1, 0.2, 0.3]] * 4)
    with pytest.raises(ValueError, match="one logit per class \\(2 for this student\\); row 0 has 3"):
        DistillationTrainer(model=student, args=make_args(tmp_path), train_dataset=wide)
    with pytest.raises(ValueError, match="hidden_state_weight > 0.*stored teacher_logits do not carry"):
        DistillationTrainer(model=student, args=make_args(tmp_path, hidden_state_weight=1.0),
                            train_dataset=dataset.add_column("teacher_logits", [[0.1, 0.2]] * 4))


def test_every_push_during_training_uploads_a_folder_that_loads(tmp_path, teacher, monkeypatch):
    """hub_strategy="every_save": the intermediate upload of a linear student must carry its code (auto_map)."""
    import concurrent.futures
    import shutil

    from huggingface_hub import HfApi, RepoUrl

    from hfdistill import linear_student

    snapshots = []

    def upload_folder(self, *, repo_id, folder_path, commit_message="", ignore_patterns=None, run_as_future=False,
                      **kwargs):
        snapshot = tmp_path / f"upload{len(snapshots)}"
        shutil.copytree(folder_path, snapshot, ignore=shutil.ignore_patterns("checkpoint-*", "_*", "teacher"))
        snapshots.append((commit_message, snapshot))
        if run_as_future:
            future = concurrent.futures.Future()
            future.set_result(None)
            return future

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: RepoUrl(f"https://huggingface.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    student = linear_student(teacher, embedding_dim=4)
    args = make_args(tmp_path / "out", push_to_hub=True, hub_model_id="someone/linear", hub_strategy="every_save",
                     save_strategy="steps", save_steps=2, max_steps=2)
    DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=random_token_dataset()).train()

    commit_message, first = snapshots[0]
    assert commit_message.startswith("Training in progress")
    assert {"configuration_linear_student.py", "modeling_linear_student.py"} <= {p.name for p in first.iterdir()}
    # Where hfdistill is not installed (a fresh process that never imports it): the uploaded code alone.
    import subprocess
    import sys

    load = ("import torch; from transformers import AutoModelForSequenceClassification as Auto; "
            f"model = Auto.from_pretrained({str(first)!r}, trust_remote_code=True); "
            "print(type(model).__module__.split('.')[0], "
            "tuple(model(input_ids=torch.tensor([[2, 9, 3]])).logits.shape))")
    result = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["transformers_modules", "(1,", "2)"]


# ---- task shapes (issue 17): the trainer's loss is the formula of each shape ------------------------


@pytest.mark.parametrize("problem_type, num_labels", [("multi_label_classification", 3), ("regression", 1)])
def test_compute_loss_equals_the_task_formula_on_a_fixed_batch(tmp_path, problem_type, num_labels):
    from hfdistill.losses import binary_kl_loss

    shape = dict(num_labels=num_labels, problem_type=problem_type, id2label=None, label2id=None)
    teacher, student = tiny_bert(seed=0, **shape), tiny_bert(seed=1, num_hidden_layers=1, **shape)
    dataset = random_token_dataset(num_examples=8, labeled=False)
    generator = torch.Generator().manual_seed(0)
    labels = (torch.rand(8, 3, generator=generator).round() if num_labels == 3
              else torch.rand(8, generator=generator) * 5)
    batch = {**batch_of(dataset), "labels": labels}
    trainer = DistillationTrainer(model=student, teacher_model=teacher,
                                  args=make_args(tmp_path, alpha=0.3, temperature=2.0))
    assert trainer.problem_type == problem_type
    student.train()
    loss = trainer.compute_loss(student, dict(batch))
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        t = teacher(**inputs).logits
    s = student(**inputs).logits
    if num_labels == 3:
        soft = binary_kl_loss(s, t, 2.0)
        hard = F.binary_cross_entropy_with_logits(s, labels)
    else:
        soft, hard = F.mse_loss(s, t), F.mse_loss(s.squeeze(-1), labels)  # no temperature for a score
    assert_close(loss, 0.3 * soft + 0.7 * hard)
    student.eval()
    eval_loss = trainer.compute_loss(student, dict(batch))
    assert_close(eval_loss, hard.detach() if num_labels == 1
                 else F.binary_cross_entropy_with_logits(student(**inputs).logits, labels))


def test_an_alpha_one_regression_run_moves_the_student_toward_the_teacher(tmp_path):
    """The soft term of a regression teacher is not 0 (a softmax over one output would be)."""
    shape = dict(num_labels=1, problem_type="regression", id2label=None, label2id=None)
    teacher, student = tiny_bert(seed=0, **shape), tiny_bert(seed=1, num_hidden_layers=1, **shape)
    with torch.no_grad():
        teacher.classifier.bias.fill_(3.0)  # scores around 3, the student's around 0
    dataset = random_token_dataset(num_examples=32, labeled=False)
    inputs = batch_of(dataset, size=32)
    with torch.no_grad():
        target = teacher(**inputs).logits
        before = F.mse_loss(student(**inputs).logits, target)
    DistillationTrainer(model=student, teacher_model=teacher, train_dataset=dataset,
                        args=make_args(tmp_path, alpha=1.0, num_train_epochs=10, learning_rate=0.1)).train()
    with torch.no_grad():
        after = F.mse_loss(student.eval()(**inputs).logits, target)
    assert before > 5.0 and after < 0.5 * before


def test_task_shape_mismatches_are_errors_before_training(tmp_path):
    regression = tiny_bert(seed=0, num_labels=1, problem_type="regression", id2label=None, label2id=None)
    multi_label = tiny_bert(seed=0, problem_type="multi_label_classification")
    with pytest.raises(ValueError,
                       match="The teacher is a regression model .* but the student a multi_label_classification"):
        DistillationTrainer(model=tiny_bert(seed=1, num_labels=1, problem_type="multi_label_classification",
                                            id2label=None, label2id=None),
                            teacher_model=regression, args=make_args(tmp_path))
    single_label_data = random_token_dataset(num_examples=8)  # one class index per row
    with pytest.raises(ValueError, match="training set's labels .* do not fit a multi_label_classification model, "
                                         "which takes a list of 2 0/1 values per row"):
        DistillationTrainer(model=tiny_bert(seed=1, problem_type="multi_label_classification"),
                            teacher_model=multi_label, args=make_args(tmp_path), train_dataset=single_label_data)
    with pytest.raises(ValueError, match="needs classes, and a regression teacher has none"):
        DistillationTrainer(model=tiny_bert(seed=1, num_labels=1, problem_type="regression", id2label=None,
                                            label2id=None),
                            teacher_model=regression, args=make_args(tmp_path, pseudo_labels="hard"))
    with pytest.raises(ValueError, match="'cosine' is not defined for regression"):
        DistillationTrainer(model=tiny_bert(seed=1, num_labels=1, problem_type="regression", id2label=None,
                                            label2id=None),
                            teacher_model=regression, args=make_args(tmp_path, distillation_loss="cosine"))


# ---- hyperparameter search (issue 19): model_init, the teacher fixed and prepared once --------------


def test_hyperparameter_search_rebuilds_the_student_per_trial_against_one_frozen_teacher(tmp_path, teacher,
                                                                                         monkeypatch):
    pytest.importorskip("optuna")
    from hfdistill.evaluation.metrics import task_metrics

    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    built, prepared = [], []
    original_prepare = DistillationTrainer._prepare_teacher

    def counting_prepare(self):
        if not self._teacher_prepared:
            prepared.append(1)
        return original_prepare(self)

    monkeypatch.setattr(DistillationTrainer, "_prepare_teacher", counting_prepare)

    def model_init(trial=None):
        built.append(trial)
        return tiny_bert(seed=len(built), num_hidden_layers=1)

    args = make_args(tmp_path, eval_strategy="epoch", save_strategy="epoch", logging_steps=2)
    trainer = DistillationTrainer(model_init=model_init, teacher_model=teacher, args=args,
                                  train_dataset=random_token_dataset(num_examples=16),
                                  eval_dataset=random_token_dataset(num_examples=8, seed=1),
                                  compute_metrics=task_metrics("single_label_classification", 2))
    best = trainer.hyperparameter_search(n_trials=2)
    assert set(best.hyperparameters) == {"temperature", "alpha", "learning_rate"}
    assert [t["number"] for t in trainer.hp_search_trials] == [0, 1]
    assert max(t["objective"] for t in trainer.hp_search_trials) == best.objective
    assert 0.0 <= best.objective <= 1.0  # accuracy, maximised
    trials = [trial for trial in built if trial is not None]
    assert len(trials) == 2 and len({id(t) for t in trials}) == 2
    assert len(prepared) == 1  # the teacher is placed once, for all trials
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    for checkpoint in tmp_path.rglob("model.safetensors"):
        from safetensors.torch import load_file

        assert load_file(str(checkpoint))["bert.encoder.layer.0.attention.self.query.weight"].shape == (8, 8)
        assert not any(key.startswith("bert.encoder.layer.1.") for key in load_file(str(checkpoint)))  # the student's


def test_the_default_search_space_centres_the_learning_rate_on_the_runs_own(tmp_path, teacher):
    """A linear student needs ~1e-3 where a transformer cut needs ~1e-4: a fixed range starved the linear one."""
    optuna = pytest.importorskip("optuna")
    from hfdistill import distillation_hp_space
    from hfdistill.evaluation.metrics import task_metrics

    class RecordingSampler(optuna.samplers.RandomSampler):
        ranges = {}

        def sample_independent(self, study, trial, name, distribution):
            self.ranges[name] = (distribution.low, distribution.high)
            return super().sample_independent(study, trial, name, distribution)

    for learning_rate, expected in [(1e-3, (1e-4, 1e-2)), (1e-4, (1e-5, 1e-3))]:
        args = make_args(tmp_path, eval_strategy="epoch", learning_rate=learning_rate)
        trainer = DistillationTrainer(model_init=lambda: tiny_bert(seed=1, num_hidden_layers=1), teacher_model=teacher,
                                      args=args, train_dataset=random_token_dataset(num_examples=8),
                                      eval_dataset=random_token_dataset(num_examples=4, seed=1),
                                      compute_metrics=task_metrics("single_label_classification", 2))
        sampler = RecordingSampler(seed=0)
        best = trainer.hyperparameter_search(n_trials=1, sampler=sampler)
        assert sampler.ranges["learning_rate"] == pytest.approx(expected)
        assert expected[0] <= best.hyperparameters["learning_rate"] <= expected[1]
    with pytest.raises(ValueError, match="must be > 0"):
        distillation_hp_space(None, learning_rate=0.0)


def test_hyperparameter_search_needs_model_init_and_a_held_out_set(tmp_path, teacher, student):
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=make_args(tmp_path))
    with pytest.raises(ValueError, match="pass model_init"):
        trainer.hyperparameter_search(n_trials=1)
    trainer = DistillationTrainer(model_init=lambda: tiny_bert(seed=1, num_hidden_layers=1), teacher_model=teacher,
                                  args=make_args(tmp_path))
    with pytest.raises(ValueError, match="pass eval_dataset"):
        trainer.hyperparameter_search(n_trials=1)


# ---- several teachers (issue 19) -------------------------------------------------------------------------


def test_several_teachers_give_their_weighted_ensemble_online_and_from_stored_logits(tmp_path, student):
    from hfdistill.teachers.ensemble import combine_teacher_logits

    teachers = [tiny_bert(seed=0), tiny_bert(seed=5), tiny_bert(seed=7, num_hidden_layers=1)]
    args = make_args(tmp_path, alpha=0.5, temperature=2.0)
    trainer = DistillationTrainer(model=student, teacher_model=teachers, teacher_weights=[2, 1, 1], args=args)
    assert trainer.teacher_weights == [0.5, 0.25, 0.25]
    batch = batch_of(random_token_dataset())
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        each = torch.stack([teacher(**inputs).logits for teacher in teachers], dim=1)
    expected = combine_teacher_logits(each, [2, 1, 1], 2.0)
    assert_close(trainer.teacher_logits(dict(batch)), expected)
    student.train()
    online = trainer.compute_loss(student, dict(batch))
    stored = trainer.compute_loss(student, {**batch, "teacher_logits": each})  # (N, K, C): combined per batch
    assert_close(online, stored)
    single = DistillationTrainer(model=student, teacher_model=[teachers[0]], args=args)
    alone = DistillationTrainer(model=student, teacher_model=teachers[0], args=args)
    assert_close(single.compute_loss(student, dict(batch)), alone.compute_loss(student, dict(batch)))


def test_stored_logits_of_several_teachers_without_teacher_models(tmp_path, student):
    dataset = random_token_dataset(num_examples=8)
    with torch.no_grad():
        each = torch.stack([tiny_bert(seed=s)(input_ids=torch.tensor(dataset["input_ids"])).logits for s in (0, 5)],
                           dim=1)
    stored = dataset.add_column("teacher_logits", each.tolist())
    trainer = DistillationTrainer(model=student, args=make_args(tmp_path), train_dataset=stored)
    assert trainer.teacher_weights == [0.5, 0.5]
    trainer.train()
    with pytest.raises(ValueError, match="hold \\[2\\] teachers' logits, but 3 teachers are expected"):
        DistillationTrainer(model=student, teacher_model=[tiny_bert(seed=s) for s in (0, 1, 2)],
                            args=make_args(tmp_path), train_dataset=stored)


def test_teachers_must_agree_on_classes_and_task(tmp_path, student):
    other_names = tiny_bert(seed=1, id2label={0: "bad", 1: "good"}, label2id={"bad": 0, "good": 1})
    with pytest.raises(ValueError, match="name their classes differently"):
        DistillationTrainer(model=student, teacher_model=[tiny_bert(seed=0), other_names], args=make_args(tmp_path))
    with pytest.raises(ValueError, match="2 teachers were given: pass one"):
        DistillationTrainer(model=student, teacher_model=[tiny_bert(seed=0), tiny_bert(seed=1)],
                            args=make_args(tmp_path, hidden_state_weight=1.0))


def test_a_narrower_students_hidden_states_are_projected_trained_and_never_saved(tmp_path, teacher):
    from transformers import AutoModelForSequenceClassification

    narrow = tiny_bert(seed=1, num_hidden_layers=1, hidden_size=4, intermediate_size=8)
    narrow.config.distilled_from_layers = [1]
    dataset = random_token_dataset(num_examples=16)
    trainer = DistillationTrainer(model=narrow, teacher_model=teacher, train_dataset=dataset,
                                  args=make_args(tmp_path, hidden_state_weight=1.0, alpha=1.0))
    projection = trainer._hidden_projection
    assert tuple(projection.maps[0].weight.shape) == (8, 4)  # TinyBERT's W_h: the student's width to the teacher's
    batch = batch_of(dataset)
    narrow.train()
    with torch.no_grad():
        outputs = narrow(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         output_hidden_states=True)
        teacher_outputs = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  output_hidden_states=True)
        expected_hidden = hidden_state_loss(projection(0, outputs.hidden_states[1]), teacher_outputs.hidden_states[2],
                                            batch["attention_mask"])
        soft = kl_divergence_loss(outputs.logits, teacher_outputs.logits, temperature=2.0)
        assert_close(trainer.compute_loss(narrow, dict(batch)), soft + expected_hidden)
    before = projection.maps[0].weight.detach().clone()
    trainer.train()
    assert not torch.equal(before, projection.maps[0].weight)  # trained with the student
    trainer.save_model()
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)  # plain transformers, no projection
    assert set(reloaded.state_dict()) == set(narrow.state_dict())


def test_attention_relations_of_a_narrower_student_join_the_loss(tmp_path, teacher):
    from hfdistill import linear_student
    from hfdistill.losses import attention_relation_loss

    narrow = tiny_bert(seed=1, num_hidden_layers=1, hidden_size=4, intermediate_size=8)
    dataset = random_token_dataset(num_examples=8)
    args = make_args(tmp_path, attention_relation_weight=0.5, attention_relation_heads=2, alpha=1.0)
    trainer = DistillationTrainer(model=narrow, teacher_model=teacher, train_dataset=dataset, args=args)
    batch = batch_of(dataset)
    narrow.train()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        student_out = narrow(**inputs, output_hidden_states=True)
        teacher_out = teacher(**inputs, output_hidden_states=True)
        # Each model's last layer reads the previous hidden states; its query/key/value projections map them.
        last_student = narrow.bert.encoder.layer[-1].attention.self
        last_teacher = teacher.bert.encoder.layer[-1].attention.self
        student_states = {name: getattr(last_student, name)(student_out.hidden_states[-2])
                          for name in ("query", "key", "value")}
        teacher_states = {name: getattr(last_teacher, name)(teacher_out.hidden_states[-2])
                          for name in ("query", "key", "value")}
        relation = attention_relation_loss(student_states, teacher_states, 2, batch["attention_mask"])
        soft = kl_divergence_loss(student_out.logits, teacher_out.logits, temperature=2.0)
        assert_close(trainer.compute_loss(narrow, dict(batch)), soft + 0.5 * relation)
    trainer.train()
    with pytest.raises(ValueError, match="has no query, key and value projections"):
        DistillationTrainer(model=linear_student(teacher, embedding_dim=4), teacher_model=teacher, args=args)
    with pytest.raises(ValueError, match="must divide both widths"):
        DistillationTrainer(model=narrow, teacher_model=teacher, args=make_args(tmp_path, attention_relation_weight=1,
                                                                                 attention_relation_heads=3))
    with pytest.raises(ValueError, match="one teacher's attention relations"):
        DistillationTrainer(model=narrow, teacher_model=[teacher, tiny_bert(seed=2)], args=args)
