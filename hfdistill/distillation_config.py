"""Training arguments for :class:`~hfdistill.DistillationTrainer`."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .losses import SOFT_LOSSES


@dataclass
class DistillationTrainingArguments(TrainingArguments):
    r"""
    [`TrainingArguments`] plus the knobs of knowledge distillation.

    The student is trained on, per labeled example, ``alpha * soft + (1 - alpha) * CE(student, label)`` where
    ``soft = T^2 * KL(softmax(teacher / T) || softmax(student / T))`` for ``distillation_loss="kl"``; examples
    without a label get the soft term alone. Being a dataclass, it gives a command line through
    [`~transformers.HfArgumentParser`].

    Parameters:
        temperature (`float`, *optional*, defaults to `2.0`):
            Softmax temperature T of the soft targets (used by `"kl"`). Must be > 0.
        alpha (`float`, *optional*, defaults to `0.5`):
            Weight of the soft (distillation) term on labeled examples, in [0, 1]; `1 - alpha` weighs the
            cross-entropy on the hard labels. `0` trains on hard labels only, `1` on the teacher only.
        distillation_loss (`str`, *optional*, defaults to `"kl"`):
            Soft term: `"kl"` (temperature-scaled KL divergence, multiplied by T^2), `"mse"` (squared error between
            logit vectors) or `"cosine"` (1 - cosine similarity of logit vectors).
    """

    temperature: float = field(
        default=2.0,
        metadata={"help": "Softmax temperature T of the soft targets (used by 'kl'). Must be > 0."},
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Weight of the soft (distillation) term on labeled examples, in [0, 1]; 1 - alpha weighs the "
            "cross-entropy on the hard labels. 0 trains on hard labels only, 1 on the teacher only."
        },
    )
    distillation_loss: str = field(
        default="kl",
        metadata={
            "help": "Soft term: 'kl' (temperature-scaled KL divergence, multiplied by T^2), 'mse' (squared error "
            "between logit vectors) or 'cosine' (1 - cosine similarity of logit vectors).",
            "choices": list(SOFT_LOSSES),
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.temperature > 0:
            raise ValueError(
                f"temperature must be > 0, got {self.temperature}. Typical values are 1 to 8; 2 is the default."
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(
                f"alpha must be in [0, 1], got {self.alpha}. It weighs the soft term; 1 - alpha weighs the hard-label "
                "cross-entropy."
            )
        if self.distillation_loss not in SOFT_LOSSES:
            raise ValueError(
                f"distillation_loss must be one of {', '.join(SOFT_LOSSES)}, got {self.distillation_loss!r}."
            )
