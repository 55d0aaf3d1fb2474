"""hfdistill: distil a fine-tuned transformers text classifier into a small, fast student, the Trainer way."""

from .distillation_config import DistillationTrainingArguments
from .distillation_trainer import TEACHER_LOGITS_COLUMN, DistillationTrainer, load_teacher
from .losses import cosine_loss, distillation_loss, kl_divergence_loss, mse_loss, soft_loss

__version__ = "0.1.0"

__all__ = [
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "TEACHER_LOGITS_COLUMN",
    "cosine_loss",
    "distillation_loss",
    "kl_divergence_loss",
    "load_teacher",
    "mse_loss",
    "soft_loss",
]
