# Copyright (c) sekd-mm contributors. All rights reserved.
"""The Optuna search engine (sekd_mm.search): the protocol's rules, then
real searches of tiny SEKD trainings on the embedded dataset (CPU, 2
iterations each): pruning, a non-finite loss, ``kill -9`` and resume, two
workers on one journal, and the errors raised before anything trains."""
import glob
import importlib.util
import json
import multiprocessing
import os
import os.path as osp
import signal
import socket
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from sekd_test_utils import SMALL

from sekd_mm.datasets import CLASSES, synthetic_cfg_options
from sekd_mm.search import (FACTOR_LADDER, Outcome, Row, SearchError, Setting,
                            StorageError, TrialKey, build_pruner, choose,
                            metric_value, plan, search)
from sekd_mm.search.records import TrialRecord, outcomes
from sekd_mm.search.report import early_ranking
from sekd_mm.search.storage import open_storage
from sekd_mm.search.study import SEARCH_ATTR, Worker

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DISTILL = osp.join(
    REPO, 'configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py')
TEACHER = osp.join(REPO, 'configs/embedded/retinanet_r34_synthetic.py')
#: Iterations of a test trial; evaluations after each.
ITERS = 2


# --- the protocol (no training) ----------------------------------------------
def key(factor, levels='all', warmup=0, seed=0, method='sekd'):
    return TrialKey(method, Setting(factor, levels, warmup), seed)


def test_protocol_extends_the_grid_then_offers_levels_warmup_and_seeds():
    space = dict(sekd=Row(factors=(0.3, 1.0, 3.0, 10.0),
                          levels=('all', 'no_small'), warmups=(0, 100)))
    done = {}

    def step():
        return plan(space, (0, 1), 2, done)

    # the first grid, most likely factor first
    assert step().keys == [key(f) for f in (1.0, 0.3, 3.0, 10.0)]
    done.update({key(1.0): Outcome('COMPLETE', 0.30),
                 key(0.3): Outcome('PRUNED')})
    assert step().keys[4:] == []  # nothing more until the grid finished
    done.update({key(3.0): Outcome('FAIL'),
                 key(10.0): Outcome('COMPLETE', 0.35)})
    # the best complete factor is the highest: the ladder's next is added
    assert step().keys[4:] == [key(30.0)]
    done[key(30.0)] = Outcome('COMPLETE', 0.32)
    # 10 is inside now: its other levels and warm-up choices
    choices = [key(10.0, 'all', 100), key(10.0, 'no_small', 0),
               key(10.0, 'no_small', 100)]
    assert step().keys[5:] == choices and not step().done
    done.update({choices[0]: Outcome('COMPLETE', 0.36),
                 choices[1]: Outcome('PRUNED'),
                 choices[2]: Outcome('COMPLETE', 0.34)})
    # the two best first-seed settings get the other seed
    assert step().keys[8:] == [key(10.0, 'all', 100, seed=1),
                               key(10.0, seed=1)]
    assert choose(space, (0, 1), done) is None  # none on both seeds yet
    done.update({key(10.0, 'all', 100, seed=1): Outcome('COMPLETE', 0.30),
                 key(10.0, seed=1): Outcome('COMPLETE', 0.33)})
    assert step().done
    chosen = choose(space, (0, 1), done)
    assert (chosen.method, chosen.setting) == ('sekd', Setting(10.0, 'all', 0))
    assert chosen.mean == pytest.approx(0.34)


