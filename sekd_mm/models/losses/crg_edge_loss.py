# Copyright (c) sekd-mm contributors. All rights reserved.
import torch
from mmrazor.registry import MODELS
from torch import Tensor

from ..utils.crg import SHIPPED, CRGPair, crg_cka
from .crg_base import BaseCRGLoss

RELATIONS = ('pearson', 'cka')


@MODELS.register_module()
class CRGEdgeLoss(BaseCRGLoss):
    """Edge-level SEKD loss ``L_E`` (arXiv:2405.08547).

    The edges of the Channels Relational Graph are the Pearson correlations
    ``A_ij`` of the channel maps flattened over ``(B, H, W)`` (weighted by
    the spatial attention when it is on), one ``C x C`` adjacency per level
    and step. Off-diagonal edges are matched, weighted by the channel
    attention of both end points when it is on:

    ``L_E = mean_{i != j} a_c[i] a_c[j] (A^S_ij - A^T_ij)^2``

    averaged over the graphs of a level (one, or one per window with
    ``cells > 1``).

    Invariant to a positive affine map of any channel. With one channel
    there is no edge and the loss is 0.

    With ``relation='cka'`` (a design candidate) the two graphs are compared
    through their CKA instead, ``L_E = 1 - CKA`` (:func:`~sekd_mm.models.
    utils.crg_cka`), on the student's own map (before its connector, when
    the distiller gives it) over the whole map: invariant to an orthogonal
    map of the student's channels, which the edges are not.

    Args:
        relation (str): ``'pearson'`` (the shipped design) or ``'cka'``.
        **kwargs: see :class:`BaseCRGLoss`.
    """

    @property
    def reads_student_own(self) -> bool:
        return self.relation == 'cka'

    def __init__(self, relation: str = SHIPPED.edge_relation,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if relation not in RELATIONS:
            raise ValueError(f'relation must be one of {RELATIONS}, got '
                             f'{relation!r}')
        self.relation = relation

    def compute(self, pair: CRGPair) -> Tensor:
        if self.relation == 'cka':
            return 1 - crg_cka(pair.student_own, pair.teacher)
        c = pair.num_channels
        if c < 2:
            return pair.student.sum() * 0
        err = (pair.adjacency_S - pair.adjacency_T).square()
        if self.channel_attention:
            att = pair.channel_weights
            err = err * att[:, :, None] * att[:, None, :]
        off_diag = 1 - torch.eye(c, dtype=err.dtype, device=err.device)
        return (err * off_diag).sum() / (err.shape[0] * c * (c - 1))
