"""What must hold across processes: predictions line up with their rows when two CPU processes evaluate."""

import json
import subprocess
import sys
import textwrap

from conftest import REPO, subprocess_env

SCRIPT = textwrap.dedent('''
    import json, random, sys
    import torch
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification
    from hfdistill import DistillationTrainer, DistillationTrainingArguments

    def tiny(seed, layers):
        torch.manual_seed(seed)
        return BertForSequenceClassification(BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=layers,
            num_attention_heads=2, intermediate_size=16, max_position_embeddings=32, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0))

    rng = random.Random(0)
    rows = {"input_ids": [], "labels": []}
    for _ in range(41):  # odd: the last batch is uneven across the two processes
        length = rng.randrange(3, 21)
        rows["input_ids"].append([2] + [rng.randrange(5, 40) for _ in range(length - 2)] + [3])
        rows["labels"].append(rng.randrange(2))
    dataset = Dataset.from_dict(rows)
    args = DistillationTrainingArguments(output_dir=sys.argv[1], use_cpu=True, report_to="none", disable_tqdm=True,
                                         train_sampling_strategy="group_by_length", per_device_eval_batch_size=4)
    student = tiny(1, 1)
    collate = lambda features: {
        "input_ids": torch.nn.utils.rnn.pad_sequence([torch.tensor(f["input_ids"]) for f in features],
                                                     batch_first=True),
        "labels": torch.tensor([f["labels"] for f in features])}
    trainer = DistillationTrainer(model=student, teacher_model=tiny(0, 2), args=args, data_collator=collate)
    output = trainer.predict(dataset)
    if trainer.is_world_process_zero():
        with torch.no_grad():
            expected = [student.eval()(input_ids=torch.tensor([ids])).logits[0].tolist()
                        for ids in dataset["input_ids"]]
        json.dump({"world_size": args.world_size, "predictions": output.predictions.tolist(), "expected": expected,
                   "label_ids": output.label_ids.tolist(), "labels": list(dataset["labels"])}, open(sys.argv[2], "w"))
    torch.distributed.destroy_process_group()  # an undestroyed gloo group sometimes aborts a process at exit
''')


def test_predictions_line_up_with_their_rows_across_two_processes(tmp_path):
    script, result_path = tmp_path / "predict.py", tmp_path / "result.json"
    script.write_text(SCRIPT)
    env = subprocess_env()
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script),
               str(tmp_path / "out"), str(result_path)]
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(result_path.read_text())
    assert result["world_size"] == 2
    assert result["label_ids"] == result["labels"]  # 41 rows, in order, no duplicate from the uneven last batch
    assert len(result["predictions"]) == 41
    for predicted, expected in zip(result["predictions"], result["expected"]):
        assert max(abs(p - e) for p, e in zip(predicted, expected)) < 1e-4


LOGITS_SCRIPT = textwrap.dedent('''
    import json, random, sys
    import torch
    from accelerate import PartialState
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    from hfdistill.teachers import logit_cache
    from hfdistill.teachers.logit_cache import add_teacher_logits

    computed_rows, run_batches = [], logit_cache._run_batches  # rows this process ran through the teacher
    logit_cache._run_batches = lambda *a, **k: computed_rows.append(sum(map(len, a[3]))) or run_batches(*a, **k)
    state = PartialState(cpu=True)  # what TrainingArguments sets up in a recipe: the gloo group of both processes
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=16, max_position_embeddings=32))
    tokenizer = BertTokenizerFast(vocab={f"t{i}" if i > 4 else s: i for i, s in
                                         enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [""] * 35)})
    rng = random.Random(0)
    rows = [[2] + [rng.randrange(5, 40) for _ in range(rng.randrange(1, 20))] + [3] for _ in range(53)]
    dataset = Dataset.from_dict({"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows]})
    if len(sys.argv) > 3:  # a first run over the first rows only: the second reuses their logits
        add_teacher_logits(dataset.select(range(int(sys.argv[3]))), teacher, tokenizer, sys.argv[1], batch_size=4,
                           show_progress=False)
    with_logits, info = add_teacher_logits(dataset, teacher, tokenizer, sys.argv[1], batch_size=4, show_progress=False)
    json.dump({"info": info, "logits": list(with_logits["teacher_logits"]), "computed_rows": computed_rows},
              open(f"{sys.argv[2]}.{state.process_index}", "w"))
    state.destroy_process_group()
''')


def _logits_in_one_and_two_processes(tmp_path, *first_rows: str) -> tuple[list[dict], dict]:
    script, result = tmp_path / "logits.py", tmp_path / "result"
    script.write_text(LOGITS_SCRIPT)
    env = subprocess_env()
    two = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
           "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path / "two"), str(result),
           *first_rows]
    run = subprocess.run(two, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"result.{rank}").read_text()) for rank in (0, 1)]
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "one"), str(tmp_path / "single"), *first_rows],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    return ranks, json.loads((tmp_path / "single.0").read_text())


def test_teacher_logits_sharded_over_two_processes_equal_the_one_process_cache(tmp_path):
    """Each process computes half the batches; the assembled cache is the one a single process writes, bit for bit."""
    ranks, single = _logits_in_one_and_two_processes(tmp_path)
    assert [r["info"]["source"] for r in ranks] == ["built", "built"] and ranks[0]["info"]["processes"] == 2
    assert single["info"]["processes"] == 1
    assert min(r["computed_rows"][0] for r in ranks) > 0 and sum(r["computed_rows"][0] for r in ranks) == 53
    assert ranks[0]["logits"] == ranks[1]["logits"] == single["logits"]
    # The same cache file, byte for byte, and no shard left beside it.
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    (cache,) = (tmp_path / "one").glob("*.safetensors")
    assert (tmp_path / "two" / cache.name).read_bytes() == cache.read_bytes()


def test_two_processes_reuse_an_earlier_caches_rows_and_compute_the_others_between_them(tmp_path):
    """A cache over the first 30 rows, then one over all 53: both processes get the 30 reused and shard the other 23,
    and the result is the one-process result bit for bit."""
    ranks, single = _logits_in_one_and_two_processes(tmp_path, "30")
    assert [r["info"]["reused_rows"] for r in ranks] == [30, 30] and single["info"]["reused_rows"] == 30
    second_pass = [r["computed_rows"][-1] for r in ranks]  # each process's share of the 23 new rows
    assert min(second_pass) > 0 and sum(second_pass) == 23 and single["computed_rows"] == [30, 23]
    assert ranks[0]["logits"] == ranks[1]["logits"] == single["logits"]
    assert not list((tmp_path / "two").glob("*shard*"))
