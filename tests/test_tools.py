# Copyright (c) sekd-mm contributors. All rights reserved.
"""The real tools end to end on the embedded dataset (CPU, tiny sizes):
train -> checkpoint -> resume -> test, DDP with 2 gloo ranks, export to
plain mmdet, mim train, the reliability checks, the ``sekd-mm`` commands and
the main job."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from sekd_test_utils import SMALL

from sekd_mm.datasets import CLASSES

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable
#: Each detector once, each dataset format (and metric) once; every config
#: of both formats builds in test_every_config_loads_and_builds.
PAIRS = {
    # name: (distill config, teacher config, plain student config, voc)
    'retinanet-coco':
    ('configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
     'configs/embedded/retinanet_r34_synthetic.py',
     'configs/embedded/retinanet_r18-w32_synthetic.py', False),
    'faster-rcnn-voc':
    ('configs/sekd/sekd_faster-rcnn_r34_faster-rcnn_r18-w32_synthetic-'
     'voc.py', 'configs/embedded/faster-rcnn_r34_synthetic-voc.py',
     'configs/embedded/faster-rcnn_r18-w32_synthetic-voc.py', True),
}


def data_options(root: str, voc: bool) -> list:
    """cfg-options pointing a config at the small test dataset."""
    opts = ['default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root=' +
            (osp.join(root, 'VOCdevkit/') if voc else root + '/'),
            f'{loader}.batch_size=2', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
        opts += [f'{loader}.dataset.synthetic.{k}={v}'
                 for k, v in SMALL.items()]
    if not voc:
        ann = osp.join(root, 'annotations/instances_val.json')
        opts += [f'val_evaluator.ann_file={ann}',
                 f'test_evaluator.ann_file={ann}']
    return opts


def run(cmd, cwd=REPO, timeout=600, check=True, env=None):
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})))
    if check and proc.returncode != 0:
        raise AssertionError(f'{cmd} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def train(config, work_dir, opts, extra=(), check=True):
    return run([PY, 'tools/train.py', config, '--work-dir',
                str(work_dir), '--seed', '0', *extra, '--cfg-options',
                *opts], check=check)


def build(cfg_model, scope='mmdet'):
    from mmrazor.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg_model)


def save_model_ckpt(config: str, path, classes=CLASSES, student=False):
    """A checkpoint of the (random-init) model of ``config``, with meta."""
    cfg = Config.fromfile(osp.join(REPO, config))
    model = build(cfg.student_model if student else cfg.model)
    torch.save(dict(
        state_dict=model.state_dict(),
        meta=dict(dataset_meta=dict(classes=tuple(classes)))), path)
    return str(path)


def scalars(work_dir):
    """Per-iteration training scalars from MMEngine's vis_data logs."""
    rows = {}
    for path in glob.glob(osp.join(str(work_dir), '*/vis_data/scalars.json')):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'loss' in row and 'iter' in row:
                    rows[row['iter']] = row
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
def all_configs():
    return sorted(
        osp.relpath(p, REPO)
        for p in glob.glob(osp.join(REPO, 'configs/**/*.py'), recursive=True)
        if '_base_' not in p)


@pytest.mark.parametrize('config', all_configs())
def test_every_config_loads_and_builds(config):
    cfg = Config.fromfile(osp.join(REPO, config))
    model_cfg = cfg.model
    if model_cfg.get('teacher_ckpt'):
        model_cfg.teacher_ckpt = None  # official URLs are not reachable
    model = build(model_cfg, scope=cfg.get('default_scope', 'mmdet'))
    assert sum(p.numel() for p in model.parameters()) > 0
    if 'distiller' in model_cfg:
        assert type(model.distiller).__name__ == model_cfg.distiller.type
    # mmdet's convention: an iteration-based loop reads an endless sampler
    # (DefaultSampler's epochs end and mmengine warns at every restart)
    if cfg.train_cfg.get('type') == 'IterBasedTrainLoop':
        assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'


