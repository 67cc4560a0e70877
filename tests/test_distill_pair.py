# Copyright (c) sekd-mm contributors. All rights reserved.
"""``sekd-mm distill --teacher CFG --student CFG`` (sekd_mm/apis/pair.py):
an MMDetection model-zoo pair distilled end to end at a small size, its
80-class COCO teacher fine-tuned first on a 2-class folder; every method's
config built, with connectors exactly when the FPN widths differ; each
bad input stopped with one message before anything is written."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from test_distill_dataset import make_coco, tool, tool_in_process

TEACHER = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
STUDENT = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'
CLASSES = ('bolt', 'nut')
SMALL = ['--iters', '2', '--teacher-iters', '2', '--img-scale', '64',
         '--batch-size', '2', '--threads', '1']
METHODS = ('sekd', 'sekd_v', 'pkd', 'cwd', 'mgd', 'fitnet')


@pytest.fixture(scope='module')
def coco_teacher(tmp_path_factory):
    """The zoo teacher built for COCO's 80 classes, saved as an MMEngine
    checkpoint (random weights: only its shapes matter here)."""
    from mmdet.registry import MODELS
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    model = get_config(TEACHER).model
    model.backbone.init_cfg = None
    assert model.bbox_head.num_classes == 80
    path = tmp_path_factory.mktemp('teacher') / 'coco_teacher.pth'
    torch.save(dict(state_dict=MODELS.build(model).state_dict(),
                    meta=dict()), path)
    return str(path)


@pytest.fixture
def data(tmp_path):
    return make_coco(str(tmp_path / 'data'), classes=CLASSES, n=(6, 4))


def test_zoo_pair_end_to_end(coco_teacher, data, tmp_path):
    """The COCO teacher is fine-tuned with a new head, then the SEKD and
    PKD students and the student alone train; the table has every row."""
    work = tmp_path / 'work'
    tool('--data-root', data, '--work-dir', str(work), '--teacher', TEACHER,
         '--student', STUDENT, '--student-init', 'none', '--teacher-ckpt',
         coco_teacher, '--teacher-finetune-iters', '3', *SMALL, cwd=tmp_path)
    results = json.loads((work / 'results.json').read_text())
    # the teacher: fine-tuned from the head-less COCO checkpoint, its AP in
    # the table (evaluated by the SEKD student's run)
    assert results['teacher']['finetuned_from'] == coco_teacher
    assert results['teacher']['iters'] == 3
    assert (work / 'teacher' / 'iter_3.pth').is_file()
    teacher_cfg = Config.fromfile(str(work / 'configs' / 'teacher.py'))
    headless = torch.load(teacher_cfg.load_from, map_location='cpu')
    dropped = headless['meta']['dropped']
    assert dropped == ['bbox_head.retina_cls.bias',
                       'bbox_head.retina_cls.weight']
    assert not set(dropped) & set(headless['state_dict'])
    assert teacher_cfg.model.bbox_head.num_classes == 2
    assert teacher_cfg.model.backbone.init_cfg is None
    for stage in ('teacher', 'sekd_student', 'pkd_student',
                  'student_alone'):
        assert 'coco/bbox_mAP' in results['results'][stage], stage
    for stage in ('sekd_student', 'pkd_student'):
        cfg = Config.fromfile(str(work / 'configs' / f'{stage}.py'))
        assert cfg.model.teacher_ckpt == str(work / 'teacher' / 'iter_3.pth')
        assert cfg.model.num_classes == 2
        assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == \
            CLASSES
    report = (work / 'results.md').read_text()
    for row in ('| Teacher retinanet_r50_fpn_1x_coco |',
                '| Student retinanet_r18_fpn_1x_coco + SEKD |',
                '| SEKD - alone |', '| PKD - alone |'):
        assert row in report


@pytest.mark.parametrize('student,differ', [
    (STUDENT, False),  # FPN 256 both
    ('narrow', True),  # the student's FPN at 128
])
def test_every_method_builds_for_the_pair(student, differ, data, tmp_path):
    """``--search --check-only`` writes every method's config for the pair;
    each builds, with connectors exactly when the widths differ, and the
    levels choices name the pair's FPN outputs (RetinaNet: P3-P7)."""
    from mmengine.registry import init_default_scope
    from mmrazor.registry import MODELS

    from sekd_mm.cli.distill_search import method_options
    from sekd_mm.search import Setting
    init = 'none'
    if student == 'narrow':  # and its backbone from a local checkpoint
        student = str(tmp_path / 'narrow.py')
        with open(student, 'w') as f:
            f.write(f"_base_ = '{STUDENT}'\n"
                    'model = dict(neck=dict(out_channels=128), bbox_head=dict('
                    'in_channels=128, feat_channels=128))\n')
        init = str(tmp_path / 'r18.pth')
        torch.save({}, init)
    work = tmp_path / 'work'
    assert tool_in_process(
        '--data-root', data, '--work-dir', str(work), '--teacher', TEACHER,
        '--student', student, '--student-init', init, '--teacher-init',
        'none', '--search', '--methods', *METHODS, '--warmups', '0',
        '--tune-fraction', '0.4',
        '--check-only', *SMALL) == ''
    alone = Config.fromfile(str(work / 'configs' / 'student_alone.py'))
    assert alone.model.backbone.init_cfg == (
        None if init == 'none' else dict(type='Pretrained', checkpoint=init))
    assert alone.model.neck.out_channels == (128 if differ else 256)
    init_default_scope('mmrazor')
    for method in METHODS:
        path = str(work / 'configs' / f'search_{method}.py')
        cfg = Config.fromfile(path)
        assert cfg.model.num_classes == 2
        model = dict(cfg.model.to_dict(), teacher_ckpt=None)
        algo = MODELS.build(model)
        assert bool(len(algo.distiller.connectors)) == (
            differ or method == 'mgd'), method
        options = method_options(method, Setting(1.0, 'no_small', 0), path)
        if method in ('sekd', 'sekd_v'):
            assert 'model.distiller.sekd.levels=(p3,p4,p5)' in options
        else:
            key = 'alpha_mgd' if method == 'mgd' else 'loss_weight'
            for level in ('p6', 'p7'):
                assert f'model.distiller.distill_losses.loss_{method}_' \
                    f'{level}.{key}=0' in options
    assert not (work / 'teacher').exists()


