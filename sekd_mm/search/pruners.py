# Copyright (c) sekd-mm contributors. All rights reserved.
"""Optuna pruners from config dicts.

The pruner decides inside each training process (the
:class:`~sekd_mm.search.OptunaPruningHook`), so it travels as a dict, the
MMEngine way: ``dict(type='SuccessiveHalvingPruner', min_resource=50)``
builds ``optuna.pruners.SuccessiveHalvingPruner(min_resource=50)``. A
pruner that wraps another (``PatientPruner``) takes it as a dict too.
"""
import inspect
from typing import Optional

import optuna

#: The factor by which each rung of the default pruner keeps fewer trials.
REDUCTION_FACTOR = 3


def rung_step(trial_iters: int, eval_interval: int) -> int:
    """The default pruner's rung: the first evaluation at or after two
    thirds of the trial schedule."""
    return -(-2 * trial_iters // (3 * eval_interval)) * eval_interval


def default_pruner(trial_iters: int, eval_interval: int) -> dict:
    """Successive halving with its first rung at two thirds of the
    schedule (:func:`rung_step`) and 3x as many iterations after each
    (keeping the best third at each rung): one rung that prunes (the next
    is past the schedule's end), so a pruned trial costs two thirds of a
    full one.

    Why not earlier: on the accuracy study's short regime (300-iteration
    trials, tuning split, 2026-12-07), the tuning AP at 1/9 of the trial
    read 0.0 to 0.3 for every trial of the quarter-width R-18 pair; at 1/3
    (the end of the learning-rate warm-up, and of the loss warm-up of the
    warm-up settings) its rank correlation with the final AP over the
    complete trials was +0.22, +0.11 and +0.04 on three pairs, so a rung
    there pruned on noise (Faster R-CNN lost its best row there); at 2/3
    it was +0.53, +0.67 and +0.90 (``docs/results/search_short_*.json``,
    ``early_ranking``).

    Why successive halving: a search runs a few dozen trials of one
    schedule, and a rung compares every trial that reached it with all
    others, across rows, so a strong setting found early prunes the weak
    ones at the first rung. Hyperband hedges against a poor first rung by
    splitting the trials into brackets, each compared only within itself:
    with few trials it prunes much less. Give ``HyperbandPruner`` (or any
    other Optuna pruner) where early values rank poorly.
    """
    return dict(type='SuccessiveHalvingPruner',
                min_resource=rung_step(trial_iters, eval_interval),
                reduction_factor=REDUCTION_FACTOR, min_early_stopping_rate=0)


def build_pruner(cfg: Optional[dict]) -> optuna.pruners.BasePruner:
    """The Optuna pruner of ``cfg`` (``None``: none, ``NopPruner``).

    Raises:
        ValueError: ``type`` is no pruner of ``optuna.pruners`` or its
            arguments do not fit.
    """
    if cfg is None:
        return optuna.pruners.NopPruner()
    args = dict(cfg)
    name = args.pop('type', None)
    cls = getattr(optuna.pruners, str(name), None)
    if not (inspect.isclass(cls)
            and issubclass(cls, optuna.pruners.BasePruner)):
        valid = sorted(
            n for n, c in vars(optuna.pruners).items()
            if inspect.isclass(c) and issubclass(c, optuna.pruners.BasePruner)
            and c is not optuna.pruners.BasePruner)
        raise ValueError(f'pruner type {name!r} is no Optuna pruner; valid: '
                         f'{", ".join(valid)}')
    for key, value in args.items():
        if isinstance(value, dict) and 'type' in value:
            args[key] = build_pruner(value)
    try:
        return cls(**args)
    except (TypeError, ValueError) as err:
        raise ValueError(f'pruner {cfg}: {err}') from err