def test_protocol_interleaves_rows_and_drops_a_row_without_a_value():
    space = dict(a=Row(factors=(1.0, 3.0), levels=(None, ), warmups=(0, )),
                 b=Row(factors=(1.0, 3.0), levels=(None, ), warmups=(0, 5)))
    first = plan(space, (0, 1), 1, {}).keys
    assert [(k.method, k.setting.factor) for k in first] == [
        ('a', 1.0), ('b', 1.0), ('a', 3.0), ('b', 3.0)]
    done = {k: Outcome('PRUNED') for k in first if k.method == 'a'}
    done.update({k: Outcome('COMPLETE', 0.1 * k.setting.factor)
                 for k in first if k.method == 'b'})
    # a: all pruned, so no extension and no choices; b: 3 is the highest
    # complete factor, so 10 (the ladder's next) comes first
    b10 = TrialKey('b', Setting(10.0, None, 0), 0)
    assert plan(space, (0, 1), 1, done).keys[4:] == [b10]
    done[b10] = Outcome('FAIL')
    b3 = TrialKey('b', Setting(3.0, None, 5), 0)
    assert plan(space, (0, 1), 1, done).keys[5:] == [b3]
    done[b3] = Outcome('COMPLETE', 0.2)
    # the best first-seed setting (b x3, 0.3) gets seed 1
    assert plan(space, (0, 1), 1, done).keys[6:] == [
        TrialKey('b', Setting(3.0, None, 0), 1)]


def test_protocol_offers_levels_and_warmup_to_the_finalist_rows_only():
    space = {m: Row(factors=(1.0, 3.0), levels=(None, ), warmups=(0, 5),
                    ladder=(1.0, 3.0)) for m in 'abc'}
    grids = plan(space, (0, 1), 1, {}, finalists=2).keys
    done = {k: Outcome('COMPLETE', v) for k, v in zip(
        grids, (0.2, 0.5, 0.1, 0.3, 0.4, 0.6))}  # a1 b1 c1 a3 b3 c3
    del done[grids[-1]]
    # c's grid is not settled: no row's choices yet
    assert plan(space, (0, 1), 1, done, finalists=2).keys == grids
    done[grids[-1]] = Outcome('PRUNED')
    # best grid values: b 0.5, b 0.4, a 0.3, c 0.1: b and a go on
    assert plan(space, (0, 1), 1, done, finalists=2).keys[6:] == [
        TrialKey('b', Setting(1.0, None, 5), 0),
        TrialKey('a', Setting(3.0, None, 5), 0)]
    # without finalists every row does (c at its best complete factor)
    assert plan(space, (0, 1), 1, done).keys[6:] == [
        TrialKey(m, Setting(f, None, 5), 0)
        for m, f in (('a', 3.0), ('b', 1.0), ('c', 1.0))]
    done.update({TrialKey('b', Setting(1.0, None, 5), 0): Outcome('FAIL'),
                 TrialKey('a', Setting(3.0, None, 5), 0):
                 Outcome('COMPLETE', 0.7)})
    step = plan(space, (0, 1), 1, done, finalists=2)
    assert step.keys[8:] == [TrialKey('a', Setting(3.0, None, 5), 1)]
    assert not step.done


def test_outcomes_retry_dead_workers_and_ignore_duplicates():
    def rec(number, state, stale=False, duplicate_of=None, value=None):
        return TrialRecord(number, number, key(1.0), state, value, 0, None,
                           '', stale, duplicate_of, '', '', 0.0, None)

    stale = [rec(0, 'FAIL', stale=True)]
    assert outcomes(stale, max_retries=1) == {}  # queued again
    assert outcomes(stale * 2, max_retries=1) == {key(1.0): Outcome('FAIL')}
    assert outcomes(stale + [rec(1, 'RUNNING')], 1) == {
        key(1.0): Outcome('PENDING')}
    assert outcomes([rec(0, 'FAIL', duplicate_of=1),
                     rec(1, 'COMPLETE', value=0.5)], 1) == {
        key(1.0): Outcome('COMPLETE', 0.5)}


