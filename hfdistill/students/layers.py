"""The ``layers`` student: the teacher's architecture with fewer of its encoder layers, copied from it (DistilBERT's
initialisation, Sanh et al. 2019)."""

from __future__ import annotations

import copy
import re

from torch import nn
from transformers import PreTrainedModel

from ..models import MeanPoolingBertConfig
from .common import log_size
from .registry import NUM_LAYERS, StudentKind, StudentOption, register_student_kind

# Encoders whose layers sit in `<base>.encoder.layer` (`transformer.layer` for DistilBERT), a ModuleList: what layer
# selection needs.
SUPPORTED_FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "mpnet", "distilbert",
                      MeanPoolingBertConfig.model_type)


def _encoder_layers_path(model: nn.Module) -> str:
    num_layers = getattr(model.config, "num_hidden_layers", None)
    for name, module in model.named_modules():
        # BERT's family keeps them at `encoder.layer`, DistilBERT at `transformer.layer`.
        if name.endswith(("encoder.layer", "transformer.layer")) and isinstance(module, nn.ModuleList) \
                and len(module) == num_layers:
            return name
    model_type = getattr(model.config, "model_type", type(model).__name__)
    raise ValueError(
        f"Cannot cut layers from a {model_type!r} model ({type(model).__name__}): hfdistill needs an encoder whose "
        f"layers sit in a ModuleList at `encoder.layer` or `transformer.layer`, e.g. one of "
        f"{', '.join(SUPPORTED_FAMILIES)}. For other architectures, use compact_student or linear_student."
    )


def evenly_spread_layers(num_teacher_layers: int, num_layers: int) -> list[int]:
    """``num_layers`` indices spread evenly over the teacher's layers, first and last included (DistilBERT-style).

    With a single layer, the last one: the teacher's classification head was trained on top-layer features.
    """
    if not 1 <= num_layers <= num_teacher_layers:
        raise ValueError(
            f"num_layers must be between 1 and the teacher's {num_teacher_layers} layers, got {num_layers}."
        )
    if num_layers == 1:
        return [num_teacher_layers - 1]
    return [round(i * (num_teacher_layers - 1) / (num_layers - 1)) for i in range(num_layers)]


def student_from_teacher(
    teacher: PreTrainedModel, num_layers: int | None = None, layers: list[int] | None = None
) -> PreTrainedModel:
    """The teacher's architecture with fewer encoder layers, initialised from the teacher (DistilBERT's recipe).

    Embeddings, pooler and classification head are copied from the teacher, and student layer ``i`` from teacher
    layer ``layers[i]``. Give ``layers`` explicitly, or ``num_layers`` to spread them evenly over the teacher's
    (first and last included). The copy is exact, and the teacher is left untouched.
    """
    prefix = _encoder_layers_path(teacher)
    layers = _resolve_layers(teacher.config.num_hidden_layers, num_layers, layers)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    config.distilled_from_layers = layers
    student = type(teacher)(config)
    layer_pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.*)")
    new_index = {teacher_index: student_index for student_index, teacher_index in enumerate(layers)}
    state_dict = {}
    for name, tensor in teacher.state_dict().items():
        match = layer_pattern.fullmatch(name)
        if match is None:
            state_dict[name] = tensor.clone()
        elif int(match.group(1)) in new_index:
            state_dict[f"{prefix}.{new_index[int(match.group(1))]}.{match.group(2)}"] = tensor.clone()
    student.load_state_dict(state_dict, strict=True)
    student.to(teacher.device)
    log_size(f"{len(layers)}-layer (teacher layers {layers})", student, teacher)
    return student


def _resolve_layers(num_teacher_layers: int, num_layers: int | None, layers: list[int] | None) -> list[int]:
    """The teacher layers to keep: ``layers`` checked, or ``num_layers`` spread evenly."""
    if layers is None:
        if num_layers is None:
            raise ValueError("Pass num_layers (e.g. 2) or layers (e.g. [0, 5]) to choose the teacher layers to keep.")
        return evenly_spread_layers(num_teacher_layers, num_layers)
    layers = [int(index) for index in layers]
    if num_layers is not None and num_layers != len(layers):
        raise ValueError(f"num_layers={num_layers} but layers={layers} names {len(layers)}: pass only one of them.")
    if not layers:
        raise ValueError("layers is empty: name at least one teacher layer to keep.")
    out_of_range = [index for index in layers if not 0 <= index < num_teacher_layers]
    if out_of_range:
        raise ValueError(
            f"layers {out_of_range} out of range: the teacher has {num_teacher_layers} layers, numbered 0 to "
            f"{num_teacher_layers - 1}."
        )
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers {layers} names a layer twice; name each teacher layer once.")
    return layers


def _check(spec, teacher_config) -> None:
    model_type = getattr(teacher_config, "model_type", None)
    if model_type not in SUPPORTED_FAMILIES:
        raise ValueError(
            f"Cannot cut layers from a {model_type!r} teacher: --student layers supports "
            f"{', '.join(SUPPORTED_FAMILIES)}. Use --student compact or --student linear."
        )
    _resolve_layers(teacher_config.num_hidden_layers, None if spec.layers else spec.num_layers, spec.layers or None)


def _build(spec, teacher: PreTrainedModel) -> PreTrainedModel:
    return student_from_teacher(teacher, num_layers=None if spec.layers else spec.num_layers, layers=spec.layers)


LAYERS_OPTION = StudentOption(None, list[int] | None, "Teacher layers a 'layers' student keeps, e.g. 0 5 "
                              "(default: spread evenly).")

register_student_kind(StudentKind(
    name="layers", build=_build, check=_check, matches_hidden_states=True,
    options={"num_layers": NUM_LAYERS, "layers": LAYERS_OPTION},
    help="'layers' (the teacher with fewer layers)",
    description="transformer cut from the teacher (fewer of its layers)",
    # Measured on SST-2 (benchmarks/README.md, "Student kinds" and "Peers"): one epoch over a transfer set grown by
    # 4 augmented copies per text, frozen word embeddings, length-window batches and no warmup.
    defaults={"student_num_layers": 2, "learning_rate": 1e-4, "num_train_epochs": 1.0, "augment_factor": 4,
              "student_freeze_word_embeddings": True,
              "student_num_bigram_buckets": 0, "train_sampling_strategy": "length_window", "warmup_steps": 0.0},
    unlabeled_defaults={"augment_factor": 0, "student_num_bigram_buckets": 0},
))
