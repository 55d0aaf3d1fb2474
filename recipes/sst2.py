"""The flagship run: fine-tune the packaged MiniLM-L6 BERT on SST-2, distil its 2-layer cut, evaluate both and ship
the student (recipes/text_classification.py, whose defaults are SST-2's).

    accelerate launch recipes/sst2.py --output_dir out/sst2 --class_names negative positive
    accelerate launch recipes/sst2.py recipes/configs/sst2.yaml --seed 1  # flags from a YAML/JSON file, flags override
"""

import runpy
from pathlib import Path

# The recipe's interface: its argument dataclasses and parser, and main().
from hfdistill.arguments import DataArguments, ModelArguments, RecipeTrainingArguments, parse_arguments  # noqa: F401

main = runpy.run_path(str(Path(__file__).with_name("text_classification.py")))["main"]

if __name__ == "__main__":
    main()
