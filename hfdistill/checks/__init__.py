"""Every check of the inputs, as functions of what they check (no trainer state): each raises ``ValueError`` for what
would fail or silently go wrong later, naming the value and the fix. `DistillationTrainer.__init__` and the recipe
call them before any training step (the recipe's flags when they are parsed, before any teacher fine-tuning);
`check_finite_logits` guards every step's teacher logits."""

from __future__ import annotations

import math
import os

import torch
from torch import nn
from transformers.utils import logging

from ..losses import check_pseudo_labels, get_loss
from ..problem_types import problem_type_of
from ..teachers.loading import load_tokenizer_if_saved
from ..utils import vocabulary_fingerprint
from .data import (check_class_weights, check_data, check_input_lengths, check_label_shape,
                   check_stored_teacher_logits, check_train_dataset)

logger = logging.get_logger(__name__)


def check_finite_logits(logits: torch.Tensor, fix: str = "fp32 or bf16 rather than fp16") -> None:
    """Non-finite teacher logits (NaN or inf) would corrupt the student: ``ValueError`` naming ``fix``."""
    if not torch.isfinite(logits).all():
        raise ValueError(
            "The teacher produced non-finite logits (NaN or inf); distilling them would corrupt the student. Check the "
            f"teacher (does it evaluate to finite logits?) and, on GPU, use {fix}."
        )


def check_process_group(world_size: int) -> None:
    """Several launched processes (``WORLD_SIZE``) must have joined one process group, or each would train alone."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and world_size == 1:
        raise ValueError(
            f"{launched} processes were launched but they did not join one process group, so each would train "
            "and write on its own. Without a GPU, add `--use_cpu true` (TrainingArguments.use_cpu=True) to run "
            "them together on the CPU: `accelerate launch --multi_gpu --num_processes N script.py --use_cpu true`."
        )


def check_same_vocabulary(tokenizer, teacher_tokenizer, where: str = "") -> None:
    """Raise ``ValueError`` unless both tokenizers map every token to the same id (the teacher reads the student's
    ``input_ids``). Names the first tokens whose ids differ."""
    if vocabulary_fingerprint(tokenizer) == vocabulary_fingerprint(teacher_tokenizer):
        return
    vocabulary, teacher_vocabulary = tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    differing = sorted(
        (
            token for token in set(vocabulary) | set(teacher_vocabulary)
            if vocabulary.get(token) != teacher_vocabulary.get(token)
        ),
        key=lambda token: min(vocabulary.get(token, 1 << 62), teacher_vocabulary.get(token, 1 << 62)),
    )
    shown = ", ".join(
        f"{token!r}: {vocabulary.get(token)} vs {teacher_vocabulary.get(token)}" for token in differing[:5]
    )
    raise ValueError(
        f"The tokenizer{where} and the teacher's tokenizer map tokens to different ids "
        f"({len(differing)} tokens differ, "
        f"e.g. {shown}; sizes {len(vocabulary)} and {len(teacher_vocabulary)}), so the teacher would read other words "
        "than the student. Tokenize the data with the teacher's tokenizer (the one saved in the teacher's folder)."
    )


def check_tokenizer(tokenizer, model_config, teacher_tokenizer=None) -> None:
    """A tokenizer whose ids the model cannot embed fails here, not as an IndexError inside the forward pass; given
    the teacher's own tokenizer, one that maps tokens to other ids fails too, even at the same size."""
    if teacher_tokenizer is not None and hasattr(tokenizer, "get_vocab") and hasattr(teacher_tokenizer, "get_vocab"):
        check_same_vocabulary(tokenizer, teacher_tokenizer)
    vocab_size = getattr(model_config, "vocab_size", None)
    tokenizer_size = len(tokenizer) if hasattr(tokenizer, "__len__") else None
    if tokenizer_size is not None and vocab_size is not None and tokenizer_size > vocab_size:
        raise ValueError(
            f"The tokenizer has {tokenizer_size} tokens but the teacher's vocab_size is {vocab_size}: it is not the "
            "teacher's tokenizer. Teacher and student must share the teacher's tokenizer "
            "(saved in the teacher's folder)."
        )


