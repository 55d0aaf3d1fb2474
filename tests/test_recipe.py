"""The flagship recipe, end to end on a few hundred SST-2 rows with a tiny teacher (seconds, CPU)."""

import concurrent.futures
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi
from huggingface_hub.utils import filter_repo_objects
from transformers import AutoModelForSequenceClassification, HfArgumentParser, pipeline

from conftest import RECIPE, REPO, SST2, load_recipe, subprocess_env
from hfdistill import MeanPoolingBertConfig
from hfdistill.students import KIND_DEFAULTS

FAST = ["--num_train_epochs", "1", "--teacher_num_train_epochs", "1", "--disable_tqdm", "true", "--use_cpu", "true",
        "--per_device_train_batch_size", "16", "--logging_steps", "5"]

pytestmark = pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2 beside the checkout")


def launch(arguments: list[str], num_processes: int = 1) -> subprocess.CompletedProcess:
    launcher = ["--cpu"] if num_processes == 1 else ["--multi_gpu", "--num_processes", str(num_processes)]
    env = subprocess_env(PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", str(RECIPE), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def run_in_process(arguments: list[str], monkeypatch) -> None:
    recipe = load_recipe(monkeypatch)
    monkeypatch.setattr(sys, "argv", [str(RECIPE), *arguments])
    recipe.main()


def test_recipe_end_to_end_through_accelerate_launch_then_reuses_the_teacher(tiny_teacher, sst2_files, tmp_path):
    output_dir = tmp_path / "out"
    # FAST less --num_train_epochs: the 'layers' student's own default (1 epoch over its augmented transfer set).
    arguments = ["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir), *FAST[2:]]
    launch(arguments)

    results = json.loads((output_dir / "results.json").read_text())
    for model in ("teacher", "student"):
        for key in ("accuracy", "f1", "num_parameters", "disk_size_mb", "latency_ms_batch1", "throughput_batch32"):
            assert results[model][key] > 0 or key == "f1", (model, key)
        assert 0 <= results[model]["accuracy"] <= 1
    for key in ("accuracy_kept", "size", "disk_size", "latency_speedup", "throughput_speedup"):
        assert results["ratios"][key] is not None
    for key in ("teacher_fine_tuning_s", "distillation_s", "evaluation_s", "profiling_s", "total_s"):
        assert results["timings"][key] >= 0
    assert results["timings"]["teacher_fine_tuning_s"] > 0
    assert results["teacher_source"]["source"] == "fine_tuned"
    assert results["teacher_logits"]["source"] == "built" and results["timings"]["teacher_logits_s"] > 0
    # The 'layers' student's defaults: 4 augmented copies of each text (soft labels only), frozen word embeddings.
    assert results["transfer_set"]["augmented"] == 1200 and results["train_examples"] == 1500
    assert results["student_settings"]["freeze_word_embeddings"] is True
    assert results["distillation"] == {"temperature": 2.0, "alpha": 0.5, "distillation_loss": "kl",
                                       "num_train_epochs": 1.0, "learning_rate": 1e-4, "seed": 42,
                                       "pseudo_labels": "none", "pseudo_label_threshold": 0.0,
                                       "hidden_state_weight": 0.0, "hidden_state_loss": "mse",
                                       "attention_relation_weight": 0.0, "class_weights": None}
    assert (output_dir / "accuracy_vs_latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    card = (output_dir / "README.md").read_text()
    for expected in ("temperature T | 2.0", "alpha (soft-term weight) | 0.5", "soft loss | kl", tiny_teacher,
                     "Accuracy kept", "accelerate launch", "--output_dir"):
        assert expected in card, expected

    classifier = pipeline("text-classification", model=str(output_dir), device="cpu")
    assert classifier("a gripping , beautifully acted film")[0]["label"] in {"negative", "positive"}
    student = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert student.config.num_hidden_layers == 2 and student.config.id2label == {0: "negative", 1: "positive"}
    assert (output_dir / "teacher" / "model.safetensors").is_file()

    # Rerun: the fine-tuned teacher in output_dir/teacher is reused, not trained again.
    teacher_weights = (output_dir / "teacher" / "model.safetensors").stat().st_mtime_ns
    launch(arguments)
    rerun = json.loads((output_dir / "results.json").read_text())
    assert rerun["teacher_source"]["source"] == "reused"
    assert rerun["timings"]["teacher_fine_tuning_s"] == 0.0
    assert (output_dir / "teacher" / "model.safetensors").stat().st_mtime_ns == teacher_weights
    assert rerun["teacher"]["accuracy"] == results["teacher"]["accuracy"]
    assert rerun["teacher_logits"]["source"] == "loaded"  # same teacher, tokenizer, data and length: no rebuild
    assert rerun["teacher_logits"]["path"] == results["teacher_logits"]["path"]


def test_recipe_with_two_processes(tiny_teacher, sst2_files, tmp_path):
    output_dir = tmp_path / "out"
    result = launch(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir), *FAST,
                     "--augment_factor", "0"], num_processes=2)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["student"]["accuracy"] >= 0 and results["train_examples"] == 300
    # 300 examples, 16 per process, 2 processes: 10 optimizer steps (one process alone would take 19).
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-10"]
    # One copy of every output, each written once by the main process (no per-process duplicates or stray staging).
    assert sorted(p.name for p in output_dir.iterdir()) == sorted([
        "README.md", "_cache", "accuracy_vs_latency.png", "checkpoint-10", "config.json", "model.safetensors",
        "results.json", "teacher", "tokenizer.json", "tokenizer_config.json", "training_args.bin"])
    assert len(list((output_dir / "_cache").iterdir())) == 2  # one logit file and its record
    assert result.stdout.count("accuracy kept") == 1  # the report is printed (and written) by the main process only


def test_local_json_lines_with_string_labels_and_three_classes(tiny_teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = [("a wonderful , moving film", "pos"), ("dull and lifeless", "neg"), ("it is a movie", "neutral")] * 20
    for split in ("train", "validation"):
        with open(tmp_path / f"{split}.jsonl", "w") as f:
            for text, label in rows:
                f.write(json.dumps({"text": text, "sentiment": label}) + "\n")
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, "--train_file", str(tmp_path / "train.jsonl"),
                     "--validation_file", str(tmp_path / "validation.jsonl"), "--label_column", "sentiment",
                     "--output_dir", str(output_dir), "--student", "linear", "--student_embedding_dim", "8",
                     "--cache_teacher_logits", "false", *FAST[2:]], monkeypatch)  # FAST less --num_train_epochs
    results = json.loads((output_dir / "results.json").read_text())
    assert results["teacher_logits"] is None and not (output_dir / "_cache").exists()
    # Neither --learning_rate nor --num_train_epochs given: the linear student's own defaults.
    assert results["distillation"]["learning_rate"] == KIND_DEFAULTS["learning_rate"]["linear"] == 1e-3
    assert results["distillation"]["num_train_epochs"] == KIND_DEFAULTS["num_train_epochs"]["linear"] == 1.0
    assert results["labels"] == {"0": "neg", "1": "neutral", "2": "pos"}
    assert "f1_macro" in results["student"] and "f1" not in results["student"]
    student = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert (student.config.id2label == {0: "neg", 1: "neutral", 2: "pos"}
            and student.config.model_type == "hfdistill-linear")
    predictions = pipeline("text-classification", model=str(output_dir), device="cpu")(["dull and lifeless"])
    assert predictions[0]["label"] in {"neg", "neutral", "pos"}


