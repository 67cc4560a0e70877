# Copyright (c) sekd-mm contributors. All rights reserved.
"""benchmarks/accuracy_study.py and its run bookkeeping (benchmarks/runs.py):
method table, cfg-options, the search (the package's, sekd_mm.search),
report maths, the committed
records' digests, and a real run at toy size (train, evaluate, cache,
record, report)."""
import json
import os
import os.path as osp
import shutil
import sys

import pytest
from mmengine.config import Config
from mmengine.config.config import ConfigDict
from sekd_test_utils import SMALL
from test_tools import PY, REPO, run

from sekd_mm.datasets import synthetic_cfg_options
from sekd_mm.models.utils import SHIPPED
from sekd_mm.search import Row, Setting

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import accuracy_study  # noqa: E402
import methods  # noqa: E402
import runs  # noqa: E402

sys.path.pop(0)


def merged(config, opts):
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(methods.parse_cfg_options(opts))
    return cfg


def test_synthetic_options_resize_both_pipelines():
    opts = synthetic_cfg_options(data_root='d/', img_scale=96,
                                 num_train=32, num_val=8)
    cfg = merged(methods.METHODS['alone'].embedded, opts)
    steps = [cfg.train_dataloader.dataset.pipeline[2],
             cfg.val_dataloader.dataset.pipeline[1],
             cfg.test_dataloader.dataset.pipeline[1]]
    assert [s.type for s in steps] == ['Resize'] * 3
    assert all(tuple(s.scale) == (96, 96) for s in steps)
    assert cfg.val_dataloader.dataset.synthetic == dict(num_train=32,
                                                       num_val=8)
    assert cfg.val_evaluator.ann_file == 'd/annotations/instances_val.json'
    with pytest.raises(TypeError, match='num_train'):
        synthetic_cfg_options(num_images=3)


@pytest.mark.parametrize('name', sorted(methods.METHODS))
def test_every_method_config_and_option_exists(name):
    method = methods.METHODS[name]
    for config in (method.embedded, method.coco):
        if config.startswith('mmdet::'):
            continue
        assert osp.exists(osp.join(REPO, config)), config
        cfg = Config.fromfile(osp.join(REPO, config))
        # an option must override an existing key, not add a new one
        for key in methods.parse_cfg_options(method.options):
            node = cfg
            for part in key.split('.')[:-1]:
                node = node[part]
            last = key.split('.')[-1]
            assert isinstance(node, ConfigDict) and last in node, \
                f'{name}: {key} is not in {config}'
    assert method.distills == (name != 'alone')


@pytest.mark.parametrize('name', ['alone', 'sekd', 'sekd_v', 'pkd', 'cwd',
                                  'mgd', 'fitnet', 'ega', 'sekd_ega'])
def test_faster_rcnn_configs_are_the_retinanet_ones(name):
    """Each Faster R-CNN config is its RetinaNet twin with the detector
    swapped: same distiller, student and teacher of the other detector;
    only SEKD's weights may differ (the RetinaNet config carries those of
    its search)."""
    method = methods.METHODS[name]
    retina = Config.fromfile(osp.join(REPO, method.config('retinanet')))
    frcnn = Config.fromfile(osp.join(REPO, method.config('faster-rcnn')))
    if method.distills:
        assert frcnn.model.architecture.type == 'FasterRCNN'
        assert frcnn.model.teacher.type == 'FasterRCNN'
        for cfg in (retina, frcnn):
            for weight in ('alpha', 'beta', 'gamma'):
                cfg.model.distiller.get('sekd', {}).pop(weight, None)
        assert frcnn.model.distiller == retina.model.distiller
    else:
        assert frcnn.model.type == 'FasterRCNN'
    args = accuracy_study.parse_args(['--detector', 'faster-rcnn'])
    assert accuracy_study.study_dir(args, 'teacher') == osp.join(
        'faster-rcnn', 'teacher')
    assert methods.teacher_config('faster-rcnn') == \
        'configs/embedded/faster-rcnn_r34_synthetic.py'


