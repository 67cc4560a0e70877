# Copyright (c) sekd-mm contributors. All rights reserved.
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import CRGPair
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGVertexLoss(BaseCRGLoss):
    """Vertex-level SEKD loss ``L_V`` (arXiv:2405.08547).

    The vertices of the Channels Relational Graph are the channels of the
    feature map. The student's vertices are pulled to the teacher's under
    the teacher's spatial and channel attention (mean 1 each, so the scale
    stays that of an MSE):

    ``L_V = mean_{b,c,h,w} a_c[b,c] * a_s[b,h,w] * (S - T)^2``

    Args: see :class:`BaseCRGLoss`.

    Examples:
        >>> loss = CRGVertexLoss(loss_weight=1.0, tau=0.5)
        >>> s, t = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
        >>> loss(s, t)  # scalar tensor
    """

    def compute(self, pair: CRGPair) -> Tensor:
        err = (pair.student - pair.teacher).square()
        if self.channel_attention:
            err = err * pair.attention.channel[:, :, None, None]
        if self.spatial_attention:
            err = err * pair.attention.spatial[:, None]
        return err.mean()
