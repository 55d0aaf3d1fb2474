"""bf16 autocast for CPU training where the CPU has native bf16; fp32 for evaluation; GPUs untouched."""

import pytest
import torch

from conftest import random_token_dataset, tiny_bert
from hfdistill import DistillationTrainer, DistillationTrainingArguments, precision
from hfdistill.precision import apply_cpu_bf16


def _args(tmp_path, **overrides):
    return DistillationTrainingArguments(output_dir=str(tmp_path), report_to="none", save_strategy="no",
                                         disable_tqdm=True, per_device_train_batch_size=4, max_steps=2, **overrides)


@pytest.mark.parametrize("supported, choice, expected", [
    (True, "auto", True), (False, "auto", False), (True, "false", False), (False, "true", True), (True, "true", True),
])
def test_cpu_bf16_is_on_exactly_where_supported_and_requested(supported, choice, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16"} if supported else {"avx512f"})
    args = _args(tmp_path, use_cpu=True)
    info = apply_cpu_bf16(args, choice)
    assert args.bf16 is expected and args.mixed_precision == ("bf16" if expected else "no")
    assert info == {"cpu_bf16": choice, "supported": supported, "device": "cpu",
                    "training_precision": "bf16 autocast" if expected else "fp32"}


def test_amx_counts_as_native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"amx_bf16"})
    assert precision.cpu_supports_bf16()