def test_early_ranking_correlates_each_evaluation_with_the_end():
    def rec(number, state, value, intermediate):
        return TrialRecord(number, number, key(1.0), state, value, 3, None,
                           '', False, None, '', '', 0.0, None, intermediate)

    records = [rec(0, 'COMPLETE', 0.3, {1: 0.0, 2: 0.1, 3: 0.3}),
               rec(1, 'COMPLETE', 0.2, {1: 0.0, 2: 0.2, 3: 0.2}),
               rec(2, 'COMPLETE', 0.1, {1: 0.1, 2: 0.3, 3: 0.1}),
               rec(3, 'COMPLETE', 0.4, {1: 0.0, 2: 0.0, 3: 0.4}),
               rec(4, 'PRUNED', None, {1: 0.9})]  # no final value
    ranking = early_ranking(records, trial_iters=3)
    assert [(e['step'], e['trials']) for e in ranking] == [(1, 4), (2, 4)]
    # step 2 ranks the trials exactly against their end: rho = -1
    assert ranking[1]['spearman'] == -1.0
    # step 1: ties (three at 0.0) get their mean rank
    assert -1 < ranking[0]['spearman'] < 0
    # constant values or fewer than 3 trials: no correlation
    assert early_ranking(records[:2], 3)[0]['spearman'] is None
    flat = [rec(i, 'COMPLETE', 0.1 * i, {1: 0.0, 3: 0.1 * i})
            for i in range(4)]
    assert early_ranking(flat, 3) == [dict(step=1, trials=4, spearman=None)]


@pytest.mark.filterwarnings('ignore::optuna.exceptions.ExperimentalWarning')
def test_metric_value_and_pruner_configs():
    assert metric_value({'coco/bbox_mAP': 0.25}, 'coco/bbox_mAP') == 0.25
    # CocoMetric returns nothing when no box passes the score threshold
    assert metric_value({'teacher.coco/bbox_mAP': 0.5}, 'coco/bbox_mAP') == 0
    with pytest.raises(KeyError, match='coco/bbox_mAP_50'):
        metric_value({'coco/bbox_mAP_50': 0.1}, 'coco/bbox_map')
    pruner = build_pruner(dict(
        type='PatientPruner', patience=1,
        wrapped_pruner=dict(type='SuccessiveHalvingPruner', min_resource=2)))
    assert type(pruner).__name__ == 'PatientPruner'
    with pytest.raises(ValueError, match='valid: .*HyperbandPruner'):
        build_pruner(dict(type='Hyperband'))
    with pytest.raises(ValueError, match='min_resource'):
        build_pruner(dict(type='SuccessiveHalvingPruner', min_resource=0))


# --- real trainings ---------------------------------------------------------
@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    """Random-init teacher checkpoints (the search needs any teacher): a
    sound one and a diverged one (an inf in its P2 output: the distiller's
    P2 terms go non-finite before the first step)."""
    from mmrazor.registry import MODELS
    cfg = Config.fromfile(TEACHER)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    folder = tmp_path_factory.mktemp('teacher')
    ckpt = dict(state_dict=model.state_dict(),
                meta=dict(dataset_meta=dict(classes=CLASSES)))
    torch.save(ckpt, folder / 'sound.pth')
    ckpt['state_dict']['neck.fpn_convs.0.conv.bias'][0] = float('inf')
    torch.save(ckpt, folder / 'diverged.pth')
    return dict(sound=str(folder / 'sound.pth'),
                diverged=str(folder / 'diverged.pth'))