def test_push_to_hub_uploads_the_student_and_its_card_never_the_teacher(tiny_teacher, sst2_files, tmp_path,
                                                                        monkeypatch):
    """The Hub boundary (HfApi) is replaced by a local folder: what would be uploaded must load as a working model."""
    hub = tmp_path / "hub"
    uploads = []

    def create_repo(self, repo_id, **kwargs):
        from huggingface_hub import RepoUrl

        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, ignore_patterns=None, run_as_future=False, **kwargs):
        uploads.append({"repo_id": repo_id, "ignore_patterns": ignore_patterns})
        folder = Path(folder_path)
        files = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
        for relative in filter_repo_objects(files, ignore_patterns=ignore_patterns):
            (hub / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / relative, hub / relative)
        if run_as_future:
            future = concurrent.futures.Future()
            future.set_result(None)
            return future
        return None

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
                     "--push_to_hub", "true", "--hub_model_id", "someone/sst2-student", *FAST], monkeypatch)

    assert uploads and all(upload["repo_id"] == "someone/sst2-student" for upload in uploads)
    assert (output_dir / "teacher" / "model.safetensors").is_file()  # kept locally...
    assert not (hub / "teacher").exists()  # ...never uploaded
    card = (hub / "README.md").read_text()
    assert "knowledge-distillation" in card and "Accuracy kept" in card and "someone/sst2-student" in card
    classifier = pipeline("text-classification", model=str(hub), device="cpu")
    assert classifier("a gripping film")[0]["label"] in {"negative", "positive"}