def test_cuda_keeps_its_own_flags(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    args = _args(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # after building args: they would set up the device
    assert apply_cpu_bf16(args, "auto")["device"] == "accelerator" and not args.bf16 and args.mixed_precision == "no"
    with pytest.raises(ValueError, match="use --bf16 true"):
        apply_cpu_bf16(args, "true")
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    args.bf16, args.mixed_precision = True, "bf16"  # the user's --bf16 on a GPU stays, supported CPU or not
    assert apply_cpu_bf16(args, "auto")["training_precision"] == "bf16" and args.mixed_precision == "bf16"


def test_contradicting_flags_are_refused(tmp_path):
    args = _args(tmp_path, use_cpu=True)
    args.bf16 = True
    with pytest.raises(ValueError, match="contradicts --bf16 true"):
        apply_cpu_bf16(args, "false")
    with pytest.raises(ValueError, match="must be one of auto, true, false"):
        apply_cpu_bf16(args, "yes")


@pytest.mark.parametrize("use_bf16", [True, False])
def test_trainer_autocasts_training_on_the_cpu_and_evaluates_in_fp32(use_bf16, tmp_path, monkeypatch):
    """Trainer's own mechanism (accelerate's autocast wrapper), verified inside the forward: a Linear's output dtype."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"} if use_bf16 else set())
    student, teacher = tiny_bert(seed=1, num_hidden_layers=1), tiny_bert(seed=0)
    seen = []
    student.classifier.register_forward_hook(
        lambda module, inputs, output: seen.append((student.training, output.dtype)))
    args = _args(tmp_path, use_cpu=True)
    apply_cpu_bf16(args, "auto")
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args,
                                  train_dataset=random_token_dataset(16))
    trainer.evaluate(random_token_dataset(8))  # before training: accelerate prepares the model for evaluation too
    trainer.train()
    trainer.evaluate(random_token_dataset(8))
    training = {dtype for in_training, dtype in seen if in_training}
    evaluation = {dtype for in_training, dtype in seen if not in_training}
    assert training == {torch.bfloat16 if use_bf16 else torch.float32}
    assert evaluation == {torch.float32}
    seen.clear()
    with torch.no_grad():
        student.eval()(**{k: torch.tensor(v) for k, v in random_token_dataset(4)[:].items() if k != "labels"})
    assert seen == [(False, torch.float32)]  # after train(): no autocast wrapper left on the model
    assert all(p.dtype == torch.float32 for p in student.parameters())
    inputs = {k: torch.tensor(v) for k, v in random_token_dataset(2)[:].items() if k != "labels"}
    with torch.no_grad():  # transformers' own forward again, decorators included (the export asks for return_dict)
        assert student(**inputs, return_dict=True).logits.shape == (2, 2)
        assert isinstance(student(**inputs, return_dict=False), tuple)


def test_bf16_on_a_cpu_only_machine_without_use_cpu_gives_valid_training_arguments(tmp_path, monkeypatch):
    """TrainingArguments refuses bf16 without a GPU unless use_cpu is set; the teacher's arguments are rebuilt."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = _args(tmp_path)
    assert apply_cpu_bf16(args, "auto")["training_precision"] == "bf16 autocast"
    assert args.use_cpu and args.device.type == "cpu"
    from hfdistill.teachers.fine_tuning import _teacher_arguments

    teacher_args = _teacher_arguments(args, str(tmp_path / "teacher"))
    assert teacher_args.bf16 and teacher_args.mixed_precision == "bf16" and teacher_args.use_cpu


def _record_classifier_dtypes(model) -> list:
    seen = []
    model.classifier.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    return seen


def test_a_teacher_evaluated_under_bf16_comes_back_without_the_autocast_wrapper(tokenizer, tmp_path, monkeypatch):
    """evaluate_model (the recipe's teacher report) must not leave accelerate's bf16 wrapper on the caller's model: the
    profiling after it timed the teacher in bf16 against an fp32 student (throughput ratios of 1.5 instead of 3)."""
    from hfdistill.teachers.fine_tuning import evaluate_model

    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    teacher = tiny_bert(seed=0)
    seen = _record_classifier_dtypes(teacher)
    args = _args(tmp_path, use_cpu=True)
    apply_cpu_bf16(args, "auto")
    assert args.bf16
    evaluate_model(teacher, random_token_dataset(8), tokenizer, args, compute_metrics=None)
    assert seen and set(seen) == {torch.float32}  # the evaluation itself runs in fp32
    assert "_original_forward" not in vars(teacher) and "_is_accelerate_prepared" not in vars(teacher)
    seen.clear()
    with torch.no_grad():
        teacher(**{k: torch.tensor(v) for k, v in random_token_dataset(2)[:].items() if k != "labels"})
    assert seen == [torch.float32]
    with torch.no_grad():
        inputs = {k: torch.tensor(v) for k, v in random_token_dataset(2)[:].items() if k != "labels"}
        assert teacher(**inputs, return_dict=True).logits.shape == (2, 2)


def test_speed_is_measured_in_the_models_own_precision_even_under_an_autocast_wrapper(tokenizer):
    """A forward wrapped as accelerate's mixed precision wraps it (``_original_forward`` kept) is timed unwrapped,
    inside an ensemble too, and keeps its wrapper afterwards."""
    from types import MethodType

    from hfdistill import measure_cpu_speed
    from hfdistill.teachers.ensemble import TeacherEnsemble

    def wrap_in_bf16_autocast(model):
        model._original_forward = model.forward
        model.forward = MethodType(torch.autocast("cpu", dtype=torch.bfloat16)(model.forward.__func__), model)

    single, member = tiny_bert(seed=0), tiny_bert(seed=1)
    ensemble = TeacherEnsemble([member, tiny_bert(seed=2)])
    for model in (single, member, ensemble):
        wrap_in_bf16_autocast(model)
    texts = ["good film", "bad plot", "fine"]
    inputs = {k: v for k, v in tokenizer(texts[:1], return_tensors="pt").items() if k != "token_type_ids"}
    for timed, watched in ((single, single), (ensemble, member)):
        seen = _record_classifier_dtypes(watched)
        with torch.no_grad():
            timed(**inputs)
        assert seen == [torch.bfloat16]  # the wrapper works
        seen.clear()
        measure_cpu_speed(timed, tokenizer, texts, max_length=16, num_latency_examples=2, warmup=1)
        assert seen and set(seen) == {torch.float32}
        seen.clear()
        with torch.no_grad():  # the wrapper is put back afterwards
            timed(**inputs)
        assert seen == [torch.bfloat16]