def check_models(student: nn.Module, teacher: nn.Module, processing_class=None, teacher_processing_class=None,
                 own_inputs: bool = False, shared_tokens_needed: bool = False) -> None:
    """Teacher and student must predict the same classes, by the same names; and, unless the teacher reads its own
    tokenization of the text (``own_inputs``: ``teacher_input_ids``, ... in the data, or stored logits), the same
    vocabulary and token ids. A term that compares token representations (``shared_tokens_needed``, e.g. the
    hidden-state term) needs the same tokenizer whatever the inputs. Raises ``ValueError`` naming both values and
    the fix."""
    student_config, teacher_config = getattr(student, "config", None), getattr(teacher, "config", None)
    if student_config is None or teacher_config is None:
        return
    if student_config.num_labels != teacher_config.num_labels:
        raise ValueError(
            f"The teacher predicts {teacher_config.num_labels} classes but the student {student_config.num_labels}. "
            "Build the student from the teacher (hfdistill.student_from_teacher / compact_student / "
            "linear_student copy its num_labels and label maps), or set num_labels to the teacher's."
        )
    if dict(student_config.label2id) != dict(teacher_config.label2id):
        raise ValueError(
            f"Teacher and student name their classes differently: teacher label2id={dict(teacher_config.label2id)}, "
            f"student label2id={dict(student_config.label2id)}. Soft labels are matched by class index, so give "
            "the student the teacher's id2label and label2id."
        )
    student_vocab = getattr(student_config, "vocab_size", None)
    teacher_vocab = getattr(teacher_config, "vocab_size", None)
    differ = student_vocab is not None and teacher_vocab is not None and student_vocab != teacher_vocab
    if differ and shared_tokens_needed:
        raise ValueError(
            f"Teacher and student tokenizers differ (vocab_size {teacher_vocab} vs {student_vocab}), and the "
            "hidden-state term compares the two models token by token, which needs one tokenizer. Distil from the "
            "logits alone across tokenizers (set hidden_state_weight to 0), or use a student with the teacher's "
            "tokenizer (--student layers or compact)."
        )
    if differ and not own_inputs:
        raise ValueError(
            f"Teacher and student vocabularies differ (vocab_size {teacher_vocab} vs {student_vocab}), and the "
            "teacher would read the student's input_ids. Give the teacher its own tokenization of the same text: "
            "hfdistill.data.add_teacher_inputs(dataset, teacher_tokenization) adds teacher_input_ids, ... columns "
            "(the recipe does it for --student_model_name_or_path), or store its logits in a teacher_logits column."
        )
    if processing_class is not None and not own_inputs:
        check_tokenizer(processing_class, teacher_config, teacher_processing_class)
    if not own_inputs and (processing_class is None or teacher_processing_class is None):
        logger.warning_once(
            "The teacher's tokenizer is not known (an in-memory teacher, or a folder without one), so hfdistill could "
            "not check that teacher and student map tokens to the same ids; a tokenizer of the same size with other "
            "ids would make the teacher read other words. Pass the teacher's tokenizer as teacher_processing_class= "
            "(and the student's as processing_class=) to have it checked."
        )


def check_problem_type(student: nn.Module, teacher: nn.Module | None, distillation_loss: str = "kl",
                       pseudo_labels: str = "none") -> str:
    """The task shape both models were built for (``problem_type``: single-label, multi-label or regression), from
    the teacher's config (the student's without a teacher); they must agree, and the settings must fit it."""
    student_config, teacher_config = getattr(student, "config", None), getattr(teacher, "config", None)
    if student_config is None and teacher_config is None:
        return "single_label_classification"
    problem_type = problem_type_of(teacher_config if teacher_config is not None else student_config)
    if student_config is not None and teacher_config is not None and problem_type_of(student_config) != problem_type:
        raise ValueError(
            f"The teacher is a {problem_type} model (problem_type={teacher_config.problem_type!r}, num_labels="
            f"{teacher_config.num_labels}) but the student a {problem_type_of(student_config)} one. Build the student "
            "from the teacher (hfdistill.student_from_teacher / compact_student / linear_student copy its "
            "problem_type), or set the student's config.problem_type to the teacher's."
        )
    get_loss("soft", distillation_loss, problem_type)  # ValueError when that loss does not fit the task
    check_pseudo_labels(pseudo_labels, problem_type)
    return problem_type


