"""Training arguments for :class:`~hfdistill.DistillationTrainer`."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .losses import PSEUDO_LABEL_MODES, loss_names


# What defines a distillation run, as results.json and the model card record it.
DISTILLATION_SETTINGS = (
    "temperature", "alpha", "distillation_loss", "pseudo_labels", "pseudo_label_threshold", "hidden_state_weight",
    "hidden_state_loss", "attention_relation_weight", "class_weights", "num_train_epochs", "learning_rate", "seed",
)


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
        pseudo_labels (`str`, *optional*, defaults to `"none"`):
            What examples without a label (unlabeled or augmented text) learn: `"none"`, the soft term alone;
            `"hard"`, cross-entropy on the teacher's argmax instead; `"both"`, the soft term and that cross-entropy,
            weighed by alpha as for labeled examples.
        pseudo_label_threshold (`float`, *optional*, defaults to `0.0`):
            Only examples whose teacher top-class probability (at T=1) reaches this get a pseudo-label; under
            `"hard"` the others are left out, under `"both"` they keep the soft term. In [0, 1].
        hidden_state_weight (`float`, *optional*, defaults to `0.0`):
            Weight of a hidden-state term added to the loss: the distance between the output of each student layer
            and the output of the teacher layer it was copied from (the student's `config.distilled_from_layers`,
            set by `student_from_teacher`). 0 turns it off. The teacher then runs on every step, cached logits or not.
        hidden_state_loss (`str`, *optional*, defaults to `"mse"`):
            Distance of the hidden-state term, per token averaged over real tokens: `"mse"` (mean squared difference
            over the hidden size) or `"cosine"` (1 - cosine similarity).
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
            # no "choices": the parser reads the registered names when it is built (see hfdistill.parser)
        },
    )

    pseudo_labels: str = field(
        default="none",
        metadata={
            "help": "What examples without a label (unlabeled or augmented text) learn: 'none', the soft term alone; "
            "'hard', cross-entropy on the teacher's argmax instead; 'both', the soft term and that cross-entropy, "
            "weighed by alpha as for labeled examples.",
            "choices": list(PSEUDO_LABEL_MODES),
        },
    )
    pseudo_label_threshold: float = field(
        default=0.0,
        metadata={
            "help": "Only examples whose teacher top-class probability (at T=1) reaches this get a pseudo-label; under "
            "'hard' the others are left out, under 'both' they keep the soft term. In [0, 1]."
        },
    )

    hidden_state_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of a hidden-state term added to the loss: the distance between the output of each student "
            "layer and the output of the teacher layer it was copied from (the student's config.distilled_from_layers, "
            "set by student_from_teacher). 0 turns it off. The teacher then runs on every step, cached logits or not."
        },
    )
    hidden_state_loss: str = field(
        default="mse",
        metadata={
            "help": "Distance of the hidden-state term, per token averaged over real tokens: 'mse' (mean squared "
            "difference over the hidden size) or 'cosine' (1 - cosine similarity).",
        },
    )

    attention_relation_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of MiniLMv2's self-attention relation term: KL between the teacher's and the student's "
            "query-query, key-key and value-value relations (scaled dot products) of one layer each, split into "
            "attention_relation_heads heads, so that widths and head counts need not match. 0 turns it off. The "
            "teacher then runs on every step; both models must share a tokenizer."
        },
    )
    attention_relation_heads: int = field(
        default=1, metadata={"help": "Relation heads of the attention relation term; must divide both widths."})
    attention_relation_layers: list[int] | None = field(
        default=None,
        metadata={"help": "The teacher layer and the student layer whose relations the term matches, e.g. 4 1 "
                          "(default: each model's last layer)."},
    )

    class_weights: list[str] | None = field(
        default=None,
        metadata={
            "help": "Weights of the classes in the hard (gold-label) term, for imbalanced data: 'auto' (inverse "
            "frequency in the training labels, n / (C * n_c), scikit-learn's 'balanced') or one weight per class in "
            "id2label order. Single-label tasks. The soft term is not weighted: it follows the teacher."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.class_weights is not None:
            self.class_weights = _parse_class_weights(self.class_weights)
        if not self.temperature > 0:
            raise ValueError(
                f"temperature must be > 0, got {self.temperature}. Typical values are 1 to 8; 2 is the default."
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(
                f"alpha must be in [0, 1], got {self.alpha}. It weighs the soft term; 1 - alpha weighs the hard-label "
                "cross-entropy."
            )
        if self.distillation_loss not in loss_names("soft"):  # registered for any task shape; checked per task later
            raise ValueError(
                f"distillation_loss must be one of {', '.join(loss_names('soft'))}, got {self.distillation_loss!r}."
            )
        if self.pseudo_labels not in PSEUDO_LABEL_MODES:
            raise ValueError(
                f"pseudo_labels must be one of {', '.join(PSEUDO_LABEL_MODES)}, got {self.pseudo_labels!r}."
            )
        if not 0.0 <= self.pseudo_label_threshold <= 1.0:
            raise ValueError(
                f"pseudo_label_threshold must be a probability in [0, 1], got {self.pseudo_label_threshold}; e.g. 0.9 "
                "keeps the pseudo-labels the teacher is at least 90% sure of."
            )
        if self.pseudo_label_threshold > 0 and self.pseudo_labels == "none":
            raise ValueError(
                "pseudo_label_threshold is set but pseudo_labels is 'none', so no pseudo-label would be made. Set "
                "pseudo_labels to 'hard' or 'both'."
            )
        if not self.hidden_state_weight >= 0:
            raise ValueError(
                f"hidden_state_weight must be >= 0, got {self.hidden_state_weight}; 0 turns the hidden-state term off."
            )
        if not self.attention_relation_weight >= 0 or self.attention_relation_heads < 1:
            raise ValueError(f"attention_relation_weight must be >= 0 and attention_relation_heads >= 1, got "
                             f"{self.attention_relation_weight} and {self.attention_relation_heads}.")
        if self.attention_relation_layers is not None and len(self.attention_relation_layers) != 2:
            raise ValueError(f"attention_relation_layers names a teacher layer and a student layer, e.g. 4 1; got "
                             f"{self.attention_relation_layers}.")
        if self.hidden_state_loss not in loss_names("hidden"):
            raise ValueError(
                f"hidden_state_loss must be one of {', '.join(loss_names('hidden'))}, got {self.hidden_state_loss!r}."
            )

    def distillation_settings(self) -> dict:
        """The settings that define this distillation run (`DISTILLATION_SETTINGS`), by name."""
        return {name: getattr(self, name) for name in DISTILLATION_SETTINGS}


def _parse_class_weights(values) -> list[float] | str:
    """``"auto"`` (or ``["auto"]``), or a list of positive weights (numbers or their strings); ``ValueError`` else."""
    values = [values] if isinstance(values, str) else list(values)
    if [str(value).lower() for value in values] == ["auto"]:
        return "auto"
    try:
        weights = [float(value) for value in values]
    except ValueError:
        raise ValueError(f"class_weights must be 'auto' or one positive number per class, got {values}.") from None
    if not weights or any(not weight > 0 for weight in weights):
        raise ValueError(f"class_weights must be 'auto' or one positive number per class, got {values}.")
    return weights
