"""What the student kinds share: parameter counts, size logging and the PCA projection of the teacher's embeddings."""

from __future__ import annotations

import torch
from torch import nn
from transformers.utils import logging

from ..utils import count_parameters

logger = logging.get_logger(__name__)


def log_size(kind: str, student: nn.Module, teacher: nn.Module) -> None:
    student_params, teacher_params = count_parameters(student), count_parameters(teacher)
    logger.info(
        f"{kind} student: {student_params:,} parameters ({student_params / teacher_params:.1%} of the teacher's "
        f"{teacher_params:,})."
    )


def pca_projection(matrix: torch.Tensor, dim: int) -> torch.Tensor:
    """(H, dim) map onto the ``dim`` principal directions of the rows of ``matrix`` (V, H), orthonormal columns.

    ``matrix @ pca_projection(matrix, dim)`` keeps as much of the embeddings' variance as ``dim`` dimensions can.
    Where ``dim >= H`` the map is the identity padded with zero columns. A matrix with fewer rows than ``dim``
    (a character- or nucleotide-level vocabulary) has at most V principal directions; the SVD's full basis completes
    them with directions orthogonal to the rows, so any sizes work.
    """
    matrix = matrix.detach().float().cpu()  # students are built on the CPU, whatever device the teacher is on
    num_rows, width = matrix.shape
    if dim >= width:
        return torch.cat([torch.eye(width), torch.zeros(width, dim - width)], dim=1)
    # full_matrices only when the economy SVD has too few directions: its U would be (V, V), huge for a real vocabulary.
    _, _, right_vectors = torch.linalg.svd(matrix - matrix.mean(0), full_matrices=num_rows < dim)
    return right_vectors[:dim].T.contiguous()
