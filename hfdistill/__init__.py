"""hfdistill: distil a fine-tuned transformers text classifier into a small, fast student, the Trainer way."""

from transformers import AutoConfig, AutoModelForSequenceClassification

from .configuration_linear_student import LinearStudentConfig
from .configuration_mean_pooling_bert import MeanPoolingBertConfig
from .distillation_config import DistillationTrainingArguments
from .distillation_trainer import TEACHER_LOGITS_COLUMN, DistillationTrainer, distillation_hp_space, load_teacher
# Cheap: onnx, onnxscript and onnxruntime are imported only inside the functions that use them.
from .export import OnnxClassifier, export_to_onnx, prune_vocabulary
from .losses import cosine_loss, distillation_loss, kl_divergence_loss, mse_loss, soft_loss
from .modeling_linear_student import LinearStudentForSequenceClassification
from .modeling_mean_pooling_bert import MeanPoolingBertForSequenceClassification
from .profiling import ModelStats, disk_size_bytes, measure_cpu_speed, model_stats
from .students import StudentSpec, compact_student, count_parameters, evenly_spread_layers, linear_student, student_from_teacher

__version__ = "0.1.0"

# The one import-time side effect: our model types load through the Auto classes, and save_pretrained copies its
# code into the folder with an `auto_map`, so that the folder also loads with trust_remote_code=True without us.
for _config_class, _model_class in ((LinearStudentConfig, LinearStudentForSequenceClassification),
                                    (MeanPoolingBertConfig, MeanPoolingBertForSequenceClassification)):
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModelForSequenceClassification.register(_config_class, _model_class, exist_ok=True)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModelForSequenceClassification")
del _config_class, _model_class

__all__ = [
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "LinearStudentConfig",
    "LinearStudentForSequenceClassification",
    "MeanPoolingBertConfig",
    "MeanPoolingBertForSequenceClassification",
    "ModelStats",
    "OnnxClassifier",
    "StudentSpec",
    "TEACHER_LOGITS_COLUMN",
    "compact_student",
    "cosine_loss",
    "count_parameters",
    "disk_size_bytes",
    "distillation_hp_space",
    "distillation_loss",
    "evenly_spread_layers",
    "export_to_onnx",
    "kl_divergence_loss",
    "linear_student",
    "load_teacher",
    "measure_cpu_speed",
    "model_stats",
    "mse_loss",
    "prune_vocabulary",
    "soft_loss",
    "student_from_teacher",
]
