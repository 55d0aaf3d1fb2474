"""What must hold across processes: predictions line up with their rows when two CPU processes evaluate."""

import json
import os
import subprocess
import sys
import textwrap

from conftest import REPO

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
        "input_ids": torch.nn.utils.rnn.pad_sequence([torch.tensor(f["input_ids"]) for f in features], batch_first=True),
        "labels": torch.tensor([f["labels"] for f in features])}
    trainer = DistillationTrainer(model=student, teacher_model=tiny(0, 2), args=args, data_collator=collate)
    output = trainer.predict(dataset)
    if trainer.is_world_process_zero():
        with torch.no_grad():
            expected = [student.eval()(input_ids=torch.tensor([ids])).logits[0].tolist() for ids in dataset["input_ids"]]
        json.dump({"world_size": args.world_size, "predictions": output.predictions.tolist(), "expected": expected,
                   "label_ids": output.label_ids.tolist(), "labels": list(dataset["labels"])}, open(sys.argv[2], "w"))
''')


def test_predictions_line_up_with_their_rows_across_two_processes(tmp_path):
    script, result_path = tmp_path / "predict.py", tmp_path / "result.json"
    script.write_text(SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
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
