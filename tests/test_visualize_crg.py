# Copyright (c) sekd-mm contributors. All rights reserved.
"""tools/visualize_crg.py on the embedded RetinaNet SEKD config (CPU): the
command line end to end, its numbers against CRGPair / CRGEdgeLoss computed
here on the same features, and its errors."""
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from PIL import Image
from test_tools import PAIRS, PY, REPO, SMALL, build, data_options, run

from sekd_mm.cli.export import export_student
from sekd_mm.datasets import CLASSES, ensure_synthetic_dataset
from sekd_mm.models import CRGEdgeLoss
from sekd_mm.models.utils import SHIPPED, CRGPair

sys.path.insert(0, osp.join(REPO, 'tools'))
try:
    import visualize_crg
finally:
    sys.path.pop(0)

CONFIG = PAIRS['retinanet-coco'][0]
LEVEL, LEVEL_IDX, INDEX = 'p4', 2, 1
LINE = re.compile(r'^\[(?P<level>\w+)\] (?P<label>\w+): '
                  r'mean\|A_S-A_T\|=(?P<adj>[\d.]+) '
                  r'\|L_S-L_T\|_F/\|L_T\|_F=(?P<fro>[\d.]+) '
                  r'L_V=(?P<lv>\S+) L_E=(?P<le>\S+) L_S=(?P<ls>\S+) '
                  r'\((?P<source>.*)\)$')


def summaries(stdout: str) -> dict:
    return {m['label']: m for m in map(LINE.match, stdout.splitlines()) if m}


