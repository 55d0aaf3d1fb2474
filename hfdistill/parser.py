"""A command line for recipes: flags, a JSON/YAML config file, or both (the file first, flags overriding it)."""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml
from transformers import HfArgumentParser

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


class DistillationArgumentParser(HfArgumentParser):
    """[`~transformers.HfArgumentParser`] that also reads a config file, like TRL's `TrlParser`.

        python recipes/sst2.py cfg.yaml                 # every setting from the file (first argument only)
        python recipes/sst2.py cfg.yaml --seed 1        # the file, with flags overriding it
        python recipes/sst2.py --config cfg.yaml --seed 1

    The file maps flag names (without `--`) to values. They become the flags' defaults, checked and converted as
    flags are: a value outside a flag's choices is refused, a single value of a list flag becomes a one-item list.
    """

    def __init__(self, dataclass_types, **kwargs):
        super().__init__(dataclass_types, **kwargs)
        # DistillationTrainingArguments' loss names come from the loss registry, read now rather than when the
        # dataclass was defined, so that a loss registered before the parser is built is accepted by name.
        from .losses import loss_names

        registered = {"distillation_loss": loss_names("soft"), "hidden_state_loss": loss_names("hidden")}
        for action in self._actions:
            if action.dest in registered and action.choices is None:
                action.choices = registered[action.dest]

    def parse_args_and_config(self, args: list[str] | None = None) -> tuple:
        """The dataclass instances, from ``args`` (default: ``sys.argv[1:]``)."""
        args = list(sys.argv[1:] if args is None else args)
        config_path = None
        if args and args[0].endswith(CONFIG_SUFFIXES) and not args[0].startswith("-"):
            config_path, args = args[0], args[1:]
        for index, arg in enumerate(args):
            if arg == "--config" or arg.startswith("--config="):
                if config_path is not None:
                    raise ValueError("Give one config file: as the first argument or with --config, not both.")
                if arg == "--config" and index + 1 >= len(args):
                    raise ValueError("--config needs a file: --config path/to/config.yaml (or .json).")
                config_path = arg.split("=", 1)[1] if "=" in arg else args[index + 1]
                args = args[:index] + args[index + (1 if "=" in arg else 2) :]
                break
        if config_path is not None:
            self.set_defaults(**self._config_defaults(read_config_file(config_path), config_path))
        return self.parse_args_into_dataclasses(args)

    def _config_defaults(self, config: dict, path: str) -> dict:
        actions = {
            option.lstrip("-"): action
            for action in self._actions
            if not isinstance(action, argparse._HelpAction)
            for option in action.option_strings
        }
        unknown = sorted(set(config) - set(actions))
        if unknown:
            raise ValueError(
                f"Config file {path!r} sets unknown arguments {unknown}: use the flag names without '--' (see --help)."
            )
        defaults = {}
        for key, value in config.items():
            action = actions[key]
            defaults[action.dest] = _as_flag_value(action, key, value, path)
            action.required = False  # given by the file; a flag may still override it
        return defaults


def _as_flag_value(action: argparse.Action, key: str, value, path: str):
    """``value`` as the flag would have parsed it: argparse neither converts nor checks non-string defaults."""
    is_list_flag = action.nargs in ("+", "*")
    if isinstance(value, list) and not is_list_flag:
        return value  # e.g. report_to: [tensorboard, wandb], which TrainingArguments itself accepts
    items = value if isinstance(value, list) else [value]
    if action.type is not None:
        try:
            items = [action.type(item) if isinstance(item, str) else item for item in items]
        except (TypeError, ValueError, argparse.ArgumentTypeError) as error:
            raise ValueError(
                f"Config file {path!r} sets {key} to {value!r}, which the flag does not take: {error}"
            ) from None
    if action.choices is not None:
        bad = [item for item in items if item not in action.choices]
        if bad:
            raise ValueError(
                f"Config file {path!r} sets {key} to {bad[0]!r}; choose one of {', '.join(map(str, action.choices))}."
            )
    return items if is_list_flag else items[0]


def read_config_file(path: str) -> dict:
    """The settings of a JSON or YAML config file: a mapping of argument names to values."""
    if not path.endswith(CONFIG_SUFFIXES):
        raise ValueError(f"Config file {path!r} must end in {', '.join(CONFIG_SUFFIXES)}.")
    if not os.path.isfile(path):
        raise ValueError(f"Config file {path!r} does not exist.")
    with open(path, encoding="utf-8") as f:
        config = json.load(f) if path.endswith(".json") else yaml.safe_load(f)
    if not isinstance(config, dict):
        raise ValueError(
            f"Config file {path!r} must hold a mapping of argument names to values (e.g. `seed: 1`), got "
            f"{type(config).__name__}."
        )
    return config
