# Copyright (c) sekd-mm contributors. All rights reserved.
"""EGA: pearson_matrix, EGAEdgeLoss / EGANodeLoss / EGALoss, EGAEmbedding,
DDP (per-rank graphs) and the losses inside a real MMRazor distillation."""
import copy
import datetime
import os
import socket
import time

import numpy as np
import pytest
import torch
from sekd_test_utils import (build_model, demo_batch, detector_cfg,
                             sekd_algorithm)

from sekd_mm.models.connectors import EGAEmbedding
from sekd_mm.models.losses import EGAEdgeLoss, EGALoss, EGANodeLoss
from sekd_mm.models.losses import ega_loss as ega_module
from sekd_mm.models.utils import pearson_matrix

LOSSES = (EGAEdgeLoss, EGANodeLoss, EGALoss)
LEVELS = ('p3', 'p4', 'p5', 'p6', 'p7')


def randn(*shape, dtype=torch.float64, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad)


def affine(x, seed):
    """Per-image positive affine map ``x_i -> a_i x_i + b_i``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(x.shape[0], 1, generator=g, dtype=x.dtype) * 5 + 0.1
    b = torch.randn(x.shape[0], 1, generator=g, dtype=x.dtype) * 10
    return a * x + b


# --- pearson_matrix -------------------------------------------------------
def test_pearson_matrix_equals_numpy_corrcoef():
    a, b = randn(6, 9, seed=1), randn(4, 9, seed=2)
    np.testing.assert_allclose(
        pearson_matrix(a).numpy(), np.corrcoef(a.numpy()), atol=1e-12)
    full = np.corrcoef(a.numpy(), b.numpy())
    np.testing.assert_allclose(
        pearson_matrix(a, b).numpy(), full[:6, 6:], atol=1e-12)
    assert pearson_matrix(a, b).shape == (6, 4)
    assert pearson_matrix(a.float()).dtype == torch.float32
    np.testing.assert_allclose(
        pearson_matrix(a.float()).numpy(), np.corrcoef(a.numpy()),
        atol=1e-5)


def test_pearson_matrix_constant_rows_are_zero_with_finite_grad():
    a = randn(4, 6, seed=3)
    a[1] = 0.1  # constant row (inexact in binary floating point)
    a[2] = 0.0
    a.requires_grad_(True)
    p = pearson_matrix(a)
    assert torch.isfinite(p).all()
    for row in (1, 2):
        assert torch.all(p[row] == 0) and torch.all(p[:, row] == 0)
    assert torch.allclose(p[[0, 3], [0, 3]], torch.ones(2, dtype=p.dtype))
    p.sum().backward()
    assert torch.isfinite(a.grad).all()
    assert torch.all(a.grad[1:3] == 0)


# --- values ---------------------------------------------------------------
@pytest.mark.parametrize('loss_cls', LOSSES)
def test_zero_when_identical_positive_when_different(loss_cls):
    loss = loss_cls()
    s, t = randn(5, 8, seed=4), randn(5, 8, seed=5)
    assert loss(s, s.clone()).item() == pytest.approx(0, abs=1e-12)
    assert loss(s, t).item() > 1e-3
    assert loss(s.float(), s.float()).item() == pytest.approx(0, abs=1e-6)


def test_node_loss_zero_for_per_image_affine_student():
    t = randn(5, 8, seed=6)
    assert EGANodeLoss()(affine(t, 7), t).item() == pytest.approx(
        0, abs=1e-12)


def test_edge_loss_definition():
    s, t = randn(4, 7, seed=8), randn(4, 7, seed=9)
    e_s = np.corrcoef(s.numpy())
    e_t = np.corrcoef(t.numpy())
    off = ~np.eye(4, dtype=bool)
    expected = ((e_t - e_s)[off]**2).mean()
    assert EGAEdgeLoss(loss_weight=2.0)(s, t).item() == pytest.approx(
        2 * expected, rel=1e-10)
    node = np.array([np.corrcoef(s[i].numpy(), t[i].numpy())[0, 1]
                     for i in range(4)])
    assert EGANodeLoss()(s, t).item() == pytest.approx(
        ((1 - node)**2).mean(), rel=1e-10)
    full = EGALoss(lambda_edge=0.5, loss_weight=3.0)(s, t).item()
    assert full == pytest.approx(
        3 * (((1 - node)**2).mean() + 0.5 * expected), rel=1e-10)


@pytest.mark.parametrize('loss_cls', LOSSES)
@pytest.mark.parametrize('side', ['student', 'teacher', 'both'])
def test_invariant_to_per_image_affine_maps(loss_cls, side):
    loss = loss_cls()
    s, t = randn(6, 10, seed=10), randn(6, 10, seed=11)
    s2 = affine(s, 12) if side in ('student', 'both') else s
    t2 = affine(t, 13) if side in ('teacher', 'both') else t
    assert loss(s2, t2).item() == pytest.approx(loss(s, t).item(), rel=1e-9)


# --- edge cases: finite values and gradients ------------------------------
def _value_and_grads(loss, s, t):
    s = s.detach().clone().requires_grad_(True)
    t = t.detach().clone().requires_grad_(True)
    value = loss(s, t)
    value.backward()
    return value, s.grad, t.grad


@pytest.mark.parametrize('loss_cls', LOSSES)
def test_batch_of_one(loss_cls):
    loss = loss_cls(detach_teacher=False)
    value, gs, gt = _value_and_grads(loss, randn(1, 8, seed=14),
                                     randn(1, 8, seed=15))
    assert torch.isfinite(value) and value.dtype == torch.float64
    assert torch.isfinite(gs).all() and torch.isfinite(gt).all()
    if loss_cls is EGAEdgeLoss:
        assert value.item() == 0 and torch.all(gs == 0)
    else:
        assert value.item() > 0


@pytest.mark.parametrize('loss_cls', LOSSES)
@pytest.mark.parametrize('case', ['student_row', 'teacher_row',
                                  'student_all', 'teacher_all'])
def test_constant_embeddings(loss_cls, case):
    s, t = randn(4, 8, seed=16), randn(4, 8, seed=17)
    if case == 'student_row':
        s[2] = 3.7
    elif case == 'teacher_row':
        t[0] = -0.3
    elif case == 'student_all':
        s[:] = 1.0
    else:
        t[:] = 0.0
    value, gs, gt = _value_and_grads(loss_cls(detach_teacher=False), s, t)
    assert torch.isfinite(value)
    assert torch.isfinite(gs).all() and torch.isfinite(gt).all()


@pytest.mark.parametrize('loss_cls', LOSSES)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_inputs(loss_cls, dtype):
    s, t = randn(5, 16, seed=18), randn(5, 16, seed=19)
    ref = loss_cls()(s.float(), t.float())
    value, gs, _ = _value_and_grads(loss_cls(), s.to(dtype), t.to(dtype))
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert gs.dtype == dtype and torch.isfinite(gs).all()
    assert value.item() == pytest.approx(ref.item(), rel=0.1, abs=1e-3)


@pytest.mark.parametrize('loss_cls', LOSSES)
def test_autocast_is_disabled_inside(loss_cls):
    s = randn(4, 8, dtype=torch.float32, seed=20, grad=True)
    t = randn(4, 8, dtype=torch.float32, seed=21)
    ref = loss_cls()(s, t)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss_cls()(s, t)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(ref.item(), rel=1e-6)


def test_embedding_on_1x1_maps_gives_finite_loss_and_grads():
    torch.manual_seed(0)
    head_s = EGAEmbedding(in_channels=4, num_levels=2, embed_dim=6, hidden=8)
    head_t = EGAEmbedding(in_channels=4, num_levels=2, embed_dim=6,
                          frozen=True)
    feats_s = [randn(3, 4, 1, 1, dtype=torch.float32, seed=i)
               for i in (22, 23)]
    feats_t = [randn(3, 4, 1, 1, dtype=torch.float32, seed=i)
               for i in (24, 25)]
    loss = EGALoss()(head_s(feats_s), head_t(feats_t))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in head_s.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


# --- teacher gradient -----------------------------------------------------
@pytest.mark.parametrize('loss_cls', LOSSES)
def test_detach_teacher(loss_cls):
    s, t = randn(4, 8, seed=26), randn(4, 8, seed=27)
    _, gs, gt = _value_and_grads(loss_cls(), s, t)
    assert gt is None and gs.abs().sum() > 0
    _, gs, gt = _value_and_grads(loss_cls(detach_teacher=False), s, t)
    assert gt is not None and gt.abs().sum() > 0 and gs.abs().sum() > 0


# --- validation -----------------------------------------------------------
@pytest.mark.parametrize('loss_cls', LOSSES)
@pytest.mark.parametrize('shapes', [((4, 8), (4, 6)), ((4, 8), (3, 8)),
                                    ((4, 8, 2), (4, 8, 2)), ((8, ), (8, )),
                                    ((4, 1), (4, 1))])
def test_shape_mismatch_raises_before_compute(loss_cls, shapes, monkeypatch):
    calls = []
    real = ega_module.standardize_rows
    monkeypatch.setattr(ega_module, 'standardize_rows',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    s, t = torch.randn(*shapes[0]), torch.randn(*shapes[1])
    with pytest.raises(ValueError, match='EGAEmbedding'):
        loss_cls()(s, t)
    assert not calls
    loss_cls()(torch.randn(3, 4), torch.randn(3, 4))
    assert calls


@pytest.mark.parametrize('kwargs', [dict(loss_weight=-1.0), dict(eps=0.0)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EGAEdgeLoss(**kwargs)
    with pytest.raises(ValueError, match='lambda_edge'):
        EGALoss(lambda_edge=-1.0)


# --- gradcheck ------------------------------------------------------------
@pytest.mark.parametrize('loss_cls', LOSSES)
def test_gradcheck(loss_cls):
    s = randn(4, 5, seed=28, grad=True)
    t = randn(4, 5, seed=29, grad=True)
    assert torch.autograd.gradcheck(loss_cls(detach_teacher=False), (s, t))
    assert torch.autograd.gradcheck(
        lambda x: loss_cls()(x, t.detach()), (s, ))


def test_gradcheck_pearson_matrix():
    a = randn(4, 5, seed=30, grad=True)
    b = randn(3, 5, seed=31, grad=True)
    assert torch.autograd.gradcheck(pearson_matrix, (a, b))
    assert torch.autograd.gradcheck(pearson_matrix, (a, ))


# --- EGAEmbedding ---------------------------------------------------------
def fpn_levels(batch=2, channels=256, sizes=(16, 8, 4, 2, 1), seed=32):
    return tuple(
        randn(batch, channels, s, s, dtype=torch.float32, seed=seed + i)
        for i, s in enumerate(sizes))


@pytest.mark.parametrize('hidden', [None, 32])
def test_embedding_pools_fpn_levels(hidden):
    head = build_model(dict(type='EGAEmbedding', in_channels=256,
                            num_levels=5, embed_dim=64, hidden=hidden))
    feats = fpn_levels()
    out = head(feats)
    assert out.shape == (2, 64)
    pooled = torch.cat([f.mean((2, 3)) for f in feats], 1)
    assert torch.allclose(out, head.projection(pooled))
    assert torch.allclose(head(pooled), out)  # pre-pooled B x D input
    assert all(p.requires_grad for p in head.parameters())
    single = EGAEmbedding(in_channels=256, embed_dim=8)
    assert single(feats[0]).shape == (2, 8)
    mixed = EGAEmbedding(in_channels=[16, 32], embed_dim=8)
    assert mixed([torch.randn(3, 16, 4, 4), torch.randn(3, 32, 2, 2)]).shape \
        == (3, 8)


def test_frozen_embedding():
    head = EGAEmbedding(in_channels=256, num_levels=5, embed_dim=16,
                        hidden=32, frozen=True)
    assert not any(p.requires_grad for p in head.parameters())
    assert not head(fpn_levels()).requires_grad


@pytest.mark.parametrize('feats,match,fix', [
    (fpn_levels(channels=128), 'expected 5 level\\(s\\) x 256 channels, '
     'got 5 level\\(s\\) with channels \\[128', 'in_channels=128, '
     'num_levels=5'),
    (fpn_levels(sizes=(8, 4, 2)), 'got 3 level\\(s\\)',
     'in_channels=256, num_levels=3'),
    (torch.randn(2, 256), 'pooled: B x 1280', 'in_channels=256, '
     'num_levels=1'),
    (torch.randn(2, 256, 4), 'B x C x H x W', ''),
])
def test_embedding_wrong_input_names_the_fix(feats, match, fix):
    head = EGAEmbedding(in_channels=256, num_levels=5, embed_dim=16)
    with pytest.raises(ValueError, match=match) as err:
        head(feats)
    assert fix in str(err.value)


def test_embedding_bad_arguments():
    with pytest.raises(ValueError, match='embed_dim must be >= 2'):
        EGAEmbedding(in_channels=8, embed_dim=1)
    with pytest.raises(ValueError, match='disagrees'):
        EGAEmbedding(in_channels=[8, 8], num_levels=3)


def test_embedding_half_precision_features():
    head = EGAEmbedding(in_channels=4, embed_dim=6)
    out = head(torch.randn(2, 4, 3, 3, dtype=torch.bfloat16))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


# --- DDP: per-rank graphs, averaged gradients ----------------------------
def _ddp_step(rank, world_size):
    """One DDP step on rank-local data; returns what the test checks."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.manual_seed(0)  # same init on both ranks (DDP broadcasts too)
    head = EGAEmbedding(in_channels=8, num_levels=2, embed_dim=6, hidden=16)
    local = copy.deepcopy(head)
    ddp = DistributedDataParallel(head)
    batch = 3 if rank == 0 else 1  # uneven local batches
    feats = (randn(batch, 8, 4, 4, dtype=torch.float32, seed=40 + rank),
             randn(batch, 8, 2, 2, dtype=torch.float32, seed=50 + rank))
    teacher = randn(batch, 6, dtype=torch.float32, seed=60 + rank)
    edge, node = EGAEdgeLoss(), EGANodeLoss()

    def flat_grad(module):
        return torch.cat([p.grad.flatten() for p in module.parameters()])

    emb = ddp(feats)
    loss_edge, loss_node = edge(emb, teacher), node(emb, teacher)
    (loss_edge + loss_node).backward()
    emb_l = local(feats)  # the same local loss, without all-reduce
    (edge(emb_l, teacher) + node(emb_l, teacher)).backward()
    grads, local_grads = flat_grad(head), flat_grad(local)
    gathered = [torch.zeros_like(grads) for _ in range(world_size)]
    gathered_local = [torch.zeros_like(grads) for _ in range(world_size)]
    dist.all_gather(gathered, grads)
    dist.all_gather(gathered_local, local_grads)
    return dict(edge=loss_edge.item(), node=loss_node.item(),
                grads=gathered, local_grads=gathered_local)


