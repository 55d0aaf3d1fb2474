"""The ``linear`` student: averaged token embeddings (optionally with hashed bigrams) and one linear layer, in the
manner of fastText (Joulin et al., 2017) distilled from BERT (Tang et al., 2019)."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from ..models import LinearStudentConfig, LinearStudentForSequenceClassification
from .common import log_size, pca_projection
from .registry import StudentKind, StudentOption, register_student_kind


def linear_student(
    teacher: PreTrainedModel,
    embedding_dim: int = 64,
    num_bigram_buckets: int = 0,
    classifier_dropout: float = 0.1,
    init_embeddings_from_teacher: bool = True,
    pair_features: str = "bag",
) -> LinearStudentForSequenceClassification:
    """Averaged token embeddings (optionally with hashed bigrams) and one linear layer to the teacher's classes.

    With ``init_embeddings_from_teacher`` the token embeddings start as the teacher's word embeddings projected onto
    their ``embedding_dim`` principal directions. ``pair_features`` chooses how a sentence pair is pooled (see
    `LinearStudentConfig`): ``"bag"``, one mean over both texts, or ``"compare"``, ``[u, v, |u - v|, u * v]``.
    """
    teacher_config = teacher.config
    config = LinearStudentConfig(
        vocab_size=teacher_config.vocab_size,
        embedding_dim=embedding_dim,
        num_bigram_buckets=num_bigram_buckets,
        classifier_dropout=classifier_dropout,
        pad_token_id=teacher_config.pad_token_id if teacher_config.pad_token_id is not None else 0,
        num_labels=teacher_config.num_labels,
        id2label=dict(teacher_config.id2label),
        label2id=dict(teacher_config.label2id),
        problem_type=teacher_config.problem_type,
        pair_features=pair_features,
    )
    student = LinearStudentForSequenceClassification(config)
    if init_embeddings_from_teacher:
        teacher_embeddings = teacher.get_input_embeddings().weight
        with torch.no_grad():
            student.embeddings.weight.copy_(
                teacher_embeddings.detach().float().cpu() @ pca_projection(teacher_embeddings, embedding_dim)
            )
    student.to(teacher.device)
    log_size(f"Linear (embedding_dim {embedding_dim})", student, teacher)
    return student


def _check(spec, teacher_config) -> None:
    if spec.embedding_dim < 1 or spec.num_bigram_buckets < 0:
        raise ValueError(
            f"embedding_dim must be >= 1 and num_bigram_buckets >= 0; got {spec.embedding_dim} and "
            f"{spec.num_bigram_buckets}."
        )


def _build(spec, teacher: PreTrainedModel) -> PreTrainedModel:
    return linear_student(teacher, embedding_dim=spec.embedding_dim, num_bigram_buckets=spec.num_bigram_buckets,
                          pair_features=spec.pair_features)


register_student_kind(StudentKind(
    name="linear", build=_build, check=_check, model_type=LinearStudentConfig.model_type,
    help="'linear' (averaged embeddings + a linear layer)",
    description="linear model (averaged token embeddings and one linear layer)",
    options={
        "embedding_dim": StudentOption(64, int, "Embedding width of a 'linear' student."),
        "num_bigram_buckets": StudentOption(0, int | None, "Hashed bigram buckets of a 'linear' student (0: unigrams "
                                            "only)", flag_default=None),
        "pair_features": StudentOption("bag", str, "How a 'linear' student pools a sentence pair: 'bag' (one mean "
                                       "over both texts) or 'compare' ([u, v, |u - v|, u * v] of the two texts' "
                                       "means).",
                                       metadata={"choices": ["bag", "compare"]}),
    },
    # It overfits after its first epoch and needs an order of magnitude more learning rate than a transformer;
    # with unlabeled text, hashed bigrams lift it (benchmarks/README.md).
    defaults={"learning_rate": 1e-3, "num_train_epochs": 1.0, "augment_factor": 0,
              "student_freeze_word_embeddings": False,
              "student_num_bigram_buckets": 0, "train_sampling_strategy": "group_by_length", "warmup_steps": 0.1},
    unlabeled_defaults={"augment_factor": 0, "student_num_bigram_buckets": 65536},
))
