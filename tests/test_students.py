import json

import pytest
import torch
from torch.testing import assert_close
from transformers import (
    AutoModelForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    MPNetConfig,
    MPNetForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    pipeline,
)

from conftest import logits_loaded_without_hfdistill, sentiment_sentences, tiny_bert
from hfdistill import (
    DistillationTrainer,
    DistillationTrainingArguments,
    LinearStudentForSequenceClassification,
    compact_student,
    count_parameters,
    evenly_spread_layers,
    linear_student,
    model_stats,
    student_from_teacher,
)
from hfdistill.students import KIND_DEFAULTS, kind_defaults, pca_projection

BUILDERS = {
    "layers": lambda teacher: student_from_teacher(teacher, num_layers=1),
    "compact": lambda teacher: compact_student(teacher, num_layers=1, hidden_size=4, num_attention_heads=2,
                                               intermediate_size=8),
    "linear": lambda teacher: linear_student(teacher, embedding_dim=4, num_bigram_buckets=16),
}
SMALL = dict(hidden_size=8, num_attention_heads=2, intermediate_size=16, max_position_embeddings=40, vocab_size=40)


@pytest.fixture
def fine_tuned_teacher():
    return tiny_bert(seed=0, num_hidden_layers=3)


@pytest.mark.parametrize("kind", BUILDERS)
def test_each_student_is_an_ordinary_transformers_model(kind, fine_tuned_teacher, tokenizer, tmp_path):
    student = BUILDERS[kind](fine_tuned_teacher)
    assert student.config.num_labels == fine_tuned_teacher.config.num_labels
    assert student.config.id2label == fine_tuned_teacher.config.id2label
    assert student.config.label2id == fine_tuned_teacher.config.label2id
    assert count_parameters(student) < count_parameters(fine_tuned_teacher)

    batch = tokenizer(["good film", "the plot is a mess and too dull"], padding=True, return_tensors="pt")
    student.eval()
    with torch.no_grad():
        logits = student(**batch).logits  # the teacher's tokenizer output, token_type_ids included, as is
    assert logits.shape == (2, 2)

    folder = tmp_path / kind
    student.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    reloaded = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, logits)

    classifier = pipeline("text-classification", model=str(folder), device="cpu")
    predictions = classifier(["good film", "awful boring movie"])
    assert {p["label"] for p in predictions} <= {"negative", "positive"}


def _distil_three_steps(student, teacher, tokenizer, output_dir) -> None:
    sentences, labels = sentiment_sentences(32)
    dataset = [{**tokenizer(s), "labels": y} for s, y in zip(sentences, labels)]
    args = DistillationTrainingArguments(
        output_dir=str(output_dir), max_steps=3, per_device_train_batch_size=8, learning_rate=1e-2,
        report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True,
    )
    DistillationTrainer(
        model=student, teacher_model=teacher, args=args, train_dataset=dataset, processing_class=tokenizer
    ).train()


@pytest.mark.parametrize("kind", BUILDERS)
def test_each_student_trains_with_the_distillation_trainer(kind, fine_tuned_teacher, tokenizer, tmp_path):
    student = BUILDERS[kind](fine_tuned_teacher)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    _distil_three_steps(student, fine_tuned_teacher, tokenizer, tmp_path)
    assert any(not torch.equal(v, before[k]) for k, v in student.state_dict().items())


# ---- student_from_teacher ------------------------------------------------------------------------


def test_layer_cut_copies_the_chosen_teacher_tensors_exactly(fine_tuned_teacher):
    student = student_from_teacher(fine_tuned_teacher, layers=[0, 2])
    assert student.config.num_hidden_layers == 2 and fine_tuned_teacher.config.num_hidden_layers == 3
    teacher_state, student_state = fine_tuned_teacher.state_dict(), student.state_dict()
    for name, tensor in student_state.items():
        source = name.replace("encoder.layer.1.", "encoder.layer.2.")
        assert torch.equal(tensor, teacher_state[source]), name
    assert student.config.distilled_from_layers == [0, 2]