def _ddp_worker(rank, world_size, init_method, out_dir):
    import gc

    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=init_method, rank=rank, world_size=world_size,
        timeout=datetime.timedelta(seconds=60))
    try:
        result = _ddp_step(rank, world_size)
        # The DDP module is freed before the process group is destroyed
        # (the other order can hang in the reducer's destructor).
        gc.collect()
        dist.barrier()
        torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_ddp_per_rank_graphs_with_uneven_batches(tmp_path):
    world_size, deadline = 2, time.monotonic() + 120
    init_method = f'tcp://127.0.0.1:{_free_port()}'
    ctx = torch.multiprocessing.spawn(
        _ddp_worker, args=(world_size, init_method, str(tmp_path)),
        nprocs=world_size, join=False)
    try:
        while not ctx.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail('DDP workers did not finish in 120 s')
    finally:
        for proc in ctx.processes:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    results = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    for res in results:
        assert np.isfinite(res['edge']) and np.isfinite(res['node'])
        grads = res['grads']
        assert torch.isfinite(grads[0]).all() and grads[0].abs().sum() > 0
        # DDP's all-reduce: identical gradients on both ranks, the mean of
        # the per-rank gradients of the per-rank graphs.
        assert torch.equal(grads[0], grads[1])
        mean_local = (res['local_grads'][0] + res['local_grads'][1]) / 2
        assert torch.allclose(grads[0], mean_local, atol=1e-6)
    assert results[1]['edge'] == 0.0  # one local image: no pair
    assert results[0]['edge'] > 0


