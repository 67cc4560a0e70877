# Copyright (c) sekd-mm contributors. All rights reserved.
"""``sekd-mm distill --search`` (sekd_mm/cli/distill_search.py): the tuning
split is carved from train only, the search picks the row with the best
mean tuning AP over its seeds, the chosen row and the student alone are
trained on the full train set and evaluated on val, and the same command
again trains nothing new."""
import json
import os.path as osp
import statistics

import pytest
from mmengine.config import Config
from test_distill_dataset import make_coco, tool, tool_in_process

#: Two rows, one factor, no level or warm-up choice, no growth: three
#: trials (each row on the first seed, the better one on the second).
SEARCH = ['--search', '--methods', 'sekd', 'pkd', '--trial-iters', '3',
          '--eval-interval', '1', '--factors', '1', '--ladder', '1',
          '--levels', 'all', '--warmups', '0', '--confirm-top', '1',
          '--search-seeds', '100', '101', '--tune-fraction', '0.3',
          '--max-trials', '4', '--teacher-iters', '2', '--iters', '2',
          '--img-scale', '64', '--batch-size', '2', '--threads', '1']
#: Successive halving at every evaluation, keeping the better half: the
#: second row's first trial is pruned when it is behind the first's.
PRUNER = ['--pruner', json.dumps(dict(
    type='SuccessiveHalvingPruner', min_resource=1, reduction_factor=2,
    min_early_stopping_rate=0))]


def _images(ann_file, img_prefix):
    with open(ann_file) as f:
        coco = json.load(f)
    return {osp.join(img_prefix, im['file_name']) for im in coco['images']}


