"""Distil a fine-tuned teacher into a small student for any text-classification task: single texts or pairs, one
label, several labels or a score, from local files or a Hub dataset.

    accelerate launch recipes/text_classification.py recipes/configs/mrpc.yaml
    accelerate launch recipes/text_classification.py --train_file train.csv --validation_file dev.csv --seed 1

Steps: fine-tune the teacher (or reuse it), distil the student, evaluate both, write the report, ship the student.
Flags: `--help`, or docs/recipe.md.
"""

import os
import shlex
import sys

from transformers import DataCollatorWithPadding, set_seed

from hfdistill import DistillationTrainer, model_stats
from hfdistill.arguments import parse_arguments
from hfdistill.data import (build_transfer_set, load_task, report_transfer_lengths, resolve_max_length, tokenize_views,
                            unlabeled_value, with_teacher_view)
from hfdistill.evaluation.metrics import class_coverage, report_metric, task_metrics
from hfdistill.evaluation.predictions import predict_test
from hfdistill.evaluation.report import build_results, write_report
from hfdistill.export import check_export_strict, export_student
from hfdistill.precision import apply_cpu_bf16, resolve_teacher_inference_dtype
from hfdistill.search import search_and_apply
from hfdistill.teachers import check_classifier_pooling, inspect_teacher, load_tokenizers
from hfdistill.teachers.fine_tuning import evaluate_teachers, prepare_teachers
from hfdistill.teachers.logit_cache import add_teacher_logits
from hfdistill.utils import StepTimes


