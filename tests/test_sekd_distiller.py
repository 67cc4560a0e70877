# Copyright (c) sekd-mm contributors. All rights reserved.
"""SEKDDistiller inside MMRazor's FpnTeacherDistill with real RetinaNets."""
import copy

import pytest
import torch
from mmengine.logging import MessageHub
from sekd_test_utils import (build_model, demo_batch, detector_cfg,
                             fpn_recorders, sekd_algorithm)

from sekd_mm.models.distillers import sekd_distiller as sekd_distiller_module
from sekd_mm.models.utils import crg as crg_module

LEVELS = ('p3', 'p4', 'p5', 'p6', 'p7')


def sekd_total(losses):
    return sum(v for k, v in losses.items() if 'loss_sekd_' in k)


@pytest.fixture(scope='module')
def r50_r101():
    torch.manual_seed(0)
    return sekd_algorithm(
        detector_cfg(depth=50), detector_cfg(depth=101),
        sekd=dict(alpha=1.0, beta=1.0, gamma=1.0))


def test_every_term_is_logged(r50_r101):
    # 256 px: P7 (stride 128) is 2 x 2, so every level has a spatial
    # correlation for the (centred) edges
    losses = r50_r101(**demo_batch(r50_r101, size=256), mode='loss')
    expected = {f'distill.loss_sekd_{t}_{lv}' for t in 'ves' for lv in LEVELS}
    assert expected <= set(losses)
    assert any(k.startswith('student.loss_cls') for k in losses)
    assert all(torch.isfinite(losses[k]) and losses[k] > 0 for k in expected)


@pytest.mark.parametrize('graph', ['image', 'batch'])
def test_one_by_one_levels(graph):
    """At 64 px, P6 and P7 are 1 x 1: a single position has no spatial
    correlation, so per-image graphs give E = S = 0 there (docs/method.md);
    the batch graph correlates the channels over the images instead."""
    torch.manual_seed(0)
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict(graph=graph))
    losses = algo(**demo_batch(algo, batch_size=3, size=64), mode='loss')
    for level in ('p6', 'p7'):
        assert losses[f'distill.loss_sekd_v_{level}'] > 0
        graph_terms = [losses[f'distill.loss_sekd_{t}_{level}'] for t in 'es']
        if graph == 'image':
            assert all(v == 0 for v in graph_terms)
        else:
            assert all(v > 0 for v in graph_terms)


def test_defaults_are_the_tuned_design():
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict())
    distiller = algo.distiller
    assert distiller.sekd_weights == dict(v=1.5, e=2.25, s=2.25)
    loss = distiller.sekd_losses['v']
    assert (loss.spatial_attention, loss.channel_attention, loss.graph,
            loss.vertex, loss.center_edges) == (False, False, 'batch',
                                                'standard', True)


def _descend(algo, data, select, lr=None, step=None):
    """One step on the selected SEKD terms; returns (before, after)."""
    state = copy.deepcopy(algo.state_dict())
    params = [p for p in algo.parameters() if p.requires_grad]
    before = sum(v for k, v in algo(**data, mode='loss').items()
                 if select(k))
    algo.zero_grad()
    before.backward()
    assert all(p.grad is None for p in algo.teacher.parameters())
    if step is not None:  # normalized step of length `step`
        grads = [p.grad for p in params if p.grad is not None]
        lr = step / torch.sqrt(sum(g.square().sum() for g in grads))
    torch.optim.SGD(params, lr=float(lr)).step()
    with torch.no_grad():
        after = sum(v for k, v in algo(**data, mode='loss').items()
                    if select(k))
    algo.load_state_dict(state)
    return before.item(), after.item()


def test_one_sgd_step_reduces_total_sekd_loss(r50_r101):
    data = demo_batch(r50_r101)
    teacher_before = [p.clone() for p in r50_r101.teacher.parameters()]
    before, after = _descend(r50_r101, data, lambda k: 'loss_sekd_' in k,
                             lr=1e-5)
    assert after < before
    assert all(torch.equal(a, b) for a, b in
               zip(teacher_before, r50_r101.teacher.parameters()))


@pytest.mark.parametrize('term', ['v', 'e', 's'])
def test_each_term_descends_alone(r50_r101, term):
    data = demo_batch(r50_r101)
    before, after = _descend(r50_r101, data,
                             lambda k: f'loss_sekd_{term}_' in k, step=1e-3)
    assert after < before


