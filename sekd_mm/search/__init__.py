# Copyright (c) sekd-mm contributors. All rights reserved.
"""The fair, pruned search of a distillation recipe, on Optuna.

:func:`search` runs the protocol of :mod:`.protocol` (every row: the same
factor grid, extended at its edges; then, for the ``finalists`` rows whose
grids reached the best values, the levels and warm-up choices at the best
factor, on the first seed; then the other seeds for the ``confirm_top``
best settings; the best mean over all seeds wins) on an Optuna study, with
the ask-and-tell API:

- **Sampler.** The protocol's points are fed through Optuna's trial queue
  (``Study.enqueue_trial``): a staged grid. Optuna's ``GridSampler`` cannot
  grow its grid at the edges nor stage it on results, and may give one
  point to two workers at once; a model-based sampler (TPE) would spend
  more trials on the rows it favours early, which the fair protocol rules
  out, and on a few dozen categorical points its model has little to learn
  from. The parameters are still Optuna's (categorical distributions over
  every value a row can reach, the whole ladder included), so the study
  reads in Optuna's tools.
- **Pruner.** Any Optuna pruner, as a dict; by default successive halving
  (:func:`default_pruner`), deciding in the training process
  (:class:`OptunaPruningHook`) from the tuning split's metric at each
  evaluation. The other seeds of a setting that can win are not pruned.
- **Storage.** A journal file in the work dir, or a database URL shared by
  workers on several machines (:mod:`.storage`).
- **Resume.** The same call continues the study: finished trials stay,
  queued ones are taken, a RUNNING one whose worker died (no heartbeat) is
  failed as ``stale`` and its training queued again (:mod:`.study`).

Modules: :mod:`.space` (rows, settings), :mod:`.methods` (the distillation
methods and the cfg-options of a setting: ``sekd-mm distill --search``
and ``benchmarks/`` read them), :mod:`.protocol` (what to run),
:mod:`.pruning_hook`, :mod:`.pruners`, :mod:`.trial_runner` (one training
subprocess), :mod:`.storage`, :mod:`.records` and :mod:`.report` (the
trials, the result), :mod:`.study` (the worker).

Not imported by ``import sekd_mm`` (it needs ``optuna``); a trial's config
imports it (``custom_imports``) to register the hook.
"""
from .protocol import Choice, Outcome, Plan, choose, plan
from .pruners import build_pruner, default_pruner
from .pruning_hook import OptunaPruningHook, metric_value
from .space import FACTOR_GRID, FACTOR_LADDER, Row, Setting, TrialKey
from .storage import StorageError, default_storage, open_storage
from .study import RESULT_FILE, SearchError, search
from .trial_runner import TrialResult, run_trial

__all__ = [
    'Choice', 'Outcome', 'Plan', 'choose', 'plan', 'build_pruner',
    'default_pruner', 'OptunaPruningHook', 'metric_value', 'FACTOR_GRID',
    'FACTOR_LADDER', 'Row', 'Setting', 'TrialKey', 'StorageError',
    'default_storage', 'open_storage', 'RESULT_FILE', 'SearchError',
    'search', 'TrialResult', 'run_trial'
]
