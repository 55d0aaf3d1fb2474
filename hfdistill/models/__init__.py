"""hfdistill's own model types: the linear student and BERT with a mean-pooling classification head."""

from .configuration_linear_student import LinearStudentConfig
from .configuration_mean_pooling_bert import MeanPoolingBertConfig
from .modeling_linear_student import LinearStudentForSequenceClassification
from .modeling_mean_pooling_bert import MeanPoolingBertForSequenceClassification

__all__ = ["LinearStudentConfig", "LinearStudentForSequenceClassification", "MeanPoolingBertConfig",
           "MeanPoolingBertForSequenceClassification"]
