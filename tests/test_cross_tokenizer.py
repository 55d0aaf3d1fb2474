"""A teacher and a student of two families whose tokenizers differ: each reads the text through its own tokenizer."""

import json

import pytest
import torch
from datasets import Dataset
from torch.testing import assert_close
from transformers import (BertTokenizerFast, DataCollatorWithPadding, DistilBertConfig,
                          DistilBertForSequenceClassification)

from conftest import SPECIAL_TOKENS, WORDS, sentiment_sentences, tiny_bert
from hfdistill import DistillationTrainer
from hfdistill.data import add_teacher_inputs
from test_distillation_trainer import make_args

LABELS = {"id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}


@pytest.fixture
def student_tokenizer(tmp_path):
    """Another vocabulary: the words in reverse order after other special tokens, three extra words, so every word
    has another id than in the teacher's tokenizer."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", *reversed(WORDS), "extra", "more", "words"]
    return BertTokenizerFast(vocab={token: index for index, token in enumerate(tokens)}, do_lower_case=True,
                             model_max_length=32)


def distilbert_student(tokenizer) -> DistilBertForSequenceClassification:
    torch.manual_seed(3)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=8, n_layers=1, n_heads=2, hidden_dim=16,
                              max_position_embeddings=32, dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
                              pad_token_id=0, **LABELS)
    return DistilBertForSequenceClassification(config)


def two_views(teacher_tokenizer, student_tokenizer, num_examples=16) -> Dataset:
    texts, labels = sentiment_sentences(num_examples)
    student_view = Dataset.from_dict({**student_tokenizer(texts), "labels": labels})
    teacher_view = Dataset.from_dict(dict(teacher_tokenizer(texts)))
    return add_teacher_inputs(student_view, teacher_view)


def test_each_model_reads_its_own_tokenization_and_the_loss_is_the_teachers_kl(tokenizer, student_tokenizer,
                                                                                tmp_path):
    assert len(WORDS) + len(SPECIAL_TOKENS) != len(student_tokenizer)
    teacher, student = tiny_bert(seed=0).eval(), distilbert_student(student_tokenizer)
    dataset = two_views(tokenizer, student_tokenizer)
    assert {"teacher_input_ids", "teacher_attention_mask", "teacher_token_type_ids"} <= set(dataset.column_names)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, train_dataset=dataset,
                                  processing_class=student_tokenizer, teacher_processing_class=tokenizer,
                                  data_collator=DataCollatorWithPadding(student_tokenizer),
                                  args=make_args(tmp_path, alpha=1.0, temperature=1.0, remove_unused_columns=True))
    rows = [dataset[i] for i in range(4)]
    batch = trainer.data_collator(rows)
    # Padded each with its own tokenizer: lengths differ when the texts split differently, never mixed.
    assert batch["input_ids"].shape[0] == batch["teacher_input_ids"].shape[0] == 4
    student.train()
    with torch.no_grad():
        texts = sentiment_sentences(16)[0][:4]
        teacher_logits = teacher(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        student_logits = student(**student_tokenizer(texts, padding=True, return_tensors="pt",
                                                     return_token_type_ids=False)).logits
    target = torch.softmax(teacher_logits, -1)
    expected = (target * (target.log() - torch.log_softmax(student_logits, -1))).sum(-1).mean()
    assert_close(trainer.compute_loss(student, dict(batch)), expected, atol=1e-5, rtol=1e-4)
    trainer.train()  # the columns survive remove_unused_columns, the collator pads both


def test_another_vocabulary_without_the_teachers_own_inputs_names_the_route(tokenizer, student_tokenizer, tmp_path):
    student = distilbert_student(student_tokenizer)
    texts, labels = sentiment_sentences(8)
    plain = Dataset.from_dict({**student_tokenizer(texts), "labels": labels})
    with pytest.raises(ValueError, match="add_teacher_inputs"):
        DistillationTrainer(model=student, teacher_model=tiny_bert(), train_dataset=plain, args=make_args(tmp_path),
                            processing_class=student_tokenizer, teacher_processing_class=tokenizer)
    with pytest.raises(ValueError, match="needs one tokenizer"):
        DistillationTrainer(model=student, teacher_model=tiny_bert(), args=make_args(tmp_path, hidden_state_weight=1),
                            train_dataset=two_views(tokenizer, student_tokenizer, 8),
                            processing_class=student_tokenizer, teacher_processing_class=tokenizer)


def test_stored_logits_from_the_teachers_tokenization_need_no_teacher_at_training(tokenizer, student_tokenizer,
                                                                                 tmp_path):
    from hfdistill.teachers.logit_cache import add_teacher_logits

    texts, labels = sentiment_sentences(8)
    teacher_view = Dataset.from_dict({**tokenizer(texts), "labels": labels})
    cached, info = add_teacher_logits(teacher_view, tiny_bert(), tokenizer, str(tmp_path / "cache"),
                                      show_progress=False)
    student_view = Dataset.from_dict({**student_tokenizer(texts), "labels": labels})
    train = student_view.add_column("teacher_logits", cached["teacher_logits"])
    trainer = DistillationTrainer(model=distilbert_student(student_tokenizer), teacher_model=tiny_bert(),
                                  train_dataset=train, processing_class=student_tokenizer,
                                  teacher_processing_class=tokenizer, args=make_args(tmp_path))
    trainer.train()
    assert info["source"] == "built"


# ---- a pretrained student of another family through the recipe ------------------------------------------------


@pytest.fixture
def pretrained_student_dir(tmp_path, tokenizer_dir):
    """A 'pretrained' BERT language model with a vocabulary of its own (the tiny test tokenizer's, ~45 tokens)."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(tokenizer_dir)
    torch.manual_seed(4)
    folder = tmp_path / "pretrained_student"
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=8, num_hidden_layers=3, num_attention_heads=2,
                               intermediate_size=16, max_position_embeddings=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_pretrained_student_with_its_own_tokenizer_through_the_recipe(tiny_teacher, sst2_files,
                                                                        pretrained_student_dir, tmp_path, monkeypatch):
    from test_recipe import FAST, run_in_process
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
                    "--student_model_name_or_path", str(pretrained_student_dir), "--student_num_layers", "2",
                    *FAST], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["student_kind"] == "pretrained" and results["student_settings"]["num_layers"] == 2
    assert results["teacher_logits"]["source"] == "built"  # computed from the teacher's own tokenization
    assert "student" in results["truncation"]  # each tokenizer says what the length rule cut
    student = AutoModelForSequenceClassification.from_pretrained(output_dir)  # plain transformers
    assert student.config.num_hidden_layers == 2 and student.config.id2label == {0: "negative", 1: "positive"}
    assert len(AutoTokenizer.from_pretrained(output_dir)) < 100  # its own tokenizer was saved, not the teacher's
    card = (output_dir / "README.md").read_text()
    assert f"(`{pretrained_student_dir}`)" in card and tiny_teacher in card


def test_a_bad_student_checkpoint_is_refused_before_any_training(tiny_teacher, sst2_files, pretrained_student_dir,
                                                                 tmp_path, monkeypatch):
    from transformers import BertConfig, BertForTokenClassification

    from conftest import load_recipe

    recipe = load_recipe(monkeypatch)
    no_weights = tmp_path / "no_weights"
    BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=16).save_pretrained(no_weights)
    tagger = tmp_path / "tagger"
    BertForTokenClassification(BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=16)).save_pretrained(tagger)
    cases = [(tmp_path / "missing", "does not exist"), (no_weights, "holds a config but no weights"),
             (tagger, "holds BertForTokenClassification, a token-classification model")]
    output_dir = tmp_path / "out"
    for path, message in cases:
        monkeypatch.setattr("sys.argv", ["sst2.py", "--teacher_model_name_or_path", tiny_teacher, *sst2_files,
                                         "--student_model_name_or_path", str(path), "--output_dir", str(output_dir),
                                         "--use_cpu", "true"])
        with pytest.raises(ValueError, match=message):
            recipe.main()
        assert not (output_dir / "teacher").exists()
    monkeypatch.setattr("sys.argv", ["sst2.py", "--teacher_model_name_or_path", tiny_teacher, *sst2_files,
                                     "--student_model_name_or_path", str(pretrained_student_dir), "--output_dir",
                                     str(output_dir), "--use_cpu", "true", "--attention_relation_weight", "1"])
    with pytest.raises(ValueError, match="attention_relation_weight compare teacher and student token by token"):
        recipe.main()
    assert not (output_dir / "teacher").exists()  # before the teacher's fine-tuning
    with pytest.raises(ValueError, match="drop --student"):
        recipe.parse_arguments(["--student", "compact", "--student_model_name_or_path", str(pretrained_student_dir)])
    with pytest.raises(ValueError, match="a 'pretrained' student does not have"):
        recipe.parse_arguments(["--student_model_name_or_path", str(pretrained_student_dir),
                                "--hidden_state_weight", "1"])


