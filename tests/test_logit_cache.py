import json
import os

import pytest
import torch
from datasets import Dataset
from torch.testing import assert_close
from transformers import DataCollatorWithPadding

from conftest import sentiment_sentences, tiny_bert
from hfdistill import DistillationTrainer, DistillationTrainingArguments
from hfdistill.teachers import logit_cache
from hfdistill.teachers.logit_cache import add_teacher_logits, compute_teacher_logits


@pytest.fixture
def tokenized(tokenizer):
    sentences, labels = sentiment_sentences(40)
    # Varying lengths, so that length-sorted batches pad differently from the training batches.
    sentences = [" ".join([s] * (1 + i % 3)) for i, s in enumerate(sentences)]
    return Dataset.from_dict({"text": sentences, "labels": labels}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True, remove_columns=["text"]
    )


def _build(dataset, teacher, tokenizer, cache_dir, **kwargs):
    return add_teacher_logits(dataset, teacher, tokenizer, str(cache_dir), show_progress=False, batch_size=8, **kwargs)


def test_logits_are_the_teachers_in_the_datasets_order(tokenized, tokenizer, teacher):
    logits = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=7, show_progress=False)
    teacher.eval()
    with torch.no_grad():
        for index in (0, 5, 17, 39):
            row = {k: torch.tensor([tokenized[index][k]]) for k in ("input_ids", "attention_mask", "token_type_ids")}
            assert_close(logits[index], teacher(**row).logits[0], atol=1e-5, rtol=1e-5)


def test_cached_and_online_distillation_give_the_same_loss(tokenized, tokenizer, teacher, student, tmp_path):
    cached, info = _build(tokenized, teacher, tokenizer, tmp_path / "cache")
    assert info["source"] == "built"
    args = DistillationTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, processing_class=tokenizer)
    batch = DataCollatorWithPadding(tokenizer)(cached.select(range(16)).to_list())
    student.train()
    cached_loss = trainer.compute_loss(student, dict(batch))
    online_loss = trainer.compute_loss(student, {k: v for k, v in batch.items() if k != "teacher_logits"})
    assert_close(cached_loss, online_loss, atol=1e-5, rtol=1e-5)


def test_a_second_build_is_a_load(tokenized, tokenizer, teacher, tmp_path, monkeypatch):
    first, built = _build(tokenized, teacher, tokenizer, tmp_path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the teacher ran although the cache matches")

    monkeypatch.setattr(logit_cache, "compute_teacher_logits", must_not_run)
    second, loaded = _build(tokenized, teacher, tokenizer, tmp_path)
    assert loaded["source"] == "loaded" and loaded["path"] == built["path"]
    assert loaded["build_seconds"] == pytest.approx(built["seconds"])
    assert "seconds_saved" in loaded
    assert second["teacher_logits"] == first["teacher_logits"]


@pytest.mark.parametrize("change", ["teacher", "tokenizer", "data", "max_seq_length"])
def test_changing_what_the_logits_depend_on_rebuilds(change, tokenized, tokenizer, teacher, tmp_path):
    _, first = _build(tokenized, teacher, tokenizer, tmp_path, extra_fingerprint={"max_seq_length": 32})
    extra = {"max_seq_length": 32}
    if change == "teacher":
        with torch.no_grad():
            teacher.classifier.bias.add_(0.01)
    elif change == "tokenizer":
        tokenizer.add_special_tokens({"additional_special_tokens": ["[NEW]"]})
    elif change == "data":
        tokenized = tokenized.select(range(1, len(tokenized)))
    else:
        extra = {"max_seq_length": 16}
    _, second = _build(tokenized, teacher, tokenizer, tmp_path, extra_fingerprint=extra)
    assert second["source"] == "built" and second["path"] != first["path"]


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "drop_record"])
def test_a_damaged_cache_is_rebuilt_never_used(damage, tokenized, tokenizer, teacher, tmp_path):
    original, info = _build(tokenized, teacher, tokenizer, tmp_path)
    path = info["path"]
    if damage == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif damage == "flip_a_byte":
        with open(path, "r+b") as f:
            f.seek(-4, os.SEEK_END)
            byte = f.read(1)
            f.seek(-4, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
    else:
        os.remove(path + ".json")
    rebuilt, again = _build(tokenized, teacher, tokenizer, tmp_path)
    assert again["source"] == "built"
    assert rebuilt["teacher_logits"] == original["teacher_logits"]
    with open(path + ".json") as f:
        assert json.load(f)["examples"] == len(tokenized)


def test_training_on_cached_logits_never_runs_the_teacher(tokenized, tokenizer, teacher, student, tmp_path):
    cached, _ = _build(tokenized, teacher, tokenizer, tmp_path / "cache")
    calls = []
    teacher.register_forward_hook(lambda *args: calls.append(1))
    args = DistillationTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, max_steps=3,
                                         per_device_train_batch_size=8, save_strategy="no", disable_tqdm=True)
    DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=cached,
                        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer)).train()
    assert calls == []