def test_missing_detector_config_is_an_error():
    only_retinanet = methods.Method(
        'RetinaNet only',
        'configs/sekd/sekd_retinanet_x101-64x4d_retinanet_r50_2x_coco.py',
        '')
    with pytest.raises(ValueError, match='has no faster-rcnn config'):
        only_retinanet.config('faster-rcnn')
    with pytest.raises(ValueError, match='unknown detector'):
        methods.METHODS['pkd'].config('yolo')


def test_select_names_the_valid_methods():
    assert list(methods.select(['pkd', 'alone'])) == ['alone', 'pkd']
    with pytest.raises(ValueError, match='valid: alone, sekd'):
        methods.select(['fgd'])
    # a graph candidate of the committed records: the error names the tag
    # that still runs it
    with pytest.raises(ValueError, match=methods.REMOVED_TAG):
        methods.select(['sekd_local'])


def test_read_scalars_start_ratio_counts_losses_only(tmp_path):
    """Faster R-CNN logs `student.acc` (a percentage): not a loss."""
    logs = tmp_path / '20260101_000000' / 'vis_data'
    logs.mkdir(parents=True)
    rows = [
        {'loss': 21.0, 'student.loss_cls': 1.0, 'student.acc': 90.6,
         'student.loss_bbox': 1.0, 'distill.loss_sekd_v_p2': 19.0,
         'time': 1.0, 'iter': 1},
        {'loss': 5.0, 'student.loss_cls': 1.0, 'time': 2.0, 'iter': 2},
        {'coco/bbox_mAP': 0.25, 'iter': 2},
    ]
    (logs / 'scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in rows) + '\n')
    res = runs.read_scalars(str(tmp_path))
    assert res['distill_over_task'] == pytest.approx(19.0 / 2.0)
    assert res['metrics'] == {'coco/bbox_mAP': 0.25}
    assert res['sec_per_iter'] == 2.0


def test_read_scalars_ratio_once_the_weights_are_on(tmp_path):
    """The distillation losses ramp up over ``distill_warmup_iters``: the
    second ratio is read at the first logged iteration past it."""
    logs = tmp_path / '20260101_000000' / 'vis_data'
    logs.mkdir(parents=True)
    rows = [{'loss': 1.0 + d, 'student.loss_cls': 1.0,
             'distill.loss_sekd_v_p2': d, 'time': 1.0, 'iter': it}
            for it, d in ((20, 0.5), (100, 2.0), (120, 4.0), (140, 3.0))]
    (logs / 'scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in rows) + '\n')
    res = runs.read_scalars(str(tmp_path), warmup_iters=100)
    assert res['distill_over_task'] == pytest.approx(0.5)
    assert res['distill_over_task_on'] == pytest.approx(4.0)
    # without a warm-up both read the first logged iteration
    res = runs.read_scalars(str(tmp_path))
    assert res['distill_over_task_on'] == res['distill_over_task']


@pytest.mark.parametrize('name,iters', [('sekd', 100), ('sekd_v', 100),
                                        ('pkd', 0), ('alone', 0)])
def test_run_reads_the_configs_warmup(tmp_path, name, iters):
    method = methods.METHODS[name]
    run = runs.Run(name, 0, method.embedded, str(tmp_path),
                   list(method.options))
    assert run.warmup_iters == iters
    # a cfg-option changes it
    run = runs.Run(
        name, 0, method.embedded, str(tmp_path),
        list(method.options) + ['model.distill_warmup_iters=7']
        if iters else list(method.options))
    assert run.warmup_iters == (7 if iters else 0)


def test_report_paired_deltas(tmp_path):
    args = accuracy_study.parse_args(
        ['--seeds', '0', '1', '--work-dir', str(tmp_path)])
    keys = [k for _, k in accuracy_study.METRICS]

    def res(ap):
        return dict(metrics={k: ap for k in keys}, sec_per_iter=0.5,
                    distill_over_task=0.0)

    results = {('alone', 0): res(0.10), ('alone', 1): res(0.20),
               ('pkd', 0): res(0.13), ('pkd', 1): res(0.19)}
    text = accuracy_study.report(
        args, methods.select(['alone', 'pkd']), results, res(0.3), 1.0)
    rows = {line.split(' | ')[0]: line for line in text.splitlines()}
    # AP mean +- std over seeds; paired delta (+3, -1) -> +1.0 +- 2.8
    assert '| PKD | 16.0 ± 4.2 |' in rows['| PKD']
    assert '+1.0 ± 2.8 | 1/2 |' in rows['| PKD']
    assert '| Student alone | 15.0 ± 7.1 |' in rows['| Student alone']
    saved = json.loads((tmp_path / 'results.json').read_text())
    assert saved['methods']['pkd']['paired_delta_ap'] == pytest.approx(
        [0.03, -0.01])
    assert (tmp_path / 'accuracy_study.png').stat().st_size > 0


def test_weight_options_scale_every_loss_weight():
    pkd = methods.METHODS['pkd']
    opts = methods.weight_options(pkd, pkd.embedded, 0.3)
    cfg = merged(pkd.embedded, opts)
    weights = [loss.loss_weight for loss in
               cfg.model.distiller.distill_losses.values()]
    assert weights == pytest.approx([3.0] * 5)
    # an ablated (zero) SEKD weight stays zero; the others scale
    sekd_v = methods.METHODS['sekd_v']
    cfg = merged(sekd_v.embedded,
                 methods.weight_options(sekd_v, sekd_v.embedded, 3))
    sekd = cfg.model.distiller.sekd
    assert sekd.alpha == pytest.approx(3 * SHIPPED.alpha)
    assert sekd.beta == 0 and sekd.gamma == 0
    assert methods.weight_options(pkd, pkd.embedded, 1) == []
    # SEKD's factors are in the shipped design's weights, whatever the
    # config ships: the same factor gives the same resolved weights
    sekd = methods.METHODS['sekd']
    for shipped in (1.5, 4.5):
        moved = sekd._replace(options=(
            f'model.distiller.sekd.alpha={shipped}', ))
        for factor in (1, 3):
            cfg = merged(sekd.embedded,
                         methods.weight_options(moved, sekd.embedded, factor))
            assert cfg.model.distiller.sekd.alpha == pytest.approx(
                factor * SHIPPED.alpha)
            assert cfg.model.distiller.sekd.gamma == pytest.approx(
                factor * SHIPPED.gamma)
    broken = pkd._replace(weights=('model.distiller.nothing', ))
    with pytest.raises(ValueError, match='not all found'):
        methods.weight_options(broken, pkd.embedded, 2)


def test_tuned_takes_a_searchs_choices_only(tmp_path, capsys):
    """``--tuned`` reads a search's choices: the rows a ``search.json``
    confirmed (each at its best setting), or the ``rows`` of a committed
    grid's tuning.json; a file without either (the weight grids' of before
    2026-12-03) is refused before any run and the error says what to give;
    a row of a method that no longer exists (a graph candidate of the
    committed choices) is ignored."""
    old = tmp_path / 'tuning.json'
    old.write_text(json.dumps(dict(split='tune', seeds=[100],
                                   factors=dict(sekd=1.0))))
    with pytest.raises(SystemExit):
        accuracy_study.main(['--tuned', str(old), '--work-dir',
                             str(tmp_path / 'study')])
    assert 'holds no search\'s choices' in capsys.readouterr().err
    assert not (tmp_path / 'study').exists()
    with pytest.raises(ValueError, match='--split tune --search'):
        accuracy_study.read_tuned(str(old))
    committed = osp.join(REPO, 'docs', 'results',
                         'tuning_short_retinanet_same-choices.json')
    args = accuracy_study.parse_args(['--tuned', committed])
    rows = accuracy_study.read_tuned(committed)
    assert set(rows) - set(methods.METHODS)  # the candidates' rows
    settings = accuracy_study.tuned_settings(args)
    assert set(settings) <= set(methods.METHODS)
    assert settings['sekd'] == Setting(**rows['sekd']['chosen'])
    # an ablation of the peers takes its peer's choice
    assert settings['pkd_no_small'] == settings['pkd']
    # a search.json: each confirmed row at its best candidate
    found = tmp_path / 'search.json'
    found.write_text(json.dumps(dict(study='s', candidates=[
        _candidate('cwd', 0.3, 'all', 0, 0.061),
        _candidate('sekd', 3.0, 'no_small', 100, 0.058),
        _candidate('cwd', 1.0, 'no_small', 100, 0.052)])))
    args = accuracy_study.parse_args(['--tuned', str(found)])
    assert accuracy_study.tuned_settings(args)['cwd'] == Setting(0.3, 'all',
                                                                 0)
    assert set(accuracy_study.read_tuned(str(found))) == {'cwd', 'sekd'}


def _candidate(method, factor, levels, warmup, mean):
    """A ``candidates`` entry of a search.json."""
    return dict(method=method, setting=dict(factor=factor, levels=levels,
                                            warmup=warmup),
                values={'100': mean, '101': mean}, mean=mean)


def _fake_results(keys, seeds, ap_of):
    return {(k, s): {'metrics': {'coco/bbox_mAP': ap_of(k, s) / 100},
                     'sec_per_iter': 1.0, 'distill_over_task': 1.0}
            for k in keys for s in seeds}


def test_search_is_the_package_search(tmp_path, monkeypatch, capsys):
    """``--split tune --search`` runs ``sekd_mm.search.search`` (faked
    here) with the study's rows, each offered the same choices, and trials
    that are the study's runs at a setting on the tuning split; ``--tuned``
    then applies the search's choice (factor, levels, warm-up) in the
    report split, and the table JSON carries it."""
    teacher = tmp_path / 'teacher.pth'
    teacher.write_bytes(b'')
    work = tmp_path / 'study'
    calls = []

    def fake_search(space, configure, work_dir, **options):
        calls.append((space, configure, work_dir, options))
        return dict(chosen=dict(_candidate('sekd_v', 3.0, 'no_small', 100,
                                           0.05)), done=True,
                    cost=dict(iters=900, trainings=4, pruned=2))

    monkeypatch.setattr(accuracy_study, 'search', fake_search)
    accuracy_study.main(['--split', 'tune', '--search', '--seeds', '100',
                         '101', '--methods', 'alone', 'sekd_v', 'pkd', 'ega',
                         '--teacher-ckpt', str(teacher), '--work-dir',
                         str(work), '--threads', '1'])
    assert '"tuning_ap": 5.0' in capsys.readouterr().out
    (space, configure, work_dir, options), = calls
    # every row starts at the first three levels with the warm-up
    levels = ('no_small', 'all')
    assert space == dict(
        sekd_v=Row(levels=levels, warmups=(100, 0)),
        pkd=Row(levels=levels, warmups=(100, 0)),
        ega=Row(warmups=(100, 0)))  # EGA has no level choice
    assert work_dir == str(work / 'short-tune' / 'search')
    assert (options['seeds'], options['trial_iters'], options['threads'],
            options['storage']) == ([100, 101], 300, 1, None)
    config, opts = configure('sekd_v', Setting(3.0, 'no_small', 100))
    cfg = runs.resolve_config(config, opts)
    assert tuple(cfg.model.distiller.sekd.levels) == ('p2', 'p3', 'p4')
    assert cfg.model.distill_warmup_iters == 100
    assert cfg.model.distiller.sekd.alpha == pytest.approx(3 * SHIPPED.alpha)
    assert cfg.model.distiller.sekd.beta == 0
    assert cfg.model.teacher_ckpt == str(teacher)
    assert cfg.train_cfg.max_iters == 300
    assert '_tune1/' in cfg.val_dataloader.dataset.data_root

    # --tuned search.json in the report split
    found = tmp_path / 'search.json'
    found.write_text(json.dumps(dict(study='s', candidates=[
        _candidate('sekd_v', 3.0, 'no_small', 100, 0.05)])))
    report = accuracy_study.parse_args(
        ['--methods', 'alone', 'sekd_v', 'pkd', '--tuned', str(found),
         '--work-dir', str(tmp_path), '--seeds', '0', '1'])
    chosen = accuracy_study.variants(report, methods.select(report.methods))
    assert list(chosen['sekd_v'].options) == configure('sekd_v', Setting(
        3.0, 'no_small', 100))[1][-len(chosen['sekd_v'].options):]
    assert chosen['pkd'] == methods.METHODS['pkd']  # not confirmed
    results = _fake_results(list(chosen), [0, 1],
                            lambda k, s: 5.0 + s + (k != 'alone'))
    path = tmp_path / 'table.json'
    accuracy_study.write_table_json(str(path), report, chosen, results,
                                    list(accuracy_study.tuned_settings(
                                        report)))
    table = json.loads(path.read_text())
    assert table['dataset'] == 'synthetic'
    assert table['methods']['pkd']['ap_per_seed'] == pytest.approx(
        {'0': 6.0, '1': 7.0})
    assert table['methods']['sekd_v']['tuning']['chosen']['levels'] == \
        'no_small'
    assert table['methods']['sekd_v']['tuned']
    assert not table['methods']['pkd']['tuned']
    assert 'tuning' not in table['methods']['alone']


@pytest.mark.parametrize('argv,error', [
    (['--search', '--split', 'tune', '--record', 'r.json'], 'drop --record'),
    (['--search', '--split', 'tune', '--report-only'], 'drop --record'),
    (['--storage', 'sqlite:///x.db'], 'options of --search'),
    (['--search'], 'use it with --split tune'),
])
def test_search_options_are_checked(argv, error, capsys):
    with pytest.raises(SystemExit):
        accuracy_study.parse_args(argv)
    assert error in capsys.readouterr().err


def _grid_method(args, key):
    """The method of a run key of the committed grids, e.g.
    ``sekd@x3+no_small+wu100`` (the start's levels and warm-up, all and 0,
    are not written)."""
    name, rest = key.split('@x')
    factor, *parts = rest.split('+')
    levels = next((p for p in parts if p in methods.LEVEL_CHOICES), 'all')
    warmup = next((int(p[2:]) for p in parts if p.startswith('wu')), 0)
    return accuracy_study.at_setting(
        methods.METHODS[name], Setting(float(factor), levels, warmup), args)


@pytest.mark.parametrize('student,keys', [
    ('r18-w32', ['sekd@x0.3', 'sekd@x3', 'sekd@x3+no_small+wu100',
                 'sekd_v@x10', 'pkd@x0.3+no_small+wu100']),
    ('r18-w16', ['sekd@x1', 'sekd@x3+wu100', 'sekd_v@x3+no_small+wu100']),
])
def test_committed_search_runs_keep_their_digests(student, keys):
    """SEKD's weight factors are in the shipped design's weights
    (``SHIPPED``): the record digest of a run of a committed same-choices
    search, recomputed from its run key, is the one its record holds, so
    that the committed grids describe the configs as they are. The 3x runs
    are those the configs ship."""
    suffix = methods.student_suffix(student)
    record = osp.join(REPO, 'docs', 'results', f'accuracy_study_short_'
                      f'retinanet{suffix}_same-choices_tune_runs.json')
    with open(record, encoding='utf-8') as f:
        recorded = json.load(f)['runs']
    args = accuracy_study.parse_args(
        ['--split', 'tune', '--student', student, '--seeds', '100',
         '--methods', 'sekd', 'sekd_v', 'pkd'])
    chosen = {key: _grid_method(args, key) for key in keys}
    made = accuracy_study.student_runs(args, chosen, 'CHECKPOINT',
                                       recorded['teacher']['weights'])
    assert sorted(r.name for r in made) == sorted(keys)
    for job in made:
        key = osp.relpath(job.work_dir, args.work_dir)
        assert recorded[key]['digest'] == job.record_digest, key


def test_sekd_row_names_its_config(tmp_path):
    args = accuracy_study.parse_args(['--seeds', '0', '--methods', 'alone',
                                      'sekd', '--work-dir', str(tmp_path)])
    chosen = accuracy_study.variants(args, methods.select(args.methods))
    results = _fake_results(list(chosen), [0], lambda k, s: 4.0)
    path = tmp_path / 'table.json'
    accuracy_study.write_table_json(str(path), args, chosen, results, [])
    table = json.loads(path.read_text())
    assert table['methods']['sekd']['config'] == \
        methods.METHODS['sekd'].config('retinanet')


def test_digest_ignores_the_bases_helper_variables(tmp_path):
    """Only what the runner reads counts: a helper variable of a base file
    (e.g. SEKD's ``sekd_spec`` in a peer's config) does not change a run."""
    config = tmp_path / 'cfg.py'
    config.write_text('spec = dict(a=1)\nmodel = dict(alpha=1.0)\n')
    before = runs.config_digest(str(config), [])
    config.write_text('spec = dict(a=2)\nmodel = dict(alpha=1.0)\n')
    assert runs.config_digest(str(config), []) == before
    config.write_text('spec = dict(a=2)\nmodel = dict(alpha=2.0)\n')
    assert runs.config_digest(str(config), []) != before


def test_tune_split_reads_another_val_set():
    args = accuracy_study.parse_args(['--split', 'tune'])
    assert args.seeds == [100]
    assert accuracy_study.parse_args([]).seeds == [0, 1, 2]
    cfg = merged(methods.METHODS['alone'].embedded,
                 accuracy_study.data_options(args))
    tune_root = 'data/sekd_synthetic_study_tune1/'
    assert cfg.val_dataloader.dataset.data_root == tune_root
    assert cfg.val_dataloader.dataset.synthetic.seed == 1
    assert cfg.val_evaluator.ann_file.startswith(tune_root)
    assert cfg.train_dataloader.dataset.data_root == \
        'data/sekd_synthetic_study/'
    assert 'seed' not in cfg.train_dataloader.dataset.synthetic


def test_long_regime_trains_students_4x_longer():
    parse = accuracy_study.parse_args
    short, long = parse([]), parse(['--regime', 'long'])
    assert (short.student_iters, long.student_iters) == (300, 1200)
    assert long.teacher_iters == short.teacher_iters  # same cached teacher
    assert parse(['--regime', 'long', '--preset', 'large']).student_iters \
        == 6000
    assert parse(['--regime', 'long', '--student-iters', '7']) \
        .student_iters == 7
    with pytest.raises(SystemExit):
        parse(['--regime', 'medium'])


def test_cache_notices_a_changed_config(tmp_path):
    """A finished run is reused only while its command, its resolved
    config and its teacher are unchanged: editing a default in the config
    file reruns it, and so does a result that does not say them."""
    config = tmp_path / 'cfg.py'
    config.write_text('model = dict(levels=(1, 2, 3), alpha=1.0)\n')
    run = runs.Run('m', 0, str(config), str(tmp_path / 'run'),
                   ['model.alpha=2.0'])
    os.makedirs(run.work_dir)
    scalars = tmp_path / 'run' / 'stamp' / 'vis_data' / 'scalars.json'
    os.makedirs(scalars.parent)
    scalars.write_text(json.dumps({'coco/bbox_mAP': 0.5}) + '\n')

    def save(**extra):
        with open(run.result_file, 'w') as f:
            json.dump(dict(args=run.args, **extra), f)

    save(config_digest=run.config_digest, teacher='')
    assert run.cached()['metrics']['coco/bbox_mAP'] == 0.5
    save(teacher='')  # no digest
    assert run.cached() is None
    save(config_digest=run.config_digest)  # no teacher
    assert run.cached() is None
    digest = run.config_digest
    config.write_text('model = dict(levels=(1, 2), alpha=1.0)\n')
    fresh = runs.Run('m', 0, str(config), str(tmp_path / 'run'),
                     ['model.alpha=2.0'])
    assert fresh.args == run.args and fresh.config_digest != digest
    save(config_digest=digest, teacher='')
    assert fresh.cached() is None
    # the options are part of the digest too
    assert runs.config_digest(str(config), ['model.alpha=3.0']) \
        != fresh.config_digest


def test_record_keeps_runs_across_lost_work_dirs(tmp_path):
    """A recorded run is reused under the same config, options and
    teacher, whatever the teacher checkpoint's path; a changed option or
    another teacher reruns it; an entry that holds AP only reports n/a for
    the other metrics, and says where it comes from."""
    config = tmp_path / 'cfg.py'
    config.write_text('model = dict(alpha=1.0, teacher_ckpt=None)\n')
    work = tmp_path / 'study'

    def make(teacher='t1', ckpt='/a/iter_9.pth', alpha='2.0', seed=0):
        return runs.Run(
            'sekd', seed, str(config), str(work / 'long-report' / 'sekd' /
                                           f'seed{seed}'),
            [f'model.alpha={alpha}', f'model.teacher_ckpt={ckpt}'],
            teacher=teacher)

    path = tmp_path / 'runs.json'
    record = runs.Record(str(path), str(work))
    result = dict(metrics={'coco/bbox_mAP': 0.4}, sec_per_iter=1.5,
                  distill_over_task=0.6, seconds=9.0,
                  checkpoint='/x/iter_7.pth')
    record.add(make(), result)
    record.save()
    again = runs.Record(str(path), str(work))
    assert list(again.runs) == ['long-report/sekd/seed0']
    got = again.get(make(ckpt='/elsewhere/iter_9.pth'))
    assert got['recorded'] and got['metrics'] == {'coco/bbox_mAP': 0.4}
    assert got['checkpoint'].endswith('iter_7.pth')
    assert again.get(make(alpha='3.0')) is None
    assert again.get(make(teacher='t2')) is None
    assert again.get(make(seed=1)) is None
    # a result taken from the record is not written back over its entry
    again.runs['long-report/sekd/seed0']['note'] = 'an earlier machine'
    again.add(make(), again.get(make()))
    assert again.runs['long-report/sekd/seed0']['note'] == 'an earlier machine'

    args = accuracy_study.parse_args(['--seeds', '0', '--work-dir',
                                      str(tmp_path)])
    alone = dict(metrics={k: 0.2 for _, k in accuracy_study.METRICS},
                 sec_per_iter=1.0, distill_over_task=0.0)
    results = {('alone', 0): alone, ('sekd', 0): again.get(make())}
    text = accuracy_study.report(args, methods.select(['alone', 'sekd']),
                                 results, alone, 1.0)
    row, = [line for line in text.splitlines()
            if line.startswith('| SEKD')]
    assert row.split(' | ')[1:4] == ['40.0', 'n/a', 'n/a']
    assert '+20.0 |' in row
    assert 'not run here: sekd/seed0 (an earlier machine)' in text
    # two studies sharing the record (e.g. two groups of methods at once)
    # keep each other's runs
    other = runs.Record(str(path), str(work))
    other.add(make(seed=2), result)
    again.add(make(seed=1), result)
    other.save()
    again.save()
    assert sorted(runs.Record(str(path), str(work)).runs) == [
        f'long-report/sekd/seed{s}' for s in (0, 1, 2)]
    assert not list(tmp_path.glob('*.tmp'))


def test_weights_digest_identifies_the_teacher(tmp_path):
    """Same weights, same digest (whatever the meta); one value changed,
    another digest; a run finished under another teacher is not reused."""
    import torch
    state = {'a.weight': torch.arange(6.).view(2, 3),
             'a.bias': torch.zeros(2)}
    torch.save(dict(state_dict=state, meta=dict(time=1)), tmp_path / '1.pth')
    torch.save(dict(state_dict=dict(state), meta=dict(time=2)),
               tmp_path / '2.pth')
    state['a.bias'][1] = 1e-6
    torch.save(dict(state_dict=state), tmp_path / '3.pth')
    one, two, three = (runs.weights_digest(str(tmp_path / f))
                       for f in ('1.pth', '2.pth', '3.pth'))
    assert one == two != three

    config = tmp_path / 'cfg.py'
    config.write_text('model = dict(teacher_ckpt=None)\n')
    run = runs.Run('m', 0, str(config), str(tmp_path / 'run'),
                   ['model.teacher_ckpt=/t/iter_9.pth'], teacher=one)
    os.makedirs(tmp_path / 'run' / 'stamp' / 'vis_data')
    (tmp_path / 'run' / 'stamp' / 'vis_data' / 'scalars.json').write_text(
        json.dumps({'coco/bbox_mAP': 0.5}) + '\n')
    with open(run.result_file, 'w') as f:
        json.dump(dict(args=run.args, config_digest=run.config_digest,
                       teacher=one), f)
    assert run.cached() is not None
    run.teacher = three
    assert run.cached() is None


def test_study_tunes_then_reports_and_caches(data_root, tmp_path):
    """The study for real at toy size: a search's choice (here written
    from made-up results) run on the tuning split and on the reported one,
    the work-dir cache, the record, and the table rebuilt from the record
    alone. (The search itself: tests/test_search.py.)"""
    work = tmp_path / 'study'
    common = [PY, 'benchmarks/accuracy_study.py', '--work-dir', str(work),
              '--data-root', data_root + '/', '--teacher-iters', '2',
              '--student-iters', '2', '--img-scale', '64',
              '--methods', 'alone', 'sekd_v', '--jobs', '2',
              '--num-train', str(SMALL['num_train']),
              '--num-val', str(SMALL['num_val'])]
    env = dict(OMP_NUM_THREADS='1')
    sekd_v = methods.METHODS['sekd_v']
    half_alpha, = [o for o in methods.weight_options(sekd_v, sekd_v.embedded,
                                                     0.5) if '.alpha=' in o]
    # committed files, as in docs/results/: the search's choices ...
    tuned = tmp_path / 'search.json'
    tuned.write_text(json.dumps(dict(study='s', candidates=[
        _candidate('sekd_v', 0.5, 'no_small', 0, 0.05)])))
    # ... run on the tuning split's val set
    proc = run(common + ['--split', 'tune', '--tuned', str(tuned)], env=env)
    assert '| SEKD V only (beta = gamma = 0) |' in proc.stdout
    tuned_run = json.loads((work / 'short-tune' / 'sekd_v' / 'seed100' /
                            'result.json').read_text())
    assert any('_tune1/' in a for a in tuned_run['args'])
    assert half_alpha in tuned_run['args']
    assert 'model.distill_warmup_iters=0' in tuned_run['args']

    # ... and the record
    record = tmp_path / 'runs.json'
    report = common + ['--seeds', '0', '1', '--tuned', str(tuned),
                       '--record', str(record)]
    proc = run(report, env=env)
    assert '| Student alone |' in proc.stdout
    assert '| SEKD V only (beta = gamma = 0) |' in proc.stdout
    split = work / 'short-report'
    saved = json.loads((split / 'results.json').read_text())
    assert saved['methods']['sekd_v']['seeds'] == [0, 1]
    assert len(saved['methods']['sekd_v']['paired_delta_ap']) == 2
    assert (split / 'accuracy_study.png').stat().st_size > 0
    table = json.loads(
        (split / 'accuracy_study_short_retinanet.json').read_text())
    assert (table['regime'], table['detector'], table['seeds'],
            table['num_val']) == ('short', 'retinanet', [0, 1],
                                  SMALL['num_val'])
    row = table['methods']['sekd_v']
    assert row['tuned'] is True and table['methods']['alone']['tuned'] is \
        False
    assert row['ap_mean'] == pytest.approx(
        100 * sum(saved['methods']['sekd_v']['ap']) / 2)
    assert row['delta_ap_mean'] == pytest.approx(
        100 * sum(saved['methods']['sekd_v']['paired_delta_ap']) / 2)
    # every student was distilled from the study's own teacher, at the
    # tuned weight, on the reported val set
    teacher = json.loads((work / 'teacher' / 'result.json').read_text())
    student = json.loads(
        (split / 'sekd_v' / 'seed1' / 'result.json').read_text())
    assert f'model.teacher_ckpt={teacher["checkpoint"]}' in student['args']
    assert 'model.distiller.sekd.beta=0' in student['args']
    assert half_alpha in student['args']
    assert 'model.distill_warmup_iters=0' in student['args']
    assert not any('_tune1/' in a for a in student['args'])
    assert student['args'][student['args'].index('--seed') + 1] == '1'
    # a second call reuses every finished run
    stamp = os.stat(split / 'alone' / 'seed0' / 'result.json').st_mtime_ns
    proc = run(report, env=env)
    assert '4 run(s) already done' in proc.stdout
    assert os.stat(split / 'alone' / 'seed0' /
                   'result.json').st_mtime_ns == stamp
    # the record lets another machine (no work dir) report the same table
    # without training anything, not even the teacher
    recorded = json.loads(record.read_text())['runs']
    assert sorted(recorded) == ['short-report/alone/seed0',
                                'short-report/alone/seed1',
                                'short-report/sekd_v/seed0',
                                'short-report/sekd_v/seed1', 'teacher']
    assert len(recorded['teacher']['weights']) == 16
    first = (split / 'results.md').read_text()
    shutil.rmtree(work)
    proc = run(report, env=env)
    assert '4 run(s) already done (result.json; 4 of them from the record)' \
        in proc.stdout
    assert not (work / 'teacher').exists()
    table = [line for line in first.splitlines() if line.startswith('| ')]
    again = (split / 'results.md').read_text()
    assert [line for line in again.splitlines()
            if line.startswith('| ')] == table