def test_layer_cut_default_spreads_layers_with_first_and_last():
    assert evenly_spread_layers(6, 2) == [0, 5]
    assert evenly_spread_layers(6, 3) == [0, 2, 5]
    assert evenly_spread_layers(12, 4) == [0, 4, 7, 11]
    assert evenly_spread_layers(6, 1) == [5]
    assert evenly_spread_layers(6, 6) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "config_class, model_class",
    [
        (RobertaConfig, RobertaForSequenceClassification),
        (ElectraConfig, ElectraForSequenceClassification),
        (MPNetConfig, MPNetForSequenceClassification),
    ],
)
def test_layer_cut_works_for_other_bert_family_encoders(config_class, model_class):
    torch.manual_seed(0)
    extra = {"embedding_size": 8} if config_class is ElectraConfig else {}
    teacher = model_class(config_class(num_hidden_layers=4, pad_token_id=1, **SMALL, **extra))
    student = student_from_teacher(teacher, num_layers=2)
    assert student.config.distilled_from_layers == [0, 3]
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    teacher.eval(), student.eval()
    assert student(input_ids=ids).logits.shape == teacher(input_ids=ids).logits.shape


def test_layer_cut_of_an_unsupported_architecture_names_the_supported_families():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    decoder = GPT2ForSequenceClassification(GPT2Config(vocab_size=40, n_embd=8, n_layer=2, n_head=2, n_positions=40))
    with pytest.raises(ValueError, match="bert, roberta.*electra, mpnet.*compact_student or linear_student"):
        student_from_teacher(decoder, num_layers=1)
    # DistilBERT keeps its layers at transformer.layer: cut like BERT's family.
    distilbert = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=40, dim=8, n_layers=2, n_heads=2, hidden_dim=16, max_position_embeddings=40))
    assert student_from_teacher(distilbert, num_layers=1).config.num_hidden_layers == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layers": [0, 3]}, r"layers \[3\] out of range: the teacher has 3 layers, numbered 0 to 2"),
        ({"layers": [-1]}, r"out of range"),
        ({"layers": [1, 1]}, "names a layer twice"),
        ({"layers": []}, "layers is empty"),
        ({"num_layers": 4}, "between 1 and the teacher's 3 layers"),
        ({"num_layers": 0}, "between 1 and the teacher's 3 layers"),
        ({}, "Pass num_layers"),
        ({"num_layers": 1, "layers": [0, 1]}, "pass only one of them"),
    ],
)
def test_layer_cut_bad_layer_choices(fine_tuned_teacher, kwargs, message):
    with pytest.raises(ValueError, match=message):
        student_from_teacher(fine_tuned_teacher, **kwargs)


# ---- compact_student ----------------------------------------------------------------------------


def test_compact_student_embeddings_are_the_teachers_projected(fine_tuned_teacher):
    student = compact_student(fine_tuned_teacher, num_layers=1, hidden_size=4, num_attention_heads=2,
                              intermediate_size=8)
    assert type(student) is type(fine_tuned_teacher)
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (1, 4)
    projection = pca_projection(fine_tuned_teacher.get_input_embeddings().weight, 4)
    assert_close(student.get_input_embeddings().weight, fine_tuned_teacher.get_input_embeddings().weight @ projection)
    assert_close(projection.T @ projection, torch.eye(4), atol=1e-5, rtol=0)  # orthonormal columns

    random_init = compact_student(
        fine_tuned_teacher, num_layers=1, hidden_size=4, num_attention_heads=2, intermediate_size=8,
        init_embeddings_from_teacher=False,
    )
    assert not torch.allclose(random_init.get_input_embeddings().weight, student.get_input_embeddings().weight)


def test_compact_student_impossible_sizes(fine_tuned_teacher):
    with pytest.raises(ValueError, match=r"hidden_size \(10\) must be divisible by num_attention_heads \(4\)"):
        compact_student(fine_tuned_teacher, hidden_size=10, num_attention_heads=4)
    with pytest.raises(ValueError, match="must all be >= 1"):
        compact_student(fine_tuned_teacher, num_layers=0)


# ---- linear_student -----------------------------------------------------------------------------


