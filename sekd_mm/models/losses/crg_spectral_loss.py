# Copyright (c) sekd-mm contributors. All rights reserved.
import torch
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import SHIPPED, CRGPair, no_autocast, split_bands
from .crg_base import BaseCRGLoss

FORMS = ('embedding', 'eigvals', 'eigvals_own')


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

    With ``form='eigvals'`` (a design candidate) only the spectra are
    matched: the same ``k`` eigenvalues of the student's Laplacian
    (``torch.linalg.eigvalsh``, whose backward ``V diag(g) V^T`` stays
    finite at repeated eigenvalues) and the teacher's,

    ``L_S = mean_g |Lambda^S_g - Lambda^T_g|^2 / k_g``

    which no relabelling of the student's channels alone changes: the
    student's channels need not correspond to the teacher's one by one.
    ``form='eigvals_own'`` takes the student's eigenvalues from the graph
    of its own map before its connector (``C_s`` channels, ``k < C_s``;
    the pair's ``student_own``), so that the channel counts need not match
    either and no gradient goes through the connector.

    Args:
        k (int): Number of eigenvectors, ``1 <= k < C``.
        groups (int): Number of eigenvector bands, ``1 <= groups <= k``.
        form (str): ``'embedding'`` (the shipped design), ``'eigvals'`` or
            ``'eigvals_own'``.
        **kwargs: see :class:`BaseCRGLoss`.
    """

    def __init__(self,
                 k: int = SHIPPED.k,
                 groups: int = SHIPPED.groups,
                 form: str = SHIPPED.spectral,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        if form not in FORMS:
            raise ValueError(f'form must be one of {FORMS}, got {form!r}')
        self.bands = split_bands(0, k, groups)
        self.k, self.groups, self.form = k, groups, form

    @property
    def reads_student_own(self) -> bool:
        return self.form == 'eigvals_own'

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
            if self.form != 'embedding':
                lap = pair.laplacian_S_own if self.reads_student_own \
                    else pair.laplacian_S
                if lap.shape[-1] <= self.k:  # only the own map can be
                    raise ValueError(  # narrower than the teacher's
                        f'CRGSpectralLoss: k={self.k} eigenvalues need more '
                        f'than k channels, the student\'s own map has '
                        f'{lap.shape[-1]}. Set k <= {lap.shape[-1] - 1}.')
                # the solver fails on a non-finite matrix: solve a finite
                # copy and carry the NaN / inf on (0 * inf is NaN), so that
                # the distiller's finite check names this term
                values_S = torch.linalg.eigvalsh(torch.nan_to_num(
                    lap, nan=0.0, posinf=0.0, neginf=0.0))[:, 1:self.k + 1]
                values_S = values_S + 0 * lap.sum()
                per_vec = (values_S - spectrum.values).square()  # G x k
            else:
                res = (pair.laplacian_S - pair.laplacian_T) @ spectrum.vectors
                per_vec = res.square().sum(1)  # G x k
            terms = [per_vec[:, lo:hi].sum() / (per_vec.shape[0] * (hi - lo))
                     for lo, hi in self.bands]
        return torch.stack(terms).mean()