def check_hidden_state_pairs(student: nn.Module, teacher: nn.Module) -> list[tuple[int, int]]:
    """(student, teacher) indices into `hidden_states` (0 is the embeddings' output, i the output of layer i). The
    widths may differ: a narrower student's states are projected (see `hfdistill.losses.hidden_state_term`)."""
    student_config, teacher_config = getattr(student, "config", None), getattr(teacher, "config", None)
    layers = getattr(student_config, "distilled_from_layers", None)
    if layers is None:
        raise ValueError(
            "hidden_state_weight > 0 needs the teacher layer each student layer learns from: build the student with "
            "hfdistill.student_from_teacher, or set student.config.distilled_from_layers to one teacher layer "
            "index per student layer (e.g. [0, 5])."
        )
    num_student_layers = getattr(student_config, "num_hidden_layers", len(layers))
    num_teacher_layers = getattr(teacher_config, "num_hidden_layers", None)
    if len(layers) != num_student_layers or (
        num_teacher_layers is not None and not all(0 <= index < num_teacher_layers for index in layers)
    ):
        raise ValueError(
            f"The student's config.distilled_from_layers={list(layers)} must name one teacher layer (0 to "
            f"{num_teacher_layers - 1 if num_teacher_layers else '?'}) for each of its {num_student_layers} layers."
        )
    return [(student_index + 1, teacher_index + 1) for student_index, teacher_index in enumerate(layers)]


