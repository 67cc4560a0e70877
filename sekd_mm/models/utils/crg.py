# Copyright (c) sekd-mm contributors. All rights reserved.
"""The project's graph maths: the Channels Relational Graph (CRG) of a pair
of feature maps, its Laplacian and spectrum, and the Pearson correlation
that both SEKD's channel graph and EGA's instance graph use.

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
  teacher's normalized Laplacian, in ``groups`` bands (the paper's groups);
* scope: one graph per level over the whole map (``cells = 1``); ``cells =
  n`` builds the edges and the spectrum on each window of an ``n x n`` grid
  instead (local graphs, ICKD's grid-level correlation), and
  ``box_graph`` builds them over the pixels inside the ground-truth boxes
  only (object-level graphs); ``edge_relation = 'cka'`` compares the
  student's own map (before its connector) with the teacher's through the
  CKA of their two CRGs, a relation whose channel counts need not match;
  ``spectral = 'eigvals'`` matches the ``k`` low eigenvalues of the two
  Laplacians instead of the teacher's eigenvectors (a spectrum that needs
  no channel-to-channel correspondence), and ``'eigvals_own'`` takes the
  student's from its own map, before its connector (a spectrum whose
  channel counts need not match). All four are candidates
  (docs/design_log.md); the vertices stay as shipped in each.

All graph arithmetic runs in float32 (float64 for float64 inputs) with
autocast disabled, so half-precision training never reaches the
eigensolver; every map is divided by its detached max-abs value before a
correlation, which changes no value or gradient but keeps 1e-8 and 1e8
magnitudes inside float range.
"""
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

Band = Tuple[int, int]


@dataclass(frozen=True)
class SEKDDesign:
    """The shipped SEKD design: the one source of the defaults of the
    losses (:class:`~sekd_mm.models.CRGVertexLoss`, ...), of
    :class:`~sekd_mm.models.SEKDDistiller` and of the configs' SEKD spec
    (``configs/_base_/distill/sekd_fpn256.py``).

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
        cells (int): the edges and the spectrum are built on every window
            of a ``cells x cells`` grid over each map (one graph per window,
            ``L_E`` and ``L_S`` averaged over windows); 1 is one graph per
            map.
        box_graph (bool): the edges and the spectrum count only the
            pixels inside the ground-truth boxes (:func:`box_mask`; the
            boxes reach the distiller through ``DetFpnTeacherDistill``).
        edge_relation (str): ``'pearson'`` matches the edges; ``'cka'``
            makes ``L_E = 1 - CKA`` of the student's map before its
            connector and the teacher's map (:func:`crg_cka`).
        spectral (str): ``'embedding'`` matches the teacher's spectral
            embedding (its eigenvectors); ``'eigvals'`` matches the ``k``
            low eigenvalues of the two Laplacians, which no relabelling of
            the student's channels alone changes; ``'eigvals_own'`` takes
            the student's Laplacian from its map before its connector
            (``C_s x C_s``, ``k < C_s``).
    """
    alpha: float = 1.5
    beta: float = 2.25
    gamma: float = 2.25
    tau: float = 0.5
    spatial_attention: bool = False
    channel_attention: bool = False
    k: int = 8
    groups: int = 1
    cells: int = 1
    box_graph: bool = False
    edge_relation: str = 'pearson'
    spectral: str = 'embedding'

    #: Design candidates under study (docs/design_log.md), off in the
    #: shipped design: :meth:`spec` leaves them out, so a config carries
    #: one only when it tries it.
    CANDIDATES: ClassVar[Tuple[str, ...]] = ('cells', 'box_graph',
                                             'edge_relation', 'spectral')

    def spec(self) -> dict:
        """The fields of the design, candidates left out, as the ``sekd``
        dict of a distiller config."""
        return {key: value for key, value in asdict(self).items()
                if key not in self.CANDIDATES}


#: The design the losses, the distiller and the configs default to.
SHIPPED = SEKDDesign()


