# Copyright (c) sekd-mm contributors. All rights reserved.
"""SEKDDistiller inside MMRazor's FpnTeacherDistill with real RetinaNets."""
import copy
import os.path as osp
from dataclasses import asdict

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
    design = {k: v for k, v in asdict(SHIPPED).items()
              if k not in ('alpha', 'beta', 'gamma')}
    assert {k: spec.get(k, v) for k, v in design.items()} == design
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
    weights = [spec.get(k, getattr(SHIPPED, k))
               for k in ('alpha', 'beta', 'gamma')]
    assert all(w > 0 for w in weights)  # every term is compared
    for term, loss_fn, weight in zip('ves', (CRGVertexLoss(), CRGEdgeLoss(),
                                             CRGSpectralLoss()), weights):
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
    # the graph candidates left the package (docs/design_log.md)
    (dict(vertex_levels=('p3', )), {},
     "Unknown SEKD option.*'vertex_levels'"),
    (dict(cells=2, box_graph=True), {},
     r"Unknown SEKD option.*\['box_graph', 'cells'\]"),
    (dict(edge_relation='cka', spectral='eigvals'), {},
     r"Unknown SEKD option.*\['edge_relation', 'spectral'\]"),
    (dict(student_connectors=dict(p9=dict(type='ConvModuleConnector'))), {},
     r"student_connectors has unknown level\(s\) \['p9'\]"),
    (dict(student_connectors=dict(p3=dict(type='ConvModuleConnector',
                                          in_channel=256, out_channel=256))),
     dict(connectors=dict(sekd_student_p3=dict(
         type='ConvModuleConnector', in_channel=256, out_channel=256))),
     "'sekd_student_p3' is reserved for SEKD"),
])
def test_bad_spec_errors_at_build_time(sekd, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                       sekd=sekd, **kwargs)


def test_recorder_source_is_checked_by_mmrazor():
    """A recorder source that is not a submodule stops MMRazor's
    RecorderManager when the algorithm prepares the models (SEKD does not
    repeat that check)."""
    with pytest.raises(AssertionError, match='"nek" is not in the model'):
        sekd_algorithm(detector_cfg(depth=18), detector_cfg(depth=18),
                       student_recorders=dict(fpn=dict(
                           type='ModuleOutputs', source='nek')))


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