def main():
    # ---- arguments, and every check that can be made before an hour of teacher fine-tuning ----------------------
    model_args, data_args, transfer_args, training_args, export_args = parse_arguments()
    set_seed(training_args.seed)
    precision = apply_cpu_bf16(training_args, model_args.cpu_bf16)  # before any Trainer: both models train so
    precision["teacher_inference_dtype"] = resolve_teacher_inference_dtype(model_args.teacher_inference_dtype,
                                                                           precision)
    times = StepTimes()
    student_spec = model_args.student_spec()
    checkpoints = [inspect_teacher(path) for path in model_args.teacher_model_name_or_path]
    configs = [checkpoint.config for checkpoint in checkpoints]  # the first's classes are the run's
    teacher_as_is = checkpoints[0].use_as_is(model_args.teacher_fine_tuning)
    for checkpoint in checkpoints:
        check_classifier_pooling(checkpoint, model_args.teacher_classifier_pooling, model_args.teacher_fine_tuning)
    student_spec.check(configs[0], match_hidden_states=training_args.hidden_state_weight > 0)
    augmentation = transfer_args.augmentation()

    # ---- data: the task, the transfer set, tokenized ------------------------------------------------------------
    task = load_task(data_args, checkpoints[0], teacher_as_is)
    label_map, text_column, text_pair_column = task.label_map, task.text_column, task.text_pair_column
    tokenizers, student_tokenizer, readers = load_tokenizers(  # each teacher reads its own, a pretrained student too
        checkpoints, student_spec.tokenizer(), model_args.cache_teacher_logits, training_args)
    tokenizer = tokenizers[0]
    data_args.max_seq_length, truncation = resolve_max_length(  # measured on every split, chosen, reported
        task.data, tokenizer, text_column, text_pair_column, data_args.max_seq_length, configs,
        data_args.truncation_side, readers)
    with times.step("augmentation_s"):
        transfer, transfer_info = build_transfer_set(
            task.data["train"], text_column, transfer_args.unlabeled_file, augmentation,
            tokenizer.mask_token, data_args.encoding, text_pair_column, unlabeled_value(label_map),
            transfer_args.max_unlabeled_samples, transfer_args.unlabeled_seed)
    report_transfer_lengths(truncation, transfer, transfer_info, tokenizer, text_column, text_pair_column,
                            data_args.truncation_side, readers)  # the rows the teacher alone labels, cut alike
    with training_args.main_process_first(desc="tokenizing"):  # each model's view, when their tokenizers differ
        views, teacher_views = tokenize_views(
            {"train": transfer, **{split: task.data[split] for split in ("validation", "test") if split in task.data}},
            student_tokenizer, tokenizers, text_column, data_args.max_seq_length, text_pair_column,
            data_args.truncation_side, configs[0], tokenizer.mask_token)
    train, validation, test = views["train"], views["validation"], views.get("test")
    shared = teacher_views["train"][0] is train  # one tokenization; else each teacher's view, in the teachers' order
    labeled_train = [each.select(range(transfer_info["labeled"])) for each in teacher_views["train"]]  # come first

    # ---- teacher(s): used as is, reused, or fine-tuned on the labeled rows; their logits cached ----------------
    teachers, teacher_infos = prepare_teachers(
        checkpoints, label_map, training_args.output_dir, labeled_train, tokenizers, training_args,
        settings={"data": data_args.teacher_settings()}, class_weights=training_args.class_weights,
        **model_args.fine_tuning_kwargs())
    teacher_info = teacher_infos[0] if len(teachers) == 1 else {"source": "ensemble", "teachers": teacher_infos}
    times["teacher_fine_tuning_s"] = sum(info["fine_tuning_s"] for info in teacher_infos)
    cache_info, teacher_train = None, teacher_views["train"][0]
    if model_args.cache_teacher_logits:  # every process computes its share of the rows, then all load the cache
        teacher_train, cache_info = add_teacher_logits(
            teacher_views["train"], teachers, tokenizers, os.path.join(training_args.output_dir, "_cache"),
            {"max_seq_length": data_args.max_seq_length, "transfer_set": transfer_info},
            training_args.per_device_eval_batch_size, training_args.device, precision["teacher_inference_dtype"])
        times["teacher_logits_s"] = cache_info["seconds"]
    # One tokenization: the teacher's view is the student's. Two: the cached logits, or the teacher's own inputs.
    train = teacher_train if shared else with_teacher_view(train, teacher_train)

    # ---- distillation (after an optional search of T, alpha and the learning rate) ------------------------------
    compute_metrics = task_metrics(label_map.problem_type, label_map.num_labels)
    common = dict(teacher_model=teachers, teacher_weights=model_args.teacher_weights, compute_metrics=compute_metrics,
                  processing_class=student_tokenizer, teacher_processing_class=tokenizer,
                  data_collator=DataCollatorWithPadding(student_tokenizer))
    search = search_and_apply(lambda: student_spec.build(teachers[0]), train.select(range(transfer_info["labeled"])),
                              training_args, **common)  # the best settings found replace the given ones
    student = student_spec.build(teachers[0])
    trainer = DistillationTrainer(model=student, args=training_args, train_dataset=train, eval_dataset=validation,
                                  **common)
    with times.step("distillation_s"):
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)

    # ---- evaluation of both, then the student saved and exported ------------------------------------------------
    with times.step("evaluation_s"):
        student_metrics = trainer.evaluate()
        _, teacher_metrics, each_teacher = evaluate_teachers(teachers, model_args.teacher_weights,
                                                             teacher_views["validation"], tokenizers, training_args,
                                                             compute_metrics)
    trainer.save_model()
    transfer_texts = list(transfer[text_column]) + (list(transfer[text_pair_column]) if text_pair_column else [])
    exported = export_student(export_args, trainer, transfer_texts, task.texts("validation"),
                              task.data["validation"]["labels"], data_args.max_seq_length)
    predictions = None
    if test is not None:  # --test_file: predictions.tsv in the file's row order, and the metrics of a labeled file
        predictors = {"student": trainer.predict}
        if model_args.teacher_predictions:
            predictors["teacher"] = lambda d: evaluate_teachers(teachers, model_args.teacher_weights,
                                                                teacher_views["test"], tokenizers, training_args,
                                                                compute_metrics, predict=True)[1]
        predictions = predict_test(test, task.texts("test"), label_map, training_args.output_dir,
                                   trainer.is_world_process_zero(), **predictors)

    # ---- report: results.json, the table, the plot and the model card; then the Hub -----------------------------
    dataset = data_args.dataset_name or os.path.basename(os.path.dirname(os.path.abspath(data_args.train_file)))
    card = {"command": "accelerate launch " + shlex.join(sys.argv), "dataset": dataset,
            "student_kind": model_args.student, "teacher": ", ".join(model_args.teacher_model_name_or_path),
            "student_checkpoint": getattr(model_args, "student_model_name_or_path", None)}
    if trainer.is_world_process_zero():
        with times.step("profiling_s"):
            texts = task.texts("validation")
            teacher_stats, student_stats = (model_stats(m, t, texts, data_args.max_seq_length)  # members add up
                                            for m, t in ((teachers, tokenizers), (student, student_tokenizer)))
        times["total_s"] = times.total()
        card["results"] = build_results(
            teacher_metrics, student_metrics, teacher_stats, student_stats, student_kind=model_args.student,
            teacher_source=teacher_info, each_teacher=each_teacher if len(teachers) > 1 else None,
            teacher_logits=cache_info, labels=label_map.id2label, train_examples=len(train), transfer_set=transfer_info,
            eval_examples=len(validation), timings=dict(times), command=card["command"],
            student_settings=student_spec.settings(), distillation=training_args.distillation_settings(),
            problem_type=label_map.problem_type, precision=precision, exported=exported, text_column=text_column,
            text_pair_column=text_pair_column, search=search, truncation=truncation, predictions=predictions,
            metric_classes=class_coverage(validation["labels"], label_map.id2label, label_map.problem_type),
            primary_metric=report_metric(label_map.problem_type, training_args.metric_for_best_model,
                                         training_args.greater_is_better),
        )
        print(write_report(card["results"], training_args.output_dir))
        trainer.create_model_card(**card)
    if training_args.push_to_hub:
        trainer.push_to_hub(**card)
    check_export_strict(export_args, exported)


if __name__ == "__main__":
    main()
