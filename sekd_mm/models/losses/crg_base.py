# Copyright (c) sekd-mm contributors. All rights reserved.
"""Shared calling convention of the SEKD (CRG) losses."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..utils.crg import CRGPair, check_design, check_pair, level_pairs

Features = Union[Tensor, Sequence[Tensor]]

_EIG_DTYPES = {'float32': torch.float32, 'float64': torch.float64}


class BaseCRGLoss(nn.Module):
    """Base of :class:`CRGVertexLoss`, :class:`CRGEdgeLoss` and
    :class:`CRGSpectralLoss`.

    Follows MMRazor's loss convention ``forward(preds_S, preds_T)`` so each
    loss can be used alone in a ``ConfigurableDistiller`` config, like
    ``PKDLoss``. Inputs are ``B x C x H x W`` maps or sequences of them (e.g.
    all FPN levels, summed). :class:`~sekd_mm.models.SEKDDistiller` instead
    builds one :class:`CRGPair` per level and calls :meth:`compute` of each
    loss on it, so a level's graphs are built once per step.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        tau (float): Temperature of the attention. Defaults to 0.5.
        spatial_attention (bool): Use the spatial attention (vertex
            weights / attention-weighted channel vectors).
        channel_attention (bool): Use the channel attention (vertex and
            edge weights).
        eig_dtype (str): Precision of eigensolvers, ``'float32'`` (default)
            or ``'float64'``, whatever the training precision (float64
            inputs always get float64).
        attention (str): Where attention comes from, ``'teacher'``
            (default), ``'both'`` (mean of teacher and student) or ``'gt'``
            (spatial attention from the ground-truth boxes, which only
            :class:`~sekd_mm.models.SEKDDistiller` can pass).
        vertex (str): Vertex features: ``'standard'`` (default; channels
            standardised over ``B, H, W``), ``'softmax'`` (spatial
            distributions) or ``'raw'``.
        vertex_tau (float): Temperature of ``'softmax'`` vertices.
        center_edges (bool): Edges are Pearson correlations of the channel
            maps (default) instead of cosines of the raw maps.
        graph (str): ``'image'`` (default; one graph per image) or
            ``'batch'`` (one graph per level over the whole batch).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 tau: float = 0.5,
                 spatial_attention: bool = True,
                 channel_attention: bool = True,
                 eig_dtype: str = 'float32',
                 attention: str = 'teacher',
                 vertex: str = 'standard',
                 vertex_tau: float = 1.0,
                 center_edges: bool = True,
                 graph: str = 'image') -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}')
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        if eig_dtype not in _EIG_DTYPES:
            raise ValueError(f'eig_dtype must be one of {list(_EIG_DTYPES)}, '
                             f'got {eig_dtype!r}')
        check_design(attention, vertex, vertex_tau, graph)
        self.loss_weight = loss_weight
        self.tau = tau
        self.spatial_attention = spatial_attention
        self.channel_attention = channel_attention
        self.eig_dtype = eig_dtype
        self.attention = attention
        self.vertex = vertex
        self.vertex_tau = vertex_tau
        self.center_edges = center_edges
        self.graph = graph

    def make_pair(self,
                  preds_S: Tensor,
                  preds_T: Tensor,
                  gt_spatial: Optional[Tensor] = None) -> CRGPair:
        """The CRG pair this loss expects (its attention settings);
        ``gt_spatial`` (``B x H x W``) is the box attention of
        ``attention='gt'``."""
        return CRGPair(
            preds_S,
            preds_T,
            tau=self.tau,
            spatial_graph=self.spatial_attention,
            eig_dtype=_EIG_DTYPES[self.eig_dtype],
            attention=self.attention,
            vertex=self.vertex,
            vertex_tau=self.vertex_tau,
            center_edges=self.center_edges,
            graph=self.graph,
            gt_spatial=gt_spatial)

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
