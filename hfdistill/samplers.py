"""A training batch order that pads little but stays random: length-sorted batches within shuffled windows.

Random batches of short texts are mostly padding. Trainer's ``group_by_length`` (megabatches of 50 batches sorted
by length, served in descending runs) removes it but also removes much of the order's randomness. The sampler here
keeps more of the randomness: each epoch shuffles all rows, cuts them into windows of ``window_batches`` batches,
sorts each window by length, cuts it into batches, then shuffles the order of all batches, so that neither the rows
of a batch nor the order of the batches follows the data's order or its lengths.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from .utils import arrow_lengths

LENGTH_WINDOW_BATCHES = 50
# Batch orders the recipe offers for teacher and student: Trainer's two, plus the length-sorted windows below.
TRAIN_SAMPLING_STRATEGIES = ("random", "group_by_length", "length_window")


class LengthWindowSampler(Sampler[int]):
    """Indices of ``lengths``' rows, ``batch_size`` at a time forming batches of similar lengths.

    ``lengths``: each row's length in tokens (N rows). ``batch_size``: rows per batch as the DataLoader cuts them
    (per device: with several processes accelerate deals whole batches to processes in turn, so every process must
    see the same sequence, which the seed ensures). ``window_batches``: batches per sorted window (larger pads less,
    keeps less randomness). Every row comes exactly once per epoch; only the last batch of an epoch may be short and
    it comes last, so that the DataLoader's cuts fall on the batch boundaries. ``set_epoch(e)`` (called by Trainer
    and accelerate each epoch) gives a new order from ``seed + e``; the same seed and epoch give the same order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, window_batches: int = 50, seed: int = 0):
        if batch_size < 1 or window_batches < 1:
            raise ValueError(f"batch_size and window_batches must be >= 1, got {batch_size} and {window_batches}.")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size, self.window_batches, self.seed, self.epoch = batch_size, window_batches, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self) -> list[torch.Tensor]:
        """This epoch's batches of row indices, in the order they are served."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        shuffled = torch.randperm(len(self.lengths), generator=generator)
        window = self.batch_size * self.window_batches
        batches = []
        for start in range(0, len(shuffled), window):
            rows = shuffled[start : start + window]
            # Stable: rows of equal length keep their shuffled order, so ties are random too.
            rows = rows[torch.argsort(self.lengths[rows], descending=True, stable=True)]
            batches.extend(rows.split(self.batch_size))
        short = batches.pop() if batches and len(batches[-1]) < self.batch_size else None
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches + ([short] if short is not None else [])

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch.tolist()


class LengthWindowSamplingMixin:
    """Put before `transformers.Trainer` in a subclass's bases: ``train_sampling_strategy="length_window"`` batches
    training rows with :class:`LengthWindowSampler` (windows of ``length_window_batches`` batches), each row's length
    read from the Arrow offsets of the first model input; any other strategy is left to Trainer.

    Raises ``ValueError`` when the training set is not a `datasets.Dataset` with that input as a list column.
    """

    length_window_batches = LENGTH_WINDOW_BATCHES

    def _get_train_sampler(self, train_dataset=None):
        if self.args.train_sampling_strategy != "length_window":
            return super()._get_train_sampler(train_dataset)
        train_dataset = train_dataset if train_dataset is not None else self.train_dataset
        input_name = self.processing_class.model_input_names[0] if self.processing_class is not None else "input_ids"
        lengths = arrow_lengths(train_dataset, input_name)
        if lengths is None:
            raise ValueError(
                f"train_sampling_strategy='length_window' reads each row's length from a `datasets.Dataset`'s "
                f"{input_name!r} list column; this training set has none. "
                "Tokenize it into a `datasets.Dataset`, or use "
                "'random' or 'group_by_length'."
            )
        # Per-device batches: the DataLoader cuts the sampler's indices into them and accelerate deals whole batches
        # to the processes; the seed gives every process the same order.
        return LengthWindowSampler(lengths, self.args.train_batch_size, self.length_window_batches, seed=self.args.seed)
