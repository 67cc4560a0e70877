# Copyright (c) sekd-mm contributors. All rights reserved.
"""benchmarks/accuracy_study.py: method table, cfg-options, report maths,
and a real two-seed run at toy size (train, evaluate, cache, report)."""
import json
import math
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
from sekd_mm.models.utils import SEKDDesign

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import accuracy_study  # noqa: E402
import methods  # noqa: E402
import tuning  # noqa: E402

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
            # SEKD's design candidates (and the distiller's vertex_levels)
            # are left out of the shipped spec
            candidate = key.startswith('model.distiller.sekd.') and \
                last in (*SEKDDesign.CANDIDATES, 'vertex_levels')
            assert isinstance(node, ConfigDict) and (
                last in node or candidate), f'{name}: {key} is not in {config}'
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
    res = accuracy_study.read_scalars(str(tmp_path))
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
    res = accuracy_study.read_scalars(str(tmp_path), warmup_iters=100)
    assert res['distill_over_task'] == pytest.approx(0.5)
    assert res['distill_over_task_on'] == pytest.approx(4.0)
    # without a warm-up both read the first logged iteration
    res = accuracy_study.read_scalars(str(tmp_path))
    assert res['distill_over_task_on'] == res['distill_over_task']


@pytest.mark.parametrize('name,iters', [('sekd', 100), ('sekd_v', 100),
                                        ('pkd', 0), ('alone', 0)])
