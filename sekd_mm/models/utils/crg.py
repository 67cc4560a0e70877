# Copyright (c) sekd-mm contributors. All rights reserved.
"""Channels Relational Graph (CRG) of a pair of feature maps.

SEKD (Wang et al., arXiv:2405.08547) treats the channels of a feature map as
the vertices of a graph whose weighted edges are the cosine similarities of
the flattened channel maps, and aligns student and teacher at three levels:
vertices, edges and the spectral embedding of the graph Laplacian, under
attention guidance. This module is the one place where the graphs are
built; the three losses only read them (``sekd_mm/models/losses``).

Conventions (documented in ``docs/method.md``):

* Attention comes from the teacher only, without gradient, and each map has
  mean 1 (FGD-style): ``a_s = HW * softmax_hw(mean_c |T| / tau)`` and
  ``a_c = C * softmax_c(mean_hw |T| / tau)``.
* Vertex vectors are ``vec(sqrt(a_s) * F_c)``, so ``<v_i, v_j>`` is the
  spatial-attention-weighted inner product ``sum_hw a_s F_i F_j``.
* Each image's map is divided by its (detached) max-abs value before the
  cosine; this leaves cosine values and gradients unchanged but keeps
  tiny and huge magnitudes inside float range.
* All graph arithmetic runs in float32 (float64 if given float64) with
  autocast disabled; the eigensolver runs in ``eig_dtype`` (float64).
"""
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .spectral import normalized_laplacian


def compute_dtype(*xs: Tensor) -> torch.dtype:
    """float64 if any input is float64; everything else runs in float32."""
    if any(x.dtype == torch.float64 for x in xs):
        return torch.float64
    return torch.float32


