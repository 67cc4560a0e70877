# Copyright (c) sekd-mm contributors. All rights reserved.
import torch
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import SHIPPED, CRGPair, split_bands
from ..utils.pearson import no_autocast
from .crg_base import BaseCRGLoss


@MODELS.register_module()
class CRGSpectralLoss(BaseCRGLoss):
    """Spectral-embedding SEKD loss ``L_S`` (arXiv:2405.08547).

    The teacher's spectral embedding ``U_T`` (``C x k``) is made of the ``k``
    eigenvectors of its normalized Laplacian ``L^T`` with the smallest
    eigenvalues ``Lambda_T`` after the trivial one, computed without
    gradient. The eigenvectors are split into ``groups`` contiguous bands
    (lower frequencies first; the paper's "groups") and each band
    contributes equally. The teacher's embedding must be an eigenbasis of
    the student's graph with the teacher's eigenvalues, without
    eigendecomposing the student:

    ``L_S = mean_g |L^S U_g - U_g Lambda_g|_F^2 / k_g``

    computed as ``|(L^S - L^T) U_g|_F^2`` (equal, since ``L^T U_g = U_g
    Lambda_g``), which is exactly 0 at ``S == T`` whatever the eigensolver's
    rounding. It is invariant to eigenvector signs and to rotations inside
    degenerate eigenspaces, and its gradient is linear in ``L^S`` (no
    ``eigh`` backward, which explodes when eigenvalues are close).

    Args:
        k (int): Number of eigenvectors, ``1 <= k < C``.
        groups (int): Number of eigenvector bands, ``1 <= groups <= k``.
        **kwargs: see :class:`BaseCRGLoss`.
    """

    def __init__(self,
                 k: int = SHIPPED.k,
                 groups: int = SHIPPED.groups,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        self.bands = split_bands(0, k, groups)
        self.k, self.groups = k, groups

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
        spectrum = pair.teacher_spectrum(self.k)
        # in the graph's precision, not autocast's half precision
        with no_autocast(pair.student):
            res = (pair.laplacian_S - pair.laplacian_T) @ spectrum.vectors
            per_vec = res.square().sum(0)  # k
            terms = [per_vec[lo:hi].sum() / (hi - lo) for lo, hi in self.bands]
        return torch.stack(terms).mean()
