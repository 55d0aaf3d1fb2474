import json
from dataclasses import dataclass, field

import pytest

from hfdistill import DistillationTrainingArguments
from hfdistill.parser import DistillationArgumentParser


@dataclass
class ScriptArguments:
    student: str = field(default="layers", metadata={"help": "Student kind."})
    student_layers: list[int] | None = field(default=None, metadata={"help": "Teacher layers to keep."})


def parse(args):
    return DistillationArgumentParser((ScriptArguments, DistillationTrainingArguments)).parse_args_and_config(args)


def test_flags_alone(tmp_path):
    script, training = parse(["--student", "linear", "--output_dir", str(tmp_path), "--alpha", "0.2"])
    assert (script.student, training.alpha) == ("linear", 0.2)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_with_flags_overriding_it(tmp_path, suffix):
    settings = {"student": "linear", "student_layers": [0, 5], "output_dir": str(tmp_path), "alpha": 0.2, "seed": 3}
    path = tmp_path / f"cfg{suffix}"
    path.write_text(json.dumps(settings))  # JSON is YAML too
    script, training = parse([str(path)])
    assert (script.student, script.student_layers, training.alpha, training.seed) == ("linear", [0, 5], 0.2, 3)
    script, training = parse([str(path), "--alpha", "0.7", "--student", "layers"])
    assert (script.student, training.alpha, training.seed) == ("layers", 0.7, 3)
    script, training = parse(["--seed", "9", "--config", str(path)])
    assert (script.student, training.alpha, training.seed) == ("linear", 0.2, 9)


def test_bad_config_files_say_what_to_fix(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("alpah: 0.2\n")
    with pytest.raises(ValueError, match=r"unknown arguments \['alpah'\]"):
        parse([str(typo)])
    listing = tmp_path / "list.yaml"
    listing.write_text("- alpha\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        parse([str(listing)])
    with pytest.raises(ValueError, match="does not exist"):
        parse([str(tmp_path / "missing.yaml")])
    with pytest.raises(ValueError, match="--config needs a file"):
        parse(["--config"])
