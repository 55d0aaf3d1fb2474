"""hfdistill: distil a fine-tuned transformers text classifier into a small, fast student, the Trainer way.

The public names below load on first use (PEP 562), so that ``import hfdistill.export`` or ``hfdistill.losses``
does not import `transformers.Trainer`; the one import-time side effect is registering our model types.
"""

from importlib import import_module

from transformers import AutoConfig, AutoModelForSequenceClassification

from .models import (LinearStudentConfig, LinearStudentForSequenceClassification, MeanPoolingBertConfig,
                     MeanPoolingBertForSequenceClassification)

__version__ = "0.1.0"

# Our model types load through the Auto classes, and save_pretrained copies their code into the folder with an
# `auto_map`, so that the folder also loads with trust_remote_code=True without us.
for _config_class, _model_class in ((LinearStudentConfig, LinearStudentForSequenceClassification),
                                    (MeanPoolingBertConfig, MeanPoolingBertForSequenceClassification)):
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModelForSequenceClassification.register(_config_class, _model_class, exist_ok=True)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModelForSequenceClassification")
del _config_class, _model_class

# public name -> the module that defines it
_LAZY = {
    "DistillationTrainer": ".trainer",
    "DistillationTrainingArguments": ".config",
    "TEACHER_LOGITS_COLUMN": ".data.collator",
    "distillation_hp_space": ".search",
    "load_teacher": ".teachers.loading",
    "Teacher": ".teachers.base",
    "register_teacher_source": ".teachers.base",
    "OnnxClassifier": ".export",
    "export_to_onnx": ".export",
    "prune_vocabulary": ".export",
    "cosine_loss": ".losses",
    "distillation_loss": ".losses",
    "kl_divergence_loss": ".losses",
    "mse_loss": ".losses",
    "soft_loss": ".losses",
    "register_loss": ".losses",
    "ModelStats": ".evaluation.profiling",
    "disk_size_bytes": ".evaluation.profiling",
    "measure_cpu_speed": ".evaluation.profiling",
    "model_stats": ".evaluation.profiling",
    "StudentSpec": ".students",
    "register_student_kind": ".students",
    "compact_student": ".students",
    "count_parameters": ".students",
    "evenly_spread_layers": ".students",
    "linear_student": ".students",
    "pretrained_student": ".students",
    "student_from_teacher": ".students",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hfdistill' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(["LinearStudentConfig", "LinearStudentForSequenceClassification", "MeanPoolingBertConfig",
                  "MeanPoolingBertForSequenceClassification", *_LAZY])
