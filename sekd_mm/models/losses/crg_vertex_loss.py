# Copyright (c) sekd-mm contributors. All rights reserved.
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import CRGPair
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGVertexLoss(BaseCRGLoss):
    """Vertex-level SEKD loss ``L_V`` (arXiv:2405.08547).

    The vertices of the Channels Relational Graph are the channels of the
    feature map; the student's vertex features are pulled to the teacher's
    under the spatial and channel attention (mean 1 each):

    * ``vertex='standard'`` (default) and ``'raw'``:
      ``L_V = mean_{b,c,h,w} a_c[b,c] a_s[b,h,w] (V^S - V^T)^2`` with ``V``
      the channel maps standardised over ``(B, H, W)`` (then ``L_V`` is an
      attention-weighted ``2 (1 - Pearson)`` between each student channel
      and its teacher channel, invariant to a positive affine map of either
      channel) or the raw activations.
    * ``vertex='softmax'``: each channel is a spatial distribution
      ``p = softmax_hw(F / vertex_tau)``;
      ``L_V = vertex_tau^2 mean_{b,c} a_c[b,c] KL(p^T || p^S)`` (the spatial
      weighting is the teacher distribution itself).

    Args: see :class:`BaseCRGLoss`.

    Examples:
        >>> loss = CRGVertexLoss(loss_weight=1.0, tau=0.5)
        >>> s, t = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
        >>> loss(s, t)  # scalar tensor
    """

    def compute(self, pair: CRGPair) -> Tensor:
        if pair.vertex == 'softmax':
            log_t, log_s = pair.vertices_T, pair.vertices_S  # B x C x HW
            err = (log_t.exp() * (log_t - log_s)).sum(-1) * pair.vertex_tau**2
            if self.channel_attention:
                err = err * pair.attention.channel
            return err.mean()
        err = (pair.vertices_S - pair.vertices_T).square()
        if self.channel_attention:
            err = err * pair.attention.channel[:, :, None, None]
        if self.spatial_attention:
            err = err * pair.attention.spatial[:, None]
        return err.mean()