# ---------------------------------------------------------------------------
# precision and input checks
# ---------------------------------------------------------------------------
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
# Pearson correlation (SEKD's edges, SEKD's vertices, EGA's edges)
# ---------------------------------------------------------------------------
def standardize_rows(x: Tensor,
                     weights: Optional[Tensor] = None,
                     eps: float = 1e-8) -> Tensor:
    """Centre each row and scale it to unit L2 norm, so that the Pearson
    correlation of two rows is their dot product.

    ``z_r = sqrt(w) (x_r - mu_r) / |sqrt(w) (x_r - mu_r)|`` with ``mu_r``
    the ``w``-weighted mean of row ``r`` (plain mean without weights). Each
    row is first divided by its detached max-abs value (Pearson correlation
    is invariant to that, so values and gradients do not change; a
    constant row becomes exactly constant). A row whose centred norm after
    the rescaling is ``<= eps`` (zero variance) becomes the zero vector and
    passes no gradient: its correlation is undefined (0 / 0), so it is
    defined as 0 with every row, itself included. A row holding NaN or inf
    stays non-finite. Weights that are all zero make every row zero.

    Args:
        x (Tensor): ``... x N x D`` rows, in the compute dtype.
        weights (Tensor, optional): ``D`` non-negative sample weights (the
            spatial attention), shared by every row.
        eps (float): Zero-variance threshold on the rescaled centred norm.

    Returns:
        Tensor: Same shape as ``x``, centred unit rows (zero rows for
        constant ones).
    """
    scale = x.detach().abs().amax(dim=-1, keepdim=True)
    x = x / torch.where(scale > 0, scale, torch.ones_like(scale))
    if weights is None:
        xc = x - x.mean(dim=-1, keepdim=True)
    else:
        # weights that are all 0 (e.g. a window the attention ignores) give
        # zero rows, not 0 / 0
        total = weights.sum().clamp_min(torch.finfo(x.dtype).tiny)
        mean = (x * weights).sum(-1, keepdim=True) / total
        xc = (x - mean) * weights.sqrt()
    norm = torch.linalg.vector_norm(xc, dim=-1, keepdim=True)
    # not `norm > eps`: a NaN row must stay NaN (so that a corrupt step is
    # caught by SEKDDistiller's finite check), not become zero
    valid = ~(norm <= eps)
    # the norm's backward divides by the norm: where() keeps 0 out of it
    # (no inf * 0 = NaN); the per-row factor is 0 for a zero-variance row,
    # so a single full-size multiply makes the rows
    safe = torch.where(valid, norm, torch.ones_like(norm))
    return xc * (valid / safe)


def pearson_matrix(a: Tensor,
                   b: Optional[Tensor] = None,
                   weights: Optional[Tensor] = None,
                   eps: float = 1e-8) -> Tensor:
    """Pearson correlation between every row of ``a`` and every row of ``b``.

    ``P[i, j] = sum_d (a_id - mean a_i)(b_jd - mean b_j)
    / (|a_i - mean a_i| |b_j - mean b_j|)`` (``w``-weighted with
    ``weights``): EGA's edge weight (poster, seed 002) between images, and
    SEKD's edge weight between channels. ``pearson_matrix(a)`` is
    symmetric with ones on the diagonal, except that a zero-variance row
    (e.g. any row when ``D = 1``) has correlation 0 with every row, itself
    included, and passes no gradient (:func:`standardize_rows`). Equals
    ``numpy.corrcoef`` otherwise.

    Computed in float32 (float64 if an input is float64) with autocast
    disabled.

    Args:
        a (Tensor): ``N_a x D``.
        b (Tensor, optional): ``N_b x D``. Defaults to ``a``.
        weights (Tensor, optional): ``D`` non-negative sample weights.
        eps (float): Zero-variance threshold, relative to each row's max-abs
            value.

    Returns:
        Tensor: ``N_a x N_b`` correlations in ``[-1, 1]`` (up to rounding).
    """
    other = a if b is None else b
    if not (isinstance(a, Tensor) and isinstance(other, Tensor)):
        raise TypeError(f'pearson_matrix takes tensors, got '
                        f'{type(a).__name__} and {type(other).__name__}')
    if a.dim() != 2 or other.dim() != 2 or a.shape[1] != other.shape[1]:
        raise ValueError('pearson_matrix takes N x D rows of the same length '
                         f'D, got {tuple(a.shape)} and {tuple(other.shape)}')
    dtype = compute_dtype(a, other)
    with no_autocast(a):
        w = None if weights is None else weights.detach().to(dtype)
        za = standardize_rows(a.to(dtype), w, eps)
        zb = za if b is None else standardize_rows(other.to(dtype), w, eps)
        return za @ zb.transpose(0, 1)


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


