# Copyright (c) sekd-mm contributors. All rights reserved.
"""sekd_mm.apis: the teacher -> students -> table steps shared by
sekd-mm main-job, sekd-mm distill and the accuracy study, here without
training (the commands' own tests run them for real)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from sekd_mm import apis
from sekd_mm.apis import pipeline
from sekd_mm.datasets import synthetic_cfg_options


def write_scalars(work_dir, stamp, rows):
    logs = osp.join(work_dir, stamp, 'vis_data')
    os.makedirs(logs)
    with open(osp.join(logs, 'scalars.json'), 'w') as f:
        f.write('\n'.join(json.dumps(r) for r in rows) + '\n')


def test_import_is_cheap_and_not_eager():
    """``import sekd_mm`` does not import the pipeline."""
    code = ('import sys, sekd_mm; '
            'print("sekd_mm.apis" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == 'False'


def test_command_arguments():
    assert apis.cfg_args([]) == []
    assert apis.cfg_args(['a=1']) == ['--cfg-options', 'a=1']
    assert apis.threads_args(None) == []
    assert apis.threads_args(2) == ['--threads', '2']
    train = ['-m', 'sekd_mm.cli.train']
    assert apis.train_args('c.py', 'w') == train + ['c.py', '--work-dir',
                                                    'w']
    assert apis.train_args('c.py', 'w', 0, ['a=1'], 2) == train + [
        'c.py', '--work-dir', 'w', '--seed', '0', '--threads', '2',
        '--cfg-options', 'a=1']


def test_embedded_configs_ship_with_the_package():
    """The pipeline's configs resolve through the package (its ``.mim``
    or the checkout), and exist in the repository."""
    from sekd_mm.utils import config_path, find_config
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for name in apis.EMBEDDED_CONFIGS.values():
        for detector in ('retinanet', 'faster-rcnn'):
            config = name.replace('retinanet', detector)
            path = config_path(config)
            assert osp.samefile(path, osp.join(repo, 'configs', config))
            assert config_path('configs/' + config) == path
            assert find_config(config) == path
    assert find_config(__file__) == __file__  # a file is taken as given
    with pytest.raises(FileNotFoundError, match="Config 'nope.py' is "
                       'neither a file .* nor a config of sekd_mm'):
        find_config('nope.py')


def test_synthetic_options_are_the_datasets():

    class Args:
        data_root, img_scale, num_train, num_val = 'd/', 64, 8, 4

    assert apis.synthetic_options(Args) == synthetic_cfg_options(
        data_root='d/', img_scale=64, num_train=8, num_val=4)


def test_final_metrics_read_the_last_run(tmp_path, capsys):
    work = str(tmp_path / 'sekd_student')
    write_scalars(work, '20260101_000000', [{'coco/bbox_mAP': 0.9}])
    write_scalars(work, '20260102_000000', [
        {'loss': 1.0, 'iter': 1},
        {'coco/bbox_mAP': 0.1, 'teacher.coco/bbox_mAP': 0.5, 'iter': 1},
        {'coco/bbox_mAP': 0.2, 'coco/bbox_mAP_50': 0.4,
         'teacher.coco/bbox_mAP': 0.6, 'iter': 2}])
    assert apis.final_metrics(work) == {'coco/bbox_mAP': 0.2,
                                        'coco/bbox_mAP_50': 0.4}
    assert apis.final_metrics(work, 'teacher.') == {'coco/bbox_mAP': 0.6}
    # nothing logged (no box above the score threshold): every metric 0
    empty = str(tmp_path / 'alone')
    write_scalars(empty, '20260101_000000', [{'loss': 1.0, 'iter': 1}])
    assert apis.final_metrics(empty, tool='t') == apis.zero_metrics()
    assert set(apis.zero_metrics()) == {k for _, k in apis.METRICS}
    assert '[t ' in capsys.readouterr().out
    assert apis.final_metrics(str(tmp_path / 'none')) == apis.zero_metrics()


def test_results_table_rows_and_deltas():
    keys = [k for _, k in apis.METRICS]

    def res(ap, small=None):
        out = {k: ap for k in keys}
        out['coco/bbox_mAP_s'] = ap if small is None else small
        return out

    results = dict(sekd_student=res(0.25), student_alone=res(0.2, -1),
                   teacher=res(0.5))
    lines = apis.results_table(results, apis.stage_labels()).splitlines()
    assert lines[0] == '| Model | AP | AP50 | AP75 | APs | APm | APl |'
    assert [line.split(' | ')[0] for line in lines[2:]] == [
        '| Teacher RetinaNet R-34 (FPN 128)', '| Student R-18 w32 alone',
        '| Student R-18 w32 + SEKD', '| SEKD - alone']
    assert lines[3] == ('| Student R-18 w32 alone | 20.0 | 20.0 | 20.0 | '
                        'n/a | 20.0 | 20.0 |')
    assert lines[-1] == ('| SEKD - alone | +5.0 | +5.0 | +5.0 | n/a | +5.0 '
                         '| +5.0 |')
    assert apis.stage_labels('faster-rcnn')['teacher'] == \
        'Teacher Faster R-CNN R-34 (FPN 128)'
    assert list(apis.stage_labels()) == ['teacher', 'student_alone',
                                         'sekd_student', 'pkd_student']


def test_write_report(tmp_path):
    apis.write_report(str(tmp_path), '# r\n', results={'a': 1}, seed=0)
    assert (tmp_path / 'results.md').read_text() == '# r\n'
    assert json.loads((tmp_path / 'results.json').read_text()) == dict(
        results={'a': 1}, seed=0)


def test_run_tool_keeps_the_log_and_shows_progress(tmp_path, capsys):
    log = str(tmp_path / 'x.log')
    code = 'print("a - INFO - Iter(train) [1/2]"); print("quiet")'
    apis.run_tool([sys.executable, '-c', code], log, 'tool')
    assert open(log).read() == 'a - INFO - Iter(train) [1/2]\nquiet\n'
    out = capsys.readouterr().out
    assert '\n    Iter(train) [1/2]\n' in out and '\nquiet' not in out
    with pytest.raises(SystemExit, match=r'\[tool\] step failed \(exit 3\); '
                       'full log: .*x.log'):
        apis.run_tool([sys.executable, '-c', 'exit(3)'], log, 'tool')


@pytest.mark.parametrize('given', [False, True])
def test_distill_table_trains_teacher_then_students(given, tmp_path,
                                                    monkeypatch, capsys):
    """Teacher (or the given one), students in order, each distilled one
    from the teacher's checkpoint, then every stage evaluated."""
    commands = []

    def fake_run_tool(cmd, log_file, tool):
        assert cmd[:3] == [sys.executable, '-m', 'sekd_mm.cli.train']
        commands.append(cmd[3:])
        work_dir = cmd[cmd.index('--work-dir') + 1]
        assert log_file == osp.join(work_dir, 'train.log')
        with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(work_dir, 'iter_2.pth'))

    monkeypatch.setattr(pipeline, 'run_tool', fake_run_tool)
    work = str(tmp_path)
    teacher = apis.Stage('teacher', 't.py', 4, cfg_options=['a=1'])
    students = [apis.Stage('sekd', 's.py', 2, 'distilling', ['b=1'], True),
                apis.Stage('alone', 'a.py', 2, 'alone')]
    evaluated = []

    def evaluate(stage, ckpt):
        evaluated.append((stage.name, ckpt))
        return {'coco/bbox_mAP': len(evaluated)}

    ckpts, results = apis.distill_table(
        teacher, students, work, evaluate,
        teacher_ckpt='/given.pth' if given else None, seed=3, threads=1,
        tool='job')
    teacher_ckpt = '/given.pth' if given else osp.join(work, 'teacher',
                                                        'iter_2.pth')
    expected = [
        ['s.py', '--work-dir', osp.join(work, 'sekd'), '--seed', '3',
         '--threads', '1', '--cfg-options', 'b=1',
         f'model.teacher_ckpt={teacher_ckpt}'],
        ['a.py', '--work-dir', osp.join(work, 'alone'), '--seed', '3',
         '--threads', '1']]
    if not given:
        expected.insert(0, [
            't.py', '--work-dir', osp.join(work, 'teacher'), '--seed', '3',
            '--threads', '1', '--cfg-options', 'a=1'])
    assert commands == expected
    assert list(ckpts) == ['teacher', 'sekd', 'alone']
    assert ckpts['teacher'] == teacher_ckpt
    assert [name for name, _ in evaluated] == ['teacher', 'sekd', 'alone']
    assert results == {'teacher': {'coco/bbox_mAP': 1},
                       'sekd': {'coco/bbox_mAP': 2},
                       'alone': {'coco/bbox_mAP': 3}}
    out = capsys.readouterr().out
    first = (f'[1/4] using teacher {teacher_ckpt}' if given else
             '[1/4] training the teacher (4 iterations)')
    for line in (first, '[2/4] distilling (2 iterations)',
                 '[3/4] alone (2 iterations)', '[4/4] COCO metrics'):
        assert line in out
