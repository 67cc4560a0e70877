# Copyright (c) sekd-mm contributors. All rights reserved.
"""Properties of the SEKD losses required by METHOD.md section 1, on the
shipped design (the losses' defaults) and on each remaining switch: the
paper's attention guidance (spatial, channel, its temperature) and its
grouping of eigenvectors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sekd_mm.models import CRGEdgeLoss, CRGSpectralLoss, CRGVertexLoss
from sekd_mm.models.utils import (SHIPPED, CRGAttention, Spectrum,
                                  batch_teacher_spectra)
from sekd_mm.models.utils import crg as crg_module
from sekd_mm.models.utils import pearson_matrix, standardize_rows

SPATIAL = dict(spatial_attention=True)
CHANNEL = dict(channel_attention=True)
BOTH = dict(spatial_attention=True, channel_attention=True, tau=2.0)

#: The shipped design (default arguments) and each switch.
LOSSES = {
    'vertex': lambda: CRGVertexLoss(),
    'vertex_spatial': lambda: CRGVertexLoss(**SPATIAL),
    'vertex_channel': lambda: CRGVertexLoss(**CHANNEL),
    'vertex_attention_tau2': lambda: CRGVertexLoss(**BOTH),
    'edge': lambda: CRGEdgeLoss(),
    'edge_spatial': lambda: CRGEdgeLoss(**SPATIAL),
    'edge_channel': lambda: CRGEdgeLoss(**CHANNEL),
    'edge_attention_tau2': lambda: CRGEdgeLoss(**BOTH),
    'spectral': lambda: CRGSpectralLoss(),
    'spectral_spatial': lambda: CRGSpectralLoss(**SPATIAL),
    'spectral_groups': lambda: CRGSpectralLoss(k=4, groups=2),
}
SPECTRAL = [name for name in LOSSES if name.startswith('spectral')]
C = 10  # channels of the test maps: the shipped k = 8 needs C > 8


def maps(b=2, c=C, h=5, w=6, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(b, c, h, w, generator=g, dtype=dtype)
    s = t + 0.7 * torch.randn(b, c, h, w, generator=g, dtype=dtype)
    return s, t


@pytest.fixture(params=sorted(LOSSES))
def loss_fn(request):
    return LOSSES[request.param]()


def grad_of(loss_fn, s, t):
    s = s.detach().clone().requires_grad_(True)
    value = loss_fn(s, t)
    value.backward()
    return value.detach(), s.grad


def test_defaults_are_the_shipped_design():
    assert SHIPPED.spatial_attention is False
    assert SHIPPED.channel_attention is False
    for loss_fn in (CRGVertexLoss(), CRGEdgeLoss(), CRGSpectralLoss()):
        assert loss_fn.tau == SHIPPED.tau
        assert loss_fn.spatial_attention == SHIPPED.spatial_attention
        assert loss_fn.channel_attention == SHIPPED.channel_attention
    spectral = CRGSpectralLoss()
    assert (spectral.k, spectral.groups) == (SHIPPED.k, SHIPPED.groups)


def test_zero_when_student_equals_teacher(loss_fn):
    _, t = maps()
    value, grad = grad_of(loss_fn, t.clone(), t)
    assert value.abs().item() < 1e-8
    assert torch.isfinite(grad).all()


def test_positive_otherwise_and_differentiable(loss_fn):
    s, t = maps()
    value, grad = grad_of(loss_fn, s, t)
    assert value.item() > 1e-4
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_no_gradient_into_teacher(loss_fn):
    s, t = maps()
    s.requires_grad_(True)
    t.requires_grad_(True)
    loss_fn(s, t).backward()
    assert t.grad is None
    assert s.grad is not None


def test_channel_permutation_invariance(loss_fn):
    s, t = maps()
    perm = torch.randperm(C, generator=torch.Generator().manual_seed(3))
    a = loss_fn(s, t)
    b = loss_fn(s[:, perm], t[:, perm])
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize('name', SPECTRAL)
def test_teacher_eigenvector_sign_flip_invariance(name):
    loss_fn = LOSSES[name]()
    s, t = maps()
    pair = loss_fn.make_pair(s, t)
    base = loss_fn.compute(pair)
    spec = pair.teacher_spectrum(loss_fn.k)
    signs = torch.tensor([-1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0,
                          -1.0])[:loss_fn.k]
    pair._spectra[loss_fn.k] = Spectrum(spec.values, spec.vectors * signs)
    flipped = loss_fn.compute(pair)
    torch.testing.assert_close(base, flipped, rtol=1e-5, atol=1e-8)
    # and the flip is a real change of the embedding
    assert not torch.equal(spec.vectors, pair._spectra[loss_fn.k].vectors)


def _edge_cases():
    s, t = maps(c=12)
    dup = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    return {
        'constant': (torch.full_like(s, 0.3), torch.full_like(t, 2.0)),
        'zeros': (torch.zeros_like(s), torch.zeros_like(t)),
        'zero_student': (torch.zeros_like(s), t),
        'zero_teacher': (s, torch.zeros_like(t)),
        'duplicated_channels': (s[:, dup], t[:, dup]),
        'duplicated_teacher_only': (s, t[:, dup]),
        'huge': (s * 1e6, t * 1e6),
        'tiny': (s * 1e-8, t * 1e-8),
        'one_by_one': maps(c=12, h=1, w=1),
        'one_by_one_one_image': maps(b=1, c=12, h=1, w=1),
        'float16': (s.half(), t.half()),
        'bfloat16': (s.bfloat16(), t.bfloat16()),
    }


@pytest.mark.parametrize('case', sorted(_edge_cases()))
def test_finite_values_and_gradients(loss_fn, case):
    s, t = _edge_cases()[case]
    value, grad = grad_of(loss_fn, s, t)
    assert torch.isfinite(value), value
    assert torch.isfinite(grad.float()).all()
    assert grad.dtype == s.dtype


@pytest.mark.parametrize('shapes', [
    ((2, 10, 5, 5), (2, 16, 5, 5)),
    ((2, 10, 5, 5), (2, 10, 4, 5)),
    ((1, 10, 5, 5), (2, 10, 5, 5)),
])
def test_shape_mismatch_raises_before_compute(loss_fn, shapes, monkeypatch):
    calls = []
    monkeypatch.setattr(loss_fn, 'compute', lambda pair: calls.append(1))
    good = torch.randn(2, 10, 5, 5)
    s, t = torch.randn(*shapes[0]), torch.randn(*shapes[1])
    with pytest.raises(ValueError, match='same shape') as err:
        loss_fn([good, s], [good, t])  # the good level is not computed
    assert calls == []
    if shapes[0][1] != shapes[1][1]:
        assert 'connector' in str(err.value)


def test_spectral_k_must_fit_channels():
    s, t = maps(c=8)
    with pytest.raises(ValueError, match='k <= 7'):
        CRGSpectralLoss(k=8)(s, t)
    with pytest.raises(ValueError, match='groups must be in'):
        CRGSpectralLoss(k=3, groups=4)


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_gradcheck_float64(name):
    loss_fn = LOSSES[name]()
    g = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    # channels sharing one spatial pattern (plus noise) are clearly
    # positively correlated, which keeps the edges away from relu's kink
    t = rand(2, 1, 3, 3) * (rand(2, C, 1, 1) + 0.5) + 0.2 * rand(2, C, 3, 3)
    s = (t + 0.1 * rand(2, C, 3, 3)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, t), (s, ))


def test_sequence_inputs_sum_levels(loss_fn):
    s1, t1 = maps(seed=1)
    s2, t2 = maps(seed=2, h=3, w=3)
    both = loss_fn((s1, s2), (t1, t2))
    torch.testing.assert_close(both, loss_fn(s1, t1) + loss_fn(s2, t2))


def test_loss_weight_scales(loss_fn):
    s, t = maps()
    base = loss_fn(s, t)
    loss_fn.loss_weight = 2.5
    torch.testing.assert_close(loss_fn(s, t), 2.5 * base)


def test_bad_options_raise():
    with pytest.raises(ValueError, match='tau must be > 0'):
        CRGVertexLoss(tau=0)
    with pytest.raises(ValueError, match='loss_weight must be >= 0'):
        CRGEdgeLoss(loss_weight=-1)
    # deleted switches (docs/design_log.md) are errors, not silent defaults
    for deleted in (lambda: CRGEdgeLoss(graph='image'),
                    lambda: CRGEdgeLoss(cells=2),
                    lambda: CRGEdgeLoss(relation='cka'),
                    lambda: CRGSpectralLoss(form='eigvals')):
        with pytest.raises(TypeError):
            deleted()


# --- values against independent reference implementations ---------------
def _reference_attention(t, tau=0.5):
    b, c, h, w = t.shape
    mag = t.double().abs()
    a_s = h * w * F.softmax(mag.mean(1).reshape(b, -1) / tau, 1)
    a_c = c * F.softmax(mag.mean((2, 3)) / tau, 1)
    return a_s.reshape(b, h, w), a_c


def _reference_standardize(x):
    xn = x.double().numpy()
    mean = xn.mean(axis=(0, 2, 3), keepdims=True)
    std = xn.std(axis=(0, 2, 3), keepdims=True)
    return torch.from_numpy((xn - mean) / std)


def _reference_adjacency(x, a_s=None):
    """Weighted Pearson correlation of the channels over (B, H, W)."""
    rows = x.double().transpose(0, 1).reshape(x.shape[1], -1).numpy()
    w = np.ones(rows.shape[1]) if a_s is None else a_s.reshape(-1).numpy()
    mean = (rows * w).sum(1, keepdims=True) / w.sum()
    cov = ((rows - mean) * w) @ (rows - mean).T
    d = np.sqrt(np.diag(cov))
    return cov / d[:, None] / d[None, :]


def test_vertex_loss_matches_formula():
    s, t = maps()
    diff = (_reference_standardize(s) - _reference_standardize(t))**2
    # the shipped design: PKD's normalised MSE (x 2: MMRazor's PKDLoss is
    # the same MSE, halved)
    torch.testing.assert_close(CRGVertexLoss()(s, t).double(), diff.mean(),
                               rtol=1e-5, atol=1e-8)
    a_s, a_c = _reference_attention(t, tau=2.0)
    w = a_c[:, :, None, None] * a_s[:, None]
    torch.testing.assert_close(
        CRGVertexLoss(**BOTH)(s, t).double(), (w * diff).mean(), rtol=1e-5,
        atol=1e-8)


def test_vertices_are_invariant_to_channel_affine_maps():
    """The invariance the design states on purpose: a positive scale and a
    shift per channel of the student (over the batch) change nothing."""
    s, t = maps()
    scale = torch.rand(1, C, 1, 1) + 0.5
    shift = torch.randn(1, C, 1, 1)
    torch.testing.assert_close(CRGVertexLoss()(scale * s + shift, t),
                               CRGVertexLoss()(s, t), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('options', [{}, BOTH], ids=['shipped', 'attention'])
def test_edge_loss_matches_formula_and_affine_invariance(options):
    s, t = maps()
    a_s, a_c = _reference_attention(t, tau=2.0)
    spatial = a_s if options else None
    diff = (_reference_adjacency(s, spatial) -
            _reference_adjacency(t, spatial))**2
    w = np.outer(a_c.mean(0), a_c.mean(0)) if options else 1.0
    off = 1 - np.eye(C)
    ref = (diff * w * off).sum() / (C * (C - 1))
    loss_fn = CRGEdgeLoss(**options)
    np.testing.assert_allclose(loss_fn(s, t).item(), ref, rtol=1e-5)
    # Pearson edges: a positive scale and a shift shared by the channels
    torch.testing.assert_close(loss_fn(3.0 * s + 5.0, t), loss_fn(s, t),
                               rtol=1e-4, atol=1e-6)


def test_pearson_matrix_is_the_one_correlation():
    """SEKD's channel adjacency and EGA's instance graph both read
    pearson_matrix, which is numpy's corrcoef (weighted: the reference)."""
    a = torch.randn(6, 9, dtype=torch.float64)
    np.testing.assert_allclose(
        pearson_matrix(a).numpy(), np.corrcoef(a.numpy()), atol=1e-12)
    s, t = maps()
    a_s, _ = _reference_attention(t)
    adj = crg_module.channel_adjacency(s.double(), a_s)
    np.testing.assert_allclose(adj.numpy(), _reference_adjacency(s, a_s),
                               atol=1e-10)
    # one sample per row: no variance, correlation 0 by convention
    assert not pearson_matrix(torch.randn(3, 1)).any()


