"""The ``compact`` student: a narrower, shallower model of the teacher's family and vocabulary, its embeddings
initialised from the teacher's projected onto their principal directions."""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import PreTrainedModel

from .common import log_size, pca_projection
from .registry import NUM_LAYERS, StudentKind, StudentOption, StudentSpec, register_student_kind


def compact_student(
    teacher: PreTrainedModel,
    num_layers: int = 2,
    hidden_size: int = 128,
    num_attention_heads: int = 2,
    intermediate_size: int = 512,
    init_embeddings_from_teacher: bool = True,
) -> PreTrainedModel:
    """A narrower, shallower model of the teacher's family and vocabulary, sized by the caller.

    With ``init_embeddings_from_teacher`` the word, position and token-type embeddings start as the teacher's,
    projected onto their principal directions (one projection for all, so they stay in one basis); everything else
    is freshly initialised.
    """
    StudentSpec("compact", num_layers=num_layers, hidden_size=hidden_size, num_attention_heads=num_attention_heads,
                intermediate_size=intermediate_size).check(teacher.config)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = num_layers
    config.hidden_size = hidden_size
    config.num_attention_heads = num_attention_heads
    config.intermediate_size = intermediate_size
    # The teacher layer each of its layers learns from under the hidden-state term (spread evenly, its states
    # projected to the teacher's width: TinyBERT's W_h).
    teacher_layers = teacher.config.num_hidden_layers
    config.distilled_from_layers = ([round(i * (teacher_layers - 1) / (num_layers - 1)) for i in range(num_layers)]
                                    if num_layers > 1 else [teacher_layers - 1])
    if hasattr(config, "embedding_size"):  # ELECTRA: embeddings as wide as the encoder
        config.embedding_size = hidden_size
    student = type(teacher)(config)
    if init_embeddings_from_teacher:
        teacher_embeddings = getattr(teacher.base_model, "embeddings", None)
        student_embeddings = getattr(student.base_model, "embeddings", None)
        projection = pca_projection(teacher.get_input_embeddings().weight, hidden_size)
        with torch.no_grad():
            for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
                source = getattr(teacher_embeddings, name, None)
                target = getattr(student_embeddings, name, None)
                if isinstance(source, nn.Embedding) and isinstance(target, nn.Embedding):
                    target.weight.copy_(source.weight.detach().float().cpu() @ projection)
    student.to(teacher.device)
    log_size(f"Compact ({num_layers} layers, hidden {hidden_size})", student, teacher)
    return student


def _check(spec, teacher_config) -> None:
    sizes = (spec.num_layers, spec.hidden_size, spec.num_attention_heads, spec.intermediate_size)
    if min(sizes) < 1:
        raise ValueError(
            f"num_layers, hidden_size, num_attention_heads and intermediate_size must all be >= 1; got {sizes}."
        )
    if spec.hidden_size % spec.num_attention_heads:
        raise ValueError(
            f"hidden_size ({spec.hidden_size}) must be divisible by num_attention_heads "
            f"({spec.num_attention_heads}); e.g. hidden_size="
            f"{spec.num_attention_heads * max(1, round(spec.hidden_size / spec.num_attention_heads))}."
        )


def _build(spec, teacher: PreTrainedModel) -> PreTrainedModel:
    return compact_student(teacher, spec.num_layers, spec.hidden_size, spec.num_attention_heads,
                           spec.intermediate_size)


register_student_kind(StudentKind(
    name="compact", build=_build, check=_check, matches_hidden_states=True,
    help="'compact' (a narrower transformer)",
    description="compact transformer (narrower and shallower than the teacher)",
    options={
        "num_layers": NUM_LAYERS,
        "hidden_size": StudentOption(128, int, "Hidden size of a 'compact' student."),
        "num_attention_heads": StudentOption(2, int, "Attention heads of a 'compact' student."),
        "intermediate_size": StudentOption(512, int, "Feed-forward size of a 'compact' student."),
    },
    # Mostly trained from scratch: 5e-4 did best of 1e-4 / 5e-4 / 1e-3 on SST-2 (benchmarks/README.md).
    defaults={"student_num_layers": 2, "learning_rate": 5e-4, "num_train_epochs": 3.0, "augment_factor": 0,
              "student_freeze_word_embeddings": False,
              "student_num_bigram_buckets": 0, "train_sampling_strategy": "group_by_length", "warmup_steps": 0.1},
    unlabeled_defaults={"augment_factor": 0, "student_num_bigram_buckets": 0},
))