@pytest.mark.parametrize('pair', sorted(PAIRS))
def test_train_checkpoint_resume_test(pair, data_root, tmp_path):
    distill, teacher_cfg, _, voc = PAIRS[pair]
    teacher = save_model_ckpt(teacher_cfg, tmp_path / 'teacher.pth')
    opts = data_options(data_root, voc) + [
        f'model.teacher_ckpt={teacher}',
        # no augmentation randomness: resumed and straight runs must agree
        'train_dataloader.dataset.pipeline.3.prob=0.0',
        # one lr schedule for the 2- and the 4-iteration run (the base's
        # steps follow max_iters; a resumed run keeps its first schedule)
        'param_scheduler.1.end=600'
    ]
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    train(distill, straight, opts + ['train_cfg.max_iters=4'])
    train(distill, resumed, opts + ['train_cfg.max_iters=2'])
    assert osp.isfile(resumed / 'iter_2.pth')
    proc = train(distill, resumed, opts + ['train_cfg.max_iters=4'],
                 extra=['--resume'])
    output = proc.stdout + proc.stderr
    assert 'resumed' in output.lower()
    # quiet runs: no setuptools deprecation noise (mmengine's package
    # checks printed it 3-4 times per tool before sekd_mm.compat)
    assert 'pkg_resources' not in output
    a, b = scalars(straight), scalars(resumed)
    assert sorted(a) == [1, 2, 3, 4] and {3, 4} <= set(b)
    for it in (3, 4):
        sekd_a = {k: v for k, v in a[it].items() if 'loss_sekd' in k}
        assert len(sekd_a) == 9  # 3 terms x 3 levels, logged separately
        for key in ['loss'] + sorted(sekd_a):
            assert b[it][key] == pytest.approx(a[it][key], rel=1e-4), key

    metrics_file = tmp_path / 'metrics.json'
    # after 4 iterations no score passes 0.05: keep every detection
    thr = ('model.architecture.test_cfg.score_thr=0.0' if 'retina' in pair
           else 'model.architecture.test_cfg.rcnn.score_thr=0.0')
    run([PY, 'tools/test.py', distill, str(resumed / 'iter_4.pth'),
         '--work-dir', str(tmp_path / 'test'), '--metrics-out',
         str(metrics_file), '--cfg-options', *data_options(data_root, voc),
         thr])
    metrics = json.loads(metrics_file.read_text())
    key = 'pascal_voc/mAP' if voc else 'coco/bbox_mAP'
    assert key in metrics and 0.0 <= metrics[key] <= 1.0


@pytest.fixture(scope='module')
def distilled(data_root, tmp_path_factory):
    """A RetinaNet SEKD run of 2 iterations (COCO layout)."""
    tmp = tmp_path_factory.mktemp('distilled')
    distill, teacher_cfg, student_cfg, _ = PAIRS['retinanet-coco']
    teacher = save_model_ckpt(teacher_cfg, tmp / 'teacher.pth')
    opts = data_options(data_root, False) + [
        f'model.teacher_ckpt={teacher}', 'train_cfg.max_iters=2'
    ]
    train(distill, tmp / 'work', opts)
    return dict(ckpt=str(tmp / 'work' / 'iter_2.pth'), tmp=tmp,
                teacher=teacher, opts=opts)