def test_search_chooses_trains_and_resumes(tmp_path):
    root = make_coco(str(tmp_path / 'data'), n=(10, 4))
    work = tmp_path / 'work'
    tool('--data-root', 'data', '--work-dir', 'work', *SEARCH, *PRUNER,
         cwd=tmp_path)
    results = json.loads((work / 'results.json').read_text())
    search = results['search']

    # the tuning split: 3 of the 10 train images, none of val's
    tune = _images(search['tune']['ann_file'], search['tune']['img_prefix'])
    train = _images(osp.join(root, 'annotations/instances_train.json'),
                    osp.join(root, 'train/'))
    val = _images(osp.join(root, 'annotations/instances_val.json'),
                  osp.join(root, 'val/'))
    assert len(tune) == 3 and tune < train and not tune & val
    rest = _images(search['search_train']['ann_file'],
                   search['tune']['img_prefix'])
    assert rest == train - tune
    # the trials train on the rest and evaluate on the tuning split
    for method in ('sekd', 'pkd'):
        cfg = Config.fromfile(str(work / 'configs' / f'search_{method}.py'))
        assert cfg.train_dataloader.dataset.ann_file == \
            search['search_train']['ann_file']
        assert cfg.val_evaluator.ann_file == search['tune']['ann_file']
        assert cfg.train_cfg.max_iters == 3

    # the chosen row: complete on both seeds, the best mean tuning AP
    trials = search['trials']
    assert {t['state'] for t in trials} <= {'COMPLETE', 'PRUNED'}
    for t in trials:
        if t['state'] == 'PRUNED':
            assert t['seed'] == 100 and t['pruned_step'] < 3
            assert t['iters'] == t['pruned_step']
        else:
            assert t['iters'] == 3 and t['value'] is not None
    chosen = search['chosen']
    mine = [t for t in trials if t['method'] == chosen['method']]
    assert sorted(t['seed'] for t in mine) == [100, 101]
    assert all(t['state'] == 'COMPLETE' for t in mine)
    assert chosen['mean'] == pytest.approx(
        statistics.mean(t['value'] for t in mine))
    for t in trials:  # no other row beat it on the first seed
        if t['seed'] == 100 and t['state'] == 'COMPLETE':
            assert t['value'] <= chosen['values']['100'] + 1e-12
    cost = search['cost']
    assert cost['iters'] == sum(t['iters'] for t in trials)
    assert cost['grid_iters'] == 2 * 2 * 3
    assert cost['full_training_iters'] == 2
    # what the pruner decided on: each evaluation before the end against
    # the end, over the complete trials
    complete = [t for t in trials if t['state'] == 'COMPLETE']
    assert [(e['step'], e['trials']) for e in search['early_ranking']] == [
        (1, len(complete)), (2, len(complete))]

    # the final table: the chosen row and the student alone, on val
    cfg = Config.fromfile(str(work / 'configs' / 'chosen_student.py'))
    assert cfg.val_evaluator.ann_file == osp.join(
        root, 'annotations/instances_val.json')
    assert cfg.train_dataloader.dataset.ann_file == osp.join(
        root, 'annotations/instances_train.json')
    for stage in ('teacher', 'chosen_student', 'student_alone'):
        assert 'coco/bbox_mAP' in results['results'][stage]
    report = (work / 'results.md').read_text()
    assert f'**Chosen:** {chosen["method"]} {chosen["key"]}' in report
    assert '| Student R-18 w32 alone |' in report
    assert '**Early ranking** (what the pruner decides on)' in report
    assert 'iteration 1: ' in report and 'iteration 2: ' in report
    # the figure of that table and the chosen student as a plain mmdet model
    assert results['figure'] == str(work / 'results.png')
    assert (work / 'results.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert '![val bbox mAP](results.png)' in report
    plain = Config.fromfile(results['student']['config'])
    assert plain.model.type == 'RetinaNet' and 'teacher' not in plain.model
    assert plain.val_evaluator.ann_file == cfg.val_evaluator.ann_file
    assert osp.isfile(results['student']['checkpoint'])
    assert '`student/student.py` and `student/student.pth`' in report

    # the same command again: nothing new trains
    stamps = {p: p.stat().st_mtime_ns for p in work.glob('*/iter_*.pth')}
    proc = tool('--data-root', 'data', '--work-dir', 'work', *SEARCH,
                *PRUNER, cwd=tmp_path)
    assert {p: p.stat().st_mtime_ns
            for p in work.glob('*/iter_*.pth')} == stamps
    assert proc.stdout.count('reusing') == 3
    again = json.loads((work / 'results.json').read_text())['search']
    assert again['trials'] == trials and again['chosen'] == chosen


@pytest.mark.parametrize('args,message,written', [
    (['--tune-fraction', '0.1'], 'leaves no tuning image', False),
    (['--tune-fraction', '1'], 'must be within 0 and 1', False),
    (['--pruner', '{"type": "Hyperband"}'], 'is no Optuna pruner', False),
    (['--trial-iters', '50'], 'give --warmups below 50', False),
    (['--storage', 'postgresql://nobody@127.0.0.1:9/study'], 'storage',
     False),
    (['--search-seeds', '100', '--methods', 'pkd'],
     'give two different seeds', True),
])
def test_bad_search_input_stops_before_training(args, message, written,
                                                 tmp_path):
    """Each refused with one message before training; all but the
    search's own check before anything is written."""
    make_coco(str(tmp_path / 'data'), n=(3, 2))
    msg = tool_in_process('--data-root', str(tmp_path / 'data'),
                          '--work-dir', str(tmp_path / 'work'), '--search',
                          *args)
    assert msg.startswith('[distill]') and message in msg, msg
    assert not (tmp_path / 'work' / 'teacher').exists()
    assert (tmp_path / 'work').exists() == written


def test_default_space_starts_at_first_three_levels_with_warmup():
    """Without --levels / --warmups every row searches its factor grid at
    the first three levels with the warm-up and then tries the rest; a
    row without a level choice (EGA) gets the warm-up choices only."""
    import argparse

    from sekd_mm.cli.distill_search import add_search_arguments, search_space
    from sekd_mm.search import Row
    parser = argparse.ArgumentParser()
    add_search_arguments(parser)
    args = parser.parse_args(['--methods', 'sekd_v', 'ega'])
    space = search_space(args)
    assert space['sekd_v'].start == ('no_small', 100)
    assert space['sekd_v'] == Row(levels=('no_small', 'all'),
                                  warmups=(100, 0))
    assert space['ega'].levels == (None, )
    assert space['ega'].warmups == (100, 0)
    # the user's order is kept: the first choice is the start
    args = parser.parse_args(['--levels', 'all', 'no_small', '--warmups',
                              '0', '100'])
    assert {r.start for r in search_space(args).values()} == {('all', 0)}
