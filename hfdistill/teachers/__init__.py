"""Teachers behind one interface (`Teacher.logits(batch)`): online, stored (the logit cache) and ensemble sources
(`base`), loading checkpoints (`loading`), combining several (`ensemble`), computing the cache (`logit_cache`,
`cache_files`) and fine-tuning a teacher for the task (`fine_tuning`, which imports `transformers.Trainer` and is
therefore not imported here)."""

from .base import (TEACHER_SOURCES, EnsembleTeacher, OnlineTeacher, StoredLogitsTeacher, Teacher, build_teacher,
                   register_teacher_source)
from .ensemble import TeacherEnsemble, combine_teacher_logits, normalized_weights
from .loading import (TEACHER_SUBFOLDER, TeacherCheckpoint, check_classifier_pooling, default_teacher, inspect_teacher,
                      load_teacher, load_tokenizer_if_saved, load_tokenizers, new_classifier)

__all__ = [
    "EnsembleTeacher", "OnlineTeacher", "StoredLogitsTeacher", "TEACHER_SOURCES", "TEACHER_SUBFOLDER", "Teacher",
    "TeacherCheckpoint", "TeacherEnsemble", "build_teacher", "check_classifier_pooling", "combine_teacher_logits",
    "default_teacher", "inspect_teacher", "load_teacher", "load_tokenizer_if_saved", "load_tokenizers",
    "new_classifier",
    "normalized_weights", "register_teacher_source",
]
