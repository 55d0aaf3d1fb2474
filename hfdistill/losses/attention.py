"""Self-attention relation terms across widths (MiniLMv2, Wang et al., 2021, "MiniLMv2: Multi-Head Self-Attention
Relation Distillation for Compressing Pretrained Transformers"): the student's query-query, key-key and value-value
scaled dot-product relations match the teacher's, each split into the same number of relation heads, so that neither
the number of attention heads nor the hidden size has to match. And the learned projection of TinyBERT (Jiao et al.,
2020, the ``W_h`` of its hidden-state loss) that lets a narrower student's hidden states be compared with the
teacher's.

Shapes: queries, keys and values (N, L, H) of one layer (H = the layer's width; the student's and the teacher's may
differ), attention_mask (N, L), 1 for real tokens.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_loss
from .soft import Reduction, reduce

RELATIONS = ("query", "key", "value")


def _log_relations(states: torch.Tensor, num_relation_heads: int, attention_mask: torch.Tensor | None
                   ) -> torch.Tensor:
    """(N, R, L, L) log-softmax over the keys of the scaled dot products of ``states`` split into R heads."""
    batch, length, width = states.shape
    if width % num_relation_heads:
        raise ValueError(f"A width of {width} does not split into {num_relation_heads} relation heads: choose a "
                         f"number of relation heads that divides both models' hidden sizes.")
    head = width // num_relation_heads
    split = states.float().reshape(batch, length, num_relation_heads, head).transpose(1, 2)  # (N, R, L, d)
    scores = split @ split.transpose(-1, -2) / math.sqrt(head)
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
    return F.log_softmax(scores, dim=-1)


@register_loss(kind="attention", name="relation_kl", problem_type=None,
               formula="sum over Q, K, V of KL(relations_t || relations_s)", source="MiniLMv2, Wang et al., 2021")
def attention_relation_loss(student_states: dict[str, torch.Tensor], teacher_states: dict[str, torch.Tensor],
                            num_relation_heads: int = 1, attention_mask: torch.Tensor | None = None,
                            reduction: Reduction = "batchmean") -> torch.Tensor:
    """Per example, the sum over ``query``, ``key`` and ``value`` (the entries of both dicts, each (N, L, H)) of
    ``KL(softmax(t t^T / sqrt(d_t)) || softmax(s s^T / sqrt(d_s)))`` per relation head, averaged over the heads and
    the real tokens. Raises ``ValueError`` for a width that ``num_relation_heads`` does not divide."""
    mask = torch.ones(student_states["query"].shape[:2], device=student_states["query"].device) \
        if attention_mask is None else attention_mask.float()
    per_example = 0.0
    for relation in RELATIONS:
        log_student = _log_relations(student_states[relation], num_relation_heads, attention_mask)
        log_teacher = _log_relations(teacher_states[relation], num_relation_heads, attention_mask)
        kl = (log_teacher.exp() * (log_teacher - log_student)).sum(-1).mean(1)  # (N, L): over keys, then heads
        per_example = per_example + (kl * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return reduce(per_example, reduction)


class HiddenStateProjection(nn.Module):
    """TinyBERT's ``W_h``: one learned linear map per matched layer from the student's width to the teacher's, so
    that a narrower student's hidden states can be compared with the teacher's. It is trained with the student and
    is not part of it (never saved with it)."""

    def __init__(self, student_width: int, teacher_width: int, num_layers: int):
        super().__init__()
        self.maps = nn.ModuleList(nn.Linear(student_width, teacher_width) for _ in range(num_layers))

    def forward(self, index: int, hidden: torch.Tensor) -> torch.Tensor:
        """(N, L, teacher_width): the student's hidden states of matched layer ``index`` in the teacher's width."""
        return self.maps[index](hidden)


# How encoders name the query, key and value projections of their self-attention (BERT, RoBERTa, ELECTRA; MPNet;
# DistilBERT).
QKV_NAMES = (("query", "key", "value"), ("q", "k", "v"), ("q_lin", "k_lin", "v_lin"))


def qkv_projections(model: nn.Module, layer: int, role: str = "model") -> dict[str, nn.Module]:
    """The query, key and value projections (``nn.Linear``) of ``model``'s encoder layer ``layer`` (negative:
    from the last). Raises ``ValueError`` for a model whose attention does not expose them, or a layer it lacks."""
    num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    layers = next((module for name, module in model.named_modules() if name.endswith("layer")
                   and isinstance(module, nn.ModuleList) and len(module) == num_layers), None)
    if layers is not None and not -len(layers) <= layer < len(layers):
        raise ValueError(f"The attention relation term reads the {role}'s layer {layer}, but {type(model).__name__} "
                         f"has {len(layers)} layers: name layers it has (--attention_relation_layers TEACHER STUDENT).")
    modules = dict(layers[layer].named_modules()) if layers is not None else {}
    for names in QKV_NAMES:
        found = {relation: module for relation, name in zip(RELATIONS, names)
                 for key, module in modules.items() if key.split(".")[-1] == name and isinstance(module, nn.Linear)}
        if len(found) == 3:
            return found
    raise ValueError(f"The {role} ({type(model).__name__}) has no query, key and value projections hfdistill can read "
                     f"in its layer {layer} (looked for {', '.join('/'.join(names) for names in QKV_NAMES)}): the "
                     "attention relation term needs them. Set attention_relation_weight to 0, or use the hidden-state "
                     "term.")


@contextmanager
def captured_states(projections: dict[str, nn.Module]):
    """Within the block, each forward pass stores the outputs of ``projections`` (see `qkv_projections`) in the
    yielded dict, by ``query``/``key``/``value``."""
    states: dict[str, torch.Tensor] = {}
    hooks = [module.register_forward_hook(lambda _m, _i, output, name=name: states.__setitem__(name, output))
             for name, module in projections.items()]
    try:
        yield states
    finally:
        for hook in hooks:
            hook.remove()
