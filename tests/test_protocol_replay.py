# Copyright (c) sekd-mm contributors. All rights reserved.
"""The protocol replayed on the committed grids
(``benchmarks/protocol_replay.py``): the grid's run keys are found, the
replay follows the package's protocol and its options, and a training the
grid did not run counts as failed."""
import json
import os.path as osp
import sys

import pytest

from sekd_mm.search import Row, Setting, TrialKey

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join(REPO, 'docs', 'results')
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import protocol_replay  # noqa: E402
import search_vs_grid  # noqa: E402

sys.path.pop(0)

ROW = Row(factors=(1.0, 3.0), levels=('all', 'no_small'), warmups=(0, 100),
          ladder=(1.0, 3.0))


def _run(ap: float) -> dict:
    return dict(checkpoint='iter_300.pth', metrics={'coco/bbox_mAP': ap})


@pytest.mark.parametrize('detector,student', [
    ('retinanet', 'r18-w32'), ('retinanet', 'r18-w16'),
    ('retinanet', 'mbv2'), ('faster-rcnn', 'r18-w32')])
def test_grid_keys_name_the_grids_runs(detector, student):
    """Every row's first grid at the start levels and warm-up, and the
    levels / warm-up choices at the grid's chosen factor, on both seeds."""
    pair = search_vs_grid.pair_name(detector, student)
    runs = search_vs_grid.read_grid_runs(RESULTS, pair)
    prefix, _ = search_vs_grid.grid_keys(detector, student)
    with open(search_vs_grid.grid_file(detector, student)) as f:
        grid = json.load(f)
    keys = []
    for method in search_vs_grid.grid_rows(detector, student):
        chosen = grid['rows'][method]['chosen']['factor']
        keys += [TrialKey(method, Setting(f, 'all', 0), s)
                 for f in (0.3, 1.0, 3.0, 10.0) for s in grid['seeds']]
        keys += [TrialKey(method, Setting(chosen, lv, wu), s)
                 for lv in ('all', 'no_small') for wu in (0, 100)
                 for s in grid['seeds']]
    names = [protocol_replay.grid_key(prefix, k, ROW) for k in keys]
    assert [n for n in names if n not in runs] == []


def test_replay_follows_the_protocol_and_counts_what_the_grid_lacks():
    space = dict(a=ROW, b=ROW)
    values = {('a', 1.0): 0.2, ('a', 3.0): 0.3, ('b', 1.0): 0.1,
              ('b', 3.0): 0.05}
    runs = {}
    for (method, factor), ap in values.items():
        for seed in (0, 1):
            key = TrialKey(method, Setting(factor, 'all', 0), seed)
            runs[protocol_replay.grid_key('p', key, ROW)] = _run(ap + seed)
    # a's levels / warm-up choices at x3 (its best); one is not in the grid
    for lv, wu, ap in (('all', 100, 0.35), ('no_small', 0, 0.1)):
        key = TrialKey('a', Setting(3.0, lv, wu), 0)
        runs[protocol_replay.grid_key('p', key, ROW)] = _run(ap)
    done, missing, iters = protocol_replay.replay(
        space, (0, 1), runs, 'p', confirm_top=1, finalists=1)
    # the first grids (4), a's three choices (b is no finalist), then the
    # best first-seed setting on seed 1, which the grid did not run either
    best = Setting(3.0, 'all', 100)
    assert missing == [TrialKey('a', Setting(3.0, 'no_small', 100), 0),
                       TrialKey('a', best, 1)]
    assert len(done) == 8 and iters == 6 * 300
    # without finalists b's choices are asked for too (none in the grid)
    done, missing, _ = protocol_replay.replay(space, (0, 1), runs, 'p',
                                              confirm_top=1)
    assert len(done) == 11 and sum(k.method == 'b' for k in missing) == 3


def test_reproduced_compares_complete_trials_found_in_the_grid():
    key = TrialKey('a', Setting(1.0, 'all', 0), 0)
    runs = {protocol_replay.grid_key('p', key, ROW): _run(0.25)}

    def trial(value, state='COMPLETE', factor=1.0):
        return dict(method='a', setting=dict(factor=factor, levels='all',
                                             warmup=0),
                    seed=0, state=state, value=value)

    search = dict(trials=[trial(0.25), trial(0.2), trial(0.1, 'PRUNED'),
                          trial(0.3, factor=3.0)])
    assert protocol_replay.reproduced(search, runs, 'p', dict(a=ROW)) == (
        2, 1)


def test_the_committed_replay_covers_every_pair_and_variant():
    with open(osp.join(REPO, protocol_replay.TABLE_JSON)) as f:
        table = json.load(f)
    assert set(table['pairs']) == {'retinanet', 'retinanet_r18-w16',
                                   'retinanet_mbv2', 'faster-rcnn'}
    for entry in table['pairs'].values():
        assert set(entry['variants']) == set(protocol_replay.VARIANTS)
