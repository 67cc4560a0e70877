# Copyright (c) sekd-mm contributors. All rights reserved.
"""The main job (``sekd-mm main-job``, ``tools/main_job.py``): its defaults
are the accuracy study's cpu preset, and it runs end to end from a folder
outside the checkout, then again with the teacher it trained. (A file of
its own: pytest-xdist gives each file one worker.)"""
import json
import os.path as osp
import sys

from sekd_test_utils import SMALL
from test_tools import PY, REPO, run


def test_main_job_defaults_are_the_study_cpu_preset():
    from sekd_mm.apis import EMBEDDED_CONFIGS
    from sekd_mm.cli import main_job
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    try:
        import accuracy_study
    finally:
        del sys.path[0]
    args = main_job.parse_args([])
    preset = accuracy_study.PRESETS['cpu']
    for key, value in main_job.DEFAULTS.items():
        assert getattr(args, key) == value == preset[key], key
    teacher, students = main_job.stages(args)
    assert teacher.iters == 1500 and not teacher.distills
    assert [(s.name, s.iters, s.distills) for s in students] == [
        ('sekd_student', 300, True), ('pkd_student', 300, True),
        ('student_alone', 300, False)]
    for stage in (teacher, *students):
        assert 'train_dataloader.dataset.synthetic.num_train=1024' in \
            stage.cfg_options
        assert osp.samefile(stage.config, osp.join(
            REPO, 'configs', EMBEDDED_CONFIGS[stage.name]))


def test_main_job_smoke(data_root, tmp_path):
    """The main job from a folder outside the checkout, then through
    tools/main_job.py with the teacher it trained."""
    small = ['--teacher-iters', '2', '--student-iters', '2', '--img-scale',
             '64', '--num-train', str(SMALL['num_train']), '--num-val',
             str(SMALL['num_val']), '--data-root', data_root]
    proc = run([PY, '-m', 'sekd_mm.cli.main_job', '--work-dir', 'main',
                *small], cwd=tmp_path)
    assert '| Student R-18 w32 + SEKD |' in proc.stdout
    assert '| Student R-18 w32 + PKD (MMRazor) |' in proc.stdout
    assert '| SEKD - alone |' in proc.stdout
    assert '| PKD - alone |' in proc.stdout
    # then the committed fair study, every row at its searched setting
    assert '## The fair study (docs/results/' in proc.stdout
    with open(osp.join(REPO, 'docs', 'results',
                           'accuracy_study_short_retinanet.json')) as f:
        fair = json.load(f)
    for row in fair['methods'].values():
        assert f"| {row['label']} |" in proc.stdout
    results = json.loads((tmp_path / 'main' / 'results.json').read_text())
    for name in ('teacher', 'sekd_student', 'pkd_student', 'student_alone'):
        assert 'coco/bbox_mAP' in results['results'][name]
    assert (tmp_path / 'main' / 'results.md').exists()
    dumped = (tmp_path / 'main' / 'pkd_student' /
              'pkd_retinanet_r34_retinanet_r18-w32_synthetic.py').read_text()
    assert "type='PKDLoss'" in dumped
    # again with that teacher given: no teacher training, same table shape
    teacher = tmp_path / 'main' / 'teacher' / 'iter_2.pth'
    proc = run([PY, 'tools/main_job.py', '--work-dir',
                str(tmp_path / 'given'), *small, '--teacher-ckpt',
                str(teacher)])
    assert f'using teacher {teacher}' in proc.stdout
    assert not (tmp_path / 'given' / 'teacher' / 'train.log').exists()
    assert '| SEKD - alone |' in proc.stdout