def test_graph_built_once_per_level_per_step(r50_r101, monkeypatch):
    counts = {'adj': 0, 'eigh': 0}
    real_adj, real_eigh = crg_module.channel_adjacency, torch.linalg.eigh

    def adj(*a, **k):
        counts['adj'] += 1
        return real_adj(*a, **k)

    def eigh(*a, **k):
        counts['eigh'] += 1
        return real_eigh(*a, **k)

    monkeypatch.setattr(crg_module, 'channel_adjacency', adj)
    monkeypatch.setattr(torch.linalg, 'eigh', eigh)
    data = demo_batch(r50_r101)
    r50_r101(**data, mode='loss')
    # one student and one teacher graph per level; the teacher spectra of
    # all levels (same C) in one batched eigensolve
    assert counts == {'adj': 2 * len(LEVELS), 'eigh': 1}


def test_zero_weight_terms_are_skipped():
    algo = sekd_algorithm(
        detector_cfg(depth=18), detector_cfg(depth=18),
        sekd=dict(beta=0.0, gamma=0.0, level_weights=dict(p7=0.0)))
    losses = algo(**demo_batch(algo), mode='loss')
    names = {k for k in losses if 'loss_sekd' in k}
    assert names == {f'distill.loss_sekd_v_{lv}' for lv in LEVELS[:4]}


def test_connector_for_narrower_student_fpn():
    algo = sekd_algorithm(
        detector_cfg(depth=18, fpn_channels=128), detector_cfg(depth=18),
        sekd=dict(student_connectors=dict(
            type='ConvModuleConnector', in_channel=128, out_channel=256)))
    assert len(algo.distiller.connectors) == len(LEVELS)
    losses = algo(**demo_batch(algo), mode='loss')
    total = sekd_total(losses)
    total.backward()
    conv = algo.distiller.connectors['sekd_student_p3'].conv_module.conv
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_sekd_combines_with_configurable_distiller_losses():
    algo = sekd_algorithm(
        detector_cfg(depth=18), detector_cfg(depth=18),
        sekd=dict(gamma=0.0),
        distill_losses=dict(loss_pkd_p3=dict(type='PKDLoss')),
        loss_forward_mappings=dict(loss_pkd_p3=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=0),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=0))))
    losses = algo(**demo_batch(algo), mode='loss')
    assert 'distill.loss_pkd_p3' in losses
    assert 'distill.loss_sekd_e_p3' in losses


def test_gt_attention_takes_the_boxes_of_the_batch(monkeypatch):
    """attention='gt': DetFpnTeacherDistill hands the batch's boxes to the
    distiller, which builds each level's box attention from them."""
    torch.manual_seed(0)
    spec = dict(attention='gt', spatial_attention=True)
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=spec, algorithm='DetFpnTeacherDistill')
    batch = demo_batch(algo, size=64)
    calls = []
    real = sekd_distiller_module.box_attention

    def spy(boxes, input_hw, feat_hw, fg_weight, dtype):
        calls.append((boxes, input_hw, feat_hw, fg_weight))
        return real(boxes, input_hw, feat_hw, fg_weight, dtype)

    monkeypatch.setattr(sekd_distiller_module, 'box_attention', spy)
    losses = algo(**batch, mode='loss')
    assert [c[2] for c in calls] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    boxes, input_hw, _, fg_weight = calls[0]
    assert input_hw == (64, 64) and fg_weight == 2.0
    for got, sample in zip(boxes, batch['data_samples']):
        torch.testing.assert_close(got, sample.gt_instances.bboxes)
    gt_v = losses['distill.loss_sekd_v_p3']
    assert torch.isfinite(gt_v) and gt_v > 0
    algo.distiller.sekd_losses['v'].spatial_attention = False
    uniform = algo(**batch, mode='loss')['distill.loss_sekd_v_p3']
    assert not torch.allclose(gt_v, uniform)


def test_gt_attention_without_the_boxes_names_the_fix():
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict(attention='gt', spatial_attention=True))
    with pytest.raises(RuntimeError, match='DetFpnTeacherDistill'):
        algo(**demo_batch(algo), mode='loss')


@pytest.mark.parametrize('algorithm', ['FpnTeacherDistill',
                                       'DetFpnTeacherDistill'])
def test_gt_attention_is_checked_before_the_first_step(algorithm):
    """The runner calls ``init_weights`` before training: with an algorithm
    that does not pass the boxes, attention='gt' fails there."""
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict(attention='gt', spatial_attention=True),
                          algorithm=algorithm)
    assert algo.distiller.receives_batch == (algorithm != 'FpnTeacherDistill')
    if algorithm == 'FpnTeacherDistill':
        with pytest.raises(ValueError, match="model.type='DetFpnTeacherDis"):
            algo.init_weights()
    else:
        algo.init_weights()
        assert algo.distiller.is_init


