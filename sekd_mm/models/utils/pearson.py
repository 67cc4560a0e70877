# Copyright (c) sekd-mm contributors. All rights reserved.
"""Pearson correlation of rows, the one correlation of the project: SEKD's
vertices (channels standardised over the batch) and edges (channel
correlations) and EGA's edges (image correlations) all read it.

It runs in float32 (float64 for float64 inputs) with autocast disabled, so
half-precision training never reaches the graph maths; every row is divided
by its detached max-abs value first, which changes no value or gradient but
keeps 1e-8 and 1e8 magnitudes inside float range.
"""
from typing import Optional

import torch
from torch import Tensor


def compute_dtype(*xs: Tensor) -> torch.dtype:
    """float64 if any input is float64; everything else runs in float32."""
    if any(x.dtype == torch.float64 for x in xs):
        return torch.float64
    return torch.float32


def no_autocast(x: Tensor):
    """Context that disables autocast on ``x``'s device type."""
    return torch.autocast(device_type=x.device.type, enabled=False)


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
        # weights that are all 0 give zero rows, not 0 / 0
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
