# Copyright (c) sekd-mm contributors. All rights reserved.
"""The pruned search's comparison with the full grid
(``benchmarks/search_vs_grid.py``): the grid's iterations come from its
runs record, the chosen row's standing from the reported table, and the
generator writes the table only where a search result is committed."""
import json
import os.path as osp
import shutil
import statistics
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join(REPO, 'docs', 'results')
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import results_docs  # noqa: E402
import search_vs_grid  # noqa: E402

from sekd_mm.search import Row  # noqa: E402

sys.path.pop(0)

PAIR = 'retinanet_mbv2'


def _grid_teacher() -> str:
    """The weights digest of the teacher of the pair's grid."""
    with open(osp.join(RESULTS, f'accuracy_study_short_{PAIR}_same-choices'
                       '_tune_runs.json')) as f:
        return json.load(f)['runs']['teacher']['weights']


def _search(method: str, setting: dict, iters: int, done=True,
            teacher=None) -> dict:
    """A search result as ``sekd_mm.search`` writes it (the fields the
    comparison reads), with the teacher's digest that
    ``search_vs_grid.py`` adds (default: the grid's)."""
    grid = json.load(open(osp.join(
        RESULTS, f'tuning_short_{PAIR}_same-choices.json')))
    rows = [m for m in grid['rows'] if m != 'alone']
    return dict(
        done=done, teacher_weights=teacher or _grid_teacher(),
        search=dict(space={m: Row(levels=('no_small', 'all'),
                                  warmups=(100, 0)).as_dict()
                           for m in rows},
                    seeds=grid['seeds'], finalists=3,
                    pruner=dict(type='SuccessiveHalvingPruner',
                                min_resource=100)),
        early_ranking=[dict(step=100, trials=20, spearman=0.125),
                       dict(step=200, trials=20, spearman=0.6)],
        chosen=dict(method=method, setting=setting, mean=0.123),
        cost=dict(iters=iters, trial_iters=300, trainings=40, pruned=25,
                  complete=15, fail=0))


@pytest.fixture
def results(tmp_path):
    out = tmp_path / 'results'
    shutil.copytree(RESULTS, out)
    return out


def _table(results, search: dict, own_teacher: bool = False) -> dict:
    """The comparison with ``search`` committed; ``own_teacher``: with the
    reported splits in ``search_vs_grid.OWN_TEACHER`` too."""
    with open(results / f'search_short_{PAIR}.json', 'w') as f:
        json.dump(search, f)
    studies = results_docs.load_studies(str(results))
    own = results_docs.load_studies(
        str(results / search_vs_grid.OWN_TEACHER), str(results)) \
        if own_teacher else ()
    return search_vs_grid.comparison(str(results), studies, own)


def test_grid_iterations_and_the_chosen_rows_standing(results):
    grid = json.load(open(osp.join(
        RESULTS, f'tuning_short_{PAIR}_same-choices.json')))
    settings = sum(len(r['ap']) for r in grid['rows'].values())
    reported = json.load(open(osp.join(
        RESULTS, f'accuracy_study_short_{PAIR}.json')))['methods']
    cwd = reported['cwd']['tuning']['chosen']
    table = _table(results, _search('cwd', cwd, 6000))
    entry = table['pairs'][PAIR]
    # every setting of the grid on both tuning seeds, 300 iterations each
    assert entry['grid_iters'] == settings * len(grid['seeds']) * 300
    assert entry['search_iters'] == 6000
    assert entry['chosen'] == dict(method='cwd', setting=cwd)
    assert entry['same_setting_as_reported']
    best = max((k for k in reported if k != 'alone'),
               key=lambda k: reported[k]['delta_ap_mean'])
    assert entry['best_reported_key'] == best
    assert entry['reported_delta_ap'] == pytest.approx(
        reported['cwd']['delta_ap_mean'], abs=1e-3)
    assert entry['goal_met'] == (best == 'cwd' or entry['behind_best'] <=
                                 entry['reported_spread'])
    # what the pruner decided on: the ranking at its first rung
    assert (entry['rung_step'], entry['rung_spearman']) == (100, 0.125)
    text = search_vs_grid.markdown(table)
    assert '| +0.12 (it. 100) |' in text
    assert (f'| {PAIR} | start no_small wu100, x0.3-x3, 3 finalists, '
            'rung 100 |') in text


def test_a_row_behind_the_best_misses_the_goal(results):
    reported = json.load(open(osp.join(
        RESULTS, f'accuracy_study_short_{PAIR}.json')))['methods']
    # MGD: 3.8 AP behind CWD on the reported seeds, paired std 1.8
    mgd = dict(reported['mgd']['tuning']['chosen'], warmup=0)
    table = _table(results, _search('mgd', mgd, 6000))
    entry = table['pairs'][PAIR]
    aps = {k: [reported[k]['ap_per_seed'][s] for s in ('0', '1', '2')]
           for k in ('mgd', entry['best_reported_key'])}
    diffs = [b - a for a, b in zip(aps['mgd'],
                                   aps[entry['best_reported_key']])]
    assert entry['behind_best'] == pytest.approx(statistics.mean(diffs),
                                                 abs=1e-3)
    assert entry['reported_spread'] == pytest.approx(statistics.stdev(diffs),
                                                     abs=1e-3)
    assert not entry['same_setting_as_reported']
    assert entry['goal_met'] is False
    assert entry['behind_best'] > entry['reported_spread']
    text = search_vs_grid.markdown(table)
    assert '(reported at x3 no_small wu100)' in text
    assert entry['start'] == dict(levels='no_small', warmup=100)
    assert '| missed |' in text


