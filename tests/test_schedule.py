# Copyright (c) sekd-mm contributors. All rights reserved.
"""The embedded schedule follows train_cfg.max_iters (RelativeMultiStepLR
under a real MMEngine runner) and the configs' class count is set once
(DetFpnTeacherDistill)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS
from test_runner_checkpoint import make_runner

from sekd_mm.engine import RelativeMultiStepLR
from sekd_mm.models.algorithms import set_num_classes

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCHEDULE = Config.fromfile(
    osp.join(REPO, 'configs/_base_/schedules/sekd_embedded.py'))


def lrs_of_run(tmp_path, max_iters):
    """The lr of every iteration of a real runner on the embedded
    schedule's step scheduler (warm-up left out; base lr 0.1)."""

    class RecordLR(Hook):

        def __init__(self):
            self.lrs = []

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])

    record = RecordLR()
    make_runner(tmp_path, max_iters, param_scheduler=[
        SCHEDULE.param_scheduler[1]], custom_hooks=[record]).train()
    return record.lrs


@pytest.mark.parametrize('max_iters', [8, 20])
def test_lr_steps_follow_max_iters(max_iters, tmp_path):
    lrs = lrs_of_run(tmp_path, max_iters)
    assert len(lrs) == max_iters
    first, second = int(max_iters * 0.75), int(max_iters * 0.9)
    expected = [0.1 if i < first else 0.01 if i < second else 0.001
                for i in range(max_iters)]
    assert lrs == pytest.approx(expected)


def test_schedule_base_has_no_fixed_length():
    sched = SCHEDULE.param_scheduler[1]
    assert sched.type == 'RelativeMultiStepLR' and 'end' not in sched
    assert SCHEDULE.default_hooks.checkpoint.save_last


def test_relative_multistep_lr_arguments():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = RelativeMultiStepLR(opt, by_epoch=False, end=300)
    assert sorted(sched.milestones) == [225, 270]
    sched = RelativeMultiStepLR(opt, by_epoch=False, begin=100, end=300,
                                milestone_ratios=(0.5, ))
    assert sorted(sched.milestones) == [200]
    # absolute milestones (cfg-options written for MultiStepLR) win
    sched = RelativeMultiStepLR(opt, by_epoch=False, end=300,
                                milestones=[10, 20])
    assert sorted(sched.milestones) == [10, 20]
    with pytest.raises(ValueError, match='leave `end` out'):
        RelativeMultiStepLR(opt, by_epoch=False)
    for bad in [(), (0.9, 0.75), (0.5, 1.0)]:
        with pytest.raises(ValueError, match='increasing fractions'):
            RelativeMultiStepLR(opt, by_epoch=False, end=10,
                                milestone_ratios=bad)


def heads_num_classes(model) -> list:
    """Class counts of the detector's box heads (RetinaNet's bbox_head,
    Faster R-CNN's roi_head.bbox_head; the RPN is class-agnostic)."""
    return sorted({m.num_classes for name, m in model.named_modules()
                   if name.endswith('bbox_head')})


@pytest.mark.parametrize('config', [
    'configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    'configs/peers/pkd_faster-rcnn_r34_faster-rcnn_r18-w32_synthetic.py',
])
def test_one_num_classes_sets_student_and_teacher(config):
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict({'model.num_classes': 2, 'model.teacher_ckpt': None})
    with DefaultScope.overwrite_default_scope('mmrazor'):
        algo = MODELS.build(cfg.model)
    assert heads_num_classes(algo.architecture) == [2]
    assert heads_num_classes(algo.teacher) == [2]
    # without it both keep the config's own class count
    cfg.model.num_classes = None
    with DefaultScope.overwrite_default_scope('mmrazor'):
        algo = MODELS.build(cfg.model)
    assert heads_num_classes(algo.architecture) == [5]


def test_set_num_classes_errors():
    retina = dict(type='RetinaNet', bbox_head=dict(num_classes=5))
    out = set_num_classes(retina, 3)
    assert out['bbox_head']['num_classes'] == 3
    assert retina['bbox_head']['num_classes'] == 5  # a copy
    with pytest.raises(ValueError, match='positive int'):
        set_num_classes(retina, 0)
    with pytest.raises(ValueError, match='no head with a num_classes'):
        set_num_classes(dict(type='X', neck=dict()), 2)
    with pytest.raises(TypeError, match='config dict'):
        set_num_classes(torch.nn.Linear(1, 1), 2)
