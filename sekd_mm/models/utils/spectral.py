# Copyright (c) sekd-mm contributors. All rights reserved.
"""Graph Laplacian and spectral embedding of a Channels Relational Graph.

Spectral embedding (SE) is the third level that SEKD aligns (Wang et al.,
"Exploring Graph-based Knowledge: Multi-Level Feature Distillation via
Channels Relational Graph", arXiv:2405.08547): the low eigenvectors of the
graph Laplacian give a low-dimensional map of the graph's structure.

Everything here is batched over images (``B x C x C``) and runs in the
precision it is given; callers pass float32/float64, never half precision
(``torch.linalg.eigh`` has no half-precision kernel).
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor

Band = Tuple[int, int]


def normalized_laplacian(adjacency: Tensor, eps: float = 1e-6) -> Tensor:
    """Symmetric normalized Laplacian ``I - D^-1/2 W D^-1/2``.

    ``W = relu(A)`` with a zero diagonal, so that the graph has non-negative
    weights and no self loops. A channel whose degree is below ``eps`` is
    isolated: its row and column of ``D^-1/2 W D^-1/2`` are zero (``L_ii = 1``)
    and neither the value nor the gradient becomes NaN.

    Args:
        adjacency (Tensor): ``B x C x C`` symmetric adjacency (cosine
            similarities in ``[-1, 1]``).
        eps (float): Degree below which a channel counts as isolated.

    Returns:
        Tensor: ``B x C x C`` symmetric Laplacian with eigenvalues in
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


class _BandProjectors(torch.autograd.Function):
    """Projectors onto bands of eigenvectors, with a stable backward.

    Forward: ``P_g = U_g U_g^T`` for each band ``g`` of the eigenvectors of a
    symmetric ``L`` (eigenvalues ascending). ``P_g`` does not depend on the
    basis chosen inside the band, so signs and rotations of degenerate
    eigenvectors do not matter.

    Backward: first-order perturbation theory gives
    ``dL = U ((K + K^T) / 2) U^T`` with
    ``K[j, i] = 2 (U^T G U)[j, i] * f(l_i - l_j)`` for ``i`` in the band and
    ``j`` outside it, and zero elsewhere. Pairs inside one band cancel
    exactly, so degeneracies inside a band cost nothing, unlike
    ``torch.linalg.eigh``'s backward which divides by every eigengap.
    ``f(d) = d / (d^2 + eps)`` (Lorentzian broadening) keeps the gradient
    finite when an eigenvalue outside the band is degenerate with one inside;
    ``eps=0`` gives the exact ``1 / d``.
    """

    @staticmethod
    def forward(ctx, lap: Tensor, bands: Sequence[Band],
                eps: float) -> Tensor:
        evals, evecs = torch.linalg.eigh(lap)
        projs = torch.stack(
            [evecs[..., lo:hi] @ evecs[..., lo:hi].transpose(-1, -2)
             for lo, hi in bands], dim=1)
        ctx.save_for_backward(evals, evecs)
        ctx.bands, ctx.eps = tuple(bands), eps
        return projs

    @staticmethod
    def backward(ctx, grad_projs: Tensor):
        evals, evecs = ctx.saved_tensors
        c = evals.shape[-1]
        diff = evals.unsqueeze(-2) - evals.unsqueeze(-1)  # [j, i] = l_i - l_j
        inv_gap = diff / (diff * diff + ctx.eps) if ctx.eps > 0 else \
            torch.where(diff == 0, torch.zeros_like(diff), 1.0 / diff)
        grad_k = torch.zeros_like(diff)
        idx = torch.arange(c, device=evals.device)
        for g, (lo, hi) in enumerate(ctx.bands):
            grad = grad_projs[:, g]
            grad = 0.5 * (grad + grad.transpose(-1, -2))
            rotated = evecs.transpose(-1, -2) @ grad @ evecs
            inside = (idx >= lo) & (idx < hi)
            mask = (~inside).unsqueeze(-1) & inside.unsqueeze(-2)  # [j, i]
            grad_k = grad_k + 2 * rotated * inv_gap * mask
        grad_k = 0.5 * (grad_k + grad_k.transpose(-1, -2))
        grad_lap = evecs @ grad_k @ evecs.transpose(-1, -2)
        return grad_lap, None, None


def band_projectors(lap: Tensor, bands: Sequence[Band],
                    eps: float = 1e-6) -> Tensor:
    """Differentiable projectors onto bands of Laplacian eigenvectors.

    Args:
        lap (Tensor): ``B x C x C`` symmetric matrices.
        bands (Sequence[tuple[int, int]]): ``[lo, hi)`` eigenvector index
            ranges (eigenvalues in ascending order).
        eps (float): Lorentzian broadening of the eigengaps in the backward
            pass (see :class:`_BandProjectors`).

    Returns:
        Tensor: ``B x G x C x C`` projectors, one per band.
    """
    return _BandProjectors.apply(lap, tuple(bands), eps)