class Configure:
    """``configure(method, setting)`` of the tests: SEKD at ``ITERS``
    iterations on the small dataset, its weights times the factor; the
    factors of ``blind`` see no box (AP 0), those of ``diverge`` distil
    from the diverged teacher. Only ``sekd`` is a known method."""

    def __init__(self, data_root, teacher, blind=(), diverge=()):
        self.teacher, self.blind, self.diverge = teacher, blind, diverge
        self.options = synthetic_cfg_options(
            data_root=data_root, img_scale=32, **SMALL) + [
                'default_hooks.logger.interval=1',
                f'train_cfg.max_iters={ITERS}',
                'default_hooks.checkpoint.save_last=False',
                'default_hooks.checkpoint.interval=1000']
        for loader in ('train', 'val', 'test'):
            self.options += [f'{loader}_dataloader.batch_size=2',
                             f'{loader}_dataloader.num_workers=0',
                             f'{loader}_dataloader.persistent_workers=False']

    def __call__(self, method, setting):
        if method != 'sekd':
            raise KeyError(f'unknown method {method!r}')
        f = setting.factor
        teacher = self.teacher['diverged' if f in self.diverge else 'sound']
        # every box kept (AP > 0 after 2 iterations), or none
        thr = 1.1 if f in self.blind else 0.0
        return DISTILL, self.options + [
            f'model.teacher_ckpt={teacher}',
            f'model.architecture.test_cfg.score_thr={thr}',
            f'model.distiller.sekd.alpha={1.5 * f}',
            f'model.distiller.sekd.beta={2.25 * f}',
            f'model.distiller.sekd.gamma={2.25 * f}'
        ]


FAST = dict(trial_iters=ITERS, eval_interval=1, threads=1, seeds=(0, 1),
            confirm_top=1)
#: The pruning search: x10 sees no box (pruned by the threshold at its
#: first evaluation), x3 distils from the diverged teacher (FAIL).
PRUNING = dict(metric='coco/bbox_mAP_50', heartbeat_interval=1,
               pruner=dict(type='ThresholdPruner', lower=1e-4))


def row(*factors):
    """A row of the given factors (also its whole ladder: no extension),
    without level or warm-up choices."""
    return Row(factors=factors, levels=(None, ), warmups=(None, ),
               ladder=tuple(sorted(factors)))


def runs(work_dir):
    """Trial folder name -> MMEngine runs started in it."""
    return {osp.basename(d): len(glob.glob(osp.join(d, '2*')))
            for d in glob.glob(osp.join(str(work_dir), 'trials', '*'))}


def _worker(factors, work_dir, configure, kwargs):
    """One search worker in a forked process (nothing to import again)."""
    search(dict(sekd=row(*factors)), configure, work_dir, **FAST, **kwargs)


def _fork(*args):
    proc = multiprocessing.get_context('fork').Process(target=_worker,
                                                       args=args)
    proc.start()
    return proc


