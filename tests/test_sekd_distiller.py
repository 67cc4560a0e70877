# Copyright (c) sekd-mm contributors. All rights reserved.
"""SEKDDistiller inside MMRazor's FpnTeacherDistill with real RetinaNets."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.logging import MessageHub
from sekd_test_utils import (build_model, demo_batch, detector_cfg,
                             fpn_recorders, sekd_algorithm)

from sekd_mm.models.utils import SHIPPED
from sekd_mm.models.utils import crg as crg_module

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

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


def test_one_by_one_levels():
    """At 64 px, P6 and P7 are 1 x 1: the graph of a level is built over the
    batch, so the channels still correlate over the images there."""
    torch.manual_seed(0)
    algo = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                          sekd=dict())
    losses = algo(**demo_batch(algo, batch_size=3, size=64), mode='loss')
    for level in ('p6', 'p7'):
        for term in 'ves':
            assert losses[f'distill.loss_sekd_{term}_{level}'] > 0


def test_defaults_are_the_shipped_design():
    distiller = build_model(dict(
        type='SEKDDistiller',
        student_recorders=fpn_recorders(),
        teacher_recorders=fpn_recorders(),
        sekd=dict(levels=('p3', ))))
    assert distiller.sekd_weights == dict(
        v=SHIPPED.alpha, e=SHIPPED.beta, s=SHIPPED.gamma)
    for loss in distiller.sekd_losses.values():
        assert (loss.tau, loss.spatial_attention,
                loss.channel_attention) == (SHIPPED.tau,
                                            SHIPPED.spatial_attention,
                                            SHIPPED.channel_attention)
    spectral = distiller.sekd_losses['s']
    assert (spectral.k, spectral.groups) == (SHIPPED.k, SHIPPED.groups)


@pytest.mark.parametrize('config', [
    'configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    'configs/sekd/sekd_faster-rcnn_r34_faster-rcnn_r18-w32_synthetic.py',
])
def test_standalone_losses_equal_the_shipped_distiller(config):
    """A loss built with default arguments, used alone on a config's levels
    (after the same connectors), gives the distiller's term under the
    shipped config, divided by its weight: the one design, by test (the
    weights are the design's, or a detector's own, which its config
    states)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from sekd_mm.models import CRGEdgeLoss, CRGSpectralLoss, CRGVertexLoss
    cfg = Config.fromfile(osp.join(REPO, config))
    spec = cfg.model.distiller.sekd
    weights = ('alpha', 'beta', 'gamma')
    assert {k: spec[k] for k in SHIPPED.spec() if k not in weights} == {
        k: v for k, v in SHIPPED.spec().items() if k not in weights}
    with DefaultScope.overwrite_default_scope('mmrazor'):
        distiller = build_model(cfg.model.distiller.to_dict())
    torch.manual_seed(0)
    feats = {
        name: (torch.randn(4, 64, 12, 12), torch.randn(4, 128, 12, 12))
        for name in spec.levels
    }

    def level_features(name):
        s, t = feats[name]
        return distiller.connectors[f'sekd_student_{name}'](s), t

    distiller.level_features = level_features
    got = distiller.compute_sekd_losses()
    for term, loss_fn, weight in (('v', CRGVertexLoss(), spec.alpha),
                                  ('e', CRGEdgeLoss(), spec.beta),
                                  ('s', CRGSpectralLoss(), spec.gamma)):
        for name in spec.levels:
            alone = loss_fn(*level_features(name))
            torch.testing.assert_close(got[f'loss_sekd_{term}_{name}'],
                                       weight * alone)


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
        sekd=dict(beta=0.0, gamma=0.0))
    losses = algo(**demo_batch(algo), mode='loss')
    names = {k for k in losses if 'loss_sekd' in k}
    assert names == {f'distill.loss_sekd_v_{lv}' for lv in LEVELS}


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


