# Copyright (c) sekd-mm contributors. All rights reserved.
"""The fair search protocol: which trainings to run, given what finished.

The same rules for every row (method) of the space, in this order:

1. **Factor grid, extended at the edges.** The row's ``factors`` at its
   start levels and warm-up, on the first seed. Once all of them finished,
   the best *complete* one (highest value; ties: a factor closer to 1) is
   looked at: when it is the lowest (highest) factor tried and the ladder
   goes further, the next lower (higher) ladder value is added, and so on
   until the best lies inside the grid or at the end of the ladder (the
   rule of the accuracy study's exhaustive grids, on one seed).
2. **Levels and warm-up.** At that best factor, every other (levels,
   warm-up) combination of the row, on the first seed. With
   ``finalists=N``, only the N rows whose grids reached the best values
   get this step, once every row's grid is settled (successive halving
   over rows, on full trainings; :func:`finalist_rows`).
3. **Seeds for the settings that can win.** Once every row is through 1
   and 2, the ``confirm_top`` complete settings with the best first-seed
   values (over all rows) are trained on every other seed. Only a setting
   complete on *all* seeds can be chosen: the one with the best mean
   (:func:`choose`).

A pruned or failed training counts as finished without a value: a row whose
grid has no complete training gets no extension and no step 2 (the pruner
judged it lost). Everything is recomputed from the trainings' outcomes, so
the plan is the same for every worker and after a restart.
"""
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .space import Row, Setting, TrialKey, preference

#: How many settings are trained on the other seeds, by default.
CONFIRM_TOP = 3
#: How many rows get the levels / warm-up step, by default. Replayed on the
#: four pairs' full grids (``docs/results/protocol_replay.md``), three
#: finalists chose the full grid's row on three pairs and on the fourth
#: (Faster R-CNN) SEKD, 0.35 tuning AP behind the grid's SEKD V only, for
#: 3 to 10 points of the grid's iterations less than every row; two
#: finalists chose another row than the grid on three pairs.
FINALISTS = 3
#: Outcome states of a training (``PENDING``: planned, queued or running).
PENDING, COMPLETE, PRUNED, FAIL = 'PENDING', 'COMPLETE', 'PRUNED', 'FAIL'


class Outcome(NamedTuple):
    """What became of a training: its state and, when COMPLETE, its final
    value (the tuning metric at its last iteration)."""
    state: str
    value: Optional[float] = None


class Plan(NamedTuple):
    """Every training the protocol wants so far, in the order to run them
    (those already run included), and whether the search is over (all
    planned trainings finished and none can follow)."""
    keys: List[TrialKey]
    done: bool


def _finished(outcomes: Mapping[TrialKey, Outcome], key: TrialKey) -> bool:
    return outcomes.get(key, Outcome(PENDING)).state != PENDING


def _value(outcomes: Mapping[TrialKey, Outcome],
           key: TrialKey) -> Optional[float]:
    out = outcomes.get(key)
    return out.value if out is not None and out.state == COMPLETE else None


def factor_order(row: Row) -> List[float]:
    """The row's first grid, most likely first (closest to 1): queued in
    this order, a strong setting runs early and sets the bar the pruner
    holds the others to."""
    return sorted(row.factors, key=lambda f: (abs(f - 1), f))


def next_factor(row: Row, values: Mapping[float, Optional[float]]
                ) -> Optional[float]:
    """The factor to add to the grid ``values`` (factor -> final value at
    the start, None when pruned or failed): the next ladder value beyond
    the edge where the best complete factor sits; None when it sits inside,
    at the end of the ladder, or nothing completed."""
    complete = {f: v for f, v in values.items() if v is not None}
    if len(values) < 2 or not complete:
        return None
    best = max(complete,
               key=lambda f: (complete[f], preference(row.at_start(f), row)))
    factors = sorted(values)
    if best == factors[0]:
        lower = [f for f in row.ladder if f < best]
        return lower[-1] if lower else None
    if best == factors[-1]:
        higher = [f for f in row.ladder if f > best]
        return higher[0] if higher else None
    return None


def row_stage(method: str, row: Row, seed: int,
              outcomes: Mapping[TrialKey, Outcome]
              ) -> Tuple[List[TrialKey], List[TrialKey], bool]:
    """Steps 1 and 2 of one row on the first seed.

    Returns:
        tuple: the grid's keys (first grid, then its extensions), the
        levels / warm-up keys (empty until the grid is settled), and whether
        the row is through both steps.
    """
    factors = factor_order(row)
    while True:
        grid = [TrialKey(method, row.at_start(f), seed) for f in factors]
        if not all(_finished(outcomes, k) for k in grid):
            return grid, [], False
        added = next_factor(
            row, {k.setting.factor: _value(outcomes, k) for k in grid})
        if added is None:
            break
        factors.append(added)
    complete = [k for k in grid if _value(outcomes, k) is not None]
    if not complete:
        return grid, [], True
    best = max(complete, key=lambda k: (_value(outcomes, k),
                                        preference(k.setting, row)))
    choices = [
        TrialKey(method, Setting(best.setting.factor, levels, warmup), seed)
        for levels in row.levels for warmup in row.warmups
        if (levels, warmup) != row.start
    ]
    return grid, choices, all(_finished(outcomes, k) for k in choices)


