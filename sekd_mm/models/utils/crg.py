# Copyright (c) sekd-mm contributors. All rights reserved.
"""SEKD's graph maths: the Channels Relational Graph (CRG) of a pair of
feature maps, its Laplacian and spectrum.

SEKD (Wang et al., "Exploring Graph-based Knowledge: Multi-Level Feature
Distillation via Channels Relational Graph", arXiv:2405.08547) treats the
channels of a feature map as the vertices of a graph whose weighted edges
compare the flattened channel maps, and aligns student and teacher at three
levels: vertices, edges and the spectral embedding of the graph Laplacian,
under attention guidance. This module builds the graphs; the three losses
(``sekd_mm/models/losses``) only read them.

The shipped design, :class:`SEKDDesign` (the one source of its defaults;
``docs/method.md`` gives the measurements behind each choice):

* vertices: each channel standardised over ``(B, H, W)`` (PKD's
  normalisation), so ``L_V`` is ``2 (1 - Pearson)`` per channel;
* edges: the Pearson correlation of two channels' maps flattened over
  ``(B, H, W)``: one ``C x C`` graph per level and step (the paper's cosine
  of centred maps);
* attention guidance (the paper's) as switches, off in the shipped design:
  ``a_s = HW * softmax_hw(mean_c |T| / tau)`` and ``a_c = C * softmax_c(
  mean_hw |T| / tau)`` from the teacher, mean 1 per image, no gradient;
* spectral embedding: the ``k`` lowest non-trivial eigenvectors of the
  teacher's normalized Laplacian, in ``groups`` bands (the paper's groups).

The graph designs measured against this one in 2026-11/12 are in
``docs/design_log.md``; their code is at the tag
``graph-candidates-2026-12-05``.

All graph arithmetic runs in float32 (float64 for float64 inputs) with
autocast disabled, so half-precision training never reaches the
eigensolver; the correlations are :mod:`.pearson`'s.
"""
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

from .pearson import (compute_dtype, no_autocast, pearson_matrix,
                      standardize_rows)

Band = Tuple[int, int]


@dataclass(frozen=True)
class SEKDDesign:
    """The shipped SEKD design: the one source of the defaults of the
    losses (:class:`~sekd_mm.models.CRGVertexLoss`, ...) and of
    :class:`~sekd_mm.models.SEKDDistiller`.

    Attributes:
        alpha, beta, gamma (float): weights of ``L_V``, ``L_E``, ``L_S`` in
            ``L_total = L_origin + alpha L_V + beta L_E + gamma L_S``
            (chosen on the embedded study's tuning split; docs/method.md).
        tau (float): temperature of the attention guidance.
        spatial_attention (bool): weight vertices and edge samples by the
            teacher's spatial attention (the paper's guidance; off).
        channel_attention (bool): weight vertices and edges by the
            teacher's channel attention (the paper's guidance; off).
        k (int): eigenvectors of the spectral embedding.
        groups (int): bands the ``k`` eigenvectors are split into, each
            weighted equally (the paper's groups).
    """
    alpha: float = 1.5
    beta: float = 2.25
    gamma: float = 2.25
    tau: float = 0.5
    spatial_attention: bool = False
    channel_attention: bool = False
    k: int = 8
    groups: int = 1


#: The design the losses and the distiller default to.
SHIPPED = SEKDDesign()


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# vertices and edges
# ---------------------------------------------------------------------------
def channel_rows(feat: Tensor) -> Tensor:
    """``B x C x H x W`` -> ``C x (B H W)``: each channel's map over the
    batch, the samples of one vertex."""
    return feat.transpose(0, 1).reshape(feat.shape[1], -1)


def standardize_channels(feat: Tensor,
                         rows: Optional[Tensor] = None) -> Tensor:
    """Standardise each channel over ``(B, H, W)`` (PKD's normalisation):
    :func:`standardize_rows` of :func:`channel_rows`, scaled to unit
    variance. A constant channel becomes 0.

    Args:
        feat (Tensor): ``B x C x H x W`` in float32/float64.
        rows (Tensor, optional): ``standardize_rows(channel_rows(feat))``
            when the caller has it (it is not computed again).

    Returns:
        Tensor: same shape, zero mean and unit variance per channel.
    """
    b, c, h, w = feat.shape
    if rows is None:
        rows = standardize_rows(channel_rows(feat))
    return (rows * (b * h * w)**0.5).reshape(c, b, h, w).transpose(0, 1)