def test_export_student_matches_distilled_student(distilled, data_root):
    from mmdet.apis import inference_detector, init_detector
    distill, _, student_cfg, _ = PAIRS['retinanet-coco']
    out = distilled['tmp'] / 'student.pth'
    run([PY, 'tools/export_student.py', distilled['ckpt'], str(out),
         '--config', student_cfg])
    exported = torch.load(out)
    assert set(exported) == {'meta', 'state_dict'}
    assert tuple(exported['meta']['dataset_meta']['classes']) == CLASSES
    assert not any(k.startswith(('teacher.', 'distiller.'))
                   for k in exported['state_dict'])

    img = sorted(glob.glob(osp.join(data_root, 'val', '*.jpg')))[0]
    # after 2 iterations no score passes 0.05: keep every detection
    plain = init_detector(osp.join(REPO, student_cfg), str(out),
                          device='cpu',
                          cfg_options={'model.test_cfg.score_thr': 0.0})
    cfg = Config.fromfile(osp.join(REPO, distill))
    cfg.model.teacher_ckpt = None
    cfg.model.architecture.test_cfg.score_thr = 0.0
    algo = build(cfg.model, scope='mmrazor')
    from mmengine.runner import load_checkpoint
    load_checkpoint(algo, distilled['ckpt'], map_location='cpu')
    student = algo.architecture.eval()
    student.cfg = plain.cfg
    got = inference_detector(plain, img).pred_instances
    want = inference_detector(student, img).pred_instances
    assert len(want.bboxes) > 0
    torch.testing.assert_close(got.bboxes, want.bboxes)
    torch.testing.assert_close(got.scores, want.scores)

    # mmdet's own test tool with the plain student config
    import mmdet
    mmdet_test = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                          'test.py')
    proc = run([PY, mmdet_test, student_cfg, str(out), '--work-dir',
                str(distilled['tmp'] / 'mmdet_test'), '--cfg-options',
                *data_options(data_root, False),
                'model.test_cfg.score_thr=0.0'])
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr


def test_plain_student_config_of_a_model_zoo_pair():
    """An MMRazor ``cfg_path`` student (mmdet's R-50 RetinaNet) becomes
    its mmdet config, with no sekd_mm import left (the COCO data and the
    hooks are plain); a config that distils nothing is refused."""
    from sekd_mm.cli.export import plain_student_config
    cfg = plain_student_config('sekd/sekd_retinanet_r101_retinanet_r50_2x_'
                               'coco.py')
    assert 'custom_imports' not in cfg and 'custom_hooks' not in cfg
    assert cfg.model.backbone.depth == 50
    assert cfg.model.data_preprocessor.type == 'DetDataPreprocessor'
    assert cfg.test_dataloader.dataset.type == 'CocoDataset'
    assert build(cfg.model).bbox_head.num_classes == 80
    with pytest.raises(ValueError, match='no model.architecture'):
        plain_student_config(PAIRS['retinanet-coco'][2])


def copypaste(output: str) -> str:
    """The ``bbox_mAP_copypaste`` numbers of a test run's output."""
    return [line for line in output.splitlines()
            if 'bbox_mAP_copypaste' in line][-1].split('copypaste:')[1]


def test_export_plain_student_runs_in_mmdet_test(distilled, data_root):
    """``sekd-mm export CKPT OUT --distill-config CFG`` writes a plain
    mmdet config (no teacher, no MMRazor; sekd_mm imported for the
    embedded dataset only) and the student's checkpoint; mmdet's own
    test.py gets the distilled student's val metrics from them."""
    distill = PAIRS['retinanet-coco'][0]
    out = distilled['tmp'] / 'plain'
    proc = run([PY, '-m', 'sekd_mm.cli.main', 'export', distilled['ckpt'],
                str(out), '--distill-config', distill])
    assert 'student.py' in proc.stdout
    text = (out / 'student.py').read_text()
    assert 'mmrazor' not in text and 'teacher' not in text
    for hook in ('TeacherCheckHook', 'RNGStateHook', 'SingleTeacher'):
        assert hook not in text
    cfg = Config.fromfile(str(out / 'student.py'))
    assert cfg.default_scope == 'mmdet' and cfg.model.type == 'RetinaNet'
    assert cfg.custom_imports['imports'] == ['sekd_mm']  # the dataset
    assert cfg.val_cfg.type == 'ValLoop' and cfg.get('load_from') is None
    state = torch.load(out / 'student.pth')['state_dict']
    assert state and not any(k.startswith(('architecture.', 'teacher.'))
                             for k in state)

    import mmdet
    mmdet_test = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                          'test.py')
    opts = data_options(data_root, False)
    plain = run([PY, mmdet_test, str(out / 'student.py'),
                 str(out / 'student.pth'), '--work-dir', str(out / 'test'),
                 '--cfg-options', *opts, 'model.test_cfg.score_thr=0.0'])
    ours = run([PY, 'tools/test.py', distill, distilled['ckpt'],
                '--work-dir', str(out / 'test_distill'), '--cfg-options',
                *opts, 'model.architecture.test_cfg.score_thr=0.0'])
    metrics = copypaste(plain.stdout + plain.stderr)
    assert metrics == copypaste(ours.stdout + ours.stderr)
    assert float(metrics.split()[1]) > 0  # AP50: boxes were found
    with pytest.raises(SystemExit):  # one way to verify at a time
        from sekd_mm.cli.export import main
        main([distilled['ckpt'], str(out), '--distill-config', distill,
              '--config', PAIRS['retinanet-coco'][2]])


