"""Configuration of the linear student.

This file and `modeling_linear_student.py` import nothing from hfdistill: `save_pretrained` copies both into the
model folder (see `auto_map` in its config.json), so that the folder loads with `trust_remote_code=True` where
hfdistill is not installed, e.g. from the Hub.
"""

from transformers import PretrainedConfig


class LinearStudentConfig(PretrainedConfig):
    r"""
    Configuration of [`LinearStudentForSequenceClassification`]: mean-pooled token (and optionally hashed bigram)
    embeddings followed by one linear layer. No attention, no hidden layer.

    Args:
        vocab_size (`int`, *optional*, defaults to 30522):
            Size of the token vocabulary: the teacher's, since the student reads the teacher's `input_ids`.
        embedding_dim (`int`, *optional*, defaults to 64):
            Width of the token embeddings, and the input width of the linear classifier.
        num_bigram_buckets (`int`, *optional*, defaults to 0):
            Number of hash buckets for token-bigram embeddings (fastText's trick for word order); 0 turns bigrams off.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the pooled embedding during training.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token (its embedding is kept at zero).
        pair_features (`str`, *optional*, defaults to `"bag"`):
            How a sentence pair (segments told apart by `token_type_ids`) is pooled. `"bag"`: one mean over both
            texts, blind to which words the texts share. `"compare"`: the mean `u` of the first text and `v` of the
            second, and the classifier reads `[u, v, |u - v|, u * v]` (InferSent's matching features, Conneau et al.,
            2017; Mou et al., 2016), which lets a linear layer weigh what the texts share and where they differ.
        remapped_token_ids (`bool`, *optional*, defaults to `False`):
            Set by vocabulary pruning (`hfdistill.export.prune_vocabulary`): token ids were renumbered, and the model
            holds a buffer `original_token_ids` (new id -> id before pruning) that bigram hashing reads, so that each
            bigram still falls in the bucket it was trained in.
    """

    model_type = "hfdistill-linear"

    def __init__(
        self,
        vocab_size: int = 30522,
        embedding_dim: int = 64,
        num_bigram_buckets: int = 0,
        classifier_dropout: float = 0.1,
        pad_token_id: int = 0,
        initializer_range: float = 0.02,
        pair_features: str = "bag",
        remapped_token_ids: bool = False,
        **kwargs,
    ):
        if pair_features not in ("bag", "compare"):
            raise ValueError(f"pair_features must be 'bag' or 'compare', got {pair_features!r}.")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}.")
        if num_bigram_buckets < 0:
            raise ValueError(f"num_bigram_buckets must be >= 0 (0 turns bigrams off), got {num_bigram_buckets}.")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.num_bigram_buckets = num_bigram_buckets
        self.classifier_dropout = classifier_dropout
        self.initializer_range = initializer_range
        self.pair_features = pair_features
        self.remapped_token_ids = remapped_token_ids
        super().__init__(pad_token_id=pad_token_id, **kwargs)