def _reference_laplacian(adj):
    w = np.maximum(adj, 0)
    np.fill_diagonal(w, 0)
    d = w.sum(1)
    dis = np.where(d > 1e-6, 1 / np.sqrt(np.maximum(d, 1e-6)), 0)
    return np.eye(len(d)) - dis[:, None] * w * dis[None, :]


@pytest.mark.parametrize('k,groups', [(3, 1), (4, 2), (8, 1)])
def test_spectral_loss_matches_numpy(k, groups):
    # channels sharing a spatial pattern: a connected graph with a simple
    # spectrum (random maps give many zero edges and a repeated eigenvalue
    # 1, where the eigenvectors compared are not unique)
    g = torch.Generator().manual_seed(1)
    common = torch.randn(3, 1, 5, 6, generator=g)
    t = common * (torch.rand(1, C, 1, 1, generator=g) + 0.5) + \
        torch.randn(3, C, 5, 6, generator=g)
    s = t + 0.7 * torch.randn(3, C, 5, 6, generator=g)
    lap_s = _reference_laplacian(_reference_adjacency(s))
    lap_t = _reference_laplacian(_reference_adjacency(t))
    for lap in (lap_s, lap_t):  # the compared subspaces are unique
        lam = np.linalg.eigvalsh(lap)
        assert min(lam[1] - lam[0], lam[k + 1] - lam[k]) > 1e-3
    lam_t, u_t = np.linalg.eigh(lap_t)
    bands = np.array_split(np.arange(1, k + 1), groups)
    ref = np.mean([
        np.sum((lap_s @ u_t[:, band] - u_t[:, band] * lam_t[band])**2) /
        len(band) for band in bands
    ])
    value = CRGSpectralLoss(k=k, groups=groups)(s, t)
    np.testing.assert_allclose(value.item(), ref, rtol=1e-4)


