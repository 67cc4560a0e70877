# Copyright (c) sekd-mm contributors. All rights reserved.
"""Channels Relational Graph (CRG) of a pair of feature maps.

SEKD (Wang et al., arXiv:2405.08547) treats the channels of a feature map as
the vertices of a graph whose weighted edges are the cosine similarities of
the flattened channel maps, and aligns student and teacher at three levels:
vertices, edges and the spectral embedding of the graph Laplacian, under
attention guidance. This module is the one place where the graphs are
built; the three losses only read them (``sekd_mm/models/losses``).

Conventions (our decisions, with the measurements behind them in
``docs/method.md``):

* Attention (mean 1 per image, no gradient), from the teacher
  (``attention='teacher'``) or the mean of the teacher's and the
  (detached) student's (``'both'``): ``a_s = HW * softmax_hw(mean_c |F| /
  tau)`` and ``a_c = C * softmax_c(mean_hw |F| / tau)``. ``'gt'`` takes
  ``a_s`` from the ground-truth boxes instead (FGD-style,
  :func:`box_attention`) and ``a_c`` from the teacher.
* Vertex features: ``'standard'`` standardises each channel over
  ``(B, H, W)`` (PKD-style), ``'softmax'`` turns each channel into a spatial
  distribution ``softmax_hw(F / vertex_tau)`` (CWD-style), ``'raw'`` keeps the
  activations.
* Edge vectors are ``vec(sqrt(a_s) * (F_c - mu_c))`` with ``mu_c`` the
  attention-weighted spatial mean when ``center_edges`` (so ``A`` is a
  weighted Pearson correlation and a mean activation shared by all
  channels does not make every pair similar), ``vec(sqrt(a_s) * F_c)``
  otherwise; one ``C x C`` graph per image (``graph='image'``) or per level
  over the whole batch (``graph='batch'``). The configs use standardised
  vertices, Pearson edges, the batch graph and no attention.
* Each image's map is divided by its (detached) max-abs value before the
  cosine; this leaves cosine values and gradients unchanged but keeps
  tiny and huge magnitudes inside float range.
* All graph arithmetic runs in float32 (float64 if given float64) with
  autocast disabled; the eigensolver runs in ``eig_dtype`` (float32 by
  default, float64 for float64 inputs), never in half precision.
"""
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, List, Optional, Sequence, Tuple

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


ATTENTION_SOURCES = ('teacher', 'both', 'gt')
VERTEX_MODES = ('raw', 'standard', 'softmax')
GRAPH_SCOPES = ('image', 'batch')


def check_design(attention: str, vertex: str, vertex_tau: float,
                 graph: str = 'image') -> None:
    """Raise a ``ValueError`` naming the valid values of the design keys."""
    if graph not in GRAPH_SCOPES:
        raise ValueError(f'graph must be one of {GRAPH_SCOPES}, got '
                         f'{graph!r}')
    if attention not in ATTENTION_SOURCES:
        raise ValueError(f'attention must be one of {ATTENTION_SOURCES}, '
                         f'got {attention!r}')
    if vertex not in VERTEX_MODES:
        raise ValueError(f'vertex must be one of {VERTEX_MODES}, got '
                         f'{vertex!r}')
    if vertex_tau <= 0:
        raise ValueError(f'vertex_tau must be > 0, got {vertex_tau}')


@dataclass
class CRGAttention:
    """Attention maps of a level, mean 1 per image.

    Attributes:
        spatial (Tensor): ``B x H x W``.
        channel (Tensor): ``B x C``.
    """
    spatial: Tensor
    channel: Tensor

    @classmethod
    @torch.no_grad()
    def from_map(cls, feat: Tensor, tau: float) -> 'CRGAttention':
        """Attention of one ``B x C x H x W`` map (no gradient)."""
        b, c, h, w = feat.shape
        mag = feat.detach().to(compute_dtype(feat)).abs()
        spatial = h * w * F.softmax(
            mag.mean(1).reshape(b, -1) / tau, dim=1).reshape(b, h, w)
        channel = c * F.softmax(mag.mean((2, 3)) / tau, dim=1)
        return cls(spatial=spatial, channel=channel)

    @classmethod
    def from_teacher(cls, feat_t: Tensor, tau: float) -> 'CRGAttention':
        """Teacher attention (FGD-style)."""
        return cls.from_map(feat_t, tau)

    @classmethod
    def from_both(cls, feat_s: Tensor, feat_t: Tensor,
                  tau: float) -> 'CRGAttention':
        """Mean of the teacher's and the detached student's attention, so
        that positions and channels the student over-activates are also
        corrected (still mean 1, no gradient)."""
        att_t = cls.from_map(feat_t, tau)
        att_s = cls.from_map(feat_s, tau)
        return cls(spatial=0.5 * (att_t.spatial + att_s.spatial),
                   channel=0.5 * (att_t.channel + att_s.channel))