def no_autocast(x: Tensor):
    """Context that disables autocast on ``x``'s device type."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def check_pair(preds_S: Tensor, preds_T: Tensor) -> None:
    """Raise a clear error before any compute if shapes disagree."""
    if not (isinstance(preds_S, Tensor) and isinstance(preds_T, Tensor)):
        raise TypeError('CRG losses take tensors, got '
                        f'{type(preds_S).__name__} and '
                        f'{type(preds_T).__name__}')
    if preds_S.dim() != 4:
        raise ValueError('CRG losses take B x C x H x W feature maps, got '
                         f'student shape {tuple(preds_S.shape)}')
    if preds_S.shape != preds_T.shape:
        hint = ''
        if preds_S.shape[1] != preds_T.shape[1]:
            hint = (f' The channel counts differ ({preds_S.shape[1]} vs '
                    f'{preds_T.shape[1]}): add a student connector, e.g. '
                    f"dict(type='ConvModuleConnector', "
                    f'in_channel={preds_S.shape[1]}, '
                    f'out_channel={preds_T.shape[1]}, act_cfg=None).')
        raise ValueError('Student and teacher feature maps must have the same '
                         f'shape, got {tuple(preds_S.shape)} (student) and '
                         f'{tuple(preds_T.shape)} (teacher).{hint}')


@dataclass
class TeacherAttention:
    """Attention maps from the teacher, mean 1 per image.

    Attributes:
        spatial (Tensor): ``B x H x W``.
        channel (Tensor): ``B x C``.
    """
    spatial: Tensor
    channel: Tensor

    @classmethod
    @torch.no_grad()
    def from_teacher(cls, feat_t: Tensor, tau: float) -> 'TeacherAttention':
        """Attention of a ``B x C x H x W`` teacher map (no gradient)."""
        b, c, h, w = feat_t.shape
        mag = feat_t.detach().to(compute_dtype(feat_t)).abs()
        spatial = h * w * F.softmax(
            mag.mean(1).reshape(b, -1) / tau, dim=1).reshape(b, h, w)
        channel = c * F.softmax(mag.mean((2, 3)) / tau, dim=1)
        return cls(spatial=spatial, channel=channel)


def channel_adjacency(feat: Tensor,
                      spatial: Optional[Tensor] = None,
                      eps: float = 1e-12) -> Tensor:
    """Cosine-similarity adjacency between the channels of a feature map.

    ``A_ij = <v_i, v_j> / (|v_i| |v_j|)`` with ``v_i = vec(sqrt(a_s) * F_i)``.
    An all-zero channel gets a zero row and column.

    Args:
        feat (Tensor): ``B x C x H x W`` in float32/float64.
        spatial (Tensor, optional): ``B x H x W`` spatial attention weights.
        eps (float): Norm floor of :func:`torch.nn.functional.normalize`.

    Returns:
        Tensor: ``B x C x C``, entries in ``[-1, 1]``. Costs ``B C^2 HW``.
    """
    b, c = feat.shape[:2]
    vec = feat.reshape(b, c, -1)
    scale = vec.detach().abs().amax(dim=(1, 2), keepdim=True)
    vec = vec / torch.where(scale > 0, scale, torch.ones_like(scale))
    if spatial is not None:
        vec = vec * spatial.reshape(b, 1, -1).sqrt()
    vec = F.normalize(vec, dim=-1, eps=eps)
    adj = vec @ vec.transpose(-1, -2)
    return 0.5 * (adj + adj.transpose(-1, -2))


@dataclass
class Spectrum:
    """Teacher spectral embedding: eigenpairs ``[1, k + 1)`` of ``L^T``.

    Attributes:
        values (Tensor): ``B x k`` eigenvalues, ascending.
        vectors (Tensor): ``B x C x k`` orthonormal eigenvectors.
    """
    values: Tensor
    vectors: Tensor


class CRGPair:
    """Student and teacher CRGs of one feature level, built lazily, once.

    Every graph quantity is a cached property: however many loss terms read
    the adjacency, Laplacian or teacher spectrum of a level in a step, each
    is computed once. The teacher side never carries gradient.

    Args:
        preds_S (Tensor): Student map ``B x C x H x W`` (after connector).
        preds_T (Tensor): Teacher map of the same shape.
        tau (float): Attention temperature.
        spatial_graph (bool): Weight vertex vectors by spatial attention.
        eig_dtype (torch.dtype): Precision of the teacher eigensolver.
        laplacian_eps (float): Degree floor for isolated channels.
    """

    def __init__(self,
                 preds_S: Tensor,
                 preds_T: Tensor,
                 tau: float = 0.5,
                 spatial_graph: bool = True,
                 eig_dtype: torch.dtype = torch.float64,
                 laplacian_eps: float = 1e-6) -> None:
        check_pair(preds_S, preds_T)
        dtype = compute_dtype(preds_S, preds_T)
        self.student = preds_S.to(dtype)
        self.teacher = preds_T.detach().to(dtype)
        self.tau = tau
        self.spatial_graph = spatial_graph
        self.eig_dtype = eig_dtype
        self.laplacian_eps = laplacian_eps
        self._spectra: Dict[int, Spectrum] = {}

    @property
    def num_channels(self) -> int:
        return self.teacher.shape[1]

    @cached_property
    def attention(self) -> TeacherAttention:
        return TeacherAttention.from_teacher(self.teacher, self.tau)

    def _adjacency(self, feat: Tensor) -> Tensor:
        spatial = self.attention.spatial if self.spatial_graph else None
        with no_autocast(feat):
            return channel_adjacency(feat, spatial)

    @cached_property
    def adjacency_S(self) -> Tensor:
        """``B x C x C`` student adjacency (differentiable)."""
        return self._adjacency(self.student)

    @cached_property
    def adjacency_T(self) -> Tensor:
        """``B x C x C`` teacher adjacency (no gradient)."""
        with torch.no_grad():
            return self._adjacency(self.teacher)

    @cached_property
    def laplacian_S(self) -> Tensor:
        with no_autocast(self.student):
            return normalized_laplacian(self.adjacency_S, self.laplacian_eps)

    @cached_property
    def laplacian_T(self) -> Tensor:
        with torch.no_grad(), no_autocast(self.teacher):
            return normalized_laplacian(self.adjacency_T, self.laplacian_eps)

    def teacher_spectrum(self, k: int) -> Spectrum:
        """The ``k`` eigenpairs of ``L^T`` after the trivial one (cached)."""
        if not 1 <= k < self.num_channels:
            raise ValueError(f'k must be in [1, C - 1] = [1, '
                             f'{self.num_channels - 1}], got k={k}')
        if k not in self._spectra:
            with torch.no_grad(), no_autocast(self.teacher):
                values, vectors = torch.linalg.eigh(
                    self.laplacian_T.to(self.eig_dtype))
            dtype = self.teacher.dtype
            self._spectra[k] = Spectrum(
                values=values[:, 1:k + 1].to(dtype),
                vectors=vectors[:, :, 1:k + 1].to(dtype))
        return self._spectra[k]


def level_pairs(preds_S, preds_T) -> Tuple[Tuple[Tensor, Tensor], ...]:
    """Zip a tensor or a sequence of tensors (e.g. FPN levels) into pairs."""
    if isinstance(preds_S, Tensor) and isinstance(preds_T, Tensor):
        return ((preds_S, preds_T), )
    if isinstance(preds_S, (list, tuple)) and isinstance(
            preds_T, (list, tuple)):
        if len(preds_S) != len(preds_T):
            raise ValueError(f'Got {len(preds_S)} student and '
                             f'{len(preds_T)} teacher feature levels')
        return tuple(zip(preds_S, preds_T))
    raise TypeError('Expected two tensors or two sequences of tensors, got '
                    f'{type(preds_S).__name__} and {type(preds_T).__name__}')
