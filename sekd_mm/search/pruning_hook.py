# Copyright (c) sekd-mm contributors. All rights reserved.
"""Report a training's evaluations to its Optuna trial; stop it when
pruned."""
import json
import os
import os.path as osp
from typing import List, Optional, Tuple

import optuna
from mmengine.dist import broadcast_object_list, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..utils import read_json
from .pruners import build_pruner
from .storage import open_storage

#: The file the hook keeps in the work dir: what the trial's worker reads.
STATE_FILE = 'optuna_trial.json'


def metric_value(metrics: dict, key: str) -> float:
    """``metrics[key]`` as a float; 0 when the evaluator of ``key`` (the
    part before the last ``/``) returned nothing: mmdet's ``CocoMetric``
    returns no metric when no box passes the score threshold.

    Raises:
        KeyError: ``key`` is missing while its evaluator returned other
            metrics (a wrong name); the message lists them.
    """
    if key in metrics:
        return float(metrics[key])
    prefix = key.rpartition('/')[0] + '/'
    if prefix != '/' and not any(k.startswith(prefix) for k in metrics):
        return 0.0
    raise KeyError(f'the search metric {key!r} is not among the evaluation '
                   f'results {sorted(metrics)}: give one of them')


def read_state(work_dir: str) -> Optional[dict]:
    """The hook's state file in ``work_dir`` (None when there is none)."""
    return read_json(osp.join(work_dir, STATE_FILE))


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """Report the tuning metric of every validation to an Optuna trial,
    and stop the training when the study's pruner prunes it.

    The training is one trial of a search (:func:`~sekd_mm.search.search`)
    that a worker process started. After each validation the hook reports
    ``metric`` at the current iteration (``trial.report(value, iter)``)
    and, unless it is the last iteration, asks the pruner
    (``trial.should_prune()``). A pruned training ends cleanly: the loop's
    ``stop_training`` is set, so MMEngine's ``after_train`` hooks run and
    the process exits with 0. What happened is in ``<work_dir>/`` +
    :data:`STATE_FILE` (``reports``: ``[iteration, value]`` pairs,
    ``pruned_step``, ``iters`` trained): exit 0 with ``pruned_step`` is
    PRUNED, exit 0 without it COMPLETE, any other exit FAIL.

    Under DDP the rank 0 process reports and asks; every rank follows its
    decision. It is registered in MMEngine's root ``HOOKS``, so it builds
    whatever the default scope; the search adds it to a trial's
    ``custom_hooks``.

    Args:
        storage (str): the study's storage spec
            (:func:`~sekd_mm.search.storage.open_storage`).
        study_name (str): the study.
        trial_id (int): the trial (Optuna's storage id, not its number).
        metric (str): the validation metric to report. Defaults to
            ``'coco/bbox_mAP'``.
        pruner (dict, optional): the study's pruner
            (:func:`~sekd_mm.search.pruners.build_pruner`); None never
            prunes.
        prune (bool): ask the pruner; False only reports (the other seeds
            of a setting that can win run to the end). Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, storage: str, study_name: str, trial_id: int,
                 metric: str = 'coco/bbox_mAP',
                 pruner: Optional[dict] = None, prune: bool = True) -> None:
        self.storage = storage
        self.study_name = study_name
        self.trial_id = int(trial_id)
        self.metric = metric
        self.pruner = pruner
        self.prune = prune
        self.trial = None
        self.training = False
        self.reports: List[Tuple[int, float]] = []
        self.pruned_step: Optional[int] = None

    def before_train(self, runner) -> None:
        self.training = True
        if runner.rank != 0:
            return
        study = optuna.load_study(
            study_name=self.study_name, storage=open_storage(self.storage),
            pruner=build_pruner(self.pruner))
        self.trial = optuna.trial.Trial(study, self.trial_id)
        self._save(runner)

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if not self.training:
            return  # a validation outside training
        step, pruned = runner.iter, False
        if self.trial is not None:  # rank 0
            value = metric_value(metrics or {}, self.metric)
            self.trial.report(value, step)
            self.reports.append((step, value))
            pruned = (self.prune and step < runner.max_iters
                      and self.trial.should_prune())
            if pruned:
                self.pruned_step = step
                runner.logger.info(
                    f'OptunaPruningHook: trial {self.trial.number} pruned at '
                    f'iteration {step} ({self.metric} = {value:.4f})')
            self._save(runner)
        if get_world_size() > 1:
            decision = [pruned]
            broadcast_object_list(decision, src=0)
            pruned = decision[0]
        if pruned:
            runner.train_loop.stop_training = True

    def after_train(self, runner) -> None:
        if self.trial is not None:
            self._save(runner, iters=runner.iter)

    def _save(self, runner, iters: Optional[int] = None) -> None:
        """Write the state file (atomically: a kill leaves the old one)."""
        state = dict(trial_id=self.trial_id, number=self.trial.number,
                     metric=self.metric, max_iters=runner.max_iters,
                     reports=self.reports, pruned_step=self.pruned_step,
                     iters=iters)
        path = osp.join(runner.work_dir, STATE_FILE)
        with open(path + '.tmp', 'w', encoding='utf-8') as f:
            json.dump(state, f)
        os.replace(path + '.tmp', path)