def channel_adjacency(feat: Tensor,
                      spatial: Optional[Tensor] = None,
                      rows: Optional[Tensor] = None) -> Tensor:
    """The CRG's edges: Pearson correlation between the channels of a
    feature map, each channel flattened over ``(B, H, W)``, weighted by
    the spatial attention ``spatial`` if given (a weighted Pearson
    correlation). A constant channel gets a zero row and column.

    Args:
        feat (Tensor): ``B x C x H x W`` in float32/float64.
        spatial (Tensor, optional): ``B x H x W`` spatial attention.
        rows (Tensor, optional): ``standardize_rows(channel_rows(feat))``
            when the caller has it (the vertices'), for the graph without
            weights: the graph is then their Gram matrix, and the rows are
            not standardised again.

    Returns:
        Tensor: ``C x C`` symmetric (one graph per level and step), entries
        in ``[-1, 1]``. Costs ``C^2 B H W``.
    """
    if rows is not None:
        if spatial is not None:
            raise ValueError('channel_adjacency: rows are the unweighted '
                             'rows of the map; pass them only without '
                             'spatial weights')
        adj = rows @ rows.transpose(0, 1)
    else:
        weights = None if spatial is None else spatial.reshape(-1)
        adj = pearson_matrix(channel_rows(feat), weights=weights)
    return 0.5 * (adj + adj.transpose(0, 1))


# ---------------------------------------------------------------------------
# Laplacian and spectrum
# ---------------------------------------------------------------------------
def normalized_laplacian(adjacency: Tensor, eps: float = 1e-6) -> Tensor:
    """Symmetric normalized Laplacian ``I - D^-1/2 W D^-1/2``.

    ``W = relu(A)`` with a zero diagonal, so that the graph has non-negative
    weights and no self loops. A channel whose degree is below ``eps`` is
    isolated: its row and column of ``D^-1/2 W D^-1/2`` are zero (``L_ii =
    1``) and neither the value nor the gradient becomes NaN.

    Args:
        adjacency (Tensor): ``... x C x C`` symmetric adjacency in
            ``[-1, 1]``.
        eps (float): Degree below which a channel counts as isolated.

    Returns:
        Tensor: ``... x C x C`` symmetric Laplacian with eigenvalues in
        ``[0, 2]``.
    """
    c = adjacency.shape[-1]
    eye = torch.eye(c, dtype=adjacency.dtype, device=adjacency.device)
    weights = adjacency.relu() * (1 - eye)
    degree = weights.sum(-1)
    # clamp_min keeps rsqrt (and its gradient) finite; the mask then zeroes
    # isolated channels exactly.
    inv_sqrt = degree.clamp_min(eps).rsqrt() * (degree > eps)
    norm_w = inv_sqrt.unsqueeze(-1) * weights * inv_sqrt.unsqueeze(-2)
    lap = eye - norm_w
    return 0.5 * (lap + lap.transpose(-1, -2))