def test_non_finite_teacher_logits_are_refused(tokenized, tokenizer, tmp_path):
    broken = tiny_bert(seed=0)
    with torch.no_grad():
        broken.classifier.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite logits"):
        _build(tokenized, broken, tokenizer, tmp_path)


def test_bfloat16_autocasts_the_cpu_pass_and_float16_stays_float32_there(tokenized, tokenizer, teacher):
    seen = []
    teacher.register_forward_pre_hook(lambda module, args: seen.append(torch.is_autocast_enabled("cpu")
                                                                       and torch.get_autocast_dtype("cpu")))
    full = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=8, show_progress=False)
    assert set(seen) == {False}
    seen.clear()
    in_bf16 = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=8, show_progress=False, dtype="bfloat16")
    assert set(seen) == {torch.bfloat16}
    assert in_bf16.dtype == torch.float32 and not torch.equal(full, in_bf16)
    torch.testing.assert_close(in_bf16, full, atol=0.05, rtol=0.05)
    seen.clear()
    half = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=8, show_progress=False, dtype="float16")
    assert set(seen) == {False} and torch.equal(full, half)  # float16 is CUDA's; the CPU keeps float32


def test_the_pass_precision_is_part_of_the_cache_key(tokenized, tokenizer, teacher, tmp_path):
    fp32, _ = logit_cache.cache_key(tokenized, teacher, tokenizer, {"max_seq_length": 32})
    bf16, key = logit_cache.cache_key(tokenized, teacher, tokenizer, {"max_seq_length": 32}, dtype="bfloat16")
    assert fp32 != bf16 and key["dtype"] == "bfloat16"
    _, first = _build(tokenized, teacher, tokenizer, tmp_path)
    _, second = _build(tokenized, teacher, tokenizer, tmp_path, dtype="bfloat16")
    assert second["source"] == "built" and second["path"] != first["path"]


@pytest.mark.parametrize("choice, training_precision, expected", [
    ("auto", "bf16 autocast", "bfloat16"), ("auto", "fp32", "float32"), ("auto", "bf16", "float32"),
    ("float32", "bf16 autocast", "float32"), ("bfloat16", "fp32", "bfloat16")])
def test_auto_teacher_inference_dtype_follows_cpu_training_precision(choice, training_precision, expected):
    from hfdistill.precision import resolve_teacher_inference_dtype
    assert resolve_teacher_inference_dtype(choice, {"training_precision": training_precision}) == expected
    with pytest.raises(ValueError, match="teacher_inference_dtype must be one of"):
        resolve_teacher_inference_dtype("int8", {})


def _sharded(tokenized, teacher, tokenizer, path, fingerprint, num_shards=2):
    for shard in range(num_shards):  # what each process does, one after the other here
        logit_cache.build_logit_shard(tokenized, teacher, tokenizer, path, fingerprint, shard, num_shards, batch_size=4,
                                      show_progress=False)
    return logit_cache.assemble_logit_shards(tokenized, teacher, tokenizer, path, fingerprint, num_shards, batch_size=4,
                                             show_progress=False)


def test_two_shards_assemble_to_the_one_process_cache_bit_for_bit(tokenized, tokenizer, teacher, tmp_path):
    one = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=4, show_progress=False)
    fingerprint, _ = logit_cache.cache_key(tokenized, teacher, tokenizer)
    path = logit_cache.cache_path(str(tmp_path), fingerprint)
    assert torch.equal(_sharded(tokenized, teacher, tokenizer, path, fingerprint), one)
    batches = logit_cache.length_sorted_batches(tokenized, 4)
    lengths = [len(ids) for ids in tokenized["input_ids"]]
    first, second = (logit_cache.shard_batches(batches, lengths, 2, shard) for shard in (0, 1))
    assert first.start == 0 and first.stop == second.start and second.stop == len(batches) == 10
    assert len(first) < len(second)  # the longest batches come first: fewer of them balance the tokens