def test_a_pretrained_distilbert_is_cut_to_fewer_of_its_own_layers(student_tokenizer, tmp_path):
    from hfdistill import pretrained_student

    folder = tmp_path / "distilbert"
    torch.manual_seed(5)
    config = DistilBertConfig(vocab_size=len(student_tokenizer), dim=8, n_layers=3, n_heads=2, hidden_dim=16,
                              max_position_embeddings=32, pad_token_id=0)
    from transformers import DistilBertForMaskedLM

    full = DistilBertForMaskedLM(config)
    full.save_pretrained(folder)
    cut = pretrained_student(str(folder), tiny_bert(), layers=[0, 2])
    assert cut.config.num_hidden_layers == 2 and cut.config.id2label == {0: "negative", 1: "positive"}
    assert not hasattr(cut.config, "distilled_from_layers")  # its layers are its own, not the teacher's
    kept = full.distilbert.transformer.layer[2].attention.q_lin.weight
    assert torch.equal(cut.distilbert.transformer.layer[1].attention.q_lin.weight, kept)


# ---- an ensemble of teachers of different tokenizers -------------------------------------------------------------


def other_family_teacher(student_tokenizer, seed=2):
    """A classifier of the `student_tokenizer` vocabulary: a teacher of another family than `tiny_bert`."""
    return tiny_bert(seed=seed, vocab_size=len(student_tokenizer))


