"""Issue 7: bad input fails before training, a killed run resumes exactly, the same seed repeats, nothing unsafe
loads."""

import ast
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import RECIPE, REPO, SST2, subprocess_env
from test_recipe import FAST, run_in_process

pytestmark = pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2 beside the checkout")
# Many small steps and frequent checkpoints, so that a kill lands mid-distillation.
LONG = ["--num_train_epochs", "3", "--per_device_train_batch_size", "4", "--save_strategy", "steps",
        "--save_steps", "10", "--eval_strategy", "no", "--disable_tqdm", "true", "--use_cpu", "true",
        "--teacher_num_train_epochs", "1", "--seed", "7"]


def _recipe_command(arguments):
    return [sys.executable, str(RECIPE), *arguments]


def _env():
    return subprocess_env(PYTHONUNBUFFERED="1")


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def test_killed_mid_distillation_resumes_to_the_same_student(tiny_teacher, sst2_files, tmp_path):
    common = ["--teacher_model_name_or_path", tiny_teacher, *sst2_files, *LONG]
    reference = tmp_path / "reference"
    subprocess.run(_recipe_command([*common, "--output_dir", str(reference)]), check=True, env=_env(), cwd=REPO,
                   capture_output=True, timeout=600)

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(_recipe_command([*common, "--output_dir", str(interrupted)]), env=_env(), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if any((interrupted / f"checkpoint-{step}" / "trainer_state.json").exists() for step in (20, 30, 40)):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed mid-distillation"
    assert not (interrupted / "results.json").exists()
    teacher_weights = (interrupted / "teacher" / "model.safetensors").stat().st_mtime_ns
    cache_files = {p.name: p.stat().st_mtime_ns for p in (interrupted / "_cache").iterdir()}

    subprocess.run(_recipe_command([*common, "--output_dir", str(interrupted), "--resume_from_checkpoint", "true"]),
                   check=True, env=_env(), cwd=REPO, capture_output=True, timeout=600)
    results = json.loads((interrupted / "results.json").read_text())
    assert results["teacher_source"]["source"] == "reused"  # the teacher was not fine-tuned again
    assert results["teacher_logits"]["source"] == "loaded"  # nor the logit cache rebuilt
    assert (interrupted / "teacher" / "model.safetensors").stat().st_mtime_ns == teacher_weights
    assert {p.name: p.stat().st_mtime_ns for p in (interrupted / "_cache").iterdir()} == cache_files
    expected, resumed = _weights(reference), _weights(interrupted)
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert (expected[name] == resumed[name]).all(), f"{name} differs after resuming"


def test_the_same_seed_twice_gives_identical_students(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for run in ("first", "second"):
        run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(tmp_path / run),
                        *FAST, "--seed", "3"], monkeypatch)
    first, second = _weights(tmp_path / "first"), _weights(tmp_path / "second")
    assert all((first[name] == second[name]).all() for name in first)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--student", "compact", "--student_hidden_size", "10", "--student_num_attention_heads", "4"],
         r"hidden_size \(10\) must be divisible by num_attention_heads \(4\)"),
        (["--student", "layers", "--student_num_layers", "5"],
         "num_layers must be between 1 and the teacher's 2 layers"),
        (["--student", "layers", "--student_layers", "0", "3"], r"layers \[3\] out of range"),
        (["--temperature", "0"], "temperature must be > 0"),
        (["--alpha", "1.5"], r"alpha must be in \[0, 1\]"),
        (["--max_seq_length", "100000"], "max_seq_length=100000 exceeds the model's limit"),
    ],
)
def test_bad_settings_fail_before_any_training(flags, message, tiny_teacher, sst2_files, tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
                        *FAST, *flags], monkeypatch)
    assert not (output_dir / "teacher").exists()  # the teacher's fine-tuning never started


def test_an_unknown_student_kind_is_refused_with_the_choices(tiny_teacher, tmp_path):
    result = subprocess.run(_recipe_command(["--teacher_model_name_or_path", tiny_teacher, "--student", "lstm",
                                             "--output_dir", str(tmp_path)]),
                            capture_output=True, text=True, env=_env())
    assert result.returncode != 0
    assert "invalid choice: 'lstm' (choose from" in result.stderr and "layers" in result.stderr


def test_a_teacher_path_that_is_not_a_model_folder(sst2_files, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without config.json, so it is not a saved model"):
        run_in_process(["--teacher_model_name_or_path", str(tmp_path / "empty"), *sst2_files, "--output_dir",
                        str(tmp_path / "out"), *FAST], monkeypatch)


def test_hfdistill_never_loads_pickles_or_turns_on_remote_code():
    sources = {path: path.read_text() for path in (REPO / "hfdistill").rglob("*.py")}
    sources[RECIPE] = RECIPE.read_text()
    for path, text in sources.items():
        assert "torch.load(" not in text, path
        assert not re.search(r"import pickle|pickle\.loads?\(|weights_only\s*=\s*False", text), path
        calls = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)]
        enabled = [kw for call in calls for kw in call.keywords if kw.arg == "trust_remote_code"
                   and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)]
        assert not enabled, f"{path} passes trust_remote_code"


@pytest.mark.parametrize("case", ["empty text", "empty label", "cp1252"])
def test_bad_data_files_fail_before_any_training_naming_file_and_line(case, tiny_teacher, sst2_files, tmp_path,
                                                                      monkeypatch):
    rows = {"empty text": "sentence\tlabel\na fine film\t1\n\t0\n",
            "empty label": "sentence\tlabel\na fine film\t1\ndull\t\n",
            "cp1252": "sentence\tlabel\na fine film\t1\na café film\t0\n"}[case]
    train = tmp_path / "train.tsv"
    train.write_bytes(rows.encode("cp1252"))
    message = {"empty text": rf"{train}: empty 'sentence' on line 3",
               "empty label": rf"{train}: empty 'label' on line 3",
               "cp1252": rf"{train}, line 3: .* not valid utf-8.*--encoding cp1252"}[case]
    output_dir = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--train_file", str(train),
                        "--output_dir", str(output_dir), *FAST], monkeypatch)
    assert not (output_dir / "teacher").exists()
