"""The CUDA paths: skipped without a GPU (CI has none); run on a GPU machine with `pytest tests/test_cuda.py`."""

import pytest
import torch
from datasets import Dataset
from torch.testing import assert_close
from transformers import DataCollatorWithPadding

from conftest import sentiment_sentences, tiny_bert
from hfdistill import DistillationTrainer, DistillationTrainingArguments
from hfdistill.teachers.logit_cache import compute_teacher_logits
from hfdistill.students import StudentSpec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def tokenized(tokenizer):
    sentences, labels = sentiment_sentences(48)
    return Dataset.from_dict({"text": sentences, "labels": labels}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True, remove_columns=["text"]
    )


@pytest.mark.parametrize("kind", ["layers", "compact", "linear"])
def test_every_student_builds_from_a_teacher_on_cuda(kind, tokenizer):
    # The linear and compact builders once mixed the CUDA teacher's embeddings with a CPU projection.
    teacher = tiny_bert(seed=0).cuda()
    student = StudentSpec(kind, num_layers=1, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                          embedding_dim=8).build(teacher)
    assert next(student.parameters()).device.type == "cuda"
    batch = tokenizer(["a good film", "a bad one"], padding=True, return_tensors="pt").to("cuda")
    assert student(**{k: v for k, v in batch.items()
                      if k != "token_type_ids" or kind != "linear"}).logits.shape == (2, 2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_teacher_logits_on_cuda_stay_close(dtype, tokenized, tokenizer):
    teacher = tiny_bert(seed=0).cuda()
    full = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=8, show_progress=False)
    reduced = compute_teacher_logits(teacher, tokenized, tokenizer, batch_size=8, show_progress=False, dtype=dtype)
    assert reduced.dtype == torch.float32 and reduced.device.type == "cpu"
    assert not torch.equal(full, reduced)  # the reduced precision was really used
    assert_close(reduced, full, atol=5e-2, rtol=5e-2)
    assert next(teacher.parameters()).dtype == torch.float32  # the teacher itself is left as it was


def test_distillation_trains_on_cuda_with_the_teacher_on_the_students_device(tokenized, tokenizer, tmp_path):
    # both on the CPU: accelerate places them
    teacher, student = tiny_bert(seed=0), tiny_bert(seed=1, num_hidden_layers=1)
    args = DistillationTrainingArguments(output_dir=str(tmp_path), report_to="none", max_steps=4,
                                         per_device_train_batch_size=8, learning_rate=1e-2, logging_steps=1)
    trainer = DistillationTrainer(model=student, teacher_model=teacher, args=args, train_dataset=tokenized,
                                  processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer))
    before = {k: v.detach().clone().cpu() for k, v in student.state_dict().items()}
    trainer.train()
    teacher_parameter = next(trainer.teacher_model.parameters())
    assert teacher_parameter.device.type == "cuda" and not teacher_parameter.requires_grad
    assert not trainer.teacher_model.training
    assert any(not torch.equal(before[k], v.cpu()) for k, v in student.state_dict().items())
    logged = [entry for entry in trainer.state.log_history if "loss_kd" in entry]
    assert logged and all(torch.isfinite(torch.tensor(entry["loss_kd"])) for entry in logged)