def png_size(num_rows: int):
    w, h = visualize_crg.figure_size(num_rows)
    return round(w * visualize_crg.DPI), round(h * visualize_crg.DPI)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Small dataset; a random teacher; a distillation checkpoint with that
    teacher and another random student (seed 1, not the tool's seed 0, no
    init_weights) and connectors; its student-only export."""
    tmp = tmp_path_factory.mktemp('crg')
    root = ensure_synthetic_dataset(str(tmp / 'synthetic'), **SMALL)
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    cfg.model.teacher_ckpt = None
    torch.manual_seed(1)
    algo = build(cfg.model, scope='mmrazor')
    meta = dict(dataset_meta=dict(classes=tuple(CLASSES)))
    teacher = str(tmp / 'teacher.pth')
    torch.save(dict(state_dict=algo.teacher.state_dict(), meta=meta),
               teacher)
    distill = str(tmp / 'distill.pth')
    torch.save(dict(state_dict=algo.state_dict(), meta=meta), distill)
    student = str(tmp / 'student.pth')
    export_student(distill, student)
    opts = data_options(root, False)
    return dict(root=root, teacher=teacher, distill=distill,
                student=student, opts=opts)


def test_command_line_end_to_end(setup, tmp_path):
    out = tmp_path / 'crg.png'
    proc = run([PY, 'tools/visualize_crg.py', CONFIG, '--teacher-ckpt',
                setup['teacher'], '--student', 'before=init', '--student',
                f'after={setup["distill"]}', '--index', str(INDEX),
                '--level', LEVEL, '--out', str(out), '--cfg-options',
                *setup['opts']], env=dict(OMP_NUM_THREADS='1'))
    assert f'Wrote {out}' in proc.stdout
    lines = summaries(proc.stdout)
    assert list(lines) == ['before', 'after'], proc.stdout
    assert all(m['level'] == LEVEL for m in lines.values())
    assert lines['before']['adj'] != lines['after']['adj']
    assert out.stat().st_size > 10_000
    with Image.open(out) as img:  # 3 rows (teacher + 2) x 3 columns
        assert img.size == png_size(3) == (1200, 3 * 350 + 75)


def test_numbers_equal_crg_pair_on_the_same_features(setup, tmp_path,
                                                     capsys):
    out = tmp_path / 'crg.png'
    d = setup['distill']
    rows = visualize_crg.main([
        osp.join(REPO, CONFIG), '--teacher-ckpt', setup['teacher'],
        '--student', 'before=init', '--student', f'after={d}', '--student',
        f'exported={setup["student"]}', '--connector-ckpt', d, '--index',
        str(INDEX), '--level', LEVEL, '--out', str(out), '--cfg-options',
        *setup['opts']
    ])
    lines = summaries(capsys.readouterr().out)
    assert list(lines) == ['before', 'after', 'exported']
    with Image.open(out) as img:
        assert img.size == png_size(4)
    # the student-only export + the distillation ckpt's connectors is the
    # distillation checkpoint, to the last digit
    numbers = ('adj', 'fro', 'lv', 'le', 'ls')
    assert [lines['exported'][k] for k in numbers] == \
        [lines['after'][k] for k in numbers]
    assert 'student-only ckpt; connector from distill.pth' in \
        lines['exported']['source']
    assert lines['before']['adj'] != lines['after']['adj']
    # without --connector-ckpt the connectors stay random: other numbers,
    # and the row says so
    visualize_crg.main([
        osp.join(REPO, CONFIG), '--teacher-ckpt', setup['teacher'],
        '--student', f'alone={setup["student"]}', '--index', str(INDEX),
        '--level', LEVEL, '--out', str(out), '--cfg-options', *setup['opts']
    ])
    alone = summaries(capsys.readouterr().out)['alone']
    assert 'student-only ckpt; connector: random init' in alone['source']
    assert alone['adj'] != lines['after']['adj']
    with Image.open(out) as img:
        assert img.size == png_size(2)

    # Independently: the whole algorithm from the distillation checkpoint,
    # the val image through the dataset and the data preprocessor, the FPN
    # level of extract_feat, the connector, CRGPair / CRGEdgeLoss.
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    cfg.model.teacher_ckpt = None
    algo = build(cfg.model, scope='mmrazor')
    load_checkpoint(algo, d, map_location='cpu', strict=True)
    algo.eval()
    from mmdet.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(
            dict(cfg.val_dataloader.dataset, data_root=setup['root'] + '/',
                 synthetic=SMALL))
    data = dataset[INDEX]
    inputs = algo.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
        False)['inputs']
    sekd = cfg.model.distiller.sekd
    with torch.no_grad():
        feat_t = algo.teacher.extract_feat(inputs)[LEVEL_IDX]
        feat_s = algo.distiller.connectors[f'sekd_student_{LEVEL}'](
            algo.architecture.extract_feat(inputs)[LEVEL_IDX])
        assert feat_s.shape == feat_t.shape and feat_t.shape[1] == 128
        # the config's design, spelled out (not through the distiller)
        design = {k: sekd.get(k, getattr(SHIPPED, k)) for k in (
            'tau', 'spatial_attention', 'channel_attention')}
        pair = CRGPair(feat_s, feat_t, tau=design['tau'],
                       spatial_attention=design['spatial_attention'])
        a_s, a_t = pair.adjacency_S, pair.adjacency_T
        off = ~torch.eye(a_t.shape[0], dtype=torch.bool)
        adj = (a_s - a_t).abs()[off].mean().item()
        fro = (torch.linalg.norm(pair.laplacian_S - pair.laplacian_T) /
               torch.linalg.norm(pair.laplacian_T)).item()
        loss_e = CRGEdgeLoss(**design)(feat_s, feat_t).item()
    assert 0.01 < adj and 0.001 < fro  # random weights: far apart
    assert float(lines['after']['adj']) == pytest.approx(adj, abs=2e-6)
    assert float(lines['after']['fro']) == pytest.approx(fro, abs=2e-6)
    assert float(lines['after']['le']) == pytest.approx(loss_e, rel=1e-4)
    # the rows drawn are these graphs (teacher first, then the students)
    assert [r.label for r in rows] == [
        'teacher', 'before', 'after', 'exported']
    torch.testing.assert_close(rows[0].adjacency, a_t)
    torch.testing.assert_close(rows[2].adjacency, a_s)
    torch.testing.assert_close(rows[2].laplacian, pair.laplacian_S)


@pytest.mark.parametrize('case', [
    'level', 'student', 'teacher', 'not_sekd', 'wrong_model'])
def test_clear_errors(case, setup, tmp_path):
    config = osp.join(REPO, CONFIG)
    argv = ['--teacher-ckpt', setup['teacher'], '--student', 'before=init',
            '--out', str(tmp_path / 'x.png'), '--cfg-options',
            *setup['opts']]
    if case == 'level':
        argv += ['--level', 'p7']
        match = (r"Unknown level 'p7'.*\['p2', 'p3', 'p4'\]"
                 r'.*--level')
    elif case == 'student':
        argv += ['--student', 'after=/nonexistent/s.pth']
        match = (r"student 'after' not found: '/nonexistent/s.pth'.*"
                 r'after=init')
    elif case == 'teacher':
        argv[1] = '/nonexistent/t.pth'
        match = r"not found: '/nonexistent/t.pth'.*--teacher-ckpt"
    elif case == 'not_sekd':
        config = osp.join(REPO, PAIRS['retinanet-coco'][2])
        match = 'not a SEKD distillation config.*configs/sekd/'
    else:  # the teacher's checkpoint as a student
        argv += ['--student', f'after={setup["teacher"]}']
        match = 'does not match the student'
    with pytest.raises(SystemExit, match=match):
        visualize_crg.main([config] + argv)
    assert not (tmp_path / 'x.png').exists()