def test_an_ensemble_of_two_tokenizers_caches_each_teachers_logits_from_its_own_tokenization(
        tokenizer, student_tokenizer, tmp_path):
    from hfdistill.teachers.logit_cache import add_teacher_logits

    texts, labels = sentiment_sentences(8)
    teachers = [tiny_bert(seed=0).eval(), other_family_teacher(student_tokenizer).eval()]
    views = [Dataset.from_dict({**each(texts), "labels": labels}) for each in (tokenizer, student_tokenizer)]
    cached, info = add_teacher_logits(views, teachers, [tokenizer, student_tokenizer], str(tmp_path / "cache"),
                                      show_progress=False)
    stored = torch.tensor(cached["teacher_logits"])
    assert stored.shape == (8, 2, 2) and [each["source"] for each in info["teachers"]] == ["built", "built"]
    with torch.no_grad():  # each teacher's logits over its own ids, never the other's
        for index, (teacher, each) in enumerate(zip(teachers, (tokenizer, student_tokenizer), strict=True)):
            own = torch.cat([teacher(**each([text], return_tensors="pt")).logits for text in texts])
            assert_close(stored[:, index], own, atol=1e-5, rtol=1e-4)
    # The student (DistilBERT, the second teacher's vocabulary) trains on them, the ensemble combined per batch.
    student = distilbert_student(student_tokenizer)
    train = views[1].add_column("teacher_logits", cached["teacher_logits"])
    trainer = DistillationTrainer(model=student, teacher_model=teachers, train_dataset=train,
                                  processing_class=student_tokenizer, teacher_processing_class=tokenizer,
                                  args=make_args(tmp_path, alpha=1.0, temperature=1.0))
    batch = trainer.data_collator([train[i] for i in range(4)])
    with torch.no_grad():
        student_logits = student(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}).logits
    target = 0.5 * torch.softmax(stored[:4, 0], -1) + 0.5 * torch.softmax(stored[:4, 1], -1)
    expected = (target * (target.log() - torch.log_softmax(student_logits, -1))).sum(-1).mean()
    student.train()
    assert_close(trainer.compute_loss(student, dict(batch)), expected, atol=1e-5, rtol=1e-4)
    trainer.train()
    with pytest.raises(ValueError, match="3 values of tokenizer for 2 teachers: give one for each"):
        add_teacher_logits(views, teachers, [tokenizer, student_tokenizer, tokenizer], str(tmp_path / "c2"),
                           show_progress=False)


