"""Adding a loss, a student kind or a teacher source touches one module: each is added here, in the test, and used
through the public entry points (the config, the recipe's flags, DistillationTrainer) without editing hfdistill."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from conftest import REPO, random_token_dataset, subprocess_env, tiny_bert
from test_distillation_trainer import batch_of, make_args
from hfdistill import DistillationTrainer, DistillationTrainingArguments
from hfdistill.losses import LOSS_REGISTRY, MULTI_LABEL, register_loss
from hfdistill.parser import DistillationArgumentParser
from hfdistill.students import KIND_DEFAULTS, STUDENT_KINDS, StudentKind, StudentOption, register_student_kind
from hfdistill.students import student_from_teacher
from hfdistill.teachers import TEACHER_SOURCES, Teacher, register_teacher_source


@pytest.fixture
def toy_l1_loss():
    """A soft term registered for multi-label tasks only: sum over labels of |s - t|."""
    register_loss(lambda s, t, temperature, reduction: (s - t).abs().sum(-1), name="toy_l1", problem_type=MULTI_LABEL,
                  formula="|s - t|", source="a test")
    yield "toy_l1"
    LOSS_REGISTRY.pop(("soft", "toy_l1", MULTI_LABEL))


def test_a_loss_registered_for_multi_label_alone_is_accepted_by_the_config_the_parser_and_the_trainer(
        toy_l1_loss, tmp_path):
    args = DistillationTrainingArguments(output_dir=str(tmp_path), distillation_loss=toy_l1_loss, report_to="none",
                                         use_cpu=True, alpha=1.0)
    (parsed,) = DistillationArgumentParser((DistillationTrainingArguments,)).parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--distillation_loss", toy_l1_loss])
    assert parsed.distillation_loss == toy_l1_loss
    multi = {"problem_type": MULTI_LABEL}
    teacher, student = tiny_bert(seed=0, **multi), tiny_bert(seed=1, num_hidden_layers=1, **multi)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args)
    batch = dict(batch_of(random_token_dataset(num_examples=4, labeled=False)))
    student.train()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        expected = (student(**inputs).logits - teacher(**inputs).logits).abs().sum(-1).mean()
    assert_close(trainer.compute_loss(student, batch), expected)
    # A single-label teacher has no such term: refused before training, naming what is defined.
    with pytest.raises(ValueError, match="'toy_l1' is not defined for single_label_classification"):
        DistillationTrainer(model=tiny_bert(seed=1), teacher_model=tiny_bert(), args=args)


@pytest.fixture
def toy_student_kind():
    """One module's worth of a new kind: the teacher's layer `keep` alone, copied from it."""

    def check(spec, teacher_config):
        if not 0 <= spec.keep < teacher_config.num_hidden_layers:
            raise ValueError(f"--student_keep {spec.keep} is not a teacher layer.")

    kind = register_student_kind(StudentKind(
        name="one_layer", build=lambda spec, teacher: student_from_teacher(teacher, layers=[spec.keep]), check=check,
        options={"keep": StudentOption(0, int, "The teacher layer a 'one_layer' student keeps.")},
        defaults={"learning_rate": 3e-4, "num_train_epochs": 1.0}, description="single teacher layer",
        help="'one_layer' (one teacher layer)"))
    yield kind
    del STUDENT_KINDS[kind.name]
    for by_kind in KIND_DEFAULTS.values():
        by_kind.pop(kind.name, None)


def test_a_student_kind_registered_in_one_module_runs_through_the_recipes_flags(
        toy_student_kind, tiny_teacher, sst2_files, tmp_path, monkeypatch):
    from test_recipe import FAST, run_in_process

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir),
                    "--student", "one_layer", "--student_keep", "1", *FAST[2:]], monkeypatch)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["student_settings"]["kind"] == "one_layer" and results["student_settings"]["keep"] == 1
    assert results["distillation"]["learning_rate"] == 3e-4  # the kind's own default
    config = json.loads((output_dir / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["distilled_from_layers"] == [1]
    assert "A single teacher layer distilled with" in (output_dir / "README.md").read_text()


def test_a_teacher_source_registered_in_one_module_teaches_through_the_trainer(tmp_path, student):
    class FunctionTeacher(Teacher):
        """Soft labels from a plain function of the batch (e.g. a remote API), with no model to place."""

        input_names = {"input_ids"}

        def __init__(self, function):
            self.function = function

        def logits(self, batch, outputs=None):
            return self.function(batch["input_ids"])

    register_teacher_source("function", accepts=callable)(lambda function, **context: FunctionTeacher(function))
    try:
        def fixed(input_ids):  # prefers class 1 for even first tokens
            first = input_ids[:, 1].remainder(2).float()
            return torch.stack([first, 1 - first], dim=-1) * 3.0

        args = make_args(tmp_path, alpha=1.0, temperature=1.0)
        train = random_token_dataset(num_examples=8)
        trainer = DistillationTrainer(model=student, teacher_model=fixed, args=args, train_dataset=train)
        batch = dict(batch_of(train))
        student.train()
        log_p = torch.log_softmax(student(input_ids=batch["input_ids"]).logits, -1)
        target = torch.softmax(fixed(batch["input_ids"]), -1)
        expected = (target * (target.log() - log_p)).sum(-1).mean()
        assert_close(trainer.compute_loss(student, batch), expected)
        trainer.train()  # no model to place, no teacher_logits column needed
    finally:
        TEACHER_SOURCES.pop("function")


def test_importing_export_and_evaluation_does_not_import_the_trainer():
    code = ("import sys, hfdistill.export, hfdistill.evaluation.profiling, hfdistill.evaluation.report, "
            "hfdistill.losses, hfdistill.students, hfdistill.teachers, hfdistill.checks, hfdistill.hub; "
            "print(sorted(m for m in sys.modules if m in ('transformers.trainer', 'hfdistill.trainer')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_only_the_trainers_users_import_it():
    users = {"search.py"}
    for path in sorted((REPO / "hfdistill").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] == "trainer":
                assert path.name in users or path.name == "trainer.py", f"{Path(path).relative_to(REPO)} imports it"
