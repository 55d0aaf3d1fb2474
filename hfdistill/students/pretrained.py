"""The ``pretrained`` student: a pretrained checkpoint of any family (MiniLM, DistilBERT, TinyBERT, ...) given the
teacher's label space, optionally cut to fewer of its layers, reading the text through its own tokenizer (the
DistilBERT / MiniLM setting: a pretrained small model distilled from a big fine-tuned one; Sanh et al., 2019)."""

from __future__ import annotations

import os

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from .common import log_size
from .layers import _resolve_layers, student_from_teacher
from .registry import StudentKind, StudentOption, register_student_kind

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# Heads of other tasks: their checkpoints are not a text classifier's body (a decoder, a per-token or a span head).
OTHER_TASKS = {"ForTokenClassification": "a token-classification", "ForQuestionAnswering": "a question-answering",
               "ForCausalLM": "a causal-LM", "LMHeadModel": "a causal-LM", "ForConditionalGeneration": "a seq2seq",
               "ForMultipleChoice": "a multiple-choice"}


def check_pretrained_checkpoint(name_or_path: str | None):
    """The checkpoint's config, after checking that ``name_or_path`` is a saved encoder a text classifier can be made
    from. Raises ``ValueError`` saying what was found: no path, a path that does not exist, a folder without
    config.json or without weights, or a model of another task (a token-classification or causal-LM head...)."""
    if not name_or_path:
        raise ValueError("--student pretrained needs the checkpoint: --student_model_name_or_path PATH (a local "
                         "folder or a Hub name).")
    local = os.path.isdir(name_or_path)
    if not local and (os.path.sep in name_or_path.strip("/") and os.path.exists(os.path.dirname(name_or_path))
                      or name_or_path.startswith((".", "/", "~"))):
        raise ValueError(f"The student checkpoint {name_or_path!r} does not exist (working directory: "
                         f"{os.getcwd()}). Pass the folder that save_pretrained wrote, or a Hub model name.")
    if local and not os.path.isfile(os.path.join(name_or_path, "config.json")):
        raise ValueError(f"The student checkpoint {name_or_path!r} is a folder without config.json: not a saved "
                         "model. Pass the folder that save_pretrained wrote.")
    if local and not any(os.path.isfile(os.path.join(name_or_path, name)) for name in WEIGHT_FILES):
        raise ValueError(f"The student checkpoint {name_or_path!r} holds a config but no weights (none of "
                         f"{', '.join(WEIGHT_FILES)}): a pretrained student needs its trained weights.")
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise ValueError(f"Could not load the student checkpoint {name_or_path!r}: {error}\nPass a local model folder "
                         "or, with network access, a Hub model name.") from error
    found = [(architecture, task) for architecture in (config.architectures or [])
             for suffix, task in OTHER_TASKS.items() if architecture.endswith(suffix)]
    if found or getattr(config, "is_decoder", False):
        architecture, task = found[0] if found else (config.model_type, "a decoder (causal-LM)")
        raise ValueError(f"The student checkpoint {name_or_path!r} holds {architecture}, {task} model: a student "
                         "text classifier is made from an encoder pretrained for language modelling or sequence "
                         "classification (e.g. MiniLM, DistilBERT, BERT, RoBERTa).")
    return config


def pretrained_student(name_or_path: str, teacher: PreTrainedModel, num_layers: int | None = None,
                       layers: list[int] | None = None) -> PreTrainedModel:
    """The pretrained checkpoint ``name_or_path`` as a sequence classifier of the teacher's label space
    (``num_labels``, ``id2label``, ``label2id``, ``problem_type``; a new head), cut to ``layers`` (or ``num_layers``
    spread evenly, first and last kept) of its own layers when given. Raises ``ValueError`` as
    `check_pretrained_checkpoint` does."""
    check_pretrained_checkpoint(name_or_path)
    teacher_config = teacher.config
    student = AutoModelForSequenceClassification.from_pretrained(
        name_or_path, num_labels=teacher_config.num_labels, id2label=dict(teacher_config.id2label),
        label2id=dict(teacher_config.label2id), problem_type=teacher_config.problem_type,
        ignore_mismatched_sizes=True)
    if num_layers or layers:
        student = student_from_teacher(student, num_layers=None if layers else num_layers, layers=layers)
        # Its layers come from its own checkpoint, not from the teacher's: nothing to match them with.
        del student.config.distilled_from_layers
    student.to(teacher.device)
    log_size(f"Pretrained ({name_or_path})", student, teacher)
    return student


def _check(spec, teacher_config) -> None:
    config = check_pretrained_checkpoint(spec.model_name_or_path)
    if spec.layers or spec.num_layers:
        _resolve_layers(config.num_hidden_layers, None if spec.layers else spec.num_layers, spec.layers or None)


def _build(spec, teacher: PreTrainedModel) -> PreTrainedModel:
    return pretrained_student(spec.model_name_or_path, teacher, spec.num_layers, spec.layers)


register_student_kind(StudentKind(
    name="pretrained", build=_build, check=_check,
    tokenizer=lambda spec: AutoTokenizer.from_pretrained(spec.model_name_or_path),
    help="'pretrained' (a pretrained checkpoint of any family, --student_model_name_or_path)",
    description="pretrained model distilled from the teacher",
    options={"model_name_or_path": StudentOption(None, str | None, "A pretrained student checkpoint (Hub name or "
                                                 "local folder) of any family, e.g. MiniLM or DistilBERT; it keeps "
                                                 "its own tokenizer. Implies --student pretrained.")},
    spec_defaults={"num_layers": None},  # the whole checkpoint unless a cut is asked for
    # A pretrained body is fine-tuned like a teacher: the teacher's settings (recipe's --teacher_* defaults).
    defaults={"student_num_layers": None, "learning_rate": 1e-4, "num_train_epochs": 3.0, "augment_factor": 0,
              "student_freeze_word_embeddings": False, "train_sampling_strategy": "length_window",
              "warmup_steps": 0.1},
))