def test_one_value_per_teacher_or_one_for_all_else_the_count_is_named(tokenizer, student_tokenizer, tmp_path):
    from hfdistill.evaluation.profiling import model_stats
    from hfdistill.teachers.fine_tuning import evaluate_teachers

    teachers = [tiny_bert(seed=0).eval(), other_family_teacher(student_tokenizer).eval()]
    texts, labels = sentiment_sentences(4)
    views = [Dataset.from_dict({**each(texts), "labels": labels}) for each in (tokenizer, student_tokenizer)]
    with pytest.raises(ValueError, match="3 values of dataset for 2 teachers"):
        evaluate_teachers(teachers, None, [*views, views[0]], [tokenizer, student_tokenizer], make_args(tmp_path),
                          None)
    with pytest.raises(ValueError, match="3 values of tokenizer for 2 models"):
        model_stats(teachers, [tokenizer] * 3, texts)
    # A list of one is shared like a single value: both members read the same tokenizer.
    shared = model_stats(teachers[:1] * 2, [tokenizer], texts, num_latency_examples=2, warmup=0)
    assert shared.num_parameters == 2 * teachers[0].num_parameters()


def test_an_online_ensemble_of_two_vocabularies_is_refused_naming_the_stored_logits_route(
        tokenizer, student_tokenizer, tmp_path):
    student = distilbert_student(student_tokenizer)
    teachers = [tiny_bert(seed=0), other_family_teacher(student_tokenizer)]
    texts, labels = sentiment_sentences(8)
    students_columns_only = Dataset.from_dict({**student_tokenizer(texts), "labels": labels})
    for train in (two_views(tokenizer, student_tokenizer), students_columns_only):
        with pytest.raises(ValueError, match="vocabularies differ .*add_teacher_logits"):
            DistillationTrainer(model=student, teacher_model=teachers, args=make_args(tmp_path), train_dataset=train,
                                processing_class=student_tokenizer, teacher_processing_class=tokenizer)


def test_each_tokenizer_reads_augmented_copies_with_its_own_mask_token(tokenizer, student_tokenizer):
    from transformers import BertTokenizerFast

    from hfdistill.data import tokenize_views

    tokens = ["<pad>", "<unk>", "<s>", "</s>", "<mask>", *WORDS]
    angled = BertTokenizerFast(vocab={token: index for index, token in enumerate(tokens)}, do_lower_case=True,
                               pad_token="<pad>", unk_token="<unk>", cls_token="<s>", sep_token="</s>",
                               mask_token="<mask>")
    word = WORDS[0]
    splits = {"train": Dataset.from_dict({"sentence": [f"{word} [MASK] {word}"], "labels": [1]})}
    views, teacher_views = tokenize_views(splits, student_tokenizer, [tokenizer, angled], "sentence", 16,
                                          mask_token="[MASK]")
    first, second = (teacher_views["train"][i][0]["input_ids"] for i in range(2))
    assert first == tokenizer(f"{word} [MASK] {word}")["input_ids"]
    assert second == angled(f"{word} <mask> {word}")["input_ids"] and angled.mask_token_id in second