def test_init_in_the_torch_hub_cache_loads_offline(monkeypatch, tmp_path):
    """A URL initialisation passes once its file is in the torch hub
    cache, where MMEngine looks for it."""
    from sekd_mm.apis import PairError, check_init
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    url = 'https://download.pytorch.org/models/resnet18-f37072fd.pth'
    model = dict(backbone=dict(init_cfg=dict(type='Pretrained',
                                             checkpoint=url)))
    with pytest.raises(PairError, match='not in the torch hub cache'):
        check_init(model, 'student', '--student-init')
    cache = tmp_path / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    (cache / 'resnet18-f37072fd.pth').write_bytes(b'')
    check_init(model, 'student', '--student-init')


def test_launcher_reaches_the_training_command(monkeypatch, tmp_path):
    """``--launcher pytorch`` runs each training under torchrun with the
    training's own ``--launcher pytorch``."""
    from sekd_mm.apis import pipeline
    seen = []
    monkeypatch.setattr(pipeline, 'run_tool',
                        lambda cmd, log_file, tool: seen.append(cmd))
    (tmp_path / 'last_checkpoint').write_text('x.pth')
    monkeypatch.setenv('PORT', '29611')
    assert pipeline.train('a.py', str(tmp_path), launcher='pytorch',
                          nproc=2, threads=1) == 'x.pth'
    cmd = seen[0]
    assert cmd[1:3] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=2' in cmd and '--master_port=29611' in cmd
    i = cmd.index(pipeline.TRAIN_MODULE)
    assert cmd[i - 1:i + 2] == ['-m', pipeline.TRAIN_MODULE, 'a.py']
    assert cmd[-2:] == ['--launcher', 'pytorch']
    pipeline.train('a.py', str(tmp_path))
    assert seen[1][1:3] == ['-m', pipeline.TRAIN_MODULE]
    assert '--launcher' not in seen[1]


