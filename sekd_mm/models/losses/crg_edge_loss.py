# Copyright (c) sekd-mm contributors. All rights reserved.
import torch
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import CRGPair
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGEdgeLoss(BaseCRGLoss):
    """Edge-level SEKD loss ``L_E`` (arXiv:2405.08547).

    The edges of the Channels Relational Graph are the Pearson correlations
    ``A_ij`` of the channel maps flattened over ``(B, H, W)`` (weighted by
    the spatial attention when it is on), one ``C x C`` adjacency per level
    and step. Off-diagonal edges are matched, weighted by the channel
    attention of both end points when it is on:

    ``L_E = mean_{i != j} a_c[i] a_c[j] (A^S_ij - A^T_ij)^2``

    Invariant to a positive affine map of any channel. With one channel
    there is no edge and the loss is 0.

    Args: see :class:`BaseCRGLoss`.
    """

    def compute(self, pair: CRGPair) -> Tensor:
        c = pair.num_channels
        if c < 2:
            return pair.student.sum() * 0
        err = (pair.adjacency_S - pair.adjacency_T).square()
        if self.channel_attention:
            att = pair.channel_weights
            err = err * att[:, None] * att[None, :]
        off_diag = 1 - torch.eye(c, dtype=err.dtype, device=err.device)
        return (err * off_diag).sum() / (c * (c - 1))
