"""A BERT classifier over the mean of its token states, as a `transformers` model.

Self-contained on purpose (imports only torch, transformers and its configuration module): see
`configuration_mean_pooling_bert.py`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import can_return_tuple

from .configuration_mean_pooling_bert import MeanPoolingBertConfig


class MeanPoolingBertForSequenceClassification(BertPreTrainedModel):
    """BERT with a linear classification (or regression) head on the mean of the last layer's token states.

    ``logits = W · dropout(sum_t mask_t h_t / sum_t mask_t) + b``, ``h`` (N, L, H) the last hidden states and ``mask``
    (N, L) the attention mask; logits (N, num_labels). Sentence encoders such as all-MiniLM-L6-v2 are trained through
    this mean (Sentence-BERT, Reimers & Gurevych, 2019), not through BERT's pooler, a tanh projection of the [CLS]
    state that `BertForSequenceClassification` classifies; ModernBERT's `classifier_pooling="mean"` is the same head.
    Weights and inputs are `BertForSequenceClassification`'s, without the pooler: a BERT checkpoint loads as is, and
    the loss follows ``config.problem_type`` as there (cross-entropy, BCE with logits, or MSE).
    """

    config_class = MeanPoolingBertConfig
    _keys_to_ignore_on_load_unexpected = [r"pooler\."]

    def __init__(self, config: MeanPoolingBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple  # return_dict=False gives a tuple, as BertForSequenceClassification's does
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, inputs_embeds=inputs_embeds, return_dict=True, **kwargs)
        states = outputs.last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(states.shape[:2], device=states.device)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else self.loss_function(labels, logits, self.config)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions)
