# Copyright (c) sekd-mm contributors. All rights reserved.
from mmrazor.registry import MODELS
from torch import Tensor
from torch.nn import functional as F

from ..utils.crg import CRGPair
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGVertexLoss(BaseCRGLoss):
    """Vertex-level SEKD loss ``L_V`` (arXiv:2405.08547).

    The vertices of the Channels Relational Graph are the channels of the
    feature map, standardised over ``(B, H, W)`` (``V``, PKD's
    normalisation); the student's are pulled to the teacher's:

    ``L_V = mean_{b,c,h,w} a_c[b,c] a_s[b,h,w] (V^S - V^T)^2``

    with the attention ``a_c``, ``a_s`` (mean 1) when switched on, 1
    otherwise (the shipped design). Without attention ``L_V`` is ``2 (1 -
    Pearson)`` between each student channel and its teacher channel,
    averaged over channels: invariant to a positive affine map of either
    channel.

    Args: see :class:`BaseCRGLoss`.

    Examples:
        >>> loss = CRGVertexLoss()
        >>> s, t = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
        >>> loss(s, t)  # scalar tensor
    """

    def compute(self, pair: CRGPair) -> Tensor:
        if not (self.channel_attention or self.spatial_attention):
            # the mean over (B, C, H, W) of (V^S - V^T)^2, with V the rows
            # times sqrt(BHW): on the contiguous C x BHW rows
            return F.mse_loss(pair.rows_S, pair.rows_T,
                              reduction='sum') / pair.num_channels
        err = (pair.vertices_S - pair.vertices_T).square()
        if self.channel_attention:
            err = err * pair.attention.channel[:, :, None, None]
        if self.spatial_attention:
            err = err * pair.attention.spatial[:, None]
        return err.mean()
