import random

import pytest
from datasets import Dataset

from hfdistill.data.augment import AugmentationConfig, ContextVocabulary, augment_dataset, augment_text
from hfdistill.losses import IGNORE_INDEX

TEXTS = ["the film is a charming and moving story", "the plot is a dull mess", "good", "it is not very good but fun"]


def _dataset():
    return Dataset.from_dict({"sentence": TEXTS, "labels": [1, 0, 1, 1]})


def test_same_seed_same_outputs_other_seed_other_outputs():
    config = AugmentationConfig(factor=3, seed=5)
    first = augment_dataset(_dataset(), "sentence", config, "[MASK]")["sentence"]
    again = augment_dataset(_dataset(), "sentence", config, "[MASK]")["sentence"]
    other = augment_dataset(_dataset(), "sentence", AugmentationConfig(factor=3, seed=6), "[MASK]")["sentence"]
    assert first == again and first != other


def test_outputs_are_new_non_empty_and_unlabeled():
    augmented = augment_dataset(_dataset(), "sentence", AugmentationConfig(factor=4), "[MASK]")
    assert len(augmented) == 4 * len(TEXTS)
    assert augmented["labels"] == [IGNORE_INDEX] * len(augmented)  # no hard label copied onto augmented rows
    for index, text in enumerate(augmented["sentence"]):
        original = TEXTS[index // 4]
        assert text.strip() and text != original


def test_masking_only_replaces_words_with_the_mask_token():
    config = AugmentationConfig(p_mask=0.5, p_replace=0.0, p_ngram=0.0)
    rng = random.Random(0)
    original = TEXTS[0].split()
    for _ in range(20):
        words = augment_text(TEXTS[0], rng, config, ContextVocabulary(TEXTS), "[MASK]").split()
        assert len(words) == len(original) and "[MASK]" in words
        assert all(new in (old, "[MASK]") for new, old in zip(words, original))


def test_ngram_sampling_returns_a_contiguous_span():
    config = AugmentationConfig(p_mask=0.0, p_replace=0.0, p_ngram=1.0, max_ngram=3)
    rng = random.Random(1)
    for _ in range(20):
        span = augment_text(TEXTS[0], rng, config, ContextVocabulary(TEXTS), "[MASK]")
        assert 1 <= len(span.split()) <= 3 and f" {span} " in f" {TEXTS[0]} "


def test_word_replacement_uses_words_seen_after_the_same_word():
    vocabulary = ContextVocabulary(TEXTS)
    assert vocabulary.followers["is"] == ["a", "not"]
    config = AugmentationConfig(p_mask=0.0, p_replace=1.0, p_ngram=0.0)
    rng = random.Random(2)
    words = augment_text("the plot is a dull mess", rng, config, vocabulary, "[MASK]").split()
    previous = ["<s>"] + "the plot is a dull mess".split()
    for word, before, old in zip(words, previous, "the plot is a dull mess".split()):
        assert word == old or word in vocabulary.followers[before]


def test_a_text_that_would_not_change_by_chance_still_changes():
    config = AugmentationConfig(p_mask=0.0, p_replace=0.0, p_ngram=0.0)
    assert augment_text("good", random.Random(0), config, ContextVocabulary(["good"]), "[MASK]") == "[MASK]"


@pytest.mark.parametrize("kwargs, message", [({"factor": -1}, "augment_factor must be >= 0"),
                                             ({"p_mask": 1.5}, r"p_mask must be a probability in \[0, 1\]"),
                                             ({"max_ngram": 0}, "max_ngram must be >= 1")])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentationConfig(**kwargs)


def test_each_text_of_a_pair_is_augmented_on_its_own_and_the_first_column_as_if_alone():
    from datasets import Dataset

    from hfdistill.data.augment import AugmentationConfig, augment_dataset

    pairs = Dataset.from_dict({"s1": ["a fine and moving film", "dull plot"], "s2": ["the acting is good", "weak"],
                               "labels": [1, 0]})
    config = AugmentationConfig(factor=2, seed=3)
    both = augment_dataset(pairs, ["s1", "s2"], config, "[MASK]")
    alone = augment_dataset(pairs.remove_columns("s2"), "s1", config, "[MASK]")
    assert both["s1"] == alone["s1"] and len(both) == 4 and both["labels"] == [-100] * 4
    assert all(new != old for new, old in zip(both["s2"], ["the acting is good"] * 2 + ["weak"] * 2))


def test_a_pair_transfer_set_and_multi_label_unlabeled_rows():
    from datasets import Dataset

    from hfdistill.data.augment import AugmentationConfig
    from hfdistill.data import build_transfer_set

    labeled = Dataset.from_dict({"s1": ["good", "bad"], "s2": ["fine", "awful"], "labels": [[1.0, 0.0], [0.0, 1.0]]})
    transfer, info = build_transfer_set(labeled, "s1", augmentation=AugmentationConfig(factor=1), mask_token="[MASK]",
                                        text_pair_column="s2", unlabeled=[-100.0, -100.0])
    assert info["augmented"] == 2 and transfer.column_names == ["s1", "s2", "labels"]
    assert transfer["labels"][2:] == [[-100.0, -100.0]] * 2
