"""The length-window batch order: every row once, seeded, new each epoch, little padding."""

import random

import pytest
import torch
from torch.utils.data import RandomSampler

from hfdistill.samplers import LengthWindowSampler


def _lengths(n=5000, seed=0):
    """A mix like SST-2's phrases: mostly short, a long tail (mean about 13)."""
    rng = random.Random(seed)
    return [min(64, max(3, int(rng.lognormvariate(2.3, 0.7)))) for _ in range(n)]


def _mean_padded(lengths, order, batch_size):
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(max(lengths[i] for i in b) * len(b) for b in batches) / len(order)


def test_every_row_exactly_once_per_epoch_and_batches_fall_on_the_loaders_cuts():
    lengths = _lengths(1001)  # not a multiple of the batch size: one short batch, served last
    sampler = LengthWindowSampler(lengths, batch_size=32, window_batches=5, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert sorted(order) == list(range(1001)) and len(sampler) == 1001
        batches = sampler.batches()
        assert [len(b) for b in batches] == [32] * 31 + [9]
        assert [i for b in batches for i in b.tolist()] == order


def test_same_seed_same_order_new_order_each_epoch():
    lengths = _lengths(640)
    a, b = LengthWindowSampler(lengths, 32, 5, seed=1), LengthWindowSampler(lengths, 32, 5, seed=1)
    assert list(a) == list(b)  # every process computes the same order
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(a) == sorted(first)
    assert list(LengthWindowSampler(lengths, 32, 5, seed=2)) != first


def test_pads_far_less_than_random_batches():
    lengths, batch_size = _lengths(), 32
    mean = sum(lengths) / len(lengths)
    window = _mean_padded(lengths, list(LengthWindowSampler(lengths, batch_size, 50, seed=0)), batch_size)
    generator = torch.Generator().manual_seed(0)
    shuffled = _mean_padded(lengths, list(RandomSampler(lengths, generator=generator)), batch_size)
    assert window <= 1.3 * mean
    assert shuffled >= 2 * mean and window < 0.5 * shuffled


def test_batches_are_not_in_length_order():
    """The batch order is shuffled: not longest first within each window, nor sorted overall."""
    lengths = _lengths(3200)
    batches = LengthWindowSampler(lengths, 32, 10, seed=0).batches()
    longest = [max(lengths[i] for i in b.tolist()) for b in batches]
    assert longest != sorted(longest, reverse=True)
    first_window = [max(lengths[i] for i in b.tolist()) for b in batches[:10]]
    assert first_window != sorted(first_window, reverse=True)


def test_sizes_must_be_positive():
    with pytest.raises(ValueError, match="must be >= 1"):
        LengthWindowSampler([3, 4], batch_size=0)
