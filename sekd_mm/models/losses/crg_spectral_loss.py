# Copyright (c) sekd-mm contributors. All rights reserved.
from typing import List

import torch
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import CRGPair, no_autocast
from ..utils.spectral import band_projectors, split_bands
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGSpectralLoss(BaseCRGLoss):
    """Spectral-embedding SEKD loss ``L_S`` (arXiv:2405.08547).

    The teacher's spectral embedding ``U_T`` (``C x k``) is made of the ``k``
    eigenvectors of its normalized Laplacian ``L^T`` with the smallest
    eigenvalues ``Lambda_T`` after the trivial one, computed without
    gradient in ``eig_dtype``. The eigenvectors are split into ``groups``
    contiguous bands (lower frequencies first; "groups" in the paper) and
    each band contributes equally.

    ``mode='residual'`` (default) asks the teacher's embedding to be an
    eigenbasis of the student's graph with the teacher's eigenvalues,
    without eigendecomposing the student:

    ``L_S = mean_g |L^S U_g - U_g Lambda_g|_F^2 / (B k_g)``

    computed as ``|(L^S - L^T) U_g|_F^2`` (equal, since
    ``L^T U_g = U_g Lambda_g``), which is exactly 0 at ``S == T`` whatever
    the eigensolver's rounding, so a float32 eigensolve is enough. It is
    invariant to eigenvector signs and to rotations inside degenerate
    eigenspaces, and its gradient is linear in ``L^S`` (no ``eigh``
    backward, which explodes when eigenvalues are close).

    ``mode='subspace'`` eigendecomposes the student too and compares the
    band projectors, ``mean_g |P^S_g - P^T_g|_F^2 / (2 B k_g)`` (in
    ``[0, 1]``), with a backward that stays finite under repeated
    eigenvalues (see :func:`~sekd_mm.models.utils.band_projectors`).

    Args:
        k (int): Number of eigenvectors, ``1 <= k < C``. Defaults to 8.
        mode (str): ``'residual'`` or ``'subspace'``.
        groups (int): Number of eigenvector bands, ``1 <= groups <= k``.
        eig_eps (float): Eigengap broadening of the subspace backward.
        **kwargs: see :class:`BaseCRGLoss`.
    """

    MODES = ('residual', 'subspace')

    def __init__(self,
                 k: int = 8,
                 mode: str = 'residual',
                 groups: int = 1,
                 eig_eps: float = 1e-6,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, '
                             f'got {mode!r}')
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        self.bands = split_bands(0, k, groups)
        self.k, self.mode, self.groups = k, mode, groups
        self.eig_eps = eig_eps

    def check(self, preds_S: Tensor, preds_T: Tensor) -> None:
        super().check(preds_S, preds_T)
        self.check_channels(preds_T.shape[1])

    def check_channels(self, num_channels: int) -> None:
        """Raise if ``k`` does not fit ``num_channels`` vertices."""
        if self.k >= num_channels:
            raise ValueError(
                f'CRGSpectralLoss: k={self.k} eigenvectors need more than k '
                f'channels, the map has C={num_channels}. Set k <= '
                f'{num_channels - 1}.')

    def compute(self, pair: CRGPair) -> Tensor:
        spec = pair.teacher_spectrum(self.k)
        # matmuls in the graph's precision, not autocast's half precision
        with no_autocast(pair.student):
            if self.mode == 'residual':
                terms = self._residual(pair, spec.vectors)
            else:
                terms = self._subspace(pair, spec.vectors)
        loss = torch.stack(terms).mean()
        return loss.to(pair.student.dtype)

    def _residual(self, pair: CRGPair, vecs: Tensor) -> List[Tensor]:
        b = pair.num_graphs
        res = (pair.laplacian_S - pair.laplacian_T) @ vecs
        per_vec = res.square().sum(1)  # B x k
        return [per_vec[:, lo:hi].sum() / (b * (hi - lo))
                for lo, hi in self.bands]

    def _subspace(self, pair: CRGPair, vecs: Tensor) -> List[Tensor]:
        b = pair.num_graphs
        lap_s = pair.laplacian_S.to(pair.eig_dtype)
        shifted = [(lo + 1, hi + 1) for lo, hi in self.bands]
        proj_s = band_projectors(lap_s, shifted, self.eig_eps)
        vecs = vecs.to(pair.eig_dtype)
        terms = []
        for g, (lo, hi) in enumerate(self.bands):
            u = vecs[..., lo:hi]
            proj_t = u @ u.transpose(-1, -2)
            dist = (proj_s[:, g] - proj_t).square().sum()
            terms.append(dist / (2 * b * (hi - lo)))
        return terms