def test_warmup_ramps_the_sekd_weights_linearly():
    torch.manual_seed(0)
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict(warmup_iters=10))
    batch = demo_batch(algo)
    hub = MessageHub.get_instance('test_sekd_warmup')
    sekd = {}
    for it in (0, 4, 9, 50):
        hub.update_info('iter', it)
        assert MessageHub.get_current_instance().get_info('iter') == it
        losses = algo(**batch, mode='loss')
        sekd[it] = {k: v for k, v in losses.items() if 'loss_sekd_' in k}
    for key, full in sekd[50].items():
        for it, ramp in ((0, 0.1), (4, 0.5), (9, 1.0)):
            torch.testing.assert_close(sekd[it][key], ramp * full)


# --- build-time validation ------------------------------------------------
@pytest.mark.parametrize('sekd,kwargs,match', [
    (dict(student_recorder='neck_out'), {}, "recorder 'neck_out' is not"),
    (dict(levels=('p3', 'p4', 'p5', 'p6', 'p7', 'p8')), {},
     "Unknown SEKD level 'p8'"),
    (dict(k=256), {}, 'k <= 255'),
    (dict(alpha=-1.0), {}, 'alpha must be a number >= 0'),
    (dict(gamma=float('inf')), {}, 'gamma must be a number >= 0, finite'),
    (dict(level_weights=dict(p9=1.0)), {}, "unknown level"),
    (dict(lambda_v=1.0), {}, 'Unknown SEKD option'),
    (dict(mode='exact'), {}, 'mode must be one of'),
    (dict(attention='boxes'), {}, 'attention must be one of'),
    (dict(gt_fg_weight=0.0), {}, 'gt_fg_weight must be > 0'),
    (dict(warmup_iters=-5), {}, 'warmup_iters must be an int >= 0'),
    (dict(warmup_iters=2.5), {}, 'warmup_iters must be an int >= 0'),
    (dict(), dict(student_recorders=dict(fpn=dict(
        type='ModuleOutputs', source='nek'))), "Did you mean \\['neck'"),
])
def test_bad_spec_errors_at_build_time(sekd, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                       sekd=sekd, **kwargs)


def test_conv_connector_defaults_to_linear():
    # MMRazor's ConvModuleConnector ends with a ReLU by default; SEKD's
    # student connectors must stay linear so that the student's graph can
    # have the negative edges of the (signed) teacher FPN maps.
    algo = sekd_algorithm(
        detector_cfg(depth=18, fpn_channels=128), detector_cfg(depth=18),
        sekd=dict(student_connectors=dict(
            type='ConvModuleConnector', in_channel=128, out_channel=256)))
    connector = algo.distiller.connectors['sekd_student_p3']
    assert not connector.conv_module.with_activation
    out = connector(torch.randn(2, 128, 8, 8))
    assert (out < 0).any()
    # an explicit activation is kept
    algo = sekd_algorithm(
        detector_cfg(depth=18, fpn_channels=128), detector_cfg(depth=18),
        sekd=dict(student_connectors=dict(
            type='ConvModuleConnector', in_channel=128, out_channel=256,
            act_cfg=dict(type='ReLU'))))
    relu_out = algo.distiller.connectors['sekd_student_p3'](
        torch.randn(2, 128, 8, 8))
    assert (relu_out >= 0).all()


def test_channel_mismatch_without_connector_names_the_fix():
    with pytest.raises(ValueError, match="ConvModuleConnector', "
                       'in_channel=128, out_channel=256, act_cfg=None'):
        sekd_algorithm(detector_cfg(depth=18, fpn_channels=128),
                       detector_cfg(depth=18))


def test_nan_loss_stops_with_clear_message():
    distiller = build_model(dict(
        type='SEKDDistiller',
        student_recorders=fpn_recorders(),
        teacher_recorders=fpn_recorders(),
        sekd=dict(levels=dict(p3=None), k=2)))
    s = torch.randn(1, 4, 3, 3)
    s[0, 0, 0, 0] = float('nan')
    distiller.level_features = lambda name: (s, torch.randn(1, 4, 3, 3))
    with pytest.raises(FloatingPointError, match='loss_sekd_v_p3'):
        distiller.compute_distill_losses()