def grid_windows(x: Tensor, cells: int) -> List[Tensor]:
    """The windows of a ``cells x cells`` grid over the last two dims of
    ``x`` (row-major, near-equal sizes, :func:`torch.tensor_split`); a map
    smaller than the grid gets one window per row / column it has."""
    if cells < 1:
        raise ValueError(f'cells must be >= 1, got {cells}')
    h, w = x.shape[-2:]
    return [window
            for rows in torch.tensor_split(x, min(cells, h), dim=-2)
            for window in torch.tensor_split(rows, min(cells, w), dim=-1)]


def channel_adjacency(feat: Tensor,
                      spatial: Optional[Tensor] = None,
                      cells: int = 1,
                      rows: Optional[Tensor] = None) -> Tensor:
    """The CRG's edges: Pearson correlation between the channels of a
    feature map, each channel flattened over ``(B, H, W)``, weighted by
    the spatial attention ``spatial`` if given (a weighted Pearson
    correlation). A constant channel gets a zero row and column. With
    ``cells > 1``, one graph per window of a ``cells x cells`` grid, each
    channel flattened over ``(B, window)`` (:func:`grid_windows`).

    Args:
        feat (Tensor): ``B x C x H x W`` in float32/float64.
        spatial (Tensor, optional): ``B x H x W`` spatial attention.
        cells (int): grid size; 1 is one graph per map.
        rows (Tensor, optional): ``standardize_rows(channel_rows(feat))``
            when the caller has it (e.g. from the vertices), for one graph
            per map without weights: the graph is then its Gram matrix,
            and the rows are not standardised again.

    Returns:
        Tensor: ``G x C x C`` (``G = 1`` graph per level and step, or one
        per window), entries in ``[-1, 1]``. Costs ``C^2 B H W``.
    """
    if rows is not None:
        if cells != 1 or spatial is not None:
            raise ValueError('channel_adjacency: rows are the unweighted '
                             'rows of the whole map; pass them only with '
                             'cells=1 and no spatial weights')
        adj = (rows @ rows.transpose(0, 1)).unsqueeze(0)
        return 0.5 * (adj + adj.transpose(-1, -2))
    feats = grid_windows(feat, cells)
    weights = [None] * len(feats) if spatial is None else [
        window.reshape(-1) for window in grid_windows(spatial, cells)]
    adj = torch.stack([
        pearson_matrix(channel_rows(window), weights=weight)
        for window, weight in zip(feats, weights)
    ])
    return 0.5 * (adj + adj.transpose(-1, -2))