def test_two_workers_prune_fail_and_choose_the_best_complete(
        data_root, teacher, tmp_path):
    """Two workers share one journal: each training runs once. A threshold
    pruner prunes the blind setting at its first evaluation; the diverged
    one fails, named, and the search goes on; the best complete setting
    gets the second seed and is chosen."""
    factors = (0.3, 1.0, 3.0, 10.0)
    configure = Configure(data_root, teacher, blind=(10.0, ),
                          diverge=(3.0, ))
    workers = [_fork(factors, str(tmp_path), configure, PRUNING)
               for _ in range(2)]
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    with open(tmp_path / 'search.json') as f:
        result = json.load(f)
    assert result['done']
    trained = [t for t in result['trials'] if t['duplicate_of'] is None]
    trials = {(t['key'], t['seed']): t for t in trained}
    assert len(trials) == len(trained) == 5  # nothing trained twice
    assert set(runs(tmp_path).values()) == {1} and len(runs(tmp_path)) == 5
    assert {t['worker'] for t in trained} == {
        f'{socket.gethostname()}:{w.pid}' for w in workers}
    blind, bad = trials[('x10', 0)], trials[('x3', 0)]
    assert blind['state'] == 'PRUNED' and blind['pruned_step'] == 1
    assert blind['iters'] == 1
    assert bad['state'] == 'FAIL' and bad['iters'] == 0
    assert bad['reason'].startswith('non-finite loss: FloatingPointError')
    assert 'loss_sekd_v_p2' in bad['reason']
    first = {k: t['value'] for k, t in trials.items()
             if t['state'] == 'COMPLETE' and k[1] == 0}
    assert set(first) == {('x0.3', 0), ('x1', 0)}
    assert all(v > 0 for v in first.values())
    # the best first-seed value (ties: the factor closer to 1) got seed 1
    # and is chosen, with the mean of both seeds
    best = max(first, key=lambda k: (first[k], -abs(float(k[0][1:]) - 1)))
    chosen = result['chosen']
    assert (chosen['method'], chosen['key']) == ('sekd', best[0])
    assert trials[(best[0], 1)]['state'] == 'COMPLETE'
    assert chosen['mean'] == pytest.approx(
        (trials[(best[0], 0)]['value'] + trials[(best[0], 1)]['value']) / 2)
    # each trial's evaluations: a complete one ends on its value
    assert blind['intermediate'] == {'1': pytest.approx(0.0, abs=1e-3)}
    for t in trained:
        if t['state'] == 'COMPLETE':
            assert t['intermediate'][str(ITERS)] == t['value']
    assert [e['step'] for e in result['early_ranking']] == [1]
    # the cost: every training's iterations, against the full grid
    cost = result['cost']
    assert cost['iters'] == 3 * ITERS + 1 == sum(t['iters'] for t in trained)
    assert cost['grid_iters'] == 4 * 2 * ITERS
    assert (cost['complete'], cost['pruned'], cost['fail']) == (3, 1, 1)
    # a trial's config: the config plus the pruning hook and its import
    cfg = Config.fromfile(osp.join(blind['work_dir'], 'search_trial.py'))
    assert cfg.custom_hooks[-1]['type'] == 'OptunaPruningHook'
    assert 'sekd_mm.search' in cfg.custom_imports['imports']
    # the same call again: all finished, nothing trains
    again = search(dict(sekd=row(*factors)), configure, str(tmp_path),
                   **FAST, **PRUNING)
    assert again['trials'] == result['trials']
    assert set(runs(tmp_path).values()) == {1}