def test_dist_train_two_gloo_ranks_same_parameters(distilled, data_root,
                                                   tmp_path):
    hook_dir = tmp_path / 'hook'
    hook_dir.mkdir()
    (hook_dir / 'dump_params_hook.py').write_text(
        'import os, torch\n'
        'from mmengine.hooks import Hook\n'
        'from mmengine.registry import HOOKS\n'
        '@HOOKS.register_module()\n'
        'class DumpParamsHook(Hook):\n'
        '    def after_train(self, runner):\n'
        '        model = getattr(runner.model, "module", runner.model)\n'
        '        # parameters; BN running stats are per rank by design\n'
        '        # (MMEngine wraps DDP with broadcast_buffers=False)\n'
        '        state = {k: v.detach().clone() for k, v in\n'
        '                 model.named_parameters()}\n'
        '        torch.save(state, os.path.join(runner.work_dir,\n'
        '                   f"params_rank{runner.rank}.pt"))\n')
    config = tmp_path / 'dist_config.py'
    config.write_text(
        f"_base_ = [{osp.join(REPO, PAIRS['retinanet-coco'][0])!r}]\n"
        "custom_imports = dict(imports=['sekd_mm', 'dump_params_hook'])\n"
        "default_hooks = dict(dump_params=dict(type='DumpParamsHook'))\n")
    work = tmp_path / 'work'
    proc = run(
        ['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir',
         str(work), '--seed', '0', '--cfg-options', *distilled['opts']],
        env=dict(PORT=str(free_port()), PYTHON=PY,
                 PYTHONPATH=str(hook_dir), OMP_NUM_THREADS='1'))
    assert osp.isfile(work / 'iter_2.pth'), proc.stdout[-2000:]
    p0 = torch.load(work / 'params_rank0.pt')
    p1 = torch.load(work / 'params_rank1.pt')
    assert p0.keys() == p1.keys()
    assert any(k.startswith('architecture.') for k in p0)
    for k in p0:
        torch.testing.assert_close(p0[k], p1[k], rtol=0, atol=0)


def test_mim_train_mmdet_with_sekd_config(distilled, tmp_path):
    mim = osp.join(osp.dirname(PY), 'mim')
    distill = PAIRS['retinanet-coco'][0]
    proc = run([mim, 'train', 'mmdet', distill, '--gpus', '0', '--work-dir',
                str(tmp_path / 'mim'), '--cfg-options', *distilled['opts'],
                'train_cfg.max_iters=1'])
    assert osp.isfile(tmp_path / 'mim' / 'iter_1.pth'), proc.stdout[-2000:]


@pytest.mark.parametrize('config,teacher_cfg,sekd', [
    ('configs/ega/sekd-ega_retinanet_r34_retinanet_r18-w32_synthetic.py',
     'configs/embedded/retinanet_r34_synthetic.py', 9),
    ('configs/ega/ega_faster-rcnn_r34_faster-rcnn_r18-w32_synthetic.py',
     'configs/embedded/faster-rcnn_r34_synthetic.py', 0),
])
def test_ega_configs_log_every_term(config, teacher_cfg, sekd, data_root,
                                    tmp_path):
    teacher = save_model_ckpt(teacher_cfg, tmp_path / 'teacher.pth')
    train(config, tmp_path / 'w', data_options(data_root, False) + [
        f'model.teacher_ckpt={teacher}', 'train_cfg.max_iters=2'])
    row = scalars(tmp_path / 'w')[2]
    assert {'distill.loss_ega_node', 'distill.loss_ega_edge'} <= set(row)
    assert len([k for k in row if 'loss_sekd_' in k]) == sekd
    assert all(row[k] == row[k] for k in row)  # no NaN