def test_over_a_third_of_the_grid_or_unfinished_misses(results):
    reported = json.load(open(osp.join(
        RESULTS, f'accuracy_study_short_{PAIR}.json')))['methods']
    best = max((k for k in reported if k != 'alone'),
               key=lambda k: reported[k]['delta_ap_mean'])
    setting = reported[best]['tuning']['chosen']
    entry = _table(results, _search(best, setting, 1))['pairs'][PAIR]
    assert entry['goal_met'] is True
    over = entry['grid_iters'] // 3 + 300
    assert not _table(results, _search(best, setting,
                                       over))['pairs'][PAIR]['goal_met']
    unfinished = _table(results, _search(best, setting, 1, done=False))
    assert not unfinished['pairs'][PAIR]['goal_met']
    assert '| unfinished |' in search_vs_grid.markdown(unfinished)


def test_no_table_without_a_search_result(results):
    for path in results.glob('search_short_*.json'):
        path.unlink()
    studies = results_docs.load_studies(str(results))
    assert search_vs_grid.comparison(str(results), studies) is None
    assert _table(results, _search('cwd', {'factor': 0.3}, 1)) is not None


def test_another_teacher_is_marked(results):
    reported = json.load(open(osp.join(
        RESULTS, f'accuracy_study_short_{PAIR}.json')))['methods']
    cwd = reported['cwd']['tuning']['chosen']
    same = _table(results, _search('cwd', cwd, 6000))
    assert same['pairs'][PAIR]['same_teacher']
    text = search_vs_grid.markdown(same)
    assert f'| {PAIR} |' in text and f'| {PAIR} ‡ |' not in text
    other = _table(results, _search('cwd', cwd, 6000, teacher='0' * 16))
    entry = other['pairs'][PAIR]
    assert not entry['same_teacher']
    assert entry['grid_teacher_weights'] == _grid_teacher()
    text = search_vs_grid.markdown(other)
    assert f'| {PAIR} ‡ |' in text
    assert f'search {"0" * 16}, grid {_grid_teacher()}' in text


def _own_teacher_split(results, teacher: str, swap=('cwd', 'mgd')) -> None:
    """The pair's reported split as if run again on the teacher ``teacher``
    (``search_vs_grid.OWN_TEACHER``): the committed one with the rows
    ``swap`` trading their results."""
    own = results / search_vs_grid.OWN_TEACHER
    own.mkdir(exist_ok=True)
    name = f'accuracy_study_short_{PAIR}'
    table = json.load(open(results / f'{name}.json'))
    runs = json.load(open(results / f'{name}_runs.json'))
    runs['runs']['teacher']['weights'] = teacher
    a, b = swap
    methods = table['methods']
    for field in ('ap_mean', 'ap_std', 'delta_ap_mean', 'delta_ap_std',
                  'ap_per_seed'):
        methods[a][field], methods[b][field] = \
            methods[b][field], methods[a][field]
    prefix = 'short-report_mbv2'
    for seed in table['seeds']:
        ka, kb = f'{prefix}/{a}/seed{seed}', f'{prefix}/{b}/seed{seed}'
        runs['runs'][ka], runs['runs'][kb] = runs['runs'][kb], runs['runs'][ka]
    json.dump(table, open(own / f'{name}.json', 'w'))
    json.dump(runs, open(own / f'{name}_runs.json', 'w'))


def test_a_report_on_the_searchs_own_teacher_judges_the_pair(results):
    reported = json.load(open(osp.join(
        RESULTS, f'accuracy_study_short_{PAIR}.json')))['methods']
    cwd = reported['cwd']['tuning']['chosen']
    teacher = '1' * 16
    # on the grid's teacher CWD is the best reported row
    grid = _table(results, _search('cwd', cwd, 6000, teacher=teacher))
    assert grid['pairs'][PAIR]['goal_met']
    assert grid['pairs'][PAIR]['reported_teacher_weights'] == _grid_teacher()
    # on the search's own teacher CWD has MGD's results: it misses there
    _own_teacher_split(results, teacher)
    table = _table(results, _search('cwd', cwd, 6000, teacher=teacher),
                   own_teacher=True)
    entry = table['pairs'][PAIR]
    assert entry['reported_teacher_weights'] == teacher
    assert entry['reported_delta_ap'] == pytest.approx(
        reported['mgd']['delta_ap_mean'], abs=1e-3)
    assert entry['goal_met'] is False
    # the grid teacher's standing stays beside it
    kept = entry['grid_teacher_standing']
    assert kept['best_reported_key'] == 'cwd' and kept['behind_best'] == 0
    text = search_vs_grid.markdown(table)
    assert f'| {PAIR} ‡ |' in text and '| missed |' in text
    assert (f'{PAIR}: its reported split was run again on the search\'s '
            'teacher') in text
    assert "on the grid's teacher the chosen row stands 0.00 ± 0.00 " \
           'behind cwd' in text


def test_a_report_on_a_third_teacher_is_refused(results):
    reported = json.load(open(osp.join(
        RESULTS, f'accuracy_study_short_{PAIR}.json')))['methods']
    cwd = reported['cwd']['tuning']['chosen']
    _own_teacher_split(results, '2' * 16)
    with pytest.raises(ValueError, match='run its reported split again'):
        _table(results, _search('cwd', cwd, 6000, teacher='1' * 16),
               own_teacher=True)
