# Copyright (c) sekd-mm contributors. All rights reserved.
"""A search's trials as read from its Optuna study, and what they mean for
the protocol: outcomes per training, iterations spent."""
from typing import Dict, Iterable, List, NamedTuple, Optional

import optuna
from optuna.trial import FrozenTrial, TrialState

from .protocol import COMPLETE, FAIL, PENDING, PRUNED, Outcome
from .space import Setting, TrialKey

#: The trial parameters of a training (Optuna's ``params``).
PARAMS = ('method', 'factor', 'levels', 'warmup', 'seed')
#: Trial system attribute: when the worker running it last showed life.
HEARTBEAT = 'sekd_search:heartbeat'


class TrialRecord(NamedTuple):
    """One Optuna trial of a search.

    Attributes:
        number, trial_id: Optuna's trial number and storage id.
        key: the training (method, setting, seed).
        state: Optuna's state name (``WAITING``, ``RUNNING``, ``COMPLETE``,
            ``PRUNED``, ``FAIL``).
        value: the final metric (COMPLETE only).
        iters: training iterations it ran (0 until it finished).
        pruned_step: the iteration it was pruned at.
        reason: why it failed.
        stale: it failed because its worker died (no heartbeat).
        duplicate_of: the number of the trial that trained the same key
            (a trial two workers queued at once; it never trained).
        work_dir, worker, seconds: where, by which worker, how long.
        heartbeat: the worker's last heartbeat (epoch seconds; RUNNING).
        intermediate: the tuning metric at each evaluation it reported
            (iteration -> value; the last one of a COMPLETE trial is its
            value).
    """
    number: int
    trial_id: int
    key: TrialKey
    state: str
    value: Optional[float]
    iters: int
    pruned_step: Optional[int]
    reason: str
    stale: bool
    duplicate_of: Optional[int]
    work_dir: str
    worker: str
    seconds: float
    heartbeat: Optional[float]
    intermediate: Optional[Dict[int, float]] = None

    @property
    def trained(self) -> bool:
        """It started a training (not queued, not a duplicate)."""
        return self.state != 'WAITING' and self.duplicate_of is None


def trial_params(key: TrialKey) -> dict:
    """The Optuna parameters of ``key``."""
    return dict(method=key.method, seed=key.seed, **key.setting.as_dict())


def record_of(trial: FrozenTrial, trial_id: int) -> TrialRecord:
    """The :class:`TrialRecord` of a stored trial. Its parameters are the
    ones it was queued with: its ``params`` are set one by one after a
    worker took it."""
    params = trial.system_attrs.get('fixed_params') or trial.params
    key = TrialKey(params['method'],
                   Setting(params['factor'], params['levels'],
                           params['warmup']), params['seed'])
    attrs = trial.user_attrs
    # a worker may mark a trial stale just as its own worker tells it:
    # ``stale`` and ``reason`` count for FAIL trials only
    failed = trial.state == TrialState.FAIL
    heartbeat = trial.system_attrs.get(HEARTBEAT)
    if heartbeat is None and trial.datetime_start is not None:
        heartbeat = trial.datetime_start.timestamp()
    return TrialRecord(
        number=trial.number, trial_id=trial_id, key=key,
        state=trial.state.name,
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        iters=int(attrs.get('iters', 0)),
        pruned_step=attrs.get('pruned_step'),
        reason=attrs.get('reason', '') if failed else '',
        stale=failed and bool(attrs.get('stale')),
        duplicate_of=attrs.get('duplicate_of'),
        work_dir=attrs.get('work_dir', ''), worker=attrs.get('worker', ''),
        seconds=float(attrs.get('seconds', 0.0)), heartbeat=heartbeat,
        intermediate=dict(sorted(trial.intermediate_values.items())))


def read_records(storage: optuna.storages.BaseStorage,
                 study_id: int) -> List[TrialRecord]:
    """Every trial of the study, by number."""
    trials = storage.get_all_trials(study_id, deepcopy=False)
    return [record_of(t, storage.get_trial_id_from_study_id_trial_number(
        study_id, t.number)) for t in trials]


def outcomes(records: Iterable[TrialRecord],
             max_retries: int) -> Dict[TrialKey, Outcome]:
    """What became of each training the study holds (see
    :mod:`~sekd_mm.search.protocol`): its COMPLETE trial, else PRUNED, else
    FAIL, else PENDING (queued or running). Duplicates do not count. A
    training whose trials all failed with their worker (stale) is absent,
    so that it is queued again, until it failed so ``max_retries + 1``
    times: then it is FAIL."""
    by_key: Dict[TrialKey, List[TrialRecord]] = {}
    for rec in records:
        if rec.duplicate_of is None:
            by_key.setdefault(rec.key, []).append(rec)
    out = {}
    for key, recs in by_key.items():
        states = {r.state: r for r in reversed(recs) if not r.stale}
        if 'COMPLETE' in states:
            out[key] = Outcome(COMPLETE, states['COMPLETE'].value)
        elif 'PRUNED' in states:
            out[key] = Outcome(PRUNED)
        elif 'FAIL' in states:
            out[key] = Outcome(FAIL)
        elif states:  # WAITING or RUNNING
            out[key] = Outcome(PENDING)
        elif len(recs) > max_retries:
            out[key] = Outcome(FAIL)
    return out


def iterations(records: Iterable[TrialRecord]) -> int:
    """Training iterations the finished trials ran (pruned and failed ones
    count what they ran)."""
    return sum(r.iters for r in records if r.state not in ('WAITING',
                                                            'RUNNING'))