def finalist_rows(space: Mapping[str, Row],
                  grids: Mapping[str, Sequence[TrialKey]],
                  outcomes: Mapping[TrialKey, Outcome],
                  finalists: int) -> List[str]:
    """The ``finalists`` rows whose settled ``grids`` (method -> its grid's
    keys) hold the best complete values, best first (ties as in
    :func:`ranking`); a row without a complete training is none."""
    rows: List[str] = []
    for key in ranking(space, [k for g in grids.values() for k in g],
                       outcomes):
        if key.method not in rows:
            rows.append(key.method)
    return rows[:finalists]


def plan(space: Mapping[str, Row],
         seeds: Sequence[int],
         confirm_top: int,
         outcomes: Mapping[TrialKey, Outcome],
         finalists: Optional[int] = None) -> Plan:
    """The trainings of the protocol (see the module docstring) given the
    ``outcomes`` so far (keys missing: not run yet).

    The first grids are interleaved across rows (every row's most likely
    factor first), then come the extensions and the levels / warm-up
    choices row by row, then the other seeds of the ``confirm_top`` best
    settings. ``finalists``: how many rows get the levels / warm-up step
    (None: every row with a complete grid training, as soon as its grid is
    settled).
    """
    first, rest = seeds[0], seeds[1:]
    stages = {m: row_stage(m, row, first, outcomes)
              for m, row in space.items()}
    keys: List[TrialKey] = []
    depth = max(len(row.factors) for row in space.values())
    for i in range(depth):  # the first grids, interleaved
        for method, row in space.items():
            if i < len(row.factors):
                keys.append(stages[method][0][i])
    for method, (grid, _, _) in stages.items():
        keys += grid[len(space[method].factors):]
    if finalists is None:
        offered = list(space)
    elif all(choices or done for _, choices, done in stages.values()):
        offered = finalist_rows(
            space, {m: grid for m, (grid, _, _) in stages.items()}, outcomes,
            finalists)
    else:  # the finalists are known once every grid is settled
        return Plan(keys, False)
    for method in offered:
        keys += stages[method][1]
    if not all(stages[m][2] for m in offered):
        return Plan(keys, False)
    confirmed = [TrialKey(k.method, k.setting, seed)
                 for k in ranking(space, keys, outcomes)[:confirm_top]
                 for seed in rest]
    keys += confirmed
    return Plan(keys, all(_finished(outcomes, k) for k in confirmed))


def ranking(space: Mapping[str, Row], keys: Sequence[TrialKey],
            outcomes: Mapping[TrialKey, Outcome]) -> List[TrialKey]:
    """The COMPLETE ``keys``, best first: by value, then by the row's
    preference (:func:`~sekd_mm.search.space.preference`), then by row
    order."""
    order = {m: i for i, m in enumerate(space)}
    complete = [k for k in keys if _value(outcomes, k) is not None]
    return sorted(complete, key=lambda k: _order(
        _value(outcomes, k), k.setting, space[k.method], order[k.method]))


def _order(value: float, setting: Setting, row: Row, index: int) -> tuple:
    """Sort key, best first: value, then the row's preference, then the
    row's place in the space."""
    return (-value, *(-float(p) for p in preference(setting, row)), index)


class Choice(NamedTuple):
    """The chosen setting: its row, its setting, its value on each seed and
    their mean."""
    method: str
    setting: Setting
    values: Dict[int, float]
    mean: float


def candidates(space: Mapping[str, Row], seeds: Sequence[int],
               outcomes: Mapping[TrialKey, Outcome]) -> List[Choice]:
    """Every setting COMPLETE on all ``seeds``, best mean first (ties as in
    :func:`ranking`)."""
    order = {m: i for i, m in enumerate(space)}
    settings = {(k.method, k.setting) for k in outcomes}
    out = []
    for method, setting in settings:
        if method not in space:
            continue
        values = {s: _value(outcomes, TrialKey(method, setting, s))
                  for s in seeds}
        if all(v is not None for v in values.values()):
            out.append(Choice(method, setting, values,
                              sum(values.values()) / len(values)))
    return sorted(out, key=lambda c: _order(c.mean, c.setting,
                                            space[c.method],
                                            order[c.method]))


def choose(space: Mapping[str, Row], seeds: Sequence[int],
           outcomes: Mapping[TrialKey, Outcome]) -> Optional[Choice]:
    """The setting with the best mean over all seeds (None when no setting
    is complete on all of them)."""
    found = candidates(space, seeds, outcomes)
    return found[0] if found else None