#: Backwards-compatible name of :class:`CRGAttention`.
TeacherAttention = CRGAttention


@torch.no_grad()
def box_attention(boxes: Sequence[Tensor],
                  input_hw: Tuple[int, int],
                  feat_hw: Tuple[int, int],
                  fg_weight: float = 2.0,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Spatial attention from ground-truth boxes, FGD-style (Yang et al.,
    "Focal and Global Knowledge Distillation for Detectors", CVPR 2022).

    Each box covers the feature cells ``[floor(y1 s), ceil(y2 s)) x
    [floor(x1 s), ceil(x2 s))`` (``s`` = feature size / input size, so a
    box covers at least one cell on every level); a foreground cell gets
    ``1 / area`` of the smallest box covering it (every object gets the same
    total weight, whatever its size), the background cells share a total of
    1; then ``m = fg_weight * fg + bg`` is scaled to mean 1 per image. An
    image without boxes gets uniform attention.

    Args:
        boxes (Sequence[Tensor]): Per image, ``N_b x 4`` boxes ``(x1, y1,
            x2, y2)`` in input (padded batch) pixels.
        input_hw (tuple[int, int]): Height and width of the batch input.
        feat_hw (tuple[int, int]): Height and width of the feature map.
        fg_weight (float): Weight of the foreground total against the
            background's (FGD's ``alpha / beta``, 2 for RetinaNet).
        dtype (torch.dtype): Output dtype.

    Returns:
        Tensor: ``B x H x W``, non-negative, mean 1 per image.
    """
    (in_h, in_w), (h, w) = input_hw, feat_hw
    device = boxes[0].device if len(boxes) else torch.device('cpu')
    ys = torch.arange(h, device=device)[None, :, None]
    xs = torch.arange(w, device=device)[None, None, :]
    out = []
    for box in boxes:
        box = box.detach().to(torch.float64).reshape(-1, 4)
        y0 = (box[:, 1] * h / in_h).floor().clamp(0, h - 1)
        x0 = (box[:, 0] * w / in_w).floor().clamp(0, w - 1)
        y1 = torch.maximum((box[:, 3] * h / in_h).ceil().clamp(max=h), y0 + 1)
        x1 = torch.maximum((box[:, 2] * w / in_w).ceil().clamp(max=w), x0 + 1)
        inside = ((ys >= y0[:, None, None]) & (ys < y1[:, None, None]) &
                  (xs >= x0[:, None, None]) & (xs < x1[:, None, None]))
        area = ((y1 - y0) * (x1 - x0))[:, None, None]
        fg = (inside / area).amax(0) if len(box) else torch.zeros(
            h, w, dtype=torch.float64, device=device)
        bg = (fg == 0).to(fg.dtype)
        bg = bg / bg.sum().clamp(min=1)
        mask = fg_weight * fg + bg
        out.append(h * w * mask / mask.sum())
    return torch.stack(out).to(dtype)


def standardize_channels(feat: Tensor, eps: float = 1e-6) -> Tensor:
    """Standardise each channel over ``(B, H, W)`` (PKD's normalisation).

    Each map is first divided by its detached max-abs value, so ``eps`` is
    relative to the map's scale and 1e-8 or 1e6 magnitudes behave alike. A
    constant channel becomes 0.

    Args:
        feat (Tensor): ``B x C x H x W`` in float32/float64.

    Returns:
        Tensor: same shape, zero mean and (up to ``eps``) unit variance per
        channel.
    """
    scale = feat.detach().abs().amax()
    feat = feat / torch.where(scale > 0, scale, torch.ones_like(scale))
    mean = feat.mean((0, 2, 3), keepdim=True)
    var = (feat - mean).square().mean((0, 2, 3), keepdim=True)
    return (feat - mean) / (var + eps * eps).sqrt()


def spatial_log_softmax(feat: Tensor, tau: float) -> Tensor:
    """``log softmax_hw(F / tau)`` per image and channel (CWD's vertex
    distribution), shape ``B x C x HW``."""
    b, c = feat.shape[:2]
    return F.log_softmax(feat.reshape(b, c, -1) / tau, dim=-1)


def channel_adjacency(feat: Tensor,
                      spatial: Optional[Tensor] = None,
                      center: bool = False,
                      eps: float = 1e-12) -> Tensor:
    """Cosine-similarity adjacency between the channels of a feature map.

    ``A_ij = <v_i, v_j> / (|v_i| |v_j|)`` with ``v_i = vec(sqrt(a_s) * F_i)``,
    or ``vec(sqrt(a_s) * (F_i - mu_i))`` with the ``a_s``-weighted spatial
    mean ``mu_i`` when ``center`` (a weighted Pearson correlation). An
    all-zero (or, centred, constant) channel gets a zero row and column.

    Args:
        feat (Tensor): ``B x C x H x W`` in float32/float64.
        spatial (Tensor, optional): ``B x H x W`` spatial attention weights
            (mean 1 per image).
        center (bool): Subtract each channel's weighted spatial mean.
        eps (float): Norm floor of :func:`torch.nn.functional.normalize`.

    Returns:
        Tensor: ``B x C x C``, entries in ``[-1, 1]``. Costs ``B C^2 HW``.
    """
    b, c = feat.shape[:2]
    vec = feat.reshape(b, c, -1)
    scale = vec.detach().abs().amax(dim=(1, 2), keepdim=True)
    vec = vec / torch.where(scale > 0, scale, torch.ones_like(scale))
    weights = None if spatial is None else spatial.reshape(b, 1, -1)
    if center:
        mean = vec.mean(-1, keepdim=True) if weights is None else \
            (vec * weights).sum(-1, keepdim=True) / weights.sum(
                -1, keepdim=True)
        vec = vec - mean
    if weights is not None:
        vec = vec * weights.sqrt()
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
    the attention, vertex features, adjacency, Laplacian or teacher
    spectrum of a level in a step, each is computed once. The teacher side
    never carries gradient.

    Args:
        preds_S (Tensor): Student map ``B x C x H x W`` (after connector).
        preds_T (Tensor): Teacher map of the same shape.
        tau (float): Attention temperature.
        spatial_graph (bool): Weight edge vectors by spatial attention.
        eig_dtype (torch.dtype): Precision of the eigensolvers (raised to
            float64 for float64 inputs).
        laplacian_eps (float): Degree floor for isolated channels.
        attention (str): ``'teacher'``, ``'both'`` (see
            :class:`CRGAttention`) or ``'gt'`` (spatial attention
            ``gt_spatial``, channel attention from the teacher).
        vertex (str): Vertex features, one of :data:`VERTEX_MODES`.
        vertex_tau (float): Temperature of the ``'softmax'`` vertices.
        center_edges (bool): Centre channel maps before the cosine.
        graph (str): ``'image'``: one ``C x C`` graph per image;
            ``'batch'``: one graph per level and step, each channel's
            vector flattened over ``(B, H, W)`` (more samples per edge on
            small levels, one eigensolve instead of ``B``).
        gt_spatial (Tensor, optional): ``B x H x W`` spatial attention from
            the ground-truth boxes (:func:`box_attention`); required by
            ``attention='gt'``.
    """

    def __init__(self,
                 preds_S: Tensor,
                 preds_T: Tensor,
                 tau: float = 0.5,
                 spatial_graph: bool = True,
                 eig_dtype: torch.dtype = torch.float32,
                 laplacian_eps: float = 1e-6,
                 attention: str = 'teacher',
                 vertex: str = 'standard',
                 vertex_tau: float = 1.0,
                 center_edges: bool = True,
                 graph: str = 'image',
                 gt_spatial: Optional[Tensor] = None) -> None:
        check_pair(preds_S, preds_T)
        check_design(attention, vertex, vertex_tau, graph)
        b, _, h, w = preds_T.shape
        if attention == 'gt' and gt_spatial is None:
            raise ValueError(
                "attention='gt' needs the ground-truth boxes: use it through "
                'SEKDDistiller inside DetFpnTeacherDistill, which passes '
                "them, or choose attention='teacher'.")
        if gt_spatial is not None and tuple(gt_spatial.shape) != (b, h, w):
            raise ValueError(f'gt_spatial must be B x H x W = {(b, h, w)}, '
                             f'got {tuple(gt_spatial.shape)}')
        dtype = compute_dtype(preds_S, preds_T)
        self.student = preds_S.to(dtype)
        self.teacher = preds_T.detach().to(dtype)
        self.tau = tau
        self.spatial_graph = spatial_graph
        self.eig_dtype = torch.promote_types(eig_dtype, dtype)
        self.laplacian_eps = laplacian_eps
        self.attention_source = attention
        self.vertex = vertex
        self.vertex_tau = vertex_tau
        self.center_edges = center_edges
        self.graph = graph
        self.gt_spatial = None if gt_spatial is None else \
            gt_spatial.detach().to(dtype)
        self._spectra: Dict[int, Spectrum] = {}

    @property
    def num_channels(self) -> int:
        return self.teacher.shape[1]

    @cached_property
    def attention(self) -> CRGAttention:
        if self.attention_source == 'both':
            return CRGAttention.from_both(self.student, self.teacher,
                                          self.tau)
        teacher = CRGAttention.from_teacher(self.teacher, self.tau)
        if self.attention_source == 'gt':
            return CRGAttention(spatial=self.gt_spatial,
                                channel=teacher.channel)
        return teacher

    def _vertices(self, feat: Tensor) -> Tensor:
        with no_autocast(feat):
            if self.vertex == 'standard':
                return standardize_channels(feat)
            if self.vertex == 'softmax':
                return spatial_log_softmax(feat, self.vertex_tau)
            return feat

    @cached_property
    def vertices_S(self) -> Tensor:
        """Student vertex features: ``B x C x H x W`` (``'raw'``,
        ``'standard'``) or ``B x C x HW`` log-probabilities
        (``'softmax'``)."""
        return self._vertices(self.student)

    @cached_property
    def vertices_T(self) -> Tensor:
        """Teacher vertex features (no gradient), as :attr:`vertices_S`."""
        with torch.no_grad():
            return self._vertices(self.teacher)

    @property
    def num_graphs(self) -> int:
        """``B`` graphs per level (``graph='image'``) or 1 (``'batch'``)."""
        return self.teacher.shape[0] if self.graph == 'image' else 1

    @property
    def graph_channel_weights(self) -> Tensor:
        """Channel attention of each graph, ``num_graphs x C``."""
        channel = self.attention.channel
        return channel if self.graph == 'image' else channel.mean(
            0, keepdim=True)

    def _adjacency(self, feat: Tensor) -> Tensor:
        spatial = self.attention.spatial if self.spatial_graph else None
        if self.graph == 'batch':  # 1 x C x (B H) x W: one graph
            b, c, h, w = feat.shape
            feat = feat.transpose(0, 1).reshape(1, c, b * h, w)
            if spatial is not None:
                spatial = spatial.reshape(1, b * h, w)
        with no_autocast(feat):
            return channel_adjacency(feat, spatial, self.center_edges)

    @cached_property
    def adjacency_S(self) -> Tensor:
        """``num_graphs x C x C`` student adjacency (differentiable)."""
        return self._adjacency(self.student)

    @cached_property
    def adjacency_T(self) -> Tensor:
        """``num_graphs x C x C`` teacher adjacency (no gradient)."""
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

    def check_k(self, k: int) -> None:
        """Raise unless ``1 <= k < C``."""
        if not 1 <= k < self.num_channels:
            raise ValueError(f'k must be in [1, C - 1] = [1, '
                             f'{self.num_channels - 1}], got k={k}')

    def set_teacher_eigh(self, k: int, values: Tensor,
                         vectors: Tensor) -> None:
        """Cache the spectrum from a full eigendecomposition of ``L^T``
        (``B x C`` values ascending, ``B x C x C`` vectors)."""
        dtype = self.teacher.dtype
        self._spectra[k] = Spectrum(
            values=values[:, 1:k + 1].to(dtype),
            vectors=vectors[:, :, 1:k + 1].to(dtype))

    def teacher_spectrum(self, k: int) -> Spectrum:
        """The ``k`` eigenpairs of ``L^T`` after the trivial one (cached)."""
        self.check_k(k)
        if k not in self._spectra:
            batch_teacher_spectra([self], k)
        return self._spectra[k]


def batch_teacher_spectra(pairs: Sequence[CRGPair], k: int) -> None:
    """Fill the teacher-spectrum caches of several levels with one
    ``torch.linalg.eigh`` call per group of levels that share ``C``, device
    and ``eig_dtype`` (all levels of an FPN): the ``L x B`` Laplacians are
    stacked, which saves a solver launch per level (most on a GPU).

    Args:
        pairs (Sequence[CRGPair]): The levels of one step.
        k (int): Number of eigenpairs after the trivial one.
    """
    groups: Dict[tuple, List[CRGPair]] = {}
    for pair in pairs:
        pair.check_k(k)
        if k not in pair._spectra:
            key = (pair.num_channels, pair.eig_dtype, pair.teacher.device)
            groups.setdefault(key, []).append(pair)
    for (_, eig_dtype, _), group in groups.items():
        with torch.no_grad(), no_autocast(group[0].teacher):
            laps = torch.cat([p.laplacian_T.to(eig_dtype) for p in group])
            values, vectors = torch.linalg.eigh(laps)
        sizes = [p.num_graphs for p in group]
        for pair, val, vec in zip(group, values.split(sizes),
                                  vectors.split(sizes)):
            pair.set_teacher_eigh(k, val, vec)


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
