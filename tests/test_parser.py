import json
from dataclasses import dataclass, field

import pytest

from hfdistill import DistillationTrainingArguments
from hfdistill.parser import DistillationArgumentParser


@dataclass
class ScriptArguments:
    dataset: str = field(metadata={"help": "Required: no default."})
    student: str = field(default="layers", metadata={"help": "Student kind.", "choices": ["layers", "linear"]})
    student_layers: list[int] | None = field(default=None, metadata={"help": "Teacher layers to keep."})
    cache: bool = field(default=True, metadata={"help": "A boolean flag."})


def parse(args):
    return DistillationArgumentParser((ScriptArguments, DistillationTrainingArguments)).parse_args_and_config(args)


def write(tmp_path, settings, suffix=".yaml"):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(json.dumps(settings))  # JSON is YAML too
    return str(path)


def test_flags_alone(tmp_path):
    script, training = parse(["--dataset", "d", "--student", "linear", "--output_dir", str(tmp_path), "--alpha", "0.2"])
    assert (script.dataset, script.student, training.alpha) == ("d", "linear", 0.2)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_with_flags_overriding_it(tmp_path, suffix):
    path = write(tmp_path, {"dataset": "d", "student": "linear", "student_layers": [0, 5], "cache": False,
                            "output_dir": str(tmp_path), "alpha": 0.2, "seed": 3}, suffix)
    script, training = parse([path])  # `dataset` is required, and the file gives it
    assert (script.dataset, script.student, script.student_layers, script.cache) == ("d", "linear", [0, 5], False)
    assert (training.alpha, training.seed) == (0.2, 3)
    script, training = parse([path, "--alpha", "0.7", "--student", "layers", "--cache", "true",
                              "--student_layers", "1"])
    assert (script.student, script.student_layers, script.cache) == ("layers", [1], True)
    assert (training.alpha, training.seed) == (0.7, 3)
    for config_flag in (["--config", path], [f"--config={path}"]):
        script, training = parse(["--seed", "9", *config_flag])
        assert (script.student, training.alpha, training.seed) == ("linear", 0.2, 9)


def test_config_values_are_read_as_the_flags_would_read_them(tmp_path):
    path = write(tmp_path, {"dataset": "d", "student_layers": 5, "learning-rate": "1e-4", "eval_strategy": "epoch"})
    script, training = parse([path, "--output_dir", str(tmp_path)])
    assert script.student_layers == [5]  # one value of a list flag: a one-item list
    assert training.learning_rate == 1e-4  # a dashed alias, and a string converted like a flag's
    assert training.eval_strategy == "epoch"


def test_bad_config_files_say_what_to_fix(tmp_path):
    with pytest.raises(ValueError, match=r"unknown arguments \['alpah'\]"):
        parse([write(tmp_path, {"alpah": 0.2})])
    with pytest.raises(ValueError, match="sets student to 'lineer'; choose one of layers, linear"):
        parse([write(tmp_path, {"dataset": "d", "student": "lineer"})])
    with pytest.raises(ValueError, match="sets seed to 'one', which the flag does not take"):
        parse([write(tmp_path, {"dataset": "d", "seed": "one"})])
    listing = tmp_path / "list.yaml"
    listing.write_text("- alpha\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        parse([str(listing)])
    with pytest.raises(ValueError, match="does not exist"):
        parse([str(tmp_path / "missing.yaml")])
    with pytest.raises(ValueError, match="--config needs a file"):
        parse(["--config"])
    path = write(tmp_path, {"dataset": "d"})
    with pytest.raises(ValueError, match="Give one config file"):
        parse([path, "--config", path])
