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
        features = (4 * config.embedding_dim if getattr(config, "pair_features", "bag") == "compare"
                    else config.embedding_dim)
        self.classifier = nn.Linear(features, config.num_labels)
        self.post_init()

    def _mean(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(N, D) mean of the token (and hashed bigram) embeddings where ``attention_mask`` is 1; bigrams only join
        two tokens both in the mask, so a sentence pair's texts are pooled apart."""
        mask = attention_mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        summed = (self.embeddings(input_ids) * mask).sum(dim=1)
        count = mask.sum(dim=1)
        if self.bigram_embeddings is not None and input_ids.shape[1] > 1:
            # A pruned vocabulary renumbered the ids; the buckets were learned on the original ones.
            hash_ids = self.original_token_ids[input_ids] if hasattr(self, "original_token_ids") else input_ids
            buckets = (hash_ids[:, :-1] * _BIGRAM_HASH_MULTIPLIER + hash_ids[:, 1:]) % self.config.num_bigram_buckets
            bigram_mask = mask[:, 1:] * mask[:, :-1]
            summed = summed + (self.bigram_embeddings(buckets) * bigram_mask).sum(dim=1)
            count = count + bigram_mask.sum(dim=1)
        return summed / count.clamp(min=1.0)

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
        if getattr(self.config, "pair_features", "bag") == "compare":
            segment = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            first = self._mean(input_ids, attention_mask * segment.eq(0))
            second = self._mean(input_ids, attention_mask * segment.eq(1))
            pooled = torch.cat([first, second, (first - second).abs(), first * second], dim=-1)
        else:
            pooled = self._mean(input_ids, attention_mask)
        logits = self.classifier(self.dropout(pooled))

        loss = None
        if labels is not None:  # as transformers' *ForSequenceClassification models compute it, by problem_type
            problem_type = self.config.problem_type or (
                "regression" if self.num_labels == 1 else "single_label_classification"
            )
            if problem_type == "regression":
                loss = nn.functional.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
            elif problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
            else:
                loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels).float(), labels.view(-1))
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits)
