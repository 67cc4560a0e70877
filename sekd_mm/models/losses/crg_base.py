# Copyright (c) sekd-mm contributors. All rights reserved.
"""Shared calling convention of the SEKD (CRG) losses."""
from typing import Sequence, Union

from torch import Tensor, nn

from ..utils.crg import SHIPPED, CRGPair, check_pair, level_pairs

Features = Union[Tensor, Sequence[Tensor]]


class BaseCRGLoss(nn.Module):
    """Base of :class:`CRGVertexLoss`, :class:`CRGEdgeLoss` and
    :class:`CRGSpectralLoss`.

    Follows MMRazor's loss convention ``forward(preds_S, preds_T)`` so each
    loss can be used alone in a ``ConfigurableDistiller`` config, like
    ``PKDLoss``. Inputs are ``B x C x H x W`` maps or sequences of them (e.g.
    all FPN levels, summed). :class:`~sekd_mm.models.SEKDDistiller` instead
    builds one :class:`CRGPair` per level and calls :meth:`compute` of each
    loss on it, so a level's graphs are built once per step. With default
    arguments a loss computes exactly the distiller's term of the shipped
    design (:class:`~sekd_mm.models.utils.SEKDDesign`), unweighted.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        tau (float): Temperature of the attention guidance.
        spatial_attention (bool): Weight by the teacher's spatial attention
            (the paper's guidance; off in the shipped design).
        channel_attention (bool): Weight by the teacher's channel attention
            (the paper's guidance; off in the shipped design).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 tau: float = SHIPPED.tau,
                 spatial_attention: bool = SHIPPED.spatial_attention,
                 channel_attention: bool = SHIPPED.channel_attention) -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}')
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        self.loss_weight = loss_weight
        self.tau = tau
        self.spatial_attention = spatial_attention
        self.channel_attention = channel_attention

    def make_pair(self, preds_S: Tensor, preds_T: Tensor) -> CRGPair:
        """The CRG pair this loss expects (its attention settings;
        :class:`~sekd_mm.models.utils.CRGPair`)."""
        return CRGPair(
            preds_S,
            preds_T,
            tau=self.tau,
            spatial_attention=self.spatial_attention)

    def check(self, preds_S: Tensor, preds_T: Tensor) -> None:
        """Validate one level before any compute (override to add)."""
        check_pair(preds_S, preds_T)

    def forward(self, preds_S: Features, preds_T: Features) -> Tensor:
        """Weighted loss, summed over levels.

        Args:
            preds_S (Tensor | Sequence[Tensor]): Student map(s)
                ``B x C x H x W``.
            preds_T (Tensor | Sequence[Tensor]): Teacher map(s), same shapes;
                they never receive gradient.

        Returns:
            Tensor: Scalar loss (float32, or float64 for float64 inputs).
        """
        pairs = level_pairs(preds_S, preds_T)
        for s, t in pairs:
            self.check(s, t)
        loss = sum(self.compute(self.make_pair(s, t)) for s, t in pairs)
        return self.loss_weight * loss

    def compute(self, pair: CRGPair) -> Tensor:
        """Unweighted loss of one level from its (cached) graphs."""
        raise NotImplementedError