def test_trials_under_ddp_prune_on_every_rank(data_root, teacher, tmp_path,
                                              monkeypatch):
    """``launcher='pytorch'``: each trial trains under torchrun with 2 gloo
    ranks (CPU); rank 0 reports, and a pruned trial stops on both ranks
    (the hook broadcasts the decision), exiting cleanly."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        monkeypatch.setenv('PORT', str(sock.getsockname()[1]))
    configure = Configure(data_root, teacher, blind=(10.0, ))
    result = search(dict(sekd=row(1.0, 10.0)), configure, str(tmp_path),
                    launcher='pytorch', nproc=2, **FAST, **PRUNING)
    trials = {(t['key'], t['seed']): t for t in result['trials']}
    assert set(trials) == {('x1', 0), ('x10', 0), ('x1', 1)}
    blind = trials[('x10', 0)]
    assert blind['state'] == 'PRUNED' and blind['pruned_step'] == 1
    assert result['chosen']['key'] == 'x1'
    for trial in trials.values():
        with open(osp.join(trial['work_dir'], 'train.log')) as f:
            log = f.read()
        command = log.splitlines()[0]
        assert 'torch.distributed.run' in command
        assert '--nproc_per_node=2' in command
        assert 'Distributed training: True' in log


def test_search_resumes_after_kill_9(data_root, teacher, tmp_path):
    heartbeat = dict(heartbeat_interval=0.5, grace_period=3)
    configure = Configure(data_root, teacher)
    worker = _fork((1.0, ), str(tmp_path), configure, heartbeat)
    storage = open_storage(str(tmp_path / 'optuna_journal.log'))
    deadline = time.time() + 120
    states = set()
    while time.time() < deadline and states != {'COMPLETE', 'RUNNING'}:
        time.sleep(0.2)  # until seed 0 is COMPLETE and seed 1 RUNNING
        studies = storage.get_all_studies()
        if studies:
            states = {t.state.name for t in
                      storage.get_all_trials(studies[0]._study_id)}
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    result = search(dict(sekd=row(1.0)), configure, str(tmp_path), **FAST,
                    **heartbeat)
    assert result['done'] and result['chosen']['key'] == 'x1'
    first, stale, again = result['trials']
    # the finished trial was kept, not trained again
    assert first['state'] == 'COMPLETE' and first['seed'] == 0
    assert first['worker'].endswith(f':{worker.pid}')
    assert runs(tmp_path)[osp.basename(first['work_dir'])] == 1
    # the running one was marked stale and its training queued again
    assert stale['state'] == 'FAIL' and stale['stale'] and stale['seed'] == 1
    assert 'died' in stale['reason']
    assert again['state'] == 'COMPLETE' and again['seed'] == 1
    assert again['worker'].endswith(f':{os.getpid()}')
    # the killed worker's training died with it (no orphan trained on)
    state = osp.join(stale['work_dir'], 'optuna_trial.json')
    assert not osp.exists(state) or json.load(open(state))['iters'] is None
    assert result['chosen']['mean'] == pytest.approx(
        (first['value'] + again['value']) / 2)


# --- errors before anything trains ------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_bad_storage_fails_before_training(data_root, teacher, tmp_path):
    configure = Configure(data_root, teacher)
    (tmp_path / 'file').write_text('')
    urls = {f'sqlite:///{tmp_path}/file/study.db': 'cannot reach',
            'nosuchdb://x': 'no database URL that SQLAlchemy knows',
            'bad url://x': 'is no database URL'}
    port = closed_port()  # PostgreSQL: refused, or no driver to try with
    for scheme, module in (('postgresql', 'psycopg'),
                           ('postgresql+psycopg2', 'psycopg2')):
        urls[f'{scheme}://u:secret@127.0.0.1:{port}/db'] = (
            'cannot reach.*Connection refused.*Start the database server'
            if importlib.util.find_spec(module) else
            rf'driver \({module}\) is not installed.*pip install')
    for url, message in urls.items():
        with pytest.raises(StorageError, match=message) as err:
            search(dict(sekd=row(1.0)), configure, str(tmp_path / 'w'),
                   storage=url, **FAST)
        assert 'secret' not in str(err.value)
    assert not osp.exists(tmp_path / 'w' / 'trials')


def test_database_opened_again_after_a_table_creation_race(tmp_path,
                                                          monkeypatch):
    """A worker whose table creation loses to another's (PostgreSQL's
    duplicate-key error on a new database) opens the database again and
    finds the tables; an error that lasts is still the storage message."""
    import optuna
    import sqlalchemy

    from sekd_mm.search import storage as storage_module
    real, calls = optuna.storages.RDBStorage, []

    class Racing(real):

        def __init__(self, url, **kwargs):
            calls.append(url)
            if len(calls) == 1:  # the other worker made the tables first
                raise sqlalchemy.exc.IntegrityError(
                    'CREATE TABLE studies', {}, Exception(
                        'duplicate key value violates unique constraint '
                        '"pg_type_typname_nsp_index"'))
            super().__init__(url, **kwargs)

    monkeypatch.setattr(storage_module, 'SCHEMA_RACE_WAIT', 0)
    monkeypatch.setattr(optuna.storages, 'RDBStorage', Racing)
    url = f'sqlite:///{tmp_path}/study.db'
    assert open_storage(url).get_all_studies() == []
    assert calls == [url, url]

    class Refused(real):

        def __init__(self, url, **kwargs):
            calls.append(url)
            raise sqlalchemy.exc.ProgrammingError(
                'CREATE TABLE studies', {}, Exception('permission denied'))

    monkeypatch.setattr(optuna.storages, 'RDBStorage', Refused)
    calls.clear()
    with pytest.raises(StorageError, match='cannot reach.*permission denied'):
        open_storage(url)
    assert len(calls) == storage_module.SCHEMA_RACE_TRIES


def test_bad_search_fails_before_training(data_root, teacher, tmp_path):
    configure = Configure(data_root, teacher)
    with pytest.raises(SearchError, match=r"row 'pkd'.*unknown method"):
        search(dict(sekd=row(1.0), pkd=row(1.0)), configure, str(tmp_path),
               **FAST)
    with pytest.raises(SearchError, match='two different seeds'):
        search(dict(sekd=row(1.0)), configure, str(tmp_path),
               **dict(FAST, seeds=(0, )))
    with pytest.raises(ValueError, match='not on the ladder'):
        Row(factors=(0.5, ), ladder=FACTOR_LADDER)
    with pytest.raises(ValueError, match=r"\('p2', 'p3'\)\] are not None"):
        Row(levels=(('p2', 'p3'), ))
    # a study made for another search is not resumed with this one
    kwargs = dict(storage=str(tmp_path / 'journal.log'), eval_interval=1)
    Worker(dict(sekd=row(1.0)), configure, str(tmp_path), trial_iters=2,
           **kwargs)
    with pytest.raises(SearchError, match='trial_iters differ'):
        Worker(dict(sekd=row(1.0)), configure, str(tmp_path), trial_iters=4,
               **kwargs)
    with pytest.raises(SearchError, match='finalists differ'):
        Worker(dict(sekd=row(1.0)), configure, str(tmp_path), trial_iters=2,
               finalists=1, **kwargs)
    # a study recorded before finalists existed searched every row (None)
    worker = Worker(dict(sekd=row(1.0)), configure, str(tmp_path),
                    trial_iters=2, **kwargs)
    signature = worker.study.user_attrs[SEARCH_ATTR]
    del signature['finalists']
    worker.study.set_user_attr(SEARCH_ATTR, signature)
    Worker(dict(sekd=row(1.0)), configure, str(tmp_path), trial_iters=2,
           finalists=None, **kwargs)
    with pytest.raises(SearchError, match='finalists differ'):
        Worker(dict(sekd=row(1.0)), configure, str(tmp_path), trial_iters=2,
               **kwargs)
    assert not osp.exists(tmp_path / 'trials')


@pytest.mark.parametrize('trial_iters,interval,rung', [
    (300, 100, 200), (150, 50, 100), (100, 34, 68), (300, 50, 200),
    (300, 70, 210)])
def test_default_pruner_has_one_rung_at_two_thirds(data_root, teacher,
                                                   tmp_path, trial_iters,
                                                   interval, rung):
    """By default a trial is evaluated every third of its schedule, and
    successive halving's one rung that can prune is the first evaluation
    at or after two thirds of it: the next one is past the schedule's
    end, where the hook prunes nothing."""
    worker = Worker(dict(sekd=row(1.0)), Configure(data_root, teacher),
                    str(tmp_path), trial_iters=trial_iters,
                    eval_interval=None if interval == -(-trial_iters // 3)
                    else interval)
    assert worker.eval_interval == interval
    assert worker.pruner == dict(type='SuccessiveHalvingPruner',
                                 min_resource=rung, reduction_factor=3,
                                 min_early_stopping_rate=0)
    assert 3 * rung > trial_iters
    assert not osp.exists(tmp_path / 'trials')


def test_budget_stops_before_a_trial_that_does_not_fit(data_root, teacher,
                                                      tmp_path):
    configure = Configure(data_root, teacher)
    result = search(dict(sekd=row(1.0, 3.0)), configure, str(tmp_path),
                    max_iters=ITERS - 1, **FAST)
    assert not result['done'] and result['chosen'] is None
    assert [t['state'] for t in result['trials']] == ['WAITING'] * 2
    assert result['cost']['iters'] == 0 and result['cost']['trainings'] == 0
    assert not osp.exists(tmp_path / 'trials')
