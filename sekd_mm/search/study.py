# Copyright (c) sekd-mm contributors. All rights reserved.
"""The search driver: a worker that runs the protocol's trainings on an
Optuna study, with its ask-and-tell API.

One call of :func:`search` is one worker. It queues the trainings the
protocol (:mod:`~sekd_mm.search.protocol`) asks for as Optuna trials
(``Study.enqueue_trial``), takes a queued trial (WAITING -> RUNNING: the
storage lets one worker win), runs it (:func:`~sekd_mm.search.run_trial`),
tells Optuna its state, and goes on until the protocol is through or the
budget is spent. Then it writes the result (:data:`RESULT_FILE`).

Several workers (processes, machines) share one study through its storage:
each call of :func:`search` with the same storage and study name is one
more worker. Nothing is trained twice: a trial is taken by one worker only,
and a trial that two workers queued at the same moment is marked a
duplicate by whoever takes the later one.

Resume: the same call again continues the study. COMPLETE, PRUNED and FAIL
trials stay as they are; queued ones are taken; a RUNNING trial whose
worker died (its heartbeat is older than ``grace_period``) is marked FAIL
(``stale``) and its training queued again, up to ``max_retries`` times.
"""
import json
import math
import os
import os.path as osp
import socket
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from sekd_mm.apis import log
from sekd_mm.utils import find_config
from .protocol import (COMPLETE, CONFIRM_TOP, FAIL, FINALISTS, PRUNED,
                       factor_order, plan)
from .pruners import build_pruner, default_pruner
from .records import (HEARTBEAT, PARAMS, TrialRecord, iterations, outcomes,
                      read_records, trial_params)
from .report import search_report
from .space import Row, Setting, TrialKey, check_space
from .storage import default_storage, describe, open_storage
from .trial_runner import TrialResult, iters_done, run_trial

#: The result of a search, in its work dir.
RESULT_FILE = 'search.json'
#: Study user attribute: what the study searches (a resumed or joining
#: worker must search the same).
SEARCH_ATTR = 'sekd_search'

#: ``configure(method, setting) -> (config, cfg_options)``: the training
#: of a method at a setting (without the seed: the search passes it).
Configure = Callable[[str, Setting], Tuple[str, Sequence[str]]]


class SearchError(ValueError):
    """A search that cannot start; the message names the fix."""


def search(space: Mapping[str, Row], configure: Configure, work_dir: str,
           **options) -> dict:
    """Run (or resume, or join) a pruned, fair search; returns its result.

    One call is one worker (:class:`Worker`, whose arguments these are).

    Returns:
        dict: the result (:func:`~sekd_mm.search.report.search_report`),
        also written to ``work_dir/search.json``.

    Raises:
        SearchError: bad arguments, or a row whose start setting cannot be
            configured (before anything trains).
        StorageError: the storage cannot be opened (before anything
            trains).
    """
    return Worker(space, configure, work_dir, **options).run()