def test_an_ensemble_is_scored_from_its_members_predictions_each_through_its_own_tokenizer(
        tokenizer, student_tokenizer, tmp_path):
    from hfdistill import model_stats
    from hfdistill.evaluation.metrics import task_metrics
    from hfdistill.teachers.ensemble import TeacherEnsemble
    from hfdistill.teachers.fine_tuning import evaluate_teachers

    texts, labels = sentiment_sentences(12)
    args = make_args(tmp_path)
    metrics = task_metrics("single_label_classification", 2)
    same = [tiny_bert(seed=0).eval(), tiny_bert(seed=3).eval()]
    view = Dataset.from_dict({**tokenizer(texts), "labels": labels})
    ensemble, scores, each = evaluate_teachers(same, [1, 3], view, tokenizer, args, metrics)
    with torch.no_grad():  # one tokenizer: what TeacherEnsemble's own forward gives
        logits = TeacherEnsemble(same, [1, 3])(**tokenizer(texts, return_tensors="pt", padding=True)).logits
    expected = float((logits.argmax(-1) == torch.tensor(labels)).float().mean())
    assert scores["eval_accuracy"] == pytest.approx(expected) and len(each) == 2
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
    assert scores["eval_loss"] == pytest.approx(float(loss), rel=1e-4)
    assert isinstance(ensemble, TeacherEnsemble)
    tagged = [tiny_bert(seed=s, num_labels=3, problem_type="multi_label_classification",
                        id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2}).eval() for s in (0, 3)]
    multi = Dataset.from_dict({**tokenizer(texts), "labels": [[1.0, 0.0, float(i % 2)] for i in range(12)]})
    _, predicted, _ = evaluate_teachers(tagged, [1, 3], multi, tokenizer, args,
                                        task_metrics("multi_label_classification", 3), predict=True)
    with torch.no_grad():
        logits = TeacherEnsemble(tagged, [1, 3])(**tokenizer(texts, return_tensors="pt", padding=True)).logits
    assert_close(torch.as_tensor(predicted.predictions), logits, atol=1e-4, rtol=1e-4)

    mixed = [tiny_bert(seed=0).eval(), other_family_teacher(student_tokenizer).eval()]
    views = [view, Dataset.from_dict({**student_tokenizer(texts), "labels": labels})]
    _, predicted, _ = evaluate_teachers(mixed, None, views, [tokenizer, student_tokenizer], args, metrics,
                                        predict=True)
    with torch.no_grad():
        own = [m(**t(texts, return_tensors="pt", padding=True)).logits
               for m, t in zip(mixed, (tokenizer, student_tokenizer), strict=True)]
    mean = 0.5 * torch.softmax(own[0], -1) + 0.5 * torch.softmax(own[1], -1)
    assert_close(torch.softmax(torch.as_tensor(predicted.predictions), -1), mean, atol=1e-5, rtol=1e-4)
    assert "test_accuracy" in predicted.metrics
    stats = [model_stats(m, t, texts, 16, num_latency_examples=2) for m, t in zip(mixed, (tokenizer, student_tokenizer),
                                                                                    strict=True)]
    together = model_stats(mixed, [tokenizer, student_tokenizer], texts, 16, num_latency_examples=2)
    assert together.num_parameters == sum(s.num_parameters for s in stats)
    assert together.disk_size_mb == pytest.approx(sum(s.disk_size_mb for s in stats))


