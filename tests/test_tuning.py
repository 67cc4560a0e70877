# Copyright (c) sekd-mm contributors. All rights reserved.
"""The accuracy study's fair tuning protocol (benchmarks/tuning.py)."""
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def tuning():
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    try:
        import tuning
        yield tuning
    finally:
        sys.path.remove(osp.join(REPO, 'benchmarks'))


def test_setting_keys_name_what_differs_from_the_start(tuning):
    """A run key names the factor, and the levels and warm-up only where
    they differ from the start (all levels, no warm-up): the keys of the
    committed records."""
    Setting = tuning.Setting
    cases = {
        'pkd@x3': Setting(3.0),
        'sekd@x0.3+no_small': Setting(0.3, 'no_small'),
        'mgd@x10+wu100': Setting(10.0, warmup=100),
        'sekd_v@x1+no_small+wu100': Setting(1.0, 'no_small', 100),
        'cwd@x0.001': Setting(0.001, 'all', 0),
    }
    for key, setting in cases.items():
        assert tuning.setting_key(key.split('@')[0], setting) == key


@pytest.mark.parametrize('aps,expected', [
    ({0.3: 10.0, 1.0: 12.0, 3.0: 11.0, 10.0: 9.0}, None),  # inside
    ({0.3: 9.0, 1.0: 10.0, 3.0: 11.0, 10.0: 12.0}, 30.0),  # upper edge
    ({0.3: 13.0, 1.0: 10.0, 3.0: 11.0, 10.0: 12.0}, 0.1),  # lower edge
    ({0.1: 13.5, 0.3: 13.0, 1.0: 10.0, 3.0: 9.0}, 0.03),  # extended again
    ({0.03: 12.0, 0.1: 13.5, 0.3: 13.0, 1.0: 10.0}, None),  # now inside
    ({1.0: 10.0}, None),
])
def test_grid_is_extended_until_the_best_lies_inside(tuning, aps, expected):
    assert tuning.next_factor(aps) == expected


def test_choice_settings_cover_every_other_combination(tuning):
    settings = tuning.choice_settings(3.0)
    assert len(settings) == 3
    assert all(s.factor == 3.0 for s in settings)
    combos = {(s.levels, s.warmup) for s in settings}
    assert combos == {('all', 100), ('no_small', 0), ('no_small', 100)}


def test_choose_and_record(tuning):
    Setting = tuning.Setting
    aps = {Setting(0.3): 10.0, Setting(1.0): 12.0, Setting(3.0): 11.0,
           Setting(10.0): 9.0, Setting(1.0, 'no_small'): 12.5,
           Setting(1.0, warmup=100): 12.5,
           Setting(1.0, 'no_small', 100): 12.2}
    # a tie goes to the setting nearer the start (all levels)
    assert tuning.choose(aps) == Setting(1.0, warmup=100)
    record = tuning.tuning_record(aps, [100, 101])
    assert record['seeds'] == [100, 101]
    assert record['grid'] == dict(factor=[0.3, 1.0, 3.0, 10.0],
                                  levels=['all', 'no_small'],
                                  warmup=[0, 100])
    assert record['chosen'] == dict(factor=1.0, levels='all', warmup=100)
    assert record['ap']['1+no_small'] == 12.5
    assert len(record['ap']) == len(aps)


def test_next_settings_extends_then_offers_the_choices(tuning):
    Setting = tuning.Setting
    grid = {Setting(f): ap for f, ap in
            zip(tuning.FACTOR_GRID, (8.0, 9.0, 10.0, 11.0))}
    assert tuning.next_settings(grid) == [Setting(30.0)]
    grid[Setting(30.0)] = 10.5
    assert tuning.next_settings(grid) == tuning.choice_settings(10.0)
    # a row without a level choice (EGA) is offered the warm-up only
    assert tuning.next_settings(grid, levels=False) == [
        Setting(10.0, warmup=100)]
    # nothing is decided while a setting has not finished
    assert tuning.next_settings({**grid, Setting(10.0, 'no_small'): None}) \
        == []
    done = {**grid, **{s: 9.0 for s in tuning.choice_settings(10.0)}}
    assert tuning.next_settings(done) == []
