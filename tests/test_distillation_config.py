import pytest
from transformers import HfArgumentParser, TrainingArguments

from hfdistill import DistillationTrainingArguments


def test_is_training_arguments_with_distillation_defaults(tmp_path):
    args = DistillationTrainingArguments(output_dir=str(tmp_path))
    assert isinstance(args, TrainingArguments)
    assert (args.temperature, args.alpha, args.distillation_loss) == (2.0, 0.5, "kl")


def test_hf_argument_parser_gives_a_cli(tmp_path):
    (args,) = HfArgumentParser(DistillationTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--temperature", "4", "--alpha", "0.2", "--distillation_loss", "mse",
         "--num_train_epochs", "2"]
    )
    assert (args.temperature, args.alpha, args.distillation_loss, args.num_train_epochs) == (4.0, 0.2, "mse", 2.0)


def test_every_new_field_has_help():
    parser = HfArgumentParser(DistillationTrainingArguments)
    helps = {action.dest: action.help for action in parser._actions}
    for name in ("temperature", "alpha", "distillation_loss"):
        assert helps[name], name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"alpha": -0.1}, r"alpha must be in \[0, 1\]"),
        ({"alpha": 1.5}, r"alpha must be in \[0, 1\]"),
        ({"distillation_loss": "l1"}, "distillation_loss must be one of kl, mse, cosine"),
        ({"pseudo_labels": "soft"}, "pseudo_labels must be one of none, hard, both"),
        ({"pseudo_labels": "hard", "pseudo_label_threshold": 1.5},
         r"pseudo_label_threshold must be a probability in \[0, 1\]"),
        ({"pseudo_label_threshold": 0.9}, "pseudo_labels is 'none'.*Set pseudo_labels to 'hard' or 'both'"),
        ({"hidden_state_weight": -1.0}, "hidden_state_weight must be >= 0"),
        ({"hidden_state_loss": "l1"}, "hidden_state_loss must be one of mse, cosine"),
    ],
)
def test_out_of_range_values_raise_with_the_valid_range(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistillationTrainingArguments(output_dir=str(tmp_path), **kwargs)