def test_an_ensemble_of_two_tokenizers_through_the_recipe(tiny_teacher, pretrained_student_dir, sst2_files,
                                                          tmp_path, monkeypatch):
    from test_recipe import FAST, run_in_process

    from conftest import load_recipe

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    # MiniLM's vocabulary (30,522 tokens) and the tiny test one's (~45): a BERT backbone of another tokenizer
    teachers = ["--teacher_model_name_or_path", tiny_teacher, str(pretrained_student_dir)]
    recipe = load_recipe(monkeypatch)
    monkeypatch.setattr("sys.argv", ["sst2.py", *teachers, *sst2_files, "--output_dir", str(output_dir),
                                     "--use_cpu", "true", "--cache_teacher_logits", "false"])
    with pytest.raises(ValueError, match="2 different tokenizers .* keep --cache_teacher_logits true"):
        recipe.main()
    assert not (output_dir / "teacher").exists()  # before any fine-tuning

    run_in_process([*teachers, *sst2_files, "--output_dir", str(output_dir), *FAST, "--augment_factor", "0"],
                   monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["teacher_source"]["source"] == "ensemble" and len(results["each_teacher"]) == 2
    assert [each["source"] for each in results["teacher_logits"]["teachers"]] == ["built", "built"]
    assert "teacher 2" in results["truncation"]  # the second tokenizer's own length report
    for folder in ("teacher", "teacher-1"):  # each fine-tuned on its own tokenization, its tokenizer saved with it
        assert (output_dir / folder / "model.safetensors").is_file()
    from transformers import AutoTokenizer

    sizes = {len(AutoTokenizer.from_pretrained(output_dir / folder)) for folder in ("teacher", "teacher-1")}
    assert len(sizes) == 2
    assert 0 <= results["teacher"]["accuracy"] <= 1
    # A student of the second teacher's tokenizer: it trains on the teachers' cached logits moved onto its own rows.
    run_in_process([*teachers, *sst2_files, "--output_dir", str(output_dir), *FAST, "--student_model_name_or_path",
                    str(pretrained_student_dir)], monkeypatch)
    pretrained = json.loads((output_dir / "results.json").read_text())
    assert pretrained["student_kind"] == "pretrained" and 0 <= pretrained["student"]["accuracy"] <= 1
    assert [each["source"] for each in pretrained["teacher_logits"]["teachers"]] == ["loaded", "loaded"]
    assert results["teacher"]["num_parameters"] == sum(
        sum(p.numel() for p in __import__("hfdistill").load_teacher(str(output_dir / f)).parameters())
        for f in ("teacher", "teacher-1"))


@pytest.mark.parametrize("task", ["stsb", "goemotions"])
def test_pairs_regression_and_multi_label_across_tokenizers_through_the_recipe(task, tiny_teacher,
                                                                               pretrained_student_dir, tmp_path,
                                                                               monkeypatch):
    from test_recipe import FAST, REPO, SHARED, _head_rows, run_in_process
    from transformers import AutoTokenizer, pipeline

    if not (SHARED / task).is_dir():
        pytest.skip(f"needs ../shared/data/{task}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    header = task != "goemotions"
    train = _head_rows(SHARED / task / "train.tsv", tmp_path / "train.tsv", 80, header)
    dev = _head_rows(SHARED / task / "dev.tsv", tmp_path / "dev.tsv", 30, header)
    output_dir = tmp_path / "out"
    run_in_process([str(REPO / "recipes" / "configs" / f"{task}.yaml"), "--teacher_model_name_or_path", tiny_teacher,
                    "--train_file", train, "--validation_file", dev, "--output_dir", str(output_dir), *FAST,
                    "--augment_factor", "0", "--max_seq_length", "32", "--student_model_name_or_path",
                    str(pretrained_student_dir), "--student_num_layers", "1"], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    expected = {"stsb": "regression", "goemotions": "multi_label_classification"}[task]
    assert results["problem_type"] == expected and results["teacher_logits"]["source"] == "built"
    assert "student" in results["truncation"] and results["student_kind"] == "pretrained"
    assert len(AutoTokenizer.from_pretrained(output_dir)) < 100  # the student's own tokenizer
    classifier = pipeline("text-classification", model=str(output_dir), device="cpu")
    if task == "stsb":  # pairs, each read by both tokenizers; the student predicts a score
        prediction = classifier({"text": "A man plays a guitar.", "text_pair": "A man is playing guitar."})
        assert isinstance(prediction["score"], float)
    else:
        assert len(classifier("I love this so much, thank you!", top_k=None)) == 28
