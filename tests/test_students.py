# Copyright (c) sekd-mm contributors. All rights reserved.
"""The study's other students (benchmarks/methods.py, ``STUDENTS``): the
quarter-width R-18 and MobileNetV2 RetinaNets have every tuned row's
config, their connectors take the student's width, one training step of
each distils from the R-34 teacher, and ``--student`` keeps their runs
apart from the default student's."""
import json
import math
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from sekd_test_utils import build_model, demo_batch
from test_tools import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import accuracy_study  # noqa: E402
import methods  # noqa: E402
import runs  # noqa: E402

sys.path.pop(0)

OTHERS = [s for s in methods.STUDENTS if s != 'r18-w32']
#: every tuned row of the fair protocol, and the student alone
ROWS = ['alone', 'sekd', 'sekd_v', 'pkd', 'cwd', 'mgd', 'fitnet']
#: the FPN width of each student (the teacher's is 128)
FPN = {'r18-w32': 64, 'r18-w16': 32, 'mbv2': 64}


def _chosen(student):
    """SEKD's setting that the student's same-choices search chose."""
    path = osp.join(REPO, 'docs', 'results', f'tuning_short_retinanet'
                    f'{methods.student_suffix(student)}_same-choices.json')
    with open(path, encoding='utf-8') as f:
        return json.load(f)['rows']['sekd']['chosen']


def _config(name, student):
    method = methods.METHODS[name]
    cfg = runs.resolve_config(method.config('retinanet', student),
                              list(method.options))
    return method, cfg


@pytest.mark.parametrize('student', OTHERS)
@pytest.mark.parametrize('name', ROWS)
def test_every_row_has_the_students_config(name, student):
    method, cfg = _config(name, student)
    default = runs.resolve_config(method.config('retinanet'),
                                  list(method.options))
    model = cfg.model.architecture if method.distills else cfg.model
    assert model.neck.out_channels == FPN[student]
    assert model.bbox_head.in_channels == FPN[student]
    if not method.distills:
        return
    # the same teacher, schedule and distillation as the default student's;
    # SEKD's config (V only's too) ships the warm-up that the student's own
    # search chose for SEKD
    assert cfg.model.teacher == default.model.teacher
    assert cfg.train_cfg == default.train_cfg
    distiller = cfg.model.distiller
    warmup = _chosen(student)['warmup'] if 'sekd' in distiller else \
        default.model.distill_warmup_iters
    assert cfg.model.distill_warmup_iters == warmup
    if 'sekd' in distiller:
        connector = distiller.sekd.student_connectors
        assert connector.in_channel == FPN[student]
        assert connector.out_channel == 128
        expected = dict(default.model.distiller.sekd,
                        student_connectors=connector)
        assert distiller.sekd == expected
        return
    for connector in distiller.connectors.values():
        width = connector.get('in_channel', connector.get('student_channels'))
        assert width == FPN[student]
    assert distiller.distill_losses == default.model.distiller.distill_losses


@pytest.mark.parametrize('student', OTHERS)
@pytest.mark.parametrize('name', ['alone', 'sekd', 'pkd', 'mgd'])
def test_one_step_of_each_student_distils(name, student):
    """A loss forward of the real configs (random weights, 64 px): the
    detector's losses and, distilled, every level's terms are finite."""
    _, cfg = _config(name, student)
    if cfg.model.get('teacher_ckpt'):
        cfg.model.teacher_ckpt = None
    scope = 'mmrazor' if 'distiller' in cfg.model else 'mmdet'
    torch.manual_seed(0)
    model = build_model(dict(cfg.model, _scope_=scope))
    losses = model(**demo_batch(model), mode='loss')
    terms = {k: v for k, v in losses.items() if 'loss' in k}
    for key, value in terms.items():
        total = sum(v.sum() for v in value) if isinstance(value, list) \
            else value.sum()
        total = total.detach()
        assert math.isfinite(float(total)), key
    distill = sorted(k[len('distill.'):] for k in terms
                     if k.startswith('distill.'))
    if name == 'alone':
        assert not distill
    elif name == 'sekd':  # V, E and S on the shipped levels p2-p4
        assert distill == sorted(f'loss_sekd_{t}_{lv}' for t in 'ves'
                                 for lv in ('p2', 'p3', 'p4'))
    else:  # MMRazor's peers on all five levels
        assert distill == [f'loss_{name}_p{i}' for i in range(2, 7)]


def test_student_option_keeps_the_runs_apart(tmp_path):
    base = ['--work-dir', str(tmp_path), '--methods', 'alone', 'sekd']
    default = accuracy_study.parse_args(base)
    quarter = accuracy_study.parse_args(base + ['--student', 'r18-w16'])
    assert accuracy_study.split_dir_of(default) == osp.join(
        str(tmp_path), 'short-report')
    assert accuracy_study.split_dir_of(quarter) == osp.join(
        str(tmp_path), 'short-report_r18-w16')
    # one teacher for every student
    assert accuracy_study.teacher_run(quarter).args == \
        accuracy_study.teacher_run(default).args
    made = accuracy_study.student_runs(
        quarter, accuracy_study.variants(quarter,
                                         methods.select(quarter.methods)),
        'teacher.pth', 't')
    assert {r.config for r in made} == {
        'configs/embedded/retinanet_r18-w16_synthetic.py',
        'configs/sekd/sekd_retinanet_r34_retinanet_r18-w16_synthetic.py'}


def test_a_student_without_a_config_is_an_error_before_training(capsys):
    with pytest.raises(SystemExit):
        accuracy_study.parse_args(['--detector', 'faster-rcnn',
                                   '--student', 'mbv2'])
    assert 'has no faster-rcnn config for the student mbv2' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):  # EGA has no config for the others
        accuracy_study.parse_args(['--student', 'r18-w16', '--methods',
                                   'ega'])
    with pytest.raises(ValueError, match='unknown student'):
        methods.METHODS['sekd'].config('retinanet', 'r18-w8')


def test_students_configs_name_their_student():
    for student in OTHERS:
        config = methods.METHODS['alone'].config('retinanet', student)
        cfg = Config.fromfile(osp.join(REPO, config))
        assert cfg.model.type == 'RetinaNet'
        backbone = cfg.model.backbone
        if student == 'mbv2':
            assert backbone.type == 'MobileNetV2' and 'depth' not in backbone
        else:
            assert backbone.type == 'ResNet' and backbone.base_channels == 16