def box_mask(boxes: Sequence[Tensor], input_hw: Tuple[int, int],
             feat_hw: Tuple[int, int]) -> Tensor:
    """The cells of a feature map inside any ground-truth box of its image.

    A box ``(x1, y1, x2, y2)`` covers the cells ``[floor(y1 s), ceil(y2 s))
    x [floor(x1 s), ceil(x2 s))`` (``s`` = feature size / input size), so
    every box covers at least one cell on every level.

    Args:
        boxes (Sequence[Tensor]): Per image, ``N_b x 4`` boxes in input
            (padded batch) pixels; ``N_b`` may be 0.
        input_hw (tuple[int, int]): Height and width of the batch input.
        feat_hw (tuple[int, int]): Height and width of the feature map.

    Returns:
        Tensor: ``B x H x W`` float mask, 1 inside a box, 0 elsewhere (an
        image without boxes is all 0).
    """
    (in_h, in_w), (h, w) = input_hw, feat_hw
    masks = []
    for box in boxes:
        box = box.detach().to(torch.float64).reshape(-1, 4)
        ys = torch.arange(h, device=box.device)[None, :, None]
        xs = torch.arange(w, device=box.device)[None, None, :]
        y0 = (box[:, 1] * h / in_h).floor().clamp(0, h - 1)
        x0 = (box[:, 0] * w / in_w).floor().clamp(0, w - 1)
        y1 = torch.maximum((box[:, 3] * h / in_h).ceil().clamp(max=h), y0 + 1)
        x1 = torch.maximum((box[:, 2] * w / in_w).ceil().clamp(max=w), x0 + 1)
        inside = ((ys >= y0[:, None, None]) & (ys < y1[:, None, None]) &
                  (xs >= x0[:, None, None]) & (xs < x1[:, None, None]))
        masks.append(inside.any(0))
    return torch.stack(masks).float()