def test_run_reads_the_configs_warmup(tmp_path, name, iters):
    method = methods.METHODS[name]
    run = accuracy_study.Run(name, 0, method.embedded, str(tmp_path),
                             list(method.options))
    assert run.warmup_iters == iters
    # a cfg-option changes it
    run = accuracy_study.Run(
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
    assert sekd.alpha == pytest.approx(
        3 * methods.WEIGHT_UNITS['model.distiller.sekd.alpha'])
    assert sekd.beta == 0 and sekd.gamma == 0
    assert methods.weight_options(pkd, pkd.embedded, 1) == []
    # SEKD's factors are in the pinned units, whatever the config ships:
    # the same factor gives the same resolved weights
    sekd = methods.METHODS['sekd']
    for shipped in (1.5, 4.5):
        moved = sekd._replace(options=(
            f'model.distiller.sekd.alpha={shipped}', ))
        for factor in (1, 3):
            cfg = merged(sekd.embedded,
                         methods.weight_options(moved, sekd.embedded, factor))
            assert cfg.model.distiller.sekd.alpha == pytest.approx(
                factor * methods.WEIGHT_UNITS['model.distiller.sekd.alpha'])
    broken = pkd._replace(weights=('model.distiller.nothing', ))
    with pytest.raises(ValueError, match='not all found'):
        methods.weight_options(broken, pkd.embedded, 2)


def test_factors_give_a_method_its_own_grid():
    args = accuracy_study.parse_args(
        ['--split', 'tune', '--methods', 'alone', 'sekd', 'pkd', 'cwd',
         '--factors', '0.3', '1', 'sekd=1,3,10', 'pkd=0.1,0.3'])
    runs = accuracy_study.variants(args, methods.select(args.methods))
    assert list(runs) == ['alone', 'sekd', 'sekd@x3', 'sekd@x10',
                          'pkd@x0.1', 'pkd@x0.3', 'cwd@x0.3', 'cwd']
    assert runs['sekd@x10'].label == 'SEKD (V+E+S) x10'
    grid = accuracy_study.factor_grid
    assert grid(['pkd=2'], 'cwd') == [1.0]  # no plain numbers: x1
    with pytest.raises(SystemExit, match='unknown methods'):
        grid(['sekdd=1,3'], 'sekd')
    with pytest.raises(SystemExit, match='METHOD=F,F'):
        grid(['sekd=1;3'], 'sekd')


def test_tuning_keeps_methods_tuned_in_another_call(tmp_path):
    path = str(tmp_path / 'tuning.json')
    sel = methods.select(['sekd', 'pkd', 'cwd'])

    def res(ap):
        return {'metrics': {'coco/bbox_mAP': ap}}

    first = {('sekd', 100): res(0.40), ('sekd@x3', 100): res(0.39),
             ('pkd@x0.3', 100): res(0.38), ('pkd', 100): res(0.39)}
    keys = {k: sel[k.partition('@')[0]] for k, _ in first}
    tuning = accuracy_study.write_tuning(path, first, keys, [100])
    assert tuning['factors'] == {'sekd': 1.0, 'pkd': 1.0}
    # a second call tunes CWD and reruns PKD's x0.3: SEKD's grid is kept
    second = {('cwd@x0.3', 100): res(0.37), ('cwd', 100): res(0.36),
              ('pkd@x0.3', 100): res(0.395)}
    keys = {k: sel[k.partition('@')[0]] for k, _ in second}
    tuning = accuracy_study.write_tuning(path, second, keys, [100])
    assert tuning['factors'] == {'sekd': 1.0, 'pkd': 0.3, 'cwd': 0.3}
    assert tuning['ap']['sekd'] == pytest.approx({'1': 40.0, '3': 39.0})
    # other seeds: a new tuning
    tuning = accuracy_study.write_tuning(path, {}, {}, [101])
    assert tuning['factors'] == {} and tuning['seeds'] == [101]


def test_weight_grid_never_overwrites_a_search(tmp_path):
    path = str(tmp_path / 'tuning.json')
    results = {('sekd@x1', 100): {'metrics': {'coco/bbox_mAP': 0.4}}}
    accuracy_study.write_search(path, results, {'sekd': [tuning.Setting(1.0)]},
                                [100])
    with open(path) as f:
        search = f.read()
    with pytest.raises(SystemExit, match='--search'):
        accuracy_study.write_tuning(path, {}, {}, [100])
    # the study refuses before its teacher or any student run starts
    work_dir = tmp_path / 'study'
    split_dir = work_dir / 'short-tune'
    split_dir.mkdir(parents=True)
    shutil.copy(path, split_dir / 'tuning.json')
    with pytest.raises(SystemExit, match='--search'):
        accuracy_study.main(['--split', 'tune', '--methods', 'alone', 'sekd',
                             '--work-dir', str(work_dir)])
    assert os.listdir(work_dir) == ['short-tune']
    for kept in (path, split_dir / 'tuning.json'):
        with open(kept) as f:
            assert f.read() == search


def _fake_results(keys, seeds, ap_of):
    return {(k, s): {'metrics': {'coco/bbox_mAP': ap_of(k, s) / 100},
                     'sec_per_iter': 1.0, 'distill_over_task': 1.0}
            for k in keys for s in seeds}


def test_search_offers_every_row_the_same_choices(tmp_path, monkeypatch):
    """--search: the factor grid at all levels and no warm-up, extended
    while its best is at an edge, then every levels / warm-up choice at the
    best factor; tuning.json keeps each row's record, and --tuned applies
    the chosen setting (factor, levels, warm-up) in the report split."""
    args = accuracy_study.parse_args(
        ['--split', 'tune', '--search', '--seeds', '100', '101',
         '--methods', 'alone', 'sekd_v', 'pkd', 'ega', '--work-dir',
         str(tmp_path)])
    # made-up AP: sekd_v peaks at x3 with the small levels left out and
    # warm-up; PKD's best is past the grid's top (x30), EGA at x1
    peak = dict(sekd_v=3.0, pkd=30.0, ega=1.0)

    def ap_of(key, seed):
        parsed = tuning.parse_key(key)
        if parsed is None:
            return 3.0
        name, setting = parsed
        ap = 10 - abs(math.log10(setting.factor / peak[name]))
        if name == 'sekd_v':
            ap += 0.5 * (setting.levels == 'no_small') + 0.2 * bool(
                setting.warmup)
        return ap + 0.1 * (seed == 101)

    rounds = []

    def fake_run_all(runs, jobs, threads=None, record=None):
        rounds.append(sorted({r.name for r in runs}))
        return _fake_results({r.name for r in runs}, args.seeds, ap_of)

    monkeypatch.setattr(accuracy_study, 'run_all', fake_run_all)
    sel = methods.select(args.methods)
    current, results, settings = accuracy_study.run_search(
        args, sel, '/t.pth', 'teacher', None)
    assert rounds[0] == sorted(
        ['alone'] + [f'{n}@x{f:g}' for n in ('sekd_v', 'pkd', 'ega')
                     for f in tuning.FACTOR_GRID])
    assert [s.factor for s in settings['pkd'][:6]] == [
        0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    assert 'ega@x1+no_small' not in current  # EGA has no level choice
    assert 'ega@x1+wu100' in current
    # --report-only: the search as far as the finished runs go (here the
    # first grid, PKD's missing one run: no decision is taken for PKD, the
    # other rows' next settings are listed but not run)
    first = set(rounds[0]) - {'pkd@x10'}
    monkeypatch.setattr(
        accuracy_study, 'finished',
        lambda run, record: results.get((run.name, run.seed))
        if run.name in first else None)
    args.report_only = True
    _, partial, partial_settings = accuracy_study.run_search(
        args, sel, '/t.pth', 'teacher', None)
    assert {k for k, _ in partial} == first
    assert len(partial_settings['pkd']) == 4
    assert len(partial_settings['sekd_v']) == 4 + 3  # the choices at x3
    args.report_only = False
    saved = accuracy_study.write_search(
        str(tmp_path / 'tuning.json'), results, settings, args.seeds)
    row = saved['rows']['sekd_v']
    assert row['chosen'] == dict(factor=3.0, levels='no_small', warmup=100)
    assert row['seeds'] == [100, 101]
    assert row['grid']['factor'] == [0.3, 1.0, 3.0, 10.0]
    assert row['grid']['levels'] == ['all', 'no_small']
    assert saved['rows']['pkd']['chosen']['factor'] == 30.0
    assert saved['factors']['pkd'] == 30.0

    report = accuracy_study.parse_args(
        ['--methods', 'alone', 'sekd_v', 'pkd', '--tuned',
         str(tmp_path / 'tuning.json'), '--work-dir', str(tmp_path)])
    chosen = accuracy_study.variants(report, methods.select(report.methods))
    cfg = accuracy_study.resolve_config(
        chosen['sekd_v'].config('retinanet'), list(chosen['sekd_v'].options))
    assert tuple(cfg.model.distiller.sekd.levels) == ('p2', 'p3', 'p4')
    assert cfg.model.distill_warmup_iters == 100
    assert cfg.model.distiller.sekd.alpha == pytest.approx(
        3 * methods.WEIGHT_UNITS['model.distiller.sekd.alpha'])
    assert cfg.model.distiller.sekd.beta == 0

    # the reported table's JSON: dataset, AP per seed, tuning, config
    report.seeds = [0, 1]
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
    assert 'tuning' not in table['methods']['alone']


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
    before = accuracy_study.config_digest(str(config), [])
    config.write_text('spec = dict(a=2)\nmodel = dict(alpha=1.0)\n')
    assert accuracy_study.config_digest(str(config), []) == before
    config.write_text('spec = dict(a=2)\nmodel = dict(alpha=2.0)\n')
    assert accuracy_study.config_digest(str(config), []) != before


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
    """A finished run is reused only while its command and its resolved
    config are unchanged: editing a default in the config file reruns it
    (a result without a digest, from before it was recorded, is matched
    on the command alone)."""
    config = tmp_path / 'cfg.py'
    config.write_text('model = dict(levels=(1, 2, 3), alpha=1.0)\n')
    run = accuracy_study.Run('m', 0, str(config), str(tmp_path / 'run'),
                             ['model.alpha=2.0'])
    os.makedirs(run.work_dir)
    scalars = tmp_path / 'run' / 'stamp' / 'vis_data' / 'scalars.json'
    os.makedirs(scalars.parent)
    scalars.write_text(json.dumps({'coco/bbox_mAP': 0.5}) + '\n')

    def save(**extra):
        with open(run.result_file, 'w') as f:
            json.dump(dict(args=run.args, **extra), f)

    save(config_digest=run.config_digest)
    assert run.cached()['metrics']['coco/bbox_mAP'] == 0.5
    save()  # legacy result: no digest
    assert run.cached() is not None
    digest = run.config_digest
    config.write_text('model = dict(levels=(1, 2), alpha=1.0)\n')
    fresh = accuracy_study.Run('m', 0, str(config), str(tmp_path / 'run'),
                               ['model.alpha=2.0'])
    assert fresh.args == run.args and fresh.config_digest != digest
    save(config_digest=digest)
    assert fresh.cached() is None
    # the options are part of the digest too
    assert accuracy_study.config_digest(str(config), ['model.alpha=3.0']) \
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
        return accuracy_study.Run(
            'sekd', seed, str(config), str(work / 'long-report' / 'sekd' /
                                           f'seed{seed}'),
            [f'model.alpha={alpha}', f'model.teacher_ckpt={ckpt}'],
            teacher=teacher)

    path = tmp_path / 'runs.json'
    record = accuracy_study.Record(str(path), str(work))
    result = dict(metrics={'coco/bbox_mAP': 0.4}, sec_per_iter=1.5,
                  distill_over_task=0.6, seconds=9.0,
                  checkpoint='/x/iter_7.pth')
    record.add(make(), result)
    record.save()
    again = accuracy_study.Record(str(path), str(work))
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
    other = accuracy_study.Record(str(path), str(work))
    other.add(make(seed=2), result)
    again.add(make(seed=1), result)
    other.save()
    again.save()
    assert sorted(accuracy_study.Record(str(path), str(work)).runs) == [
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
    one, two, three = (accuracy_study.weights_digest(str(tmp_path / f))
                       for f in ('1.pth', '2.pth', '3.pth'))
    assert one == two != three

    config = tmp_path / 'cfg.py'
    config.write_text('model = dict(teacher_ckpt=None)\n')
    run = accuracy_study.Run('m', 0, str(config), str(tmp_path / 'run'),
                             ['model.teacher_ckpt=/t/iter_9.pth'],
                             teacher=one)
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
    proc = run(common + ['--split', 'tune', '--factors', '0.5', '1'],
               env=env)
    assert '| SEKD V only (beta = gamma = 0) x0.5 |' in proc.stdout
    tuning = json.loads((work / 'short-tune' / 'tuning.json').read_text())
    assert tuning['seeds'] == [100]
    assert set(tuning['ap']['sekd_v']) == {'0.5', '1'}
    best = tuning['factors']['sekd_v']
    ap = tuning['ap']['sekd_v']
    assert ap[f'{best:g}'] == max(ap.values())
    tuned_run = json.loads((work / 'short-tune' / 'sekd_v@x0.5' / 'seed100' /
                            'result.json').read_text())
    assert any('_tune1/' in a for a in tuned_run['args'])
    assert half_alpha in tuned_run['args']

    # committed files, as in docs/results/: the tuning and the record
    tuned = tmp_path / 'tuning.json'
    shutil.copy(work / 'short-tune' / 'tuning.json', tuned)
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
    assert (half_alpha in student['args']) == (best == 0.5)
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