def split_bands(start: int, k: int, groups: int) -> Tuple[Band, ...]:
    """Split eigenvector indices ``[start, start + k)`` into ``groups``
    contiguous bands of near-equal size (lower frequencies first)."""
    if not 1 <= groups <= k:
        raise ValueError(f'groups must be in [1, k={k}], got {groups}')
    sizes = [k // groups + (1 if i < k % groups else 0) for i in range(groups)]
    bands, lo = [], start
    for size in sizes:
        bands.append((lo, lo + size))
        lo += size
    return tuple(bands)


@dataclass
class CRGAttention:
    """Attention maps of a level, from the teacher, mean 1 per image.

    Attributes:
        spatial (Tensor): ``B x H x W``.
        channel (Tensor): ``B x C``.
    """
    spatial: Tensor
    channel: Tensor

    @classmethod
    @torch.no_grad()
    def from_teacher(cls, feat_t: Tensor, tau: float) -> 'CRGAttention':
        """Attention of one ``B x C x H x W`` teacher map (no gradient)."""
        b, c, h, w = feat_t.shape
        mag = feat_t.detach().to(compute_dtype(feat_t)).abs()
        spatial = h * w * F.softmax(
            mag.mean(1).reshape(b, -1) / tau, dim=1).reshape(b, h, w)
        channel = c * F.softmax(mag.mean((2, 3)) / tau, dim=1)
        return cls(spatial=spatial, channel=channel)


@dataclass
class Spectrum:
    """Teacher spectral embedding: eigenpairs ``[1, k + 1)`` of ``L^T``.

    Attributes:
        values (Tensor): ``k`` eigenvalues, ascending.
        vectors (Tensor): ``C x k`` orthonormal eigenvectors.
    """
    values: Tensor
    vectors: Tensor


class CRGPair:
    """Student and teacher CRGs of one feature level, built lazily, once.

    Every graph quantity is a cached property: however many loss terms read
    the attention, vertex features, adjacency, Laplacian or teacher
    spectrum of a level in a step, each is computed once. The teacher side
    never carries gradient.

    Args:
        preds_S (Tensor): Student map ``B x C x H x W`` (after connector).
        preds_T (Tensor): Teacher map of the same shape.
        tau (float): Attention temperature.
        spatial_attention (bool): Weight the edges' samples by the
            teacher's spatial attention.
        laplacian_eps (float): Degree floor for isolated channels.
    """

    def __init__(self,
                 preds_S: Tensor,
                 preds_T: Tensor,
                 tau: float = SHIPPED.tau,
                 spatial_attention: bool = SHIPPED.spatial_attention,
                 laplacian_eps: float = 1e-6) -> None:
        check_pair(preds_S, preds_T)
        dtype = compute_dtype(preds_S, preds_T)
        self.student = preds_S.to(dtype)
        self.teacher = preds_T.detach().to(dtype)
        self.tau = tau
        self.spatial_attention = spatial_attention
        self.laplacian_eps = laplacian_eps
        self._spectra: Dict[int, Spectrum] = {}

    @property
    def num_channels(self) -> int:
        return self.teacher.shape[1]

    @cached_property
    def attention(self) -> CRGAttention:
        """The teacher's attention (computed only if a term reads it)."""
        return CRGAttention.from_teacher(self.teacher, self.tau)

    @cached_property
    def rows_S(self) -> Tensor:
        """The student's channels over ``(B, H, W)`` as centred unit rows,
        ``C x BHW`` (:func:`standardize_rows`): what the vertices and the
        unweighted graph are both made of."""
        with no_autocast(self.student):
            return standardize_rows(channel_rows(self.student))

    @cached_property
    def rows_T(self) -> Tensor:
        """The teacher's rows (no gradient), as :attr:`rows_S`."""
        with torch.no_grad(), no_autocast(self.teacher):
            return standardize_rows(channel_rows(self.teacher))

    @cached_property
    def vertices_S(self) -> Tensor:
        """Student vertex features: channels standardised over ``(B, H,
        W)``, ``B x C x H x W``."""
        with no_autocast(self.student):
            return standardize_channels(self.student, self.rows_S)

    @cached_property
    def vertices_T(self) -> Tensor:
        """Teacher vertex features (no gradient), as :attr:`vertices_S`."""
        with torch.no_grad(), no_autocast(self.teacher):
            return standardize_channels(self.teacher, self.rows_T)

    @property
    def channel_weights(self) -> Tensor:
        """Channel attention of the graph (mean over the batch), ``C``."""
        return self.attention.channel.mean(0)

    def _adjacency(self, feat: Tensor, rows: str) -> Tensor:
        """The graph of ``feat``; without spatial attention it is the Gram
        matrix of its rows (the attribute ``rows``), which the vertex term
        shares."""
        with no_autocast(feat):
            if self.spatial_attention:
                return channel_adjacency(feat, self.attention.spatial)
            return channel_adjacency(feat, rows=getattr(self, rows))

    @cached_property
    def adjacency_S(self) -> Tensor:
        """``C x C`` student adjacency (differentiable)."""
        return self._adjacency(self.student, 'rows_S')

    @cached_property
    def adjacency_T(self) -> Tensor:
        """``C x C`` teacher adjacency (no gradient)."""
        with torch.no_grad():
            return self._adjacency(self.teacher, 'rows_T')

    @cached_property
    def laplacian_S(self) -> Tensor:
        """``C x C`` student Laplacian (differentiable)."""
        with no_autocast(self.student):
            return normalized_laplacian(self.adjacency_S, self.laplacian_eps)

    @cached_property
    def laplacian_T(self) -> Tensor:
        """``C x C`` teacher Laplacian (no gradient)."""
        with torch.no_grad(), no_autocast(self.teacher):
            return normalized_laplacian(self.adjacency_T, self.laplacian_eps)

    def check_k(self, k: int) -> None:
        """Raise unless ``1 <= k < C``."""
        if not 1 <= k < self.num_channels:
            raise ValueError(f'k must be in [1, C - 1] = [1, '
                             f'{self.num_channels - 1}], got k={k}')

    def set_teacher_eigh(self, k: int, values: Tensor,
                         vectors: Tensor) -> None:
        """Cache the spectrum from a full eigendecomposition of ``L^T``
        (``C`` values ascending, ``C x C`` vectors)."""
        self._spectra[k] = Spectrum(
            values=values[1:k + 1], vectors=vectors[:, 1:k + 1])

    def teacher_spectrum(self, k: int) -> Spectrum:
        """The ``k`` eigenpairs of ``L^T`` after the trivial one (cached)."""
        self.check_k(k)
        if k not in self._spectra:
            batch_teacher_spectra([self], k)
        return self._spectra[k]


def batch_teacher_spectra(pairs: Sequence[CRGPair], k: int) -> None:
    """Fill the teacher-spectrum caches of several levels with one
    ``torch.linalg.eigh`` call per group of levels that share ``C``, dtype
    and device (all levels of an FPN): the Laplacians are stacked, which
    saves a solver launch per level (most on a GPU).

    Args:
        pairs (Sequence[CRGPair]): The levels of one step.
        k (int): Number of eigenpairs after the trivial one.
    """
    groups: Dict[tuple, List[CRGPair]] = {}
    for pair in pairs:
        pair.check_k(k)
        if k not in pair._spectra:
            key = (pair.num_channels, pair.teacher.dtype,
                   pair.teacher.device)
            groups.setdefault(key, []).append(pair)
    for group in groups.values():
        with torch.no_grad(), no_autocast(group[0].teacher):
            values, vectors = torch.linalg.eigh(
                torch.stack([p.laplacian_T for p in group]))
        for pair, val, vec in zip(group, values, vectors):
            pair.set_teacher_eigh(k, val, vec)