def check_teachers(student: nn.Module, models: list[nn.Module], args, paths=(), processing_class=None,
                   teacher_processing_class=None, own_inputs: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """Every teacher model against the student and the run's settings (``args``: a `DistillationTrainingArguments`):
    classes, vocabulary and tokenizer (the one given, else the one saved in the teacher's folder, ``paths``), task
    shape, and the layers a hidden-state term matches. Returns ``(problem_type, hidden_state_pairs)``."""
    for index, model in enumerate(models):
        path = paths[index] if index < len(paths) else None
        tokenizer = teacher_processing_class or load_tokenizer_if_saved(
            path or getattr(getattr(model, "config", None), "_name_or_path", None))
        check_models(student, model, processing_class, tokenizer, own_inputs, args.hidden_state_weight > 0)
    if args.hidden_state_weight > 0 and len(models) != 1:
        raise ValueError(
            "hidden_state_weight > 0 matches one teacher's hidden states layer by layer; "
            + ("stored teacher_logits do not carry them: pass teacher_model" if not models else
               f"{len(models)} teachers were given: pass one") + ", or set hidden_state_weight to 0."
        )
    loss_settings = (args.distillation_loss, args.pseudo_labels)
    problem_type = check_problem_type(student, models[0] if models else None, *loss_settings)
    for model in models[1:]:
        if check_problem_type(student, model, *loss_settings) != problem_type:
            raise ValueError("The teachers were fine-tuned for different task shapes (problem_type): an ensemble "
                             "needs teachers of one task and one set of classes.")
    hidden_state_pairs = (
        check_hidden_state_pairs(student, models[0]) if args.hidden_state_weight > 0 else [])
    return problem_type, hidden_state_pairs


def check_attention_relations(args, student: nn.Module, models: list) -> tuple | None:
    """The student's and the teacher's query/key/value projections the attention relation term reads
    (``args.attention_relation_layers``: teacher layer, student layer; default each one's last), or ``None`` when
    it is off. Raises ``ValueError`` without exactly one teacher model, across tokenizers, for a model whose attention
    does not expose the projections, or for widths ``args.attention_relation_heads`` does not divide."""
    if not args.attention_relation_weight > 0:
        return None
    from ..losses.attention import qkv_projections

    if len(models) != 1:
        raise ValueError("attention_relation_weight > 0 matches one teacher's attention relations: pass one "
                         "teacher_model (stored logits carry no attention), or set attention_relation_weight to 0.")
    vocab = [getattr(getattr(model, "config", None), "vocab_size", None) for model in (student, models[0])]
    if vocab[0] != vocab[1]:
        raise ValueError(f"The attention relation term compares the two models token by token, which needs one "
                         f"tokenizer; their vocabularies differ ({vocab[1]} vs {vocab[0]}). Distil from the logits "
                         "alone across tokenizers (set attention_relation_weight to 0).")
    teacher_layer, student_layer = args.attention_relation_layers or (-1, -1)
    projections = (qkv_projections(student, student_layer, "student"),
                   qkv_projections(models[0], teacher_layer, "teacher"))
    widths = [side["query"].out_features for side in projections]
    if any(width % args.attention_relation_heads for width in widths):
        raise ValueError(f"attention_relation_heads={args.attention_relation_heads} must divide both widths (student "
                         f"{widths[0]}, teacher {widths[1]}): e.g. {math.gcd(*widths)} or a divisor of it.")
    return projections


def check_shared_tokenizer(args, tokenizer, student_tokenizer) -> None:
    """The terms that compare the two models token by token (hidden states, attention relations) need one tokenizer:
    ``ValueError`` before any training when ``student_tokenizer`` (a pretrained student's own) maps tokens to other
    ids than the teacher's ``tokenizer``, naming what works instead."""
    asked = [name for name in ("hidden_state_weight", "attention_relation_weight") if getattr(args, name, 0) > 0]
    if asked and vocabulary_fingerprint(tokenizer) != vocabulary_fingerprint(student_tokenizer):
        raise ValueError(f"--{' and --'.join(asked)} compare teacher and student token by token, which needs one "
                         "tokenizer, and the student's is not the teacher's: distil from the logits alone across "
                         "tokenizers (leave those terms at 0), or use a student with the teacher's tokenizer.")


def check_teacher_tokenizers(tokenizers: list, configs: list, cache_teacher_logits: bool = True) -> bool:
    """Each teacher's own tokenizer against its config (`check_tokenizer`); returns whether they differ (an ensemble
    mixing families). Teachers of different tokenizers each read their own tokenization of the text, which the
    logit cache gives them (one cache per teacher, each over its own tokenization); run online they would share one
    set of input columns, so that is refused (``ValueError``) with ``cache_teacher_logits`` off."""
    for tokenizer, config in zip(tokenizers, configs, strict=True):
        check_tokenizer(tokenizer, config)
    vocabularies = [vocabulary_fingerprint(tokenizer) for tokenizer in tokenizers]
    mixed = len(set(vocabularies)) > 1
    if mixed and not cache_teacher_logits:
        groups = [str(1 + vocabularies.index(v)) for v in dict.fromkeys(vocabularies)]
        raise ValueError(f"The ensemble's teachers have {len(groups)} different tokenizers (those of teachers "
                         f"{', '.join(groups)}), and run online they would all read one tokenization: keep "
                         "--cache_teacher_logits true (each teacher's logits are computed from its own tokenization "
                         "of the text), or use teachers of one tokenizer.")
    return mixed


def check_ensemble_inputs(models: list, columns, paths=()) -> None:
    """Teachers run online (no stored ``teacher_logits``) all read one set of input columns (the student's, or one
    teacher tokenization's ``teacher_input_ids``, ...), so they need one vocabulary: compared by the tokenizers saved
    with them (``paths``, else each model's ``_name_or_path``), else by ``vocab_size``. ``ValueError`` naming them and
    the route that works (each teacher's logits stored from its own tokenization)."""
    from ..data.collator import TEACHER_LOGITS_COLUMN

    if len(models) < 2 or TEACHER_LOGITS_COLUMN in columns:
        return
    configs = [getattr(model, "config", None) for model in models]
    folders = [(paths[i] if i < len(paths) else None) or getattr(config, "_name_or_path", None)
               for i, config in enumerate(configs)]
    tokenizers = [load_tokenizer_if_saved(folder) for folder in folders]
    if all(tokenizer is not None for tokenizer in tokenizers):
        vocabularies = [vocabulary_fingerprint(tokenizer)[:12] for tokenizer in tokenizers]
        what = "tokenizers"
    else:
        vocabularies = [str(getattr(config, "vocab_size", None)) for config in configs]
        what = "vocab_size"
    if len(set(vocabularies)) > 1:
        raise ValueError(f"The teachers' vocabularies differ ({what} {', '.join(vocabularies)}), and run online they "
                         "would all read the same input ids. Store each teacher's logits over its own tokenization "
                         "of the same rows: hfdistill.teachers.logit_cache.add_teacher_logits(views, teachers, "
                         "tokenizers, ...) with one view and one tokenizer per teacher adds the teacher_logits column "
                         "the trainer reads (the recipe does it).")


def check_recipe_arguments(model_args, data_args, training_args, export_args) -> None:
    """The recipe's flags that cannot run together, refused when they are parsed, before any data is read or any
    teacher fine-tuned. Raises ``ValueError`` naming the flags and the fix."""
    from ..students import get_student_kind

    teachers = len(model_args.teacher_model_name_or_path)
    if model_args.teacher_seeds and teachers != 1:
        raise ValueError(f"--teacher_seeds fine-tunes one backbone once per seed, but {teachers} teachers were "
                         "given: pass one --teacher_model_name_or_path with --teacher_seeds, or several without.")
    members = len(model_args.teacher_seeds) if model_args.teacher_seeds else teachers
    if model_args.teacher_weights is not None and len(model_args.teacher_weights) != members:
        raise ValueError(f"--teacher_weights gives {len(model_args.teacher_weights)} weights for {members} teachers: "
                         "give one weight per teacher (or per --teacher_seeds seed).")
    if training_args.attention_relation_weight > 0 and members > 1:
        raise ValueError(f"--attention_relation_weight matches one teacher's attention relations, but the run has an "
                         f"ensemble of {members} teachers: distil from one teacher, or set --attention_relation_weight "
                         "0.")
    if training_args.hidden_state_weight > 0:
        if members > 1:
            raise ValueError(f"--hidden_state_weight matches one teacher's hidden states layer by layer, but the run "
                             f"has an ensemble of {members} teachers: distil from one teacher, or set "
                             "--hidden_state_weight 0.")
        kind = get_student_kind(model_args.student)
        if not kind.matches_hidden_states:
            raise ValueError(f"--hidden_state_weight compares each student layer with the teacher layer it was copied "
                             f"from, which a {model_args.student!r} student does not have: use --student layers, or "
                             "set --hidden_state_weight 0.")
    if training_args.do_predict and not data_args.test_file:
        raise ValueError("--do_predict predicts the rows of --test_file, and none was given: pass --test_file "
                         "(CSV, TSV, JSON lines, Parquet or Arrow, labeled or not).")
    if export_args.export_strict and export_args.export is None:
        raise ValueError("--export_strict fails a run whose exported files do not match PyTorch: add --export onnx.")


__all__ = [
    "check_attention_relations",
    "check_class_weights",
    "check_data",
    "check_ensemble_inputs",
    "check_finite_logits",
    "check_hidden_state_pairs",
    "check_input_lengths",
    "check_label_shape",
    "check_models",
    "check_problem_type",
    "check_process_group",
    "check_recipe_arguments",
    "check_same_vocabulary",
    "check_shared_tokenizer",
    "check_stored_teacher_logits",
    "check_teacher_tokenizers",
    "check_teachers",
    "check_tokenizer",
    "check_train_dataset",
]