# --- inside MMRazor with real detectors ----------------------------------
def ega_distiller_kwargs(embed_dim=64):
    def mapping():
        return dict(
            preds_S=dict(from_student=True, recorder='fpn',
                         connector='ega_s'),
            preds_T=dict(from_student=False, recorder='fpn',
                         connector='ega_t'))

    return dict(
        connectors=dict(
            ega_s=dict(type='EGAEmbedding', in_channels=256, num_levels=5,
                       embed_dim=embed_dim),
            ega_t=dict(type='EGAEmbedding', in_channels=256, num_levels=5,
                       embed_dim=embed_dim, frozen=True)),
        distill_losses=dict(
            loss_ega_edge=dict(type='EGAEdgeLoss', loss_weight=1.0),
            loss_ega_node=dict(type='EGANodeLoss', loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_ega_edge=mapping(), loss_ega_node=mapping()))


def test_ega_with_sekd_in_fpn_teacher_distill():
    torch.manual_seed(0)
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict(gamma=0.0), **ega_distiller_kwargs())
    losses = algo(**demo_batch(algo, batch_size=3), mode='loss')
    ega = ['distill.loss_ega_edge', 'distill.loss_ega_node']
    sekd = {f'distill.loss_sekd_{t}_{lv}' for t in 've' for lv in LEVELS}
    assert set(ega) | sekd <= set(losses)
    for name in ega:
        assert losses[name].dim() == 0 and torch.isfinite(losses[name])
        assert losses[name] > 0

    algo.zero_grad()
    (losses[ega[0]] + losses[ega[1]]).backward()
    head_s = algo.distiller.connectors['ega_s']
    head_t = algo.distiller.connectors['ega_t']
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in head_s.parameters())
    assert all(p.grad is None for p in head_t.parameters())
    # conv1 and layer1 are frozen in mmdet's RetinaNet (frozen_stages=1).
    conv = algo.architecture.backbone.layer4[0].conv1.weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0
    assert all(p.grad is None for p in algo.teacher.parameters())