def test_linear_student_averages_embeddings_over_the_mask(fine_tuned_teacher):
    student = linear_student(fine_tuned_teacher, embedding_dim=4, classifier_dropout=0.0).eval()
    ids = torch.tensor([[2, 7, 8, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    expected = student.classifier(student.embeddings(ids[:, :4]).mean(1))
    assert_close(student(input_ids=ids, attention_mask=mask).logits, expected)
    # padding must not change the prediction
    assert_close(student(input_ids=ids[:, :4]).logits, expected)


def test_linear_student_bigrams_see_word_order(fine_tuned_teacher):
    student = linear_student(fine_tuned_teacher, embedding_dim=4, num_bigram_buckets=64, classifier_dropout=0.0).eval()
    forward, backward = torch.tensor([[7, 8, 9]]), torch.tensor([[9, 8, 7]])
    assert not torch.allclose(student(input_ids=forward).logits, student(input_ids=backward).logits)
    unigram_only = linear_student(fine_tuned_teacher, embedding_dim=4, classifier_dropout=0.0).eval()
    assert_close(unigram_only(input_ids=forward).logits, unigram_only(input_ids=backward).logits)


def test_linear_student_folder_loads_with_trust_remote_code_without_hfdistill(fine_tuned_teacher, tokenizer, tmp_path):
    student = linear_student(fine_tuned_teacher, embedding_dim=4, num_bigram_buckets=16).eval()
    student.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "hfdistill-linear"
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling_linear_student.")
    ids = [[2, 7, 8, 9, 3]]
    with torch.no_grad():
        expected = student(input_ids=torch.tensor(ids)).logits.tolist()
    loaded_class, logits = logits_loaded_without_hfdistill(tmp_path, ids, tmp_path)
    assert "hfdistill" not in loaded_class.split(".")[0], loaded_class
    assert_close(torch.tensor(logits), torch.tensor(expected))


def test_linear_student_embeddings_start_from_the_teachers(fine_tuned_teacher):
    student = linear_student(fine_tuned_teacher, embedding_dim=4)
    teacher_embeddings = fine_tuned_teacher.get_input_embeddings().weight
    assert_close(student.embeddings.weight, teacher_embeddings @ pca_projection(teacher_embeddings, 4))
    assert isinstance(student, LinearStudentForSequenceClassification)


# ---- profiling ----------------------------------------------------------------------------------


def test_model_stats_reports_size_and_speed(fine_tuned_teacher, tokenizer):
    sentences, _ = sentiment_sentences(40)
    stats = model_stats(fine_tuned_teacher, tokenizer, sentences, max_length=16, num_latency_examples=10)
    assert stats.num_parameters == sum(p.numel() for p in fine_tuned_teacher.parameters())
    # fp32 safetensors: 4 bytes per parameter plus a small header
    assert 4 * stats.num_parameters <= stats.disk_size_mb * 2**20 < 4 * stats.num_parameters + 64 * 1024
    assert stats.latency_ms_batch1 > 0 and stats.throughput_batch32 > 0
    assert stats.num_threads == torch.get_num_threads()


def test_student_spec_checks_before_building(fine_tuned_teacher):
    from hfdistill import StudentSpec

    with pytest.raises(ValueError, match="Unknown student kind 'lstm': choose one of layers, compact, linear"):
        StudentSpec("lstm").check(fine_tuned_teacher.config)
    with pytest.raises(ValueError, match="embedding_dim must be >= 1"):
        StudentSpec("linear", embedding_dim=0).check(fine_tuned_teacher.config)
    for kind in ("layers", "compact", "linear"):
        spec = StudentSpec(kind, num_layers=1, hidden_size=4, num_attention_heads=2, intermediate_size=8,
                           embedding_dim=4)
        spec.check(fine_tuned_teacher.config)
        assert spec.build(fine_tuned_teacher).config.num_labels == 2


@pytest.mark.parametrize("kind", ["layers", "compact", "linear"])
def test_frozen_word_embeddings_stay_as_built_while_the_rest_trains(kind, fine_tuned_teacher, tokenizer, tmp_path):
    from hfdistill import StudentSpec

    spec = StudentSpec(kind, num_layers=1, hidden_size=4, num_attention_heads=2, intermediate_size=8, embedding_dim=4,
                       freeze_word_embeddings=True)
    student = spec.build(fine_tuned_teacher)
    embeddings = student.get_input_embeddings().weight
    before = {name: p.detach().clone() for name, p in student.named_parameters()}
    _distil_three_steps(student, fine_tuned_teacher, tokenizer, tmp_path)
    changed = {name for name, p in student.named_parameters() if not torch.equal(p, before[name])}
    frozen = {name for name, p in student.named_parameters() if p is embeddings}
    assert frozen and not changed & frozen
    assert changed, "nothing but the word embeddings should be frozen"


def test_student_spec_refuses_hidden_state_matching_for_students_without_the_teachers_layers(fine_tuned_teacher):
    from hfdistill import StudentSpec

    StudentSpec("layers", num_layers=1).check(fine_tuned_teacher.config, match_hidden_states=True)
    StudentSpec("compact").check(fine_tuned_teacher.config, match_hidden_states=True)  # projected to the width
    with pytest.raises(ValueError, match="a 'linear' student cannot. Use --student layers or compact"):
        StudentSpec("linear").check(fine_tuned_teacher.config, match_hidden_states=True)


def test_kind_defaults_augment_distillation_runs_only():
    distilled = kind_defaults("layers", alpha=0.5)
    assert distilled == {name: by_kind["layers"] for name, by_kind in KIND_DEFAULTS.items()}
    assert distilled["augment_factor"] == 4 and distilled["num_train_epochs"] == 1.0
    # Hard labels only: augmented copies would carry nothing but the teacher's soft labels, so none by default...
    assert kind_defaults("layers", alpha=0.0)["augment_factor"] == 0
    # ...unless they learn the teacher's argmax.
    assert kind_defaults("layers", alpha=0.0, pseudo_labels="hard")["augment_factor"] == 4
    assert kind_defaults("layers", alpha=0.0, hidden_state_weight=1.0)["augment_factor"] == 4
    assert kind_defaults("linear", alpha=0.5)["augment_factor"] == 0
    with pytest.raises(ValueError, match="choose one of layers, compact, linear"):
        kind_defaults("lstm", alpha=0.5)


def test_the_2_layer_cut_defaults_to_length_window_batches_without_warmup_and_the_other_kinds_keep_theirs():
    from types import SimpleNamespace

    from hfdistill.students import apply_kind_defaults

    def training_args(**given):
        return SimpleNamespace(alpha=0.5, pseudo_labels="none", hidden_state_weight=0.0,
                               **{"warmup_steps": None, "train_sampling_strategy": None, **given})

    for kind, sampling, warmup in [("layers", "length_window", 0.0), ("compact", "group_by_length", 0.1),
                                   ("linear", "group_by_length", 0.1)]:
        args = training_args()
        apply_kind_defaults(kind, args)
        assert (args.train_sampling_strategy, args.warmup_steps) == (sampling, warmup)
    args = training_args(warmup_steps=0.1, train_sampling_strategy="group_by_length")  # the old defaults, asked for
    apply_kind_defaults("layers", args)
    assert (args.train_sampling_strategy, args.warmup_steps) == ("group_by_length", 0.1)


def test_unlabeled_text_replaces_the_augmented_copies_unless_they_are_asked_for():
    from types import SimpleNamespace

    from hfdistill.students import apply_kind_defaults

    assert kind_defaults("layers", alpha=0.5, unlabeled=True)["augment_factor"] == 0
    training_args = SimpleNamespace(alpha=0.5, pseudo_labels="none", hidden_state_weight=0.0, num_train_epochs=None,
                                    learning_rate=None)
    for unlabeled_file, given, expected in [("movie.txt", None, 0), (None, None, 4), ("movie.txt", 2, 2)]:
        transfer = SimpleNamespace(unlabeled_file=unlabeled_file, augment_factor=given)
        apply_kind_defaults("layers", training_args, transfer)
        assert transfer.augment_factor == expected


def test_a_linear_student_given_unlabeled_text_gets_hashed_bigrams_unless_told_otherwise():
    from types import SimpleNamespace

    from hfdistill.students import apply_kind_defaults

    assert kind_defaults("linear", alpha=0.5)["student_num_bigram_buckets"] == 0
    assert kind_defaults("linear", alpha=0.5, unlabeled=True)["student_num_bigram_buckets"] == 65536
    assert kind_defaults("layers", alpha=0.5, unlabeled=True)["student_num_bigram_buckets"] == 0
    training_args = SimpleNamespace(alpha=0.5, pseudo_labels="none", hidden_state_weight=0.0, num_train_epochs=None,
                                    learning_rate=None)
    for unlabeled_file, given, expected in [("movie.txt", None, 65536), (None, None, 0), ("movie.txt", 0, 0)]:
        model_args = SimpleNamespace(student_num_bigram_buckets=given, student_freeze_word_embeddings=None)
        apply_kind_defaults("linear", training_args, model_args, SimpleNamespace(unlabeled_file=unlabeled_file,
                                                                                  augment_factor=None))
        assert model_args.student_num_bigram_buckets == expected


@pytest.mark.parametrize("vocab_size, hidden_size", [(15, 16), (3, 8), (40, 8)])
def test_compact_and_linear_students_build_from_a_vocabulary_smaller_than_their_width(vocab_size, hidden_size):
    """Character- or nucleotide-level vocabularies have fewer tokens than the student has dimensions."""
    from hfdistill.students import pca_projection

    teacher = tiny_bert(seed=0, vocab_size=vocab_size, hidden_size=32, num_attention_heads=2, intermediate_size=16)
    compact = compact_student(teacher, num_layers=1, hidden_size=hidden_size, num_attention_heads=2,
                              intermediate_size=16)
    linear = linear_student(teacher, embedding_dim=hidden_size)
    input_ids = torch.tensor([[0, 1, 2, vocab_size - 1]])
    for student in (compact, linear):
        assert student(input_ids=input_ids).logits.shape == (1, 2)
    projection = pca_projection(teacher.get_input_embeddings().weight, hidden_size)
    assert projection.shape == (32, hidden_size)
    assert torch.allclose(projection.T @ projection, torch.eye(hidden_size), atol=1e-5)  # orthonormal columns


def test_model_stats_time_sentence_pairs(tokenizer):
    from hfdistill.evaluation.profiling import _batches

    pairs = [("good film", "bad plot"), ("a fine story", "weak")] * 3
    batches = _batches(tokenizer, pairs, batch_size=4, max_length=16)
    assert batches[0]["input_ids"].shape[0] == 4 and batches[0]["token_type_ids"].max() == 1
    stats = model_stats(tiny_bert(seed=0), tokenizer, pairs, max_length=16, num_latency_examples=4)
    assert stats.throughput_batch32 > 0 and stats.latency_ms_batch1 > 0


def test_a_linear_student_compares_the_two_texts_of_a_pair(tokenizer):
    """"compare" pools each text apart ([u, v, |u - v|, u * v]); "bag" cannot tell which text a word is in."""
    teacher = tiny_bert(seed=0)
    bag, compare = (linear_student(teacher, embedding_dim=4),
                    linear_student(teacher, embedding_dim=4, pair_features="compare"))
    assert compare.classifier.in_features == 16 and bag.classifier.in_features == 4
    swapped_a = tokenizer("good film", "bad plot", return_tensors="pt")
    swapped_b = tokenizer("good bad", "film plot", return_tensors="pt")  # the same bag of words, split otherwise
    for model in (bag, compare):
        model.eval()
    with torch.no_grad():
        assert torch.allclose(bag(**swapped_a).logits, bag(**swapped_b).logits)
        assert not torch.allclose(compare(**swapped_a).logits, compare(**swapped_b).logits)
        u = compare._mean(swapped_a["input_ids"], swapped_a["attention_mask"] * swapped_a["token_type_ids"].eq(0))
        v = compare._mean(swapped_a["input_ids"], swapped_a["attention_mask"] * swapped_a["token_type_ids"].eq(1))
        features = torch.cat([u, v, (u - v).abs(), u * v], dim=-1)
        assert_close(compare(**swapped_a).logits, compare.classifier(features))


@pytest.mark.parametrize("problem_type, num_labels, labels", [
    ("regression", 1, torch.tensor([2.5])), ("multi_label_classification", 2, torch.tensor([[1.0, 0.0]]))])
def test_the_linear_students_own_loss_follows_the_task(problem_type, num_labels, labels):
    teacher = tiny_bert(seed=0, num_labels=num_labels, problem_type=problem_type, id2label=None, label2id=None)
    student = linear_student(teacher, embedding_dim=4)
    output = student(input_ids=torch.tensor([[2, 9, 3]]), labels=labels)
    expected = (torch.nn.functional.mse_loss(output.logits.squeeze(-1), labels) if num_labels == 1
                else torch.nn.functional.binary_cross_entropy_with_logits(output.logits, labels))
    assert_close(output.loss, expected)


def test_alpha_0_with_augmented_copies_or_unlabeled_text_warns_that_those_rows_still_learn_from_the_teacher(caplog):
    from types import SimpleNamespace

    from hfdistill.students import apply_kind_defaults

    def run(alpha, augment_factor, unlabeled_file=None, pseudo_labels="none"):
        caplog.clear()
        args = SimpleNamespace(alpha=alpha, pseudo_labels=pseudo_labels, hidden_state_weight=0.0)
        transfer = SimpleNamespace(augment_factor=augment_factor, unlabeled_file=unlabeled_file)
        with caplog.at_level("WARNING"):
            apply_kind_defaults("layers", args, transfer)
        return caplog.text

    text = run(0.0, 8)  # a config asking for copies, with --alpha 0 for a hard-label baseline
    assert "8 augmented copies of each text" in text and "--augment_factor 0" in text
    assert "the unlabeled text" in run(0.0, 0, "more.txt")
    assert run(0.0, None) == ""  # left unset: the kind's default for alpha 0 is no copies
    assert run(0.5, 8) == "" and run(0.0, 8, pseudo_labels="hard") == ""
