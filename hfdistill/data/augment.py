"""Growing the transfer set with cheap text augmentation (Tang et al., 2019, "Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks"): the teacher labels the new texts, the student learns from its soft labels.

Three word-level operations, applied to whitespace-separated words:

- **masking**: each word becomes the tokenizer's mask token with probability ``p_mask``;
- **word replacement**: each (unmasked) word becomes, with probability ``p_replace``, another word that the corpus
  shows after the same preceding word (a cheap stand-in for "a word seen in similar contexts": it keeps the local
  syntax plausible, unlike a uniformly random word, and needs no tagger or embedding model);
- **n-gram sampling**: with probability ``p_ngram`` the example shrinks to a random contiguous span of 1 to
  ``max_ngram`` words.

Every output differs from its input and is non-empty; the same seed gives the same outputs, whatever the order or
the number of processes, since each example's random stream is seeded from ``(seed, index)``. Augmented examples
carry no hard label: they are distilled from the teacher alone.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict, dataclass

from datasets import Dataset

from ..problem_types import IGNORE_INDEX

_START = "<s>"


@dataclass
class AugmentationConfig:
    factor: int = 1  # new examples per original
    p_mask: float = 0.1
    p_replace: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    seed: int = 0

    def __post_init__(self):
        if self.factor < 0:
            raise ValueError(f"augment_factor must be >= 0 (0 turns augmentation off), got {self.factor}.")
        for name in ("p_mask", "p_replace", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}.")
        if self.max_ngram < 1:
            raise ValueError(f"max_ngram must be >= 1, got {self.max_ngram}.")

    def to_dict(self) -> dict:
        return asdict(self)


class ContextVocabulary:
    """For each word, the words the corpus shows right after it: the candidates for replacing its successor."""

    def __init__(self, texts: list[str]):
        followers: dict[str, set[str]] = defaultdict(set)
        for text in texts:
            previous = _START
            for word in text.split():
                followers[previous].add(word)
                previous = word
        # Sorted, so that a seeded choice does not depend on set order.
        self.followers = {word: sorted(candidates) for word, candidates in followers.items()}

    def replacement(self, previous: str, word: str, rng: random.Random) -> str | None:
        candidates = self.followers.get(previous, ())
        if len(candidates) < 2:
            return None
        choice = rng.choice(candidates)
        return choice if choice != word else rng.choice(candidates)


def augment_text(text: str, rng: random.Random, config: AugmentationConfig, vocabulary: ContextVocabulary,
                 mask_token: str, attempts: int = 10) -> str:
    """One augmented version of ``text``, different from it and non-empty."""
    words = text.split()
    if not words:
        raise ValueError("Cannot augment an empty text.")
    for _ in range(attempts):
        new_words, previous = [], _START
        for word in words:
            roll = rng.random()
            if roll < config.p_mask:
                new_words.append(mask_token)
            elif roll < config.p_mask + config.p_replace:
                new_words.append(vocabulary.replacement(previous, word, rng) or word)
            else:
                new_words.append(word)
            previous = word
        if len(new_words) > 1 and rng.random() < config.p_ngram:
            length = rng.randint(1, min(config.max_ngram, len(new_words)))
            start = rng.randint(0, len(new_words) - length)
            new_words = new_words[start : start + length]
        if new_words != words:
            return " ".join(new_words)
    # Nothing changed by chance in every attempt (short texts, small probabilities): mask one word.
    position = rng.randrange(len(words))
    return " ".join(mask_token if i == position else word for i, word in enumerate(words))


def augment_dataset(dataset: Dataset, text_column: str | list[str], config: AugmentationConfig, mask_token: str,
                    unlabeled=IGNORE_INDEX) -> Dataset:
    """``config.factor`` augmented copies of every row of ``dataset`` (its text column, or each text of a sentence
    pair on its own, ``text_column=[text, text_pair]``), labels set to ``unlabeled`` (no hard label).

    The first column's random streams are those of a single-text data set, so adding a pair column leaves the first
    texts' augmentations as they were; the pair column draws from streams of its own.
    """
    columns = [text_column] if isinstance(text_column, str) else list(text_column)
    if config.factor == 0:
        return dataset.select([])
    new_columns = {}
    for position, column in enumerate(columns):
        texts = dataset[column]
        vocabulary = ContextVocabulary(texts)
        stream = "" if position == 0 else f":{column}"
        new_texts = []
        for index, text in enumerate(texts):
            rng = random.Random(f"{config.seed}:{index}{stream}")
            new_texts.extend(augment_text(text, rng, config, vocabulary, mask_token) for _ in range(config.factor))
        new_columns[column] = new_texts
    if "labels" in dataset.column_names:
        # never invent a hard label for an augmented text
        new_columns["labels"] = [unlabeled] * (len(dataset) * config.factor)
    return Dataset.from_dict(new_columns)