def test_warmup_ramps_every_distillation_loss_linearly():
    """DetFpnTeacherDistill(distill_warmup_iters=N) scales every distill.*
    term (SEKD's and any other distiller loss) by min(1, (iter + 1) / N);
    the detector's own losses are untouched."""
    torch.manual_seed(0)
    algo = sekd_algorithm(
        detector_cfg(depth=18), detector_cfg(depth=18), sekd=dict(gamma=0),
        algorithm='DetFpnTeacherDistill',
        algorithm_kwargs=dict(distill_warmup_iters=10),
        distill_losses=dict(loss_pkd_p3=dict(type='PKDLoss')),
        loss_forward_mappings=dict(loss_pkd_p3=dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=0),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=0))))
    batch = demo_batch(algo)
    hub = MessageHub.get_instance('test_sekd_warmup')
    seen = {}
    for it in (0, 4, 9, 50):
        hub.update_info('iter', it)
        assert MessageHub.get_current_instance().get_info('iter') == it
        seen[it] = algo(**batch, mode='loss')
    full = seen[50]
    assert 'distill.loss_pkd_p3' in full and 'distill.loss_sekd_v_p3' in full
    for key, value in full.items():
        for it, ramp in ((0, 0.1), (4, 0.5), (9, 1.0)):
            expected = ramp * value if key.startswith('distill.') else value
            torch.testing.assert_close(seen[it][key], expected)
    with pytest.raises(ValueError, match='distill_warmup_iters must be'):
        sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                       algorithm='DetFpnTeacherDistill',
                       algorithm_kwargs=dict(distill_warmup_iters=2.5))


