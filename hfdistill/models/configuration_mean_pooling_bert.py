"""Configuration of the BERT classifier over the mean of its token states.

This file and `modeling_mean_pooling_bert.py` import nothing from hfdistill: `save_pretrained` copies both into the
model folder (see `auto_map` in its config.json), so that the folder loads with `trust_remote_code=True` where
hfdistill is not installed, e.g. from the Hub.
"""

from transformers import BertConfig


class MeanPoolingBertConfig(BertConfig):
    r"""
    Configuration of [`MeanPoolingBertForSequenceClassification`]: [`BertConfig`] with every field as there; only the
    model type differs, so that the Auto classes load the mean-pooling head and never `BertForSequenceClassification`,
    which would classify an untrained pooler.

    Build one from a BERT checkpoint's config with [`MeanPoolingBertConfig.from_bert_config`].
    """

    model_type = "hfdistill-mean-pooling-bert"

    @classmethod
    def from_bert_config(cls, config: BertConfig, **overrides) -> "MeanPoolingBertConfig":
        """The same architecture as ``config`` (a `BertConfig` or another `MeanPoolingBertConfig`), any field in
        ``overrides`` replaced (``num_labels=...``, ``problem_type=...``)."""
        fields = {key: value for key, value in config.to_dict().items()
                  if key not in ("model_type", "architectures", "auto_map", "transformers_version")}
        if "num_labels" in overrides or "id2label" in overrides:  # new classes: the old names do not apply
            fields.pop("id2label", None), fields.pop("label2id", None)
        fields.update(overrides)
        return cls(**fields)