# --- reliability -----------------------------------------------------------
def test_missing_teacher_checkpoint_fails_before_training(data_root,
                                                          tmp_path):
    distill = PAIRS['retinanet-coco'][0]
    proc = train(distill, tmp_path / 'w',
                 data_options(data_root, False) +
                 ['model.teacher_ckpt=/nonexistent/teacher.pth'],
                 check=False)
    assert proc.returncode != 0
    assert 'Teacher checkpoint' in proc.stderr and 'not found' in proc.stderr
    assert 'Iter(train)' not in proc.stdout + proc.stderr


@pytest.mark.parametrize('problem', ['architecture', 'classes', 'none'])
def test_wrong_teacher_fails_before_training(problem, data_root, tmp_path):
    distill, teacher_cfg, _, _ = PAIRS['retinanet-coco']
    opts = data_options(data_root, False)
    if problem == 'architecture':  # a checkpoint of the student instead
        ckpt = save_model_ckpt(
            'configs/_base_/models/sekd_embedded_retinanet.py',
            tmp_path / 'student.pth', student=True)
        opts.append(f'model.teacher_ckpt={ckpt}')
        match = 'does not hold the weights of the teacher model'
    elif problem == 'classes':
        ckpt = save_model_ckpt(teacher_cfg, tmp_path / 't.pth',
                               classes=('a', 'b', 'c', 'd', 'e'))
        opts.append(f'model.teacher_ckpt={ckpt}')
        match = 'trained on classes'
    else:
        opts.append('model.teacher_ckpt=')
        match = 'random teacher'
    proc = train(distill, tmp_path / 'w', opts, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and match in log, log[-3000:]
    assert 'Iter(train)' not in log


def test_teacher_checkpoint_check_names_each_problem():
    """The one teacher-checkpoint check (TeacherCheckHook,
    tools/distill_dataset.py, tools/visualize_crg.py): the first problem,
    in order classes, names, shapes, values, and its fix."""
    from sekd_mm.engine import TeacherCheckpointError as Error
    from sekd_mm.engine import check_teacher_checkpoint as check

    def teacher(classes=2):
        torch.manual_seed(0)
        return torch.nn.ModuleDict(dict(
            neck=torch.nn.Conv2d(3, 4, 1),
            retina_cls=torch.nn.Conv2d(4, classes, 1)))

    model = teacher()
    state = model.state_dict()
    meta = dict(dataset_meta=dict(classes=('a', 'b')))
    wrapped = {'module.' + k: v for k, v in state.items()}
    assert set(check(model, dict(state_dict=wrapped, meta=meta), 'T.pth',
                     classes=('a', 'b'), loaded=True)) == set(state)
    with pytest.raises(Error, match=r"T.pth was trained on classes \('a', "
                       r"'b'\), but the dataset has \('b', 'a'\)\. Use a "):
        check(model, dict(state_dict=state, meta=meta), 'T.pth',
              classes=('b', 'a'))
    distilled = {'architecture.' + k: v for k, v in state.items()}
    with pytest.raises(Error, match='does not hold the weights of the '
                       'teacher model: 4 missing keys.*4 unexpected.*'
                       'export its student first'):
        check(model, distilled)
    other = teacher(classes=5).state_dict()
    with pytest.raises(Error, match=r"another class count: its classifier "
                       r"'retina_cls.weight' has shape \(5, 4, 1, 1\), the "
                       r"T teacher \(2, 4, 1, 1\)\. Do this\."):
        check(model, other, what='the T teacher', fix='Do this.')
    wide = dict(state, **{'neck.bias': torch.zeros(5)})
    with pytest.raises(Error, match=r"1 of another shape, e.g. 'neck.bias'"):
        check(model, wide)
    changed = {k: v + 1 for k, v in state.items()}
    check(model, changed)  # the values only count once loaded
    with pytest.raises(Error, match='not initialised from teacher_ckpt'):
        check(model, changed, loaded=True)


def test_non_finite_distillation_loss_stops_training(distilled, tmp_path):
    """A diverged teacher (an inf in its P2 output) makes the P2 terms
    non-finite: training stops before the first optimizer step and names
    the term. (Huge loss weights are no reliable trigger: 1e38 times a
    standardised-vertex loss below 3.4 is still a finite float32.)"""
    distill = PAIRS['retinanet-coco'][0]
    ckpt = torch.load(distilled['teacher'])
    ckpt['state_dict']['neck.fpn_convs.0.conv.bias'][0] = float('inf')
    torch.save(ckpt, tmp_path / 'diverged.pth')
    opts = [o for o in distilled['opts']
            if not o.startswith('model.teacher_ckpt=')]
    proc = train(distill, tmp_path / 'w', opts + [
        f'model.teacher_ckpt={tmp_path / "diverged.pth"}'], check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'FloatingPointError' in log and 'loss_sekd_v_p2' in log
    assert 'Iter(train)' not in log
    assert not osp.exists(tmp_path / 'w' / 'iter_2.pth')


# --- the sekd-mm commands -------------------------------------------------
def test_console_script_commands_share_their_parsers():
    """``sekd-mm <command>`` parses exactly the options of ``python -m
    sekd_mm.cli.<command>`` (one parser definition per command) and runs
    that command's ``run``."""
    import argparse
    import importlib

    from sekd_mm.cli.args import command_parser
    from sekd_mm.cli.main import COMMANDS, build_parser

    def options(parser):
        return sorted(
            (a.dest, tuple(a.option_strings), a.default, a.required)
            for a in parser._actions
            if not isinstance(a, (argparse._HelpAction,
                                  argparse._SubParsersAction)))

    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction)).choices
    assert sorted(subparsers) == ['dataset', 'distill', 'export',
                                  'main-job', 'test', 'train']
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f'sekd_mm.cli.{module_name}')
        own = command_parser(module.__doc__)
        module.add_arguments(own)
        assert options(subparsers[name]) == options(own), name
    from sekd_mm.cli import dataset, distill, train
    args = build_parser().parse_args(['dataset', 'hela', '--out', 'o'])
    assert args.run is dataset.run and (args.name, args.out) == ('hela', 'o')
    args = build_parser().parse_args(
        ['distill', '--data-root', 'd', '--check-only', '--iters', '3'])
    assert args.run is distill.run and args.check_only and args.iters == 3
    args = build_parser().parse_args(['train', 'c.py', '--threads', '2'])
    assert args.run is train.run and args.threads == 2
    for bad in (['train', 'c.py', '--threads', '0'],
                ['distill', '--data-root', 'd', '--iters', '0'],
                ['dataset', 'coco', '--out', 'o'], []):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def test_train_finds_a_shipped_config_by_name(tmp_path, monkeypatch):
    """``sekd-mm train <name>`` reads the shipped config of that name from
    any folder; an unknown one stops with a message that says what to
    give."""
    from sekd_mm.cli import train
    from sekd_mm.cli.args import command_parser
    parser = command_parser(train.__doc__)
    train.add_arguments(parser)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('LOCAL_RANK', '0')
    name = 'embedded/retinanet_r34_synthetic.py'
    cfg = train.build_cfg(parser.parse_args([name]))
    assert osp.samefile(cfg.filename, osp.join(REPO, 'configs', name))
    assert cfg.work_dir == './work_dirs/retinanet_r34_synthetic'
    with pytest.raises(SystemExit, match="Config 'embedded/nope.py' is "
                       'neither a file .* nor a config of sekd_mm'):
        train.run(parser.parse_args(['embedded/nope.py']))