def crg_cka(feat_s: Tensor, feat_t: Tensor) -> Tensor:
    """Linear CKA of two maps, built from their CRGs: with ``Z`` the
    channels standardised over ``(B, H, W)`` (unit rows, :func:`
    standardize_rows`), ``A = Z Z^T`` is a map's CRG (Pearson edges, ones
    on the diagonal) and

    ``CKA = |Z_S Z_T^T|_F^2 / (|A_S|_F |A_T|_F)``

    (Kornblith et al., ICML 2019, on standardised features). Invariant to
    any orthogonal map and positive scaling of either map's channels, so
    the channel counts may differ: no connector is needed. A map whose
    channels are all constant has CKA 0 with anything.

    Args:
        feat_s (Tensor): ``B x C_s x H x W``.
        feat_t (Tensor): ``B x C_t x H x W``.

    Returns:
        Tensor: scalar in ``[0, 1]``.
    """
    if feat_s.shape[0] != feat_t.shape[0] or \
            feat_s.shape[2:] != feat_t.shape[2:]:
        raise ValueError('crg_cka needs maps of the same batch and size, got '
                         f'{tuple(feat_s.shape)} and {tuple(feat_t.shape)}')
    dtype = compute_dtype(feat_s, feat_t)
    with no_autocast(feat_s):
        z_s = standardize_rows(channel_rows(feat_s.to(dtype)))
        z_t = standardize_rows(channel_rows(feat_t.to(dtype)))
        sq_s = (z_s @ z_s.T).square().sum()
        sq_t = (z_t @ z_t.T).square().sum()
        # one sqrt of the product: exactly 1 at S == T (sqrt(x * x) == x in
        # IEEE arithmetic); clamp_min keeps the gradient finite on an
        # all-zero graph
        denom = (sq_s * sq_t).clamp_min(torch.finfo(dtype).tiny).sqrt()
        return (z_s @ z_t.T).square().sum() / denom


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
        adjacency (Tensor): ``G x C x C`` symmetric adjacency in ``[-1, 1]``.
        eps (float): Degree below which a channel counts as isolated.

    Returns:
        Tensor: ``G x C x C`` symmetric Laplacian with eigenvalues in
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
        values (Tensor): ``G x k`` eigenvalues, ascending (``G`` graphs).
        vectors (Tensor): ``G x C x k`` orthonormal eigenvectors.
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
        cells (int): Graphs on a ``cells x cells`` grid of windows (1: one
            graph for the map).
        region (Tensor, optional): ``B x H x W`` non-negative weights of the
            graphs' samples (e.g. :func:`box_mask`: object-level graphs),
            times the spatial attention when that is on.
        student_own (Tensor, optional): the student's map before its
            connector, ``B x C_s x H x W`` (read by ``edge_relation='cka'``
            and ``spectral='eigvals_own'``; defaults to ``preds_S``).
        laplacian_eps (float): Degree floor for isolated channels.
    """

    def __init__(self,
                 preds_S: Tensor,
                 preds_T: Tensor,
                 tau: float = SHIPPED.tau,
                 spatial_attention: bool = SHIPPED.spatial_attention,
                 cells: int = SHIPPED.cells,
                 region: Optional[Tensor] = None,
                 student_own: Optional[Tensor] = None,
                 laplacian_eps: float = 1e-6) -> None:
        check_pair(preds_S, preds_T)
        dtype = compute_dtype(preds_S, preds_T)
        self.student = preds_S.to(dtype)
        self.teacher = preds_T.detach().to(dtype)
        self.tau = tau
        self.spatial_attention = spatial_attention
        self.cells = cells
        if region is not None and region.shape != (
                preds_T.shape[0], *preds_T.shape[2:]):
            raise ValueError(f'region must be B x H x W = '
                             f'{(preds_T.shape[0], *preds_T.shape[2:])}, '
                             f'got {tuple(region.shape)}')
        self.region = None if region is None else region.detach().to(dtype)
        self.student_own = self.student if student_own is None else \
            student_own
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
        whole-map graph are both made of."""
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
        """Channel attention of the graph (mean over the batch), ``1 x C``."""
        return self.attention.channel.mean(0, keepdim=True)

    def _adjacency(self, feat: Tensor, rows: str) -> Tensor:
        """The graph of ``feat``; one graph of the whole map without
        weights is the Gram matrix of its rows (the attribute ``rows``),
        which the vertex term shares."""
        spatial = self.attention.spatial if self.spatial_attention else None
        if self.region is not None:
            spatial = self.region if spatial is None else spatial * self.region
        plain = spatial is None and self.cells == 1
        with no_autocast(feat):
            return channel_adjacency(
                feat, spatial, self.cells,
                rows=getattr(self, rows) if plain else None)

    @cached_property
    def adjacency_S(self) -> Tensor:
        """``G x C x C`` student adjacency (differentiable)."""
        return self._adjacency(self.student, 'rows_S')

    @cached_property
    def adjacency_T(self) -> Tensor:
        """``G x C x C`` teacher adjacency (no gradient)."""
        with torch.no_grad():
            return self._adjacency(self.teacher, 'rows_T')

    @cached_property
    def laplacian_S(self) -> Tensor:
        with no_autocast(self.student):
            return normalized_laplacian(self.adjacency_S, self.laplacian_eps)

    @cached_property
    def rows_S_own(self) -> Tensor:
        """The rows (:attr:`rows_S`) of the student's own map, ``C_s x
        BHW``."""
        own = self.student_own.to(self.student.dtype)
        with no_autocast(own):
            return standardize_rows(channel_rows(own))

    @cached_property
    def laplacian_S_own(self) -> Tensor:
        """``G x C_s x C_s`` Laplacian of the student's own map (before its
        connector), on the same samples as :attr:`laplacian_S`."""
        own = self.student_own.to(self.student.dtype)
        with no_autocast(own):
            return normalized_laplacian(
                self._adjacency(own, 'rows_S_own'), self.laplacian_eps)

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
        (``G x C`` values ascending, ``G x C x C`` vectors)."""
        self._spectra[k] = Spectrum(
            values=values[:, 1:k + 1], vectors=vectors[:, :, 1:k + 1])

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
            laps = torch.cat([p.laplacian_T for p in group])
            values, vectors = torch.linalg.eigh(laps)
        sizes = [p.laplacian_T.shape[0] for p in group]
        for pair, val, vec in zip(group, values.split(sizes),
                                  vectors.split(sizes)):
            pair.set_teacher_eigh(k, val, vec)
