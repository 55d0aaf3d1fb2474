"""A command line for recipes: flags, a JSON/YAML config file, or both (the file first, flags overriding it)."""

from __future__ import annotations

import json
import os
import sys

import yaml
from transformers import HfArgumentParser

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


class DistillationArgumentParser(HfArgumentParser):
    """[`~transformers.HfArgumentParser`] that also reads a config file, like TRL's `TrlParser`.

        python recipes/sst2.py cfg.yaml                 # every setting from the file
        python recipes/sst2.py cfg.yaml --seed 1        # the file, with flags overriding it
        python recipes/sst2.py --config cfg.yaml --seed 1
    """

    def parse_args_and_config(self, args: list[str] | None = None) -> tuple:
        """The dataclass instances, from ``args`` (default: ``sys.argv[1:]``)."""
        args = list(sys.argv[1:] if args is None else args)
        config_path = None
        if args and args[0].endswith(CONFIG_SUFFIXES) and not args[0].startswith("-"):
            config_path, args = args[0], args[1:]
        elif "--config" in args:
            index = args.index("--config")
            if index + 1 >= len(args):
                raise ValueError("--config needs a file: --config path/to/config.yaml (or .json).")
            config_path, args = args[index + 1], args[:index] + args[index + 2 :]
        if config_path is not None:
            self.set_defaults(**read_config_file(config_path, known={action.dest for action in self._actions}))
        return self.parse_args_into_dataclasses(args)


def read_config_file(path: str, known: set[str] | None = None) -> dict:
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
    unknown = sorted(set(config) - known) if known is not None else []
    if unknown:
        raise ValueError(
            f"Config file {path!r} sets unknown arguments {unknown}: use the flag names without '--' (see --help)."
        )
    return config