@pytest.mark.parametrize('args,message', [
    (['--teacher', TEACHER], '--teacher needs --student'),
    (['--teacher', TEACHER, '--student', STUDENT, '--detector',
      'retinanet'], '--detector chooses the embedded pair'),
    (['--teacher', TEACHER, '--student', 'mmdet::retinanet/nope.py'],
     'mim search mmdet --model retinanet'),
    (['--teacher', TEACHER, '--student', 'missing.py'],
     'no such config file'),
    (['--teacher', TEACHER, '--student',
      'mmdet::yolo/yolov3_d53_8xb8-320-273e_coco.py'],
     'the student mmdet::yolo/yolov3_d53_8xb8-320-273e_coco.py has no '
     'FPN-style neck'),
    # the zoo's torchvision://resnet18, with an empty torch hub cache
    (['--teacher', TEACHER, '--student', STUDENT, '--teacher-init', 'none'],
     'or --student-init none (train the backbone from scratch)'),
    (['--teacher', TEACHER, '--student', STUDENT, '--student-init',
      'absent.pth', '--teacher-init', 'none'], 'absent.pth, which does not '
     'exist'),
    (['--teacher', TEACHER, '--student', STUDENT, '--student-init', 'none'],
     'the teacher backbone is initialised from torchvision://resnet50'),
    (['--student-init', 'none'], '--student-init needs --teacher/--student'),
    (['--teacher', TEACHER, '--student', STUDENT, '--student-init', 'none',
      '--teacher-init', 'none', '--search', '--methods', 'ega'],
     "method 'ega' is not offered"),
])
def test_bad_pair_stops_before_anything_is_written(args, message, data,
                                                   tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.chdir(tmp_path)
    msg = tool_in_process('--data-root', data, '--work-dir',
                          str(tmp_path / 'work'), *args, *SMALL)
    assert msg.startswith('[distill]') and message in msg, msg
    assert msg.count('\n') == 0
    assert not (tmp_path / 'work').exists()


def test_embedded_teacher_of_other_classes_is_fine_tuned(data, tmp_path):
    """The embedded pair's teacher of 5 classes: ``--check-only`` writes
    its fine-tuning (head-less start, ``--teacher-finetune-iters``) and
    students that distil from the fine-tuned teacher."""
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS

    from sekd_mm.utils import config_path
    cfg = Config.fromfile(config_path('embedded/retinanet_r34_synthetic.py'))
    with DefaultScope.overwrite_default_scope('mmdet'):
        teacher = MODELS.build(cfg.model)
    torch.save(dict(state_dict=teacher.state_dict()), tmp_path / 't.pth')
    work = tmp_path / 'work'
    assert tool_in_process(
        '--data-root', data, '--work-dir', str(work), '--teacher-ckpt',
        str(tmp_path / 't.pth'), '--teacher-finetune-iters', '7',
        '--check-only', *SMALL) == ''
    teacher_cfg = Config.fromfile(str(work / 'configs' / 'teacher.py'))
    assert teacher_cfg.load_from == str(work / 'data' /
                                        'teacher_headless.pth')
    assert teacher_cfg.train_cfg.max_iters == 7
    state = torch.load(teacher_cfg.load_from)['state_dict']
    assert 'bbox_head.retina_cls.weight' not in state
    assert 'bbox_head.retina_reg.weight' in state
    student = Config.fromfile(str(work / 'configs' / 'sekd_student.py'))
    assert student.model.teacher_ckpt == str(work / 'teacher' / 'iter_7.pth')
    assert not (work / 'teacher').exists()


def test_no_teacher_finetune_refuses_other_classes(coco_teacher, data,
                                                   tmp_path):
    msg = tool_in_process(
        '--data-root', data, '--work-dir', str(tmp_path / 'work'),
        '--teacher', TEACHER, '--student', STUDENT, '--student-init', 'none',
        '--teacher-ckpt', coco_teacher, '--no-teacher-finetune', *SMALL)
    assert 'was trained for another class count' in msg, msg
    assert 'leave out --no-teacher-finetune' in msg
    assert not (tmp_path / 'work').exists()
    assert osp.isfile(coco_teacher)
