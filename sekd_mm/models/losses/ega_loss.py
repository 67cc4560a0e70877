# Copyright (c) sekd-mm contributors. All rights reserved.
"""Embedding Graph Alignment (EGA) losses.

EGA distils instance-level structure: the nodes of a graph are per-image
embeddings of a batch (``B x D``, e.g. from
:class:`~sekd_mm.models.connectors.EGAEmbedding`, one instance on each
side: the "individual node embedding layers" of the EGA poster, seed 002 in
``/work/shared/seeds``) and its edges are the Pearson correlation
coefficients between every pair of images:

``E[x, y] = sum_i (x_i - mean x)(y_i - mean y)
/ (sqrt(sum_i (x_i - mean x)^2) sqrt(sum_i (y_i - mean y)^2))``

The poster matches the student and teacher graphs with
``L_edge = |E_t - E_s|_2``, ``L_node = |N_st - I|_2`` and
``L_FGA = L_node + lambda L_edge``. Our decisions:

* squared errors averaged over the entries instead of the plain norms: the
  norm has no gradient at 0 and would give NaN exactly when student and
  teacher agree;
* the graph is built per rank under DDP (see :class:`EGAEdgeLoss`);
* rows with zero variance (a constant embedding) have correlation 0 with
  every row, themselves included, with a finite (zero) gradient;
* all arithmetic runs in float32 (float64 if an input is float64) with
  autocast disabled, whatever the training precision.
"""
from typing import Tuple

import torch
from mmrazor.registry import MODELS
from torch import Tensor, nn

from ..utils.pearson import compute_dtype, no_autocast, standardize_rows


