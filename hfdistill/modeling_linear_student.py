"""The linear student: averaged token embeddings and one linear layer, as a `transformers` model.

Self-contained on purpose (imports only torch, transformers and its configuration module): see
`configuration_linear_student.py`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_linear_student import LinearStudentConfig

# Odd multiplier for hashing (previous token, token) pairs into buckets; any large odd number mixes well enough.
_BIGRAM_HASH_MULTIPLIER = 1_000_003


class LinearStudentPreTrainedModel(PreTrainedModel):
    config_class = LinearStudentConfig
    base_model_prefix = "linear_student"
    main_input_name = "input_ids"

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.padding_idx is not None:
                nn.init.zeros_(module.weight[module.padding_idx])


class LinearStudentForSequenceClassification(LinearStudentPreTrainedModel):
    """``logits = W · mean_{t: mask_t = 1}(E[x_t] (+ B[hash(x_{t-1}, x_t)])) + b``."""

    def __init__(self, config: LinearStudentConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.bigram_embeddings = (
            nn.Embedding(config.num_bigram_buckets, config.embedding_dim) if config.num_bigram_buckets > 0 else None
        )
        if config.num_bigram_buckets > 0 and getattr(config, "remapped_token_ids", False):
            # Pruned vocabulary: ids were renumbered, but the buckets were learned on the original ids (placeholder
            # values here; the saved ones load over them).
            self.register_buffer("original_token_ids", torch.arange(config.vocab_size), persistent=True)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.embedding_dim, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,  # accepted so that BERT tokenizer output can be passed as is
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        if input_ids is None:
            raise ValueError("LinearStudentForSequenceClassification needs input_ids.")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = attention_mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        summed = (self.embeddings(input_ids) * mask).sum(dim=1)
        count = mask.sum(dim=1)
        if self.bigram_embeddings is not None and input_ids.shape[1] > 1:
            hash_ids = self.original_token_ids[input_ids] if hasattr(self, "original_token_ids") else input_ids
            buckets = (hash_ids[:, :-1] * _BIGRAM_HASH_MULTIPLIER + hash_ids[:, 1:]) % self.config.num_bigram_buckets
            bigram_mask = mask[:, 1:] * mask[:, :-1]
            summed = summed + (self.bigram_embeddings(buckets) * bigram_mask).sum(dim=1)
            count = count + bigram_mask.sum(dim=1)
        pooled = summed / count.clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels).float(), labels.view(-1))
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)