def test_unlabeled_text_from_two_files_drawn_down_to_max_unlabeled_samples(tiny_teacher, sst2_files, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "a.txt").write_text("an utterly charming film\nthe plot never comes alive\n")
    long = " ".join(["a tedious , overlong mess"] * 60)  # two of them: any draw of 4 of the 5 rows keeps one
    (tmp_path / "b.txt").write_text(f"{long}\nwarm and funny\n{long} !\n")
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(tmp_path / "out"),
                    "--unlabeled_file", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--max_unlabeled_samples",
                    "4", "--augment_factor", "0", "--max_seq_length", "64", *FAST], monkeypatch)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["transfer_set"] == {"labeled": 300, "unlabeled": 4, "unlabeled_available": 5, "augmented": 0}
    assert results["train_examples"] == 304 and "drawn from 5" in (tmp_path / "out" / "README.md").read_text()
    # the rows only the teacher labels are truncated by the same rule as the task's, and the run counts them
    unlabeled = results["truncation"]["splits"]["unlabeled"]
    assert unlabeled["rows"] == 4 and 1 <= unlabeled["truncated"] <= 2 and unlabeled["max"] > 64


def test_transfer_set_with_unlabeled_text_and_augmentation(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("an utterly charming film\n\nthe plot never comes alive\na tedious , overlong mess\n")
    output_dir = tmp_path / "out"
    common = ["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
              "--unlabeled_file", str(unlabeled), "--augment_factor", "2", "--pseudo_labels", "both", *FAST]
    run_in_process([*common, "--augment_seed", "1"], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    # the blank line is dropped
    assert results["transfer_set"]["labeled"] == 300 and results["transfer_set"]["unlabeled"] == 3
    assert results["transfer_set"]["augmented"] == 600 and results["train_examples"] == 903
    assert results["transfer_set"]["augmentation"]["seed"] == 1 and results["distillation"]["pseudo_labels"] == "both"
    assert results["teacher_logits"]["source"] == "built" and results["teacher_source"]["source"] == "fine_tuned"
    assert "augmentation_s" in results["timings"]
    assert results["teacher_source"]["train_examples"] == 300  # the teacher learns from the labeled rows alone

    # Another augmentation seed: other texts, so new teacher logits; the teacher itself is reused, and so are the
    # logits of the rows both transfer sets hold (the labeled and unlabeled ones at least): only the others are run.
    run_in_process([*common, "--augment_seed", "2"], monkeypatch)
    again = json.loads((output_dir / "results.json").read_text())
    assert again["teacher_logits"]["source"] == "built" and again["teacher_source"]["source"] == "reused"
    assert 303 <= again["teacher_logits"]["reused_rows"] < 903
    assert again["teacher_logits"]["path"] != results["teacher_logits"]["path"]  # files are named by fingerprint


def test_hidden_state_distillation_through_the_recipe(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    common = ["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
              "--hidden_state_weight", "1.0", *FAST]
    with pytest.raises(ValueError, match="a 'linear' student does not have"):
        run_in_process([*common, "--student", "linear"], monkeypatch)
    assert not (output_dir / "teacher").exists()  # refused before fine-tuning the teacher

    run_in_process([*common, "--student", "layers", "--student_num_layers", "1"], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert (results["distillation"]["hidden_state_weight"] == 1.0
            and results["distillation"]["hidden_state_loss"] == "mse")
    state = json.loads(next(output_dir.glob("checkpoint-*/trainer_state.json")).read_text())
    assert any("loss_hidden" in entry for entry in state["log_history"])
    assert "Plus 1.0 x the mse distance between each student layer's output" in (output_dir / "README.md").read_text()


def test_freeze_flag_is_unset_by_default_and_a_bare_switch_means_true():
    spec = importlib.util.spec_from_file_location("sst2_recipe_flags", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    parser = HfArgumentParser(recipe.ModelArguments)
    # Unset: None, for the student kind's default to fill in; a bare switch still means true, as for any bool flag.
    for flags, expected in (([], None), (["--student_freeze_word_embeddings"], True),
                            (["--student_freeze_word_embeddings", "false"], False)):
        (model_args,) = parser.parse_args_into_dataclasses(flags)
        assert model_args.student_freeze_word_embeddings is expected, flags
    # The per-kind defaults named in --help are read from KIND_DEFAULTS, so they cannot drift from what is applied.
    help_text = " ".join(
        HfArgumentParser((recipe.ModelArguments, recipe.RecipeTrainingArguments)).format_help().split())
    for expected in ("layers: 1.0, compact: 3.0, linear: 1.0", "layers: 0.0001, compact: 0.0005, linear: 0.001",
                     "layers: True, compact: False, linear: False",
                     "layers: 0, compact: 0, linear: 0; with --unlabeled_file: layers: 0, compact: 0, linear: 65536"):
        assert expected in help_text, expected


def test_hard_label_run_gets_no_augmented_copies_by_default(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
                    "--alpha", "0", *FAST], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    # The same 'layers' defaults otherwise, but the transfer set is the labeled rows alone: nothing the teacher labels.
    assert results["transfer_set"]["augmented"] == 0 and results["train_examples"] == 300
    assert results["student_settings"]["freeze_word_embeddings"] is True and results["distillation"]["alpha"] == 0.0


@pytest.mark.parametrize("id2label, matched, labels", [
    # names that contradict the data's order
    ({0: "positive", 1: "negative"}, "by_name", {"0": "positive", "1": "negative"}),
    (None, "by_index", {"0": "negative", "1": "positive"}),  # a trained head saved without id2label (LABEL_0, LABEL_1)
])
def test_a_fine_tuned_teacher_is_used_as_is_with_classes_matched_to_the_data(id2label, matched, labels, tiny_teacher,
                                                                             sst2_files, tmp_path, monkeypatch):
    from transformers import AutoTokenizer, BertForSequenceClassification

    backbone = BertForSequenceClassification.from_pretrained(tiny_teacher)
    teacher = tmp_path / "fine_tuned"
    if id2label:
        backbone.config.id2label, backbone.config.label2id = id2label, {name: i for i, name in id2label.items()}
    backbone.save_pretrained(teacher)
    AutoTokenizer.from_pretrained(tiny_teacher).save_pretrained(teacher)
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", str(teacher), *sst2_files, "--output_dir", str(output_dir), *FAST],
                   monkeypatch)  # sst2_files pass --class_names negative positive: SST-2's 0 means negative
    results = json.loads((output_dir / "results.json").read_text())
    assert results["teacher_source"]["source"] == "as_is" and results["teacher_source"]["classes_matched"] == matched
    assert not (output_dir / "teacher").exists()  # not fine-tuned again
    assert results["labels"] == labels
    student = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert {str(k): v for k, v in student.config.id2label.items()} == labels


def test_a_mean_pooling_head_for_a_teacher_used_as_is_is_refused_before_any_training(tiny_teacher, sst2_files, tmp_path,
                                                                                     monkeypatch):
    from transformers import AutoTokenizer, BertForSequenceClassification

    teacher = tmp_path / "fine_tuned"
    BertForSequenceClassification.from_pretrained(tiny_teacher).save_pretrained(teacher)
    AutoTokenizer.from_pretrained(tiny_teacher).save_pretrained(teacher)
    output_dir = tmp_path / "out"
    recipe = load_recipe(monkeypatch)
    # main()'s own namespace: recipes/sst2.py runs recipes/text_classification.py's main.
    monkeypatch.setitem(recipe.main.__globals__, "load_task",
                        lambda *a, **k: pytest.fail("the data were read before the check"))
    monkeypatch.setattr(sys, "argv", [str(RECIPE), "--teacher_model_name_or_path", str(teacher), *sst2_files,
                                      "--output_dir", str(output_dir), "--teacher_classifier_pooling", "mean", *FAST])
    with pytest.raises(ValueError, match="used as is. Pass --teacher_fine_tuning always"):
        recipe.main()
    assert not output_dir.exists()  # nothing trained, nothing written


# ---- every task shape through the recipe (issue 17), a few rows of each shipped set ------------------

SHARED = REPO.parent / "shared" / "data"


def _head_rows(source: Path, target: Path, rows: int, header: bool = True) -> str:
    with open(source, encoding="utf-8-sig") as f:
        lines = [next(f) for _ in range(rows + (1 if header else 0))]
    target.write_text("".join(lines))
    return str(target)


@pytest.mark.parametrize("task", ["mrpc", "rte", "stsb", "goemotions"])
def test_every_task_shape_end_to_end_through_accelerate_launch(task, tiny_teacher, tmp_path):
    if not (SHARED / task).is_dir():
        pytest.skip(f"needs ../shared/data/{task}")
    config = REPO / "recipes" / "configs" / f"{task}.yaml"
    train_name, dev_name = ("train.tsv", "dev.tsv")
    header = task != "goemotions"
    train = _head_rows(SHARED / task / train_name, tmp_path / "train.tsv", 120, header)
    dev = _head_rows(SHARED / task / dev_name, tmp_path / "dev.tsv", 40, header)
    output_dir = tmp_path / "out"
    launch([str(config), "--teacher_model_name_or_path", tiny_teacher, "--train_file", train, "--validation_file", dev,
            "--output_dir", str(output_dir), *FAST, "--augment_factor", "1", "--max_seq_length", "64",
            "--student_num_layers", "1"])  # the tiny teacher has 2 layers; MRPC asks for 3, RTE 6
    results = json.loads((output_dir / "results.json").read_text())
    expected = {"mrpc": ("single_label_classification", "f1"), "rte": ("single_label_classification", "accuracy"),
                "stsb": ("regression", "spearman"),
                "goemotions": ("multi_label_classification", "f1_macro")}[task]
    assert (results["problem_type"], results["primary_metric"]) == expected
    assert results["primary_metric"] in results["student"] and "metric_kept" in results["ratios"]
    assert results["transfer_set"]["augmented"] == 120
    student = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert student.config.problem_type == expected[0]
    card = (output_dir / "README.md").read_text()
    classifier = pipeline("text-classification", model=str(output_dir), device="cpu")
    if task == "mrpc":
        prediction = classifier({"text": "The cat sat on the mat.", "text_pair": "A cat was sitting on the mat."})
        assert prediction["label"] in {"not_equivalent", "equivalent"}
        assert "CE(s, y)" in card
    elif task == "rte":  # the config's teacher reads the mean of the token states; its cut keeps that head
        prediction = classifier({"text": "The cat sat on the mat.", "text_pair": "A cat is on the mat."})
        assert prediction["label"] in {"entailment", "not_entailment"}
        assert student.config.model_type == MeanPoolingBertConfig.model_type
    elif task == "stsb":
        prediction = classifier({"text": "A man plays a guitar.", "text_pair": "A man is playing guitar."})
        assert isinstance(prediction["score"], float)  # a score, not a probability of a class
        assert "(s - t)^2" in card and "T does not enter" in card
    else:
        scores = classifier("I love this so much, thank you!", top_k=None)
        assert len(scores) == 28 and {"admiration", "gratitude"} <= {s["label"] for s in scores}
        assert "sigmoid" in card


@pytest.mark.parametrize("config", sorted((REPO / "recipes" / "configs").glob("*.yaml")), ids=lambda path: path.stem)
def test_each_shipped_config_sets_what_it_says_over_the_student_kinds_defaults(config, monkeypatch):
    # The per-task settings (e.g. STS-B's student learning rate) live in these files; each must reach the run typed as
    # its flag would be (YAML reads 5e-4 as a string) and must not be replaced by the student kind's default.
    settings = yaml.safe_load(config.read_text())
    parsed = load_recipe(monkeypatch).parse_arguments([str(config)])
    for key, value in settings.items():
        holder = next(arguments for arguments in parsed if hasattr(arguments, key))
        got = getattr(holder, key)
        if isinstance(got, float):
            value = float(value)
        elif isinstance(got, list) and not isinstance(value, list):
            value = [value]
        assert got == value, (config.name, key, got, value)


@pytest.mark.parametrize("supported, flags, expected", [(True, [], "bf16 autocast"), (False, [], "fp32"),
                                                        (True, ["--cpu_bf16", "false"], "fp32")])
def test_cpu_bf16_and_the_teachers_speed_options_through_the_recipe(supported, flags, expected, tiny_teacher,
                                                                    sst2_files, tmp_path, monkeypatch):
    from hfdistill import DistillationTrainer, precision
    from hfdistill.teachers import fine_tuning as teacher_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"} if supported else set())
    used = {}
    build = teacher_module.TeacherTrainer._get_train_sampler
    monkeypatch.setattr(teacher_module.TeacherTrainer, "_get_train_sampler",
                        lambda self, *a: used.setdefault("sampler", (build(self, *a), self.args.warmup_steps))[0])
    build_student = DistillationTrainer._get_train_sampler
    monkeypatch.setattr(DistillationTrainer, "_get_train_sampler",
                        lambda self, *a: used.setdefault("student",
                                                         (build_student(self, *a), self.args.warmup_steps))[0])
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir), *FAST,
                    "--augment_factor", "0", "--teacher_freeze_word_embeddings", *flags], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["precision"]["training_precision"] == expected and results["precision"]["device"] == "cpu"
    # the teacher-logit pass follows the training precision (--teacher_inference_dtype auto), and its cache key says so
    assert results["precision"]["teacher_inference_dtype"] == ("bfloat16" if expected == "bf16 autocast" else "float32")
    cache_records = [json.loads(p.read_text())
                     for p in (output_dir / "_cache").glob("teacher_logits-*.safetensors.json")]
    assert ([r["key"].get("dtype", "float32") for r in cache_records]
            == [results["precision"]["teacher_inference_dtype"]])
    assert type(used["sampler"][0]).__name__ == "LengthWindowSampler"
    # The 2-layer cut's batch order and warmup are its own (kind defaults); the teacher keeps 10% warmup.
    assert type(used["student"][0]).__name__ == "LengthWindowSampler" and used["student"][1] == 0.0
    settings = json.loads((output_dir / "teacher" / "hfdistill_teacher.json").read_text())
    assert settings["freeze_word_embeddings"] is True and settings["train_sampling_strategy"] == "length_window"
    assert settings.get("mixed_precision") == ("bf16" if expected != "fp32" else None)
    assert used["sampler"][1] == 0.1 and "warmup_steps" not in settings  # recorded only when not 0.1 (older teachers)
    assert results["teacher_logits"]["processes"] == 1


def test_an_ensemble_of_teachers_fine_tuned_with_several_seeds(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir), *FAST,
                    "--augment_factor", "0", "--teacher_seeds", "0", "1", "--teacher_weights", "1", "3"], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["teacher_source"]["source"] == "ensemble"
    assert [t["seed"] for t in results["teacher_source"]["teachers"]] == [0, 1]
    assert (output_dir / "teacher-seed0" / "model.safetensors").is_file() and (output_dir / "teacher-seed1").is_dir()
    assert len(results["each_teacher"]) == 2 and len(results["teacher_logits"]["teachers"]) == 2
    assert len(list((output_dir / "_cache").glob("*.safetensors"))) == 2  # one cache per teacher
    assert 0 <= results["teacher"]["accuracy"] <= 1 and all("eval_accuracy" in each for each in results["each_teacher"])
    assert "The teacher is an ensemble of teacher 1" in (output_dir / "README.md").read_text()


def test_a_search_before_distilling_records_every_trial_and_uses_the_best(tiny_teacher, sst2_files, tmp_path,
                                                                          monkeypatch):
    pytest.importorskip("optuna")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir), *FAST,
                    "--augment_factor", "0", "--search_trials", "2", "--search_holdout", "0.2"], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    search = results["search"]
    assert len(search["trials"]) == 2 and search["held_out_fraction"] == 0.2
    best = search["best"]
    assert {results["distillation"][name] for name in ("temperature", "alpha", "learning_rate")} == set(best.values())
    assert max(t["objective"] for t in search["trials"]) == next(
        t["objective"] for t in search["trials"] if t["params"] == best)
