# Copyright (c) sekd-mm contributors. All rights reserved.
import torch
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import CRGPair
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGEdgeLoss(BaseCRGLoss):
    """Edge-level SEKD loss ``L_E`` (arXiv:2405.08547).

    Edges of the Channels Relational Graph are the cosine similarities of
    the (spatial-attention-weighted) flattened channel maps, a ``C x C``
    adjacency per image. Off-diagonal edges are matched, weighted by the
    teacher's channel attention of both end points:

    ``L_E = mean_{b, i != j} a_c[b,i] a_c[b,j] (A^S_ij - A^T_ij)^2``

    Invariant to a positive rescaling of either map. With one channel there
    is no edge and the loss is 0.

    Args: see :class:`BaseCRGLoss`.
    """

    def compute(self, pair: CRGPair) -> Tensor:
        b, c = pair.num_graphs, pair.num_channels
        if c < 2:
            return pair.student.sum() * 0
        err = (pair.adjacency_S - pair.adjacency_T).square()
        if self.channel_attention:
            att = pair.graph_channel_weights
            err = err * att[:, :, None] * att[:, None, :]
        off_diag = 1 - torch.eye(c, dtype=err.dtype, device=err.device)
        return (err * off_diag).sum() / (b * c * (c - 1))