# --- build-time validation ------------------------------------------------
@pytest.mark.parametrize('sekd,kwargs,match', [
    (dict(student_recorder='neck_out'), {}, "recorder 'neck_out' is not"),
    (dict(levels=('p3', 'p4', 'p5', 'p6', 'p7', 'p8')), {},
     "Unknown SEKD level 'p8'"),
    (dict(k=256), {}, 'k <= 255'),
    (dict(alpha=-1.0), {}, 'alpha must be a number >= 0'),
    (dict(gamma=float('inf')), {}, 'gamma must be a number >= 0, finite'),
    (dict(lambda_v=1.0), {}, 'Unknown SEKD option'),
    # switches of past designs are gone: an error, not a silent default
    (dict(graph='image'), {}, "Unknown SEKD option.*'graph'"),
    (dict(level_weights=dict(p7=0.0)), {}, 'Unknown SEKD option'),
    (dict(tau=0.0), {}, 'tau must be > 0'),
    (dict(warmup_iters=100), {}, "Unknown SEKD option.*'warmup_iters'"),
    (dict(vertex_levels=('p3', 'p8')), {},
     r"vertex_levels \['p8'\] are not SEKD levels"),
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


# --- object-level graphs (box_graph, a design candidate) ------------------
def test_box_mask_covers_the_boxes_cells():
    from sekd_mm.models.utils import box_mask
    boxes = [torch.tensor([[8., 8., 24., 16.]]), torch.zeros(0, 4)]
    mask = box_mask(boxes, (32, 32), (4, 4))  # stride 8
    expected = torch.zeros(2, 4, 4)
    expected[0, 1, 1:3] = 1
    assert torch.equal(mask, expected)
    # a box smaller than a cell still covers one cell
    tiny = box_mask([torch.tensor([[30., 30., 31., 31.]])], (32, 32), (2, 2))
    assert tiny.sum() == 1 and tiny[0, 1, 1] == 1


def test_box_graph_builds_the_graphs_over_the_boxes_pixels():
    """With box_graph=True the edge and spectral terms are the losses on
    the graphs weighted by the boxes' mask; the vertex term is unchanged;
    the boxes reach the distiller through DetFpnTeacherDistill."""
    from sekd_mm.models import CRGEdgeLoss, CRGVertexLoss
    from sekd_mm.models.utils import box_mask
    torch.manual_seed(0)
    algo = sekd_algorithm(
        detector_cfg(depth=18), detector_cfg(depth=18),
        sekd=dict(levels=('p3', 'p4'), box_graph=True),
        algorithm='DetFpnTeacherDistill')
    batch = demo_batch(algo, size=128)
    losses = algo(**batch, mode='loss')
    distiller = algo.distiller
    input_hw, boxes = distiller._boxes
    assert input_hw == tuple(batch['inputs'].shape[-2:])
    for name in ('p3', 'p4'):
        s, t = distiller.level_features(name)
        region = box_mask(boxes, input_hw, tuple(t.shape[-2:]))
        assert 0 < region.mean() < 1
        edge = CRGEdgeLoss()
        torch.testing.assert_close(
            losses[f'distill.loss_sekd_e_{name}'],
            SHIPPED.beta * edge.compute(edge.make_pair(s, t, region)))
        assert not torch.allclose(losses[f'distill.loss_sekd_e_{name}'],
                                  SHIPPED.beta * edge(s, t))
        torch.testing.assert_close(losses[f'distill.loss_sekd_v_{name}'],
                                   SHIPPED.alpha * CRGVertexLoss()(s, t))
    # without the boxes (MMRazor's FpnTeacherDistill): a clear error
    plain = sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                           sekd=dict(levels=('p3', ), box_graph=True))
    with pytest.raises(RuntimeError, match='DetFpnTeacherDistill'):
        plain(**demo_batch(plain), mode='loss')


def _narrow_student_step(**design):
    """One loss step of an R-18 student with FPN 128 (a connector to the
    teacher's 256) under the design candidate ``design``, on p3 and p4."""
    torch.manual_seed(0)
    algo = sekd_algorithm(
        detector_cfg(depth=18, fpn_channels=128), detector_cfg(depth=18),
        sekd=dict(levels=('p3', 'p4'),
                  student_connectors=dict(type='ConvModuleConnector',
                                          in_channel=128, out_channel=256),
                  **design))
    return algo, algo(**demo_batch(algo), mode='loss')


def test_cka_edges_read_the_students_own_map():
    """edge_relation='cka' (a design candidate): L_E is 1 - CKA of the
    student's map before its connector (128 channels) and the teacher's
    (256); the vertex term still goes through the connector."""
    from sekd_mm.models import CRGVertexLoss
    from sekd_mm.models.utils import crg_cka
    algo, losses = _narrow_student_step(edge_relation='cka')
    distiller = algo.distiller
    for name in ('p3', 'p4'):
        s, t = distiller.level_features(name)
        own = distiller.student_own(name)
        assert own.shape[1] == 128 and s.shape[1] == 256
        torch.testing.assert_close(losses[f'distill.loss_sekd_e_{name}'],
                                   SHIPPED.beta * (1 - crg_cka(own, t)))
        torch.testing.assert_close(losses[f'distill.loss_sekd_v_{name}'],
                                   SHIPPED.alpha * CRGVertexLoss()(s, t))
    sekd_total(losses).backward()
    conv = distiller.connectors['sekd_student_p3'].conv_module.conv
    assert conv.weight.grad.abs().sum() > 0


def test_own_map_eigenvalues_read_the_students_own_map():
    """spectral='eigvals_own' (a design candidate): L_S compares the
    eigenvalues of the student's own graph (128 channels, before its
    connector) with the teacher's (256); the edges keep the connector."""
    from sekd_mm.models import CRGEdgeLoss, CRGSpectralLoss
    algo, losses = _narrow_student_step(spectral='eigvals_own')
    distiller = algo.distiller
    k = distiller.sekd_losses['s'].k
    for name in ('p3', 'p4'):
        s, t = distiller.level_features(name)
        own = distiller.student_own(name)
        spectral = CRGSpectralLoss(k=k, form='eigvals_own')
        torch.testing.assert_close(
            losses[f'distill.loss_sekd_s_{name}'],
            SHIPPED.gamma * spectral.compute(
                spectral.make_pair(s, t, student_own=own)))
        torch.testing.assert_close(losses[f'distill.loss_sekd_e_{name}'],
                                   SHIPPED.beta * CRGEdgeLoss()(s, t))


def test_vertex_levels_keep_the_graph_on_every_level():
    """vertex_levels (a design candidate): L_V only on the levels named,
    L_E and L_S on all; spectral='eigvals' reaches the spectral loss."""
    from sekd_mm.models import CRGSpectralLoss
    torch.manual_seed(0)
    algo = sekd_algorithm(
        detector_cfg(depth=18), detector_cfg(depth=18),
        sekd=dict(vertex_levels=('p3', 'p4'), spectral='eigvals'))
    losses = algo(**demo_batch(algo), mode='loss')
    names = {k for k in losses if 'loss_sekd' in k}
    assert names == ({f'distill.loss_sekd_v_{lv}' for lv in ('p3', 'p4')}
                     | {f'distill.loss_sekd_{t}_{lv}'
                        for t in 'es' for lv in LEVELS})
    distiller = algo.distiller
    assert distiller.sekd_losses['s'].form == 'eigvals'
    s, t = distiller.level_features('p5')
    torch.testing.assert_close(
        losses['distill.loss_sekd_s_p5'],
        SHIPPED.gamma * CRGSpectralLoss(
            k=distiller.sekd_losses['s'].k, form='eigvals')(s, t))
    with pytest.raises(TypeError, match='got the string'):
        sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                       sekd=dict(vertex_levels='p3'))