class Worker:
    """One worker of a search: checks everything, opens the study; then
    :meth:`run`.

    Args:
        space: method name -> its :class:`~sekd_mm.search.Row` of choices.
        configure: ``(method, setting) -> (config, cfg_options)`` of a
            trial's training; its schedule must be iteration-based with
            ``trial_iters`` iterations and a val loop on the tuning split.
            An exception for a method's start setting stops the search
            before anything trains (e.g. an unknown method name); for
            another setting it fails that trial only.
        work_dir: trials train in ``work_dir/trials/<number>_<key>``; the
            journal (default storage) and :data:`RESULT_FILE` are here.
        trial_iters: training iterations of one trial.
        seeds: the seeds (>= 2): the first for every setting, all of them
            for the ``confirm_top`` best (see
            :mod:`~sekd_mm.search.protocol`).
        confirm_top: how many settings get the other seeds.
        finalists: how many rows get the levels / warm-up step: those whose
            grids reached the best values, once every grid is settled
            (default :data:`~sekd_mm.search.protocol.FINALISTS`); None:
            every row, as soon as its grid is settled.
        eval_interval: iterations between evaluations (the pruner's
            steps, and the report's early ranking); default
            ``trial_iters / 3`` rounded up.
        pruner: an Optuna pruner as a dict
            (:func:`~sekd_mm.search.build_pruner`); default
            :func:`~sekd_mm.search.default_pruner`;
            ``dict(type='NopPruner')`` prunes nothing.
        metric: the validation metric to maximise.
        storage: a database URL or a journal file; default
            ``work_dir/optuna_journal.log``.
        study_name: the study in the storage.
        max_trials, max_iters: the budget: trainings started, training
            iterations (a trial starts only if a full one fits, counting
            every running trial as a full one). None: no limit.
        threads: torch CPU threads of each training.
        launcher, nproc: ``'pytorch'`` trains each trial under torchrun
            with ``nproc`` processes (DDP; default ``'none'``, one
            process).
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without a heartbeat after which a RUNNING
            trial's worker counts as dead; default 4 heartbeats.
        max_retries: how often a training whose worker died is queued
            again.
        tool: the name in the progress lines.

    Raises:
        SearchError, StorageError: see :func:`search`.
    """

    def __init__(self,
                 space: Mapping[str, Row],
                 configure: Configure,
                 work_dir: str,
                 *,
                 trial_iters: int,
                 seeds: Sequence[int] = (0, 1),
                 confirm_top: int = CONFIRM_TOP,
                 finalists: Optional[int] = FINALISTS,
                 eval_interval: Optional[int] = None,
                 pruner: Optional[dict] = None,
                 metric: str = 'coco/bbox_mAP',
                 storage: Optional[str] = None,
                 study_name: str = 'search',
                 max_trials: Optional[int] = None,
                 max_iters: Optional[int] = None,
                 threads: Optional[int] = None,
                 launcher: str = 'none',
                 nproc: Optional[int] = None,
                 heartbeat_interval: float = 30.0,
                 grace_period: Optional[float] = None,
                 max_retries: int = 2,
                 tool: str = 'search') -> None:
        try:
            check_space(space)
        except ValueError as err:
            raise SearchError(str(err)) from err
        self.space = dict(space)
        self.configure = configure
        self.work_dir = osp.abspath(work_dir)
        self.seeds = [int(s) for s in seeds]
        if len(set(self.seeds)) < 2:
            raise SearchError(f'seeds {list(seeds)}: give two different '
                              'seeds or more (a setting can only win on '
                              'two or more)')
        _positive(trial_iters=trial_iters, confirm_top=confirm_top,
                  finalists=finalists, max_trials=max_trials,
                  max_iters=max_iters)
        if not heartbeat_interval > 0:
            raise SearchError(f'heartbeat_interval must be > 0 s, got '
                              f'{heartbeat_interval!r}')
        self.trial_iters = int(trial_iters)
        # a third of the schedule, rounded up: the default pruner's rung
        # at the second
        self.eval_interval = int(eval_interval or -(-self.trial_iters // 3))
        if not 1 <= self.eval_interval <= self.trial_iters:
            raise SearchError(f'eval_interval must be within 1 and '
                              f'trial_iters ({self.trial_iters}), got '
                              f'{eval_interval}')
        self.confirm_top = int(confirm_top)
        self.finalists = None if finalists is None else int(finalists)
        self.pruner = dict(pruner) if pruner is not None else default_pruner(
            self.trial_iters, self.eval_interval)
        try:
            build_pruner(self.pruner)
        except ValueError as err:
            raise SearchError(str(err)) from err
        self.metric = metric
        self.max_trials, self.max_iters = max_trials, max_iters
        self.threads = threads
        if launcher not in ('none', 'pytorch'):
            raise SearchError(f'launcher must be none or pytorch, got '
                              f'{launcher!r}')
        self.launcher, self.nproc = launcher, nproc
        self.heartbeat_s = float(heartbeat_interval)
        self.grace_s = float(grace_period or 4 * self.heartbeat_s)
        self.max_retries = int(max_retries)
        self.tool = tool
        self.name = f'{socket.gethostname()}:{os.getpid()}'
        self.distributions = self._distributions()
        self._check_rows()
        self.storage_spec = storage or default_storage(self.work_dir)
        self.storage = open_storage(self.storage_spec)
        self.study = self._study(study_name)
        self.study_id = self.storage.get_study_id_from_name(study_name)

    # -- set-up ------------------------------------------------------------
    def _distributions(self) -> Dict[str, CategoricalDistribution]:
        """The trial parameters' distributions: every value any row can
        reach (the whole ladder: the grid may grow along it), fixed from
        the start as Optuna requires."""
        values: Dict[str, list] = {p: [] for p in PARAMS}
        for name, row in self.space.items():
            for param, choices in (('method', [name]),
                                   ('factor', sorted(row.ladder)),
                                   ('levels', row.levels),
                                   ('warmup', row.warmups),
                                   ('seed', self.seeds)):
                values[param] += [c for c in choices
                                  if c not in values[param]]
        values['factor'].sort()
        return {p: CategoricalDistribution(v) for p, v in values.items()}

    def _check_rows(self) -> None:
        """Configure every row's start setting: a wrong method name (or
        config) stops the search here, before anything trains."""
        for method, row in self.space.items():
            setting = row.at_start(factor_order(row)[0])
            try:
                config, _ = self.configure(method, setting)
            except Exception as err:
                raise SearchError(
                    f'search row {method!r}: configure({method!r}, '
                    f'{setting}) failed: {type(err).__name__}: {err}. Fix '
                    'the method name (or the configure function) before '
                    'anything trains.') from err
            if '::' not in config:
                try:
                    find_config(config)
                except FileNotFoundError as err:
                    raise SearchError(f'search row {method!r}: {err}') \
                        from None

    def _signature(self) -> dict:
        """What the study searches: a worker joining or resuming it must
        search the same."""
        return json.loads(json.dumps(dict(
            space={m: r.as_dict() for m, r in self.space.items()},
            seeds=self.seeds, confirm_top=self.confirm_top,
            finalists=self.finalists, trial_iters=self.trial_iters,
            eval_interval=self.eval_interval, pruner=self.pruner,
            metric=self.metric)))

    def _study(self, study_name: str) -> optuna.Study:
        study = optuna.create_study(
            storage=self.storage, study_name=study_name,
            direction='maximize', load_if_exists=True)
        mine = self._signature()
        theirs = study.user_attrs.get(SEARCH_ATTR)
        if theirs is None:
            study.set_user_attr(SEARCH_ATTR, mine)
            return study
        # a setting the study's record lacks (it predates the setting) had
        # its default, None
        diff = sorted(k for k in set(mine) | set(theirs)
                      if mine.get(k) != theirs.get(k))
        if diff:
            raise SearchError(
                f'study {study_name!r} in {describe(self.storage_spec)} '
                f'searches something else ({", ".join(diff)} differ). '
                'Resume it with the same arguments, or start another search '
                'with another study name or work dir.')
        return study

    # -- the loop ----------------------------------------------------------
    def run(self) -> dict:
        """Work until the protocol is through or the budget is spent; write
        and return the result."""
        log(f'study {self.study.study_name!r} in '
            f'{describe(self.storage_spec)}; worker {self.name}', self.tool)
        while True:
            self._fail_stale()
            records = self._records()
            todo = plan(self.space, self.seeds, self.confirm_top,
                        outcomes(records, self.max_retries), self.finalists)
            if todo.done:
                break
            self._enqueue(todo.keys, records)
            if not self._within_budget(records):
                log('budget spent: no new trial', self.tool)
                break
            trial_id = self._take()
            if trial_id is not None:
                self._run(trial_id)
            elif any(r.state in ('RUNNING', 'WAITING') for r in records):
                time.sleep(min(5.0, self.heartbeat_s))  # other workers
        return self.report()

    def report(self) -> dict:
        """The result as it stands (:func:`search_report`), also written
        to ``work_dir/search.json``."""
        records = self._records()
        done = outcomes(records, self.max_retries)
        todo = plan(self.space, self.seeds, self.confirm_top, done,
                    self.finalists)
        result = search_report(
            self.space, self.seeds, records, todo, done,
            study=self.study.study_name,
            storage=describe(self.storage_spec),
            settings=self._signature(), trial_iters=self.trial_iters)
        os.makedirs(self.work_dir, exist_ok=True)
        path = osp.join(self.work_dir, RESULT_FILE)
        with open(path + f'.{os.getpid()}.tmp', 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        os.replace(path + f'.{os.getpid()}.tmp', path)
        chosen = result['chosen']
        log('chosen: ' + (f'{chosen["method"]} {chosen["key"]} '
                          f'({self.metric} {chosen["mean"]:.4f} over seeds '
                          f'{list(chosen["values"])})' if chosen else
                          'none yet (no setting complete on every seed)') +
            f'; {result["cost"]["iters"]} training iterations; {path}',
            self.tool)
        return result

    def _records(self) -> List[TrialRecord]:
        return read_records(self.storage, self.study_id)

    def _within_budget(self, records: List[TrialRecord]) -> bool:
        running = sum(r.state == 'RUNNING' for r in records)
        started = sum(r.trained for r in records)
        if self.max_trials is not None and started >= self.max_trials:
            return False
        return self.max_iters is None or iterations(records) + (
            running + 1) * self.trial_iters <= self.max_iters

    def _enqueue(self, keys: Sequence[TrialKey],
                 records: List[TrialRecord]) -> None:
        """Queue the planned trainings the study does not hold yet (or
        whose trials all died with their workers)."""
        held = outcomes(records, self.max_retries)
        for key in keys:
            if key not in held:
                self.study.enqueue_trial(trial_params(key),
                                         user_attrs=dict(key=key.name()))
                held[key] = None

    def _take(self) -> Optional[int]:
        """Take the first queued trial (None when there is none left)."""
        waiting = self.storage.get_all_trials(
            self.study_id, deepcopy=False, states=(TrialState.WAITING, ))
        for trial in waiting:
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(
                self.study_id, trial.number)
            try:
                if self.storage.set_trial_state_values(
                        trial_id, TrialState.RUNNING):
                    self._heartbeat(trial_id)
                    return trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        return None

    def _heartbeat(self, trial_id: int) -> None:
        self.storage.set_trial_system_attr(trial_id, HEARTBEAT, time.time())

    def _fail_stale(self) -> None:
        """Mark FAIL (``stale``) every RUNNING trial whose worker has shown
        no life for ``grace_period``; its training is queued again."""
        now = time.time()
        for rec in self._records():
            if rec.state != 'RUNNING' or rec.heartbeat is None or \
                    now - rec.heartbeat <= self.grace_s:
                continue
            reason = (f'its worker {rec.worker} died (no heartbeat for '
                      f'{now - rec.heartbeat:.0f} s)')
            if self._mark_stale(rec.trial_id, reason, iters_done(
                    rec.work_dir) if rec.work_dir else 0):
                log(f'trial {rec.number} ({rec.key.name()}): {reason}; '
                    'queued again', self.tool)

    def _mark_stale(self, trial_id: int, reason: str, iters: int) -> bool:
        """Mark a RUNNING trial FAIL because its worker is gone (``stale``:
        its training is queued again); False if it was finished."""
        try:
            for name, value in dict(stale=True, reason=reason,
                                    iters=iters).items():
                self.storage.set_trial_user_attr(trial_id, name, value)
            self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # it finished, or another worker marked it
        return True

    def _run(self, trial_id: int) -> None:
        """Run the taken trial and tell the study what became of it."""
        trial = optuna.trial.Trial(self.study, trial_id)
        for name, dist in self.distributions.items():
            trial.suggest_categorical(name, dist.choices)
        rec = next(r for r in self._records() if r.trial_id == trial_id)
        key = rec.key
        other = self._trained_elsewhere(rec)
        if other is not None:
            self.storage.set_trial_user_attr(trial_id, 'duplicate_of', other)
            self.study.tell(trial, state=TrialState.FAIL)
            return
        work_dir = osp.join(self.work_dir, 'trials',
                            f'{rec.number:04d}_{key.name()}')
        for name, value in dict(work_dir=work_dir, worker=self.name).items():
            self.storage.set_trial_user_attr(trial_id, name, value)
        log(f'trial {rec.number}: {key.method} {key.setting.key()} seed '
            f'{key.seed} ({work_dir})', self.tool)
        try:
            config, options = self.configure(key.method, key.setting)
        except Exception as err:  # this setting only: the search goes on
            result = TrialResult(FAIL, None, 0, reason=f'configure failed: '
                                 f'{type(err).__name__}: {err}')
        else:
            hook = dict(type='OptunaPruningHook', storage=self.storage_spec,
                        study_name=self.study.study_name, trial_id=trial_id,
                        metric=self.metric, pruner=self.pruner,
                        prune=key.seed == self.seeds[0])
            try:
                result = run_trial(
                    config, [*options,
                             f'train_cfg.val_interval={self.eval_interval}'],
                    key.seed, work_dir, hook, threads=self.threads,
                    launcher=self.launcher, nproc=self.nproc,
                    on_wait=lambda: self._heartbeat(trial_id),
                    wait_s=self.heartbeat_s)
            except Exception as err:  # e.g. a config that does not load
                result = TrialResult(FAIL, None, iters_done(work_dir),
                                     reason=f'{type(err).__name__}: {err}')
            except BaseException:  # interrupted: queued again on resume
                self._mark_stale(trial_id, f'its worker {self.name} was '
                                 'interrupted', iters_done(work_dir))
                raise
        self._tell(trial, rec, result)

    def _trained_elsewhere(self, rec: TrialRecord) -> Optional[int]:
        """The number of another trial of ``rec``'s training that is
        finished for good or RUNNING with a lower number (None if none)."""
        for other in self._records():
            if other.key != rec.key or other.number == rec.number or \
                    other.stale or other.duplicate_of is not None:
                continue
            if other.state in ('COMPLETE', 'PRUNED', 'FAIL') or (
                    other.state == 'RUNNING' and other.number < rec.number):
                return other.number
        return None

    def _tell(self, trial: optuna.trial.Trial, rec: TrialRecord,
              result: TrialResult) -> None:
        attrs = dict(iters=result.iters, seconds=round(result.seconds, 1))
        if result.pruned_step is not None:
            attrs['pruned_step'] = result.pruned_step
        if result.reason:
            attrs['reason'] = result.reason
        try:
            for name, value in attrs.items():
                self.storage.set_trial_user_attr(rec.trial_id, name, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
        if result.state == COMPLETE:
            told = self.study.tell(trial, result.value, skip_if_finished=True)
        else:
            state = TrialState.PRUNED if result.state == PRUNED else \
                TrialState.FAIL
            told = self.study.tell(trial, state=state, skip_if_finished=True)
        what = {COMPLETE: f'{self.metric} {result.value}',
                PRUNED: f'pruned at iteration {result.pruned_step}',
                FAIL: result.reason}[result.state]
        if told.state.name != result.state:
            what += (f'; it had been marked {told.state.name} meanwhile (its '
                     'worker seemed dead): the result is dropped')
        log(f'trial {rec.number} {result.state}: {what} ({result.iters} '
            f'iterations, {result.seconds:.0f} s)', self.tool)


def _positive(**values: Optional[float]) -> None:
    """Raise :class:`SearchError` unless every given value is >= 1."""
    for name, value in values.items():
        if value is not None and not (isinstance(value, (int, float))
                                      and not math.isnan(value)
                                      and value >= 1):
            raise SearchError(f'{name} must be >= 1, got {value!r}')
