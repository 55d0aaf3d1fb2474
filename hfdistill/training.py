"""The Trainer base both of hfdistill's trainers build on (the teacher's fine-tuning and the distillation)."""

from __future__ import annotations

import torch
from torch.utils.data import SequentialSampler
import datasets
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import has_length

from .precision import Fp32CpuEvaluationMixin
from .samplers import LengthWindowSamplingMixin
from .utils import arrow_lengths, batch_size


class DatasetOrderEvaluationMixin:
    """Put before `transformers.Trainer` in a subclass's bases: `evaluate`/`predict` batches come in dataset order.

    transformers 5.x builds the *evaluation* sampler as a shuffled `LengthGroupedSampler` whenever
    ``train_sampling_strategy="group_by_length"``, so ``trainer.predict(ds).predictions[i]`` is not row ``i`` of
    ``ds`` (metrics stay right because ``label_ids`` are permuted alike). Length grouping is a training-speed
    choice; predictions must line up with their rows. One process reads sequentially; several processes get no
    sampler, so accelerate shards batches in order and ``gather_for_metrics`` restores it (Trainer's own choice
    for the distributed case).
    """

    def _get_eval_sampler(self, eval_dataset) -> torch.utils.data.Sampler | None:
        if eval_dataset is None or not has_length(eval_dataset):
            return None
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


class ClassifierTrainer(LengthWindowSamplingMixin, Fp32CpuEvaluationMixin, DatasetOrderEvaluationMixin, Trainer):
    """`transformers.Trainer` with what every hfdistill run needs: predictions in dataset order, evaluation on the CPU
    in fp32 even when training autocasts to bf16 (see :mod:`hfdistill.precision`), and
    ``train_sampling_strategy="length_window"`` (:class:`~hfdistill.samplers.LengthWindowSampler`)."""

    def _get_train_sampler(self, train_dataset=None):
        # For group_by_length without a length column, Trainer measures each example by decoding every row of every
        # column, cached logits included; the same lengths come straight from the input column's Arrow offsets.
        train_dataset = train_dataset if train_dataset is not None else self.train_dataset
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and isinstance(train_dataset, datasets.Dataset)
            # A transform (or pandas/polars rows) may change what Trainer would measure: leave those to it.
            and train_dataset.format["type"] in (None, "python", "numpy", "torch", "arrow")
        ):
            input_name = (self.processing_class.model_input_names[0] if self.processing_class is not None
                          else "input_ids")
            format_columns = train_dataset.format["columns"]
            measurable = format_columns is None or input_name in format_columns
            has_length_column = self.args.length_column_name in train_dataset.column_names
            lengths = arrow_lengths(train_dataset, input_name) if measurable and not has_length_column else None
            if lengths is not None:
                size = self.args.train_batch_size * self.args.gradient_accumulation_steps
                return LengthGroupedSampler(size, lengths=lengths)
        return super()._get_train_sampler(train_dataset)


class ExactAccumulationMixin:
    """Put before `transformers.Trainer`: `compute_loss` receives, as ``num_items_in_batch``, the number of examples
    in the whole gradient-accumulation window (across processes) and divides by it, so Trainer must not divide again
    by the number of accumulation steps: accumulated micro-batches of any sizes give the gradient of one big batch."""

    loss_is_scaled_for_ga = True

    def get_batch_samples(self, epoch_iterator, num_batches: int, device: torch.device):
        """Collect the batches of one optimizer step and count their examples (across processes).

        The count is what `compute_loss` divides by, so that accumulated micro-batches of any sizes give exactly the
        gradient of one big batch. It counts examples, labeled or not, since every example carries a loss term.
        """
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        if not batch_samples:
            return batch_samples, None
        num_examples = torch.tensor(sum(batch_size(batch) for batch in batch_samples), device=device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            num_examples = self.accelerator.gather(num_examples).sum()
        return batch_samples, num_examples