@pytest.mark.parametrize("damage", ["missing", "truncate", "flip_a_byte", "record"])
def test_a_damaged_shard_is_recomputed_never_used(damage, tokenized, tokenizer, teacher, tmp_path, monkeypatch):
    one = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=4, show_progress=False)
    fingerprint, _ = logit_cache.cache_key(tokenized, teacher, tokenizer)
    path = logit_cache.cache_path(str(tmp_path), fingerprint)
    for shard in (0, 1):
        logit_cache.build_logit_shard(tokenized, teacher, tokenizer, path, fingerprint, shard, 2, batch_size=4,
                                      show_progress=False)
    damaged = logit_cache.shard_path(path, 1, 2, 4)
    if damage == "missing":
        os.remove(damaged)
    elif damage == "truncate":
        with open(damaged, "r+b") as f:
            f.truncate(os.path.getsize(damaged) - 8)
    elif damage == "flip_a_byte":
        with open(damaged, "r+b") as f:
            f.seek(-4, os.SEEK_END)
            byte = f.read(1)
            f.seek(-4, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
    else:
        with open(damaged + ".json") as f:
            record = json.load(f)
        with open(damaged + ".json", "w") as f:
            json.dump({**record, "fingerprint": "another teacher"}, f)
    ran = []
    run_batches = logit_cache._run_batches
    monkeypatch.setattr(logit_cache, "_run_batches", lambda *a, **k: ran.append(len(a[3])) or run_batches(*a, **k))
    assembled = logit_cache.assemble_logit_shards(tokenized, teacher, tokenizer, path, fingerprint, 2, batch_size=4,
                                                  show_progress=False)
    assert torch.equal(assembled, one)
    assert len(ran) == 1  # shard 1 alone was recomputed; the intact shard 0 was read


def test_each_teacher_of_an_ensemble_is_cached_on_its_own(tokenized, tokenizer, tmp_path, monkeypatch):
    """A second run with one teacher added computes only that teacher's logits; the column holds (K, C) per row."""
    first, second, third = tiny_bert(seed=0), tiny_bert(seed=3), tiny_bert(seed=4, num_hidden_layers=1)
    with_two, info = _build(tokenized, [first, second], tokenizer, tmp_path)
    assert info["source"] == "built" and len(info["teachers"]) == 2
    assert torch.tensor(with_two[0]["teacher_logits"]).shape == (2, 2)
    computed = []
    original = logit_cache.compute_teacher_logits
    monkeypatch.setattr(logit_cache, "compute_teacher_logits",
                        lambda teacher, *a, **k: computed.append(teacher) or original(teacher, *a, **k))
    with_three, info = _build(tokenized, [first, second, third], tokenizer, tmp_path)
    assert computed == [third] and [i["source"] for i in info["teachers"]] == ["loaded", "loaded", "built"]
    stacked = torch.tensor(with_three["teacher_logits"])
    alone, _ = _build(tokenized, third, tokenizer, tmp_path)
    assert stacked.shape == (len(tokenized), 3, 2)
    assert torch.equal(stacked[:, :2], torch.tensor(with_two["teacher_logits"]))
    assert torch.equal(stacked[:, 2], torch.tensor(alone["teacher_logits"]))


def test_a_teacher_reloaded_from_its_folder_keys_the_cache_it_built_when_fine_tuned(tokenized, tokenizer, teacher,
                                                                                    tmp_path):
    """What saving and reloading change (the path; use_cache, which Trainer turns off on the model it trains and an
    MPNet's saved config drops) is not what the teacher computes: the rerun loads the cache the fine-tuning run
    built."""
    import copy

    teacher.config.use_cache = False  # as Trainer leaves it
    _, built = add_teacher_logits(tokenized, teacher, tokenizer, str(tmp_path / "cache"), show_progress=False)
    reloaded = copy.deepcopy(teacher)
    reloaded.config.use_cache, reloaded.config._name_or_path = True, str(tmp_path / "teacher")  # as a reload
    _, again = add_teacher_logits(tokenized, reloaded, tokenizer, str(tmp_path / "cache"), show_progress=False)
    assert (built["source"], again["source"]) == ("built", "loaded")


def test_a_transfer_set_that_adds_rows_computes_only_the_new_ones(tokenized, tokenizer, teacher, tmp_path,
                                                                  monkeypatch):
    """The labeled rows first, then the same rows mixed with new text: the second cache reads the first's rows and
    runs the teacher on the new ones alone; each row's logits are those of a pass over everything."""
    labeled = tokenized.select(range(0, 40, 2))
    _build(labeled, teacher, tokenizer, tmp_path, extra_fingerprint={"transfer_set": {"unlabeled": 0}})
    seen = []
    original = logit_cache.compute_teacher_logits
    monkeypatch.setattr(logit_cache, "compute_teacher_logits",
                        lambda teacher, dataset, *a, **k: seen.append(len(dataset)) or original(teacher, dataset, *a,
                                                                                                  **k))
    grown_rows = tokenized.shuffle(seed=1)  # old and new rows interleaved
    grown, info = _build(grown_rows, teacher, tokenizer, tmp_path,
                         extra_fingerprint={"transfer_set": {"unlabeled": 20}})
    assert seen == [20] and info["source"] == "built" and info["reused_rows"] == 20
    everything = original(teacher, grown_rows, tokenizer, batch_size=8, show_progress=False)
    assert_close(torch.tensor(grown["teacher_logits"]), everything, atol=1e-5, rtol=1e-5)
    # A reordered subset of the grown set is all there: nothing runs, and each row gets its own logits.
    subset = tokenized.select([39, 3, 20, 7])
    picked, again = _build(subset, teacher, tokenizer, tmp_path)
    assert seen == [20] and again["reused_rows"] == 4 and again["examples_per_second"] is None
    assert_close(torch.tensor(picked["teacher_logits"]), original(teacher, subset, tokenizer, show_progress=False),
                 atol=1e-5, rtol=1e-5)


def test_each_teacher_of_an_ensemble_reuses_its_own_rows(tokenized, tokenizer, tmp_path):
    first, second = tiny_bert(seed=0), tiny_bert(seed=3)
    _build(tokenized.select(range(10)), [first, second], tokenizer, tmp_path)
    with_both, info = _build(tokenized, [first, second], tokenizer, tmp_path)
    assert [each["reused_rows"] for each in info["teachers"]] == [10, 10]
    for k, one in enumerate((first, second)):
        assert_close(torch.tensor(with_both["teacher_logits"])[:, k],
                     compute_teacher_logits(one, tokenized, tokenizer, show_progress=False), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("change", ["another_teacher", "another_precision", "damaged_cache", "cache_without_row_keys",
                                    "reuse_rows_false"])
def test_rows_are_reused_only_from_a_sound_cache_of_the_same_teacher_and_precision(change, tokenized, tokenizer,
                                                                                    teacher, tmp_path):
    _, first = _build(tokenized.select(range(24)), teacher, tokenizer, tmp_path)
    kwargs = {}
    if change == "another_teacher":
        teacher = tiny_bert(seed=5)
    elif change == "another_precision":
        kwargs["dtype"] = "bfloat16"
    elif change == "damaged_cache":
        with open(first["path"], "r+b") as f:
            f.seek(-4, os.SEEK_END)
            byte = f.read(1)
            f.seek(-4, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif change == "cache_without_row_keys":  # as written before the caches held them
        with open(first["path"] + ".json") as f:
            record = json.load(f)
        del record["row_keys_sha256"]
        with open(first["path"] + ".json", "w") as f:
            json.dump(record, f)
    else:
        kwargs["reuse_rows"] = False
    _, info = _build(tokenized, teacher, tokenizer, tmp_path, **kwargs)
    assert info["source"] == "built" and info["reused_rows"] == 0


def test_foreign_files_in_the_cache_folder_are_passed_over(tokenized, tokenizer, teacher, tmp_path):
    _build(tokenized.select(range(24)), teacher, tokenizer, tmp_path)
    (tmp_path / "teacher_logits-list.safetensors.json").write_text("[1, 2]")
    (tmp_path / "teacher_logits-key.safetensors.json").write_text('{"key": [1], "row_keys_sha256": "x"}')
    (tmp_path / "teacher_logits-none.safetensors.json").write_text("not json")
    _, info = _build(tokenized, teacher, tokenizer, tmp_path)
    assert info["reused_rows"] == 24