class BaseEGALoss(nn.Module):
    """Shared calling convention of :class:`EGAEdgeLoss`,
    :class:`EGANodeLoss` and :class:`EGALoss`.

    MMRazor's loss convention ``forward(preds_S, preds_T)``: inputs are the
    ``B x D`` node embeddings of the student and the teacher (after their
    ``EGAEmbedding`` connectors), validated before any compute, then
    standardized once (:func:`standardize_rows`) and passed to
    :meth:`compute`.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        detach_teacher (bool): Cut the gradient into ``preds_T``. Defaults
            to True, the usual distillation setting: then the teacher-side
            embedding layer receives no gradient from EGA and should be
            built with ``EGAEmbedding(frozen=True)`` (a fixed random
            projection; our configs do that). A trainable teacher head with
            ``detach_teacher=True`` stays at its random init and its unused
            parameters make DDP need ``find_unused_parameters=True``. With
            ``detach_teacher=False`` a trainable teacher head learns through
            the loss (the teacher backbone stays frozen by the algorithm:
            its features are recorded without gradient).
        eps (float): Zero-variance threshold of :func:`standardize_rows`.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 detach_teacher: bool = True,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}')
        if eps <= 0:
            raise ValueError(f'eps must be > 0, got {eps}')
        self.loss_weight = loss_weight
        self.detach_teacher = detach_teacher
        self.eps = eps

    def check(self, preds_S: Tensor, preds_T: Tensor) -> None:
        """Raise a clear error before any compute if shapes disagree."""
        name = type(self).__name__
        fix = ('Add/adjust the EGAEmbedding connectors so that both sides '
               "give B x embed_dim, e.g. connectors=dict(ega_s=dict(type="
               "'EGAEmbedding', in_channels=256, num_levels=5, "
               "embed_dim=128), ega_t=dict(type='EGAEmbedding', ..., "
               'embed_dim=128, frozen=True)).')
        if not (isinstance(preds_S, Tensor) and isinstance(preds_T, Tensor)):
            raise TypeError(f'{name} takes two B x D tensors, got '
                            f'{type(preds_S).__name__} and '
                            f'{type(preds_T).__name__}. {fix}')
        if preds_S.dim() != 2 or preds_S.shape != preds_T.shape:
            raise ValueError(
                f'{name} takes student and teacher embeddings of the same '
                f'shape B x D, got {tuple(preds_S.shape)} (student) and '
                f'{tuple(preds_T.shape)} (teacher). {fix}')
        if preds_S.shape[1] < 2:
            raise ValueError(f'{name}: Pearson correlation needs D >= 2, '
                             f'got D={preds_S.shape[1]}. {fix}')

    def standardize(self, preds_S: Tensor,
                    preds_T: Tensor) -> Tuple[Tensor, Tensor]:
        """Validated, centred unit rows ``(z_S, z_T)``, ``B x D`` each, in
        the compute dtype (call under autocast-disabled context)."""
        self.check(preds_S, preds_T)
        if self.detach_teacher:
            preds_T = preds_T.detach()
        dtype = compute_dtype(preds_S, preds_T)
        return (standardize_rows(preds_S.to(dtype), eps=self.eps),
                standardize_rows(preds_T.to(dtype), eps=self.eps))

    def forward(self, preds_S: Tensor, preds_T: Tensor) -> Tensor:
        """Weighted loss.

        Args:
            preds_S (Tensor): Student embeddings ``B x D``.
            preds_T (Tensor): Teacher embeddings ``B x D``.

        Returns:
            Tensor: Scalar, float32 (float64 if an input is float64).
        """
        with no_autocast(preds_S):
            z_s, z_t = self.standardize(preds_S, preds_T)
            return self.loss_weight * self.compute(z_s, z_t)

    def compute(self, z_s: Tensor, z_t: Tensor) -> Tensor:
        """Unweighted loss from standardized ``B x D`` rows."""
        raise NotImplementedError


@MODELS.register_module()
class EGAEdgeLoss(BaseEGALoss):
    """Edge matching loss of EGA (poster, seed 002), squared form.

    ``E_s = pearson_matrix(preds_S)`` and ``E_t = pearson_matrix(preds_T)``
    (:func:`~sekd_mm.models.utils.pearson_matrix`) are the ``B x B``
    instance graphs of the batch;

    ``L_edge = mean_{i != j} (E_t[i, j] - E_s[i, j])^2``

    (the diagonal is 1 on both sides and is left out). The poster's
    ``|E_t - E_s|_2`` is replaced by the mean squared error because the
    norm has no gradient at 0 (NaN when the graphs agree). Invariant to a
    per-image positive affine map ``x_i -> a_i x_i + b_i`` (``a_i > 0``) of
    either side. With ``B = 1`` there is no pair: the loss is exactly 0 (a
    tensor connected to the graph, zero gradient).

    Distributed training: the graph is built **per rank**, over the
    ``B_r`` local images (``B_r x B_r``), and DistributedDataParallel
    averages the gradients. Gathering the embeddings of all ranks into one
    global graph would need a differentiable ``all_gather`` with variable
    batch sizes; the per-rank graph keeps the loss local, costs no extra
    communication and works with uneven batches (a rank with one image
    contributes 0). The value therefore depends on the per-GPU batch size.

    Args: see :class:`BaseEGALoss`.
    """

    def compute(self, z_s: Tensor, z_t: Tensor) -> Tensor:
        b = z_s.shape[0]
        if b < 2:
            return z_s.sum() * 0 + z_t.sum() * 0
        err = (z_t @ z_t.transpose(0, 1) - z_s @ z_s.transpose(0, 1))
        off_diag = 1 - torch.eye(b, dtype=err.dtype, device=err.device)
        return (err.square() * off_diag).sum() / (b * (b - 1))


@MODELS.register_module()
class EGANodeLoss(BaseEGALoss):
    """Node matching loss of EGA (poster, seed 002), squared form.

    ``N_st[i] = pearson(s_i, t_i)`` is the diagonal of the student-teacher
    cross-correlation matrix ``pearson_matrix(preds_S, preds_T)``: each
    student node should correlate perfectly with its own teacher node
    (``N_st = I`` in the poster's notation, ``|N_st - I|``). We use

    ``L_node = mean_i (1 - N_st[i])^2``

    (mean squared error instead of the norm, as in :class:`EGAEdgeLoss`).
    Zero when ``preds_S[i] = a_i preds_T[i] + b_i`` with ``a_i > 0`` for
    every image; invariant to such maps of either side. Only the diagonal
    is computed (``O(B D)``). Per rank under DDP, like the edge loss.

    Args: see :class:`BaseEGALoss`.
    """

    def compute(self, z_s: Tensor, z_t: Tensor) -> Tensor:
        if z_s.shape[0] == 0:
            return z_s.sum() * 0 + z_t.sum() * 0
        return (1 - (z_s * z_t).sum(dim=-1)).square().mean()


@MODELS.register_module()
class EGALoss(BaseEGALoss):
    """Full EGA loss ``L_FGA = L_node + lambda L_edge`` (poster, seed 002).

    ``loss_weight * (L_node + lambda_edge * L_edge)`` with ``L_node`` from
    :class:`EGANodeLoss` and ``L_edge`` from :class:`EGAEdgeLoss` (their
    ``compute``, on embeddings standardized once). Use the two losses
    separately to log them separately.

    Args:
        lambda_edge (float): Weight ``lambda`` of ``L_edge``. Defaults to
            1.0.
        loss_weight (float): Weight of the sum (``lambda_FGA``). Defaults
            to 1.0.
        detach_teacher (bool): See :class:`BaseEGALoss`.
        eps (float): See :class:`BaseEGALoss`.
    """

    def __init__(self,
                 lambda_edge: float = 1.0,
                 loss_weight: float = 1.0,
                 detach_teacher: bool = True,
                 eps: float = 1e-8) -> None:
        super().__init__(loss_weight, detach_teacher, eps)
        if lambda_edge < 0:
            raise ValueError(f'lambda_edge must be >= 0, got {lambda_edge}')
        self.lambda_edge = lambda_edge
        self.node_loss = EGANodeLoss(1.0, detach_teacher, eps)
        self.edge_loss = EGAEdgeLoss(1.0, detach_teacher, eps)

    def compute(self, z_s: Tensor, z_t: Tensor) -> Tensor:
        loss = self.node_loss.compute(z_s, z_t)
        if self.lambda_edge > 0:
            loss = loss + self.lambda_edge * self.edge_loss.compute(z_s, z_t)
        return loss