def test_mixed_precision_autocast_keeps_eigensolver_in_float32(monkeypatch):
    seen = []
    real_eigh = torch.linalg.eigh

    def spy(x, *args, **kwargs):
        seen.append(x.dtype)
        return real_eigh(x, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, 'eigh', spy)
    conv_s = torch.nn.Conv2d(C, C, 3, padding=1)
    s_in, t = maps()
    losses = [CRGVertexLoss(), CRGEdgeLoss(), CRGSpectralLoss()]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feat_s = conv_s(s_in)
        assert feat_s.dtype == torch.bfloat16
        total = sum(fn(feat_s, t.bfloat16()) for fn in losses)
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(p.grad).all() for p in conv_s.parameters())
    assert seen and all(dtype == torch.float32 for dtype in seen)


def test_graph_cached_per_pair(monkeypatch):
    calls = []
    real = crg_module.channel_adjacency
    monkeypatch.setattr(crg_module, 'channel_adjacency',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    s, t = maps()
    losses = [CRGVertexLoss(), CRGEdgeLoss(), CRGSpectralLoss(),
              CRGSpectralLoss(k=3)]
    pair = losses[0].make_pair(s, t)
    for fn in losses:
        fn.compute(pair)
    assert len(calls) == 2  # one student graph, one teacher graph


def test_batched_teacher_spectra_equal_per_level_ones():
    """One eigensolve for all levels gives each level's own spectrum."""
    loss_fn = CRGSpectralLoss(k=3)
    levels = [maps(seed=i, h=4 + i, w=5) for i in range(3)]
    batched = [loss_fn.make_pair(s, t) for s, t in levels]
    batch_teacher_spectra(batched, 3)
    for pair, (s, t) in zip(batched, levels):
        alone = loss_fn.make_pair(s, t).teacher_spectrum(3)
        torch.testing.assert_close(pair._spectra[3].values, alone.values)
        torch.testing.assert_close(
            loss_fn.compute(pair),
            loss_fn.compute(loss_fn.make_pair(s, t)))
    with pytest.raises(ValueError, match='k must be in'):
        batch_teacher_spectra(batched, C)


def test_one_graph_per_level_over_the_batch():
    """The graph is built over (B, H, W): 1 x 1 maps still have edges
    (correlations over the images)."""
    s, t = maps(b=4, h=1, w=1)
    pair = CRGEdgeLoss().make_pair(s, t)
    assert pair.adjacency_S.shape == (C, C)
    assert CRGEdgeLoss()(s, t) > 0


def test_matched_vertices_imply_matched_graph():
    """With the shipped design ``L_V = 0`` implies ``L_E = L_S = 0``: a
    student whose every channel is a positive affine map of the teacher's
    has the teacher's graph. So E and S can only act while V is not yet
    matched (docs/method.md)."""
    s, t = maps(b=4, h=5, w=6, seed=3)
    scale = torch.rand(1, C, 1, 1) + 0.5
    shift = torch.randn(1, C, 1, 1)
    student = scale * t + shift
    for loss_fn in (CRGVertexLoss(), CRGEdgeLoss(), CRGSpectralLoss()):
        assert loss_fn(student, t).item() == pytest.approx(0, abs=1e-5)
        assert loss_fn(s, t).item() > 1e-3


def test_a_nan_in_the_student_is_not_hidden(loss_fn):
    """Constant channels become zero by design; a NaN must not (it has to
    reach the distiller's finite check, not be masked as 'no variance')."""
    s, t = maps()
    s[0, 0, 0, 0] = float('nan')
    assert torch.isnan(loss_fn(s, t))


def test_adjacency_from_shared_rows_is_the_pearson_graph():
    """The graph built from the vertex rows (one standardisation per side)
    equals the one built from the map; the rows are refused where the graph
    is weighted."""
    s, t = maps(seed=7)
    rows = standardize_rows(crg_module.channel_rows(s))
    shared = crg_module.channel_adjacency(s, rows=rows)
    torch.testing.assert_close(shared, crg_module.channel_adjacency(s))
    a_s = CRGAttention.from_teacher(t, SHIPPED.tau).spatial
    with pytest.raises(ValueError, match='only without spatial weights'):
        crg_module.channel_adjacency(s, a_s, rows=rows)
