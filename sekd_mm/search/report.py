# Copyright (c) sekd-mm contributors. All rights reserved.
"""The result of a search, as one JSON-ready dict: the chosen setting, the
settings that could win, every trial, what the search cost, and how well
its intermediate evaluations ranked the trials (what the pruner decides
on)."""
from typing import Dict, List, Mapping, Optional, Sequence

from .protocol import Choice, Outcome, Plan, candidates
from .records import TrialRecord, iterations
from .space import Row, TrialKey


def choice_dict(choice: Optional[Choice]) -> Optional[dict]:
    """A :class:`~sekd_mm.search.protocol.Choice` for JSON."""
    if choice is None:
        return None
    return dict(method=choice.method, setting=choice.setting.as_dict(),
                key=choice.setting.key(),
                values={str(s): v for s, v in choice.values.items()},
                mean=choice.mean)


def trial_dict(rec: TrialRecord) -> dict:
    """One trial for JSON."""
    return dict(number=rec.number, method=rec.key.method,
                setting=rec.key.setting.as_dict(), key=rec.key.setting.key(),
                seed=rec.key.seed, state=rec.state, value=rec.value,
                iters=rec.iters, pruned_step=rec.pruned_step,
                reason=rec.reason, stale=rec.stale,
                duplicate_of=rec.duplicate_of, worker=rec.worker,
                seconds=rec.seconds, work_dir=rec.work_dir,
                intermediate={str(step): v
                              for step, v in (rec.intermediate or {}).items()})


def early_ranking(records: Sequence[TrialRecord],
                  trial_iters: int) -> List[dict]:
    """How well the tuning metric at each intermediate evaluation ranked the
    COMPLETE trials as their final value does: Spearman's rank correlation
    (``spearman``, None for fewer than 3 trials or constant values) over
    the ``trials`` complete trials that reported at ``step``, one entry per
    step before ``trial_iters``.

    A pruner deciding at a step where the correlation is low prunes on
    noise. Only trials that ran to the end count (pruned ones have no final
    value), so the correlation is taken over the survivors of the pruner's
    earlier decisions.
    """
    from scipy.stats import spearmanr  # only the report needs scipy
    complete = [r for r in records
                if r.state == 'COMPLETE' and r.value is not None]
    steps = sorted({s for r in complete for s in (r.intermediate or {})
                    if s < trial_iters})
    out = []
    for step in steps:
        pairs = [(r.intermediate[step], r.value) for r in complete
                 if step in r.intermediate]
        rho = None
        if len(pairs) >= 3 and len({a for a, _ in pairs}) > 1 \
                and len({b for _, b in pairs}) > 1:
            rho = round(float(spearmanr(*zip(*pairs))[0]), 3)
        out.append(dict(step=step, trials=len(pairs), spearman=rho))
    return out


def cost(records: Sequence[TrialRecord], todo: Plan, seeds: Sequence[int],
         trial_iters: int) -> Dict[str, float]:
    """What the search cost: training iterations of its finished trials
    (pruned and failed ones count what they ran), also in trial schedules
    (``trial_equivalents``), against the grid of the same protocol without
    pruning, every setting it planned on every seed (``grid_iters``)."""
    used = iterations(records)
    settings = {(k.method, k.setting) for k in todo.keys}
    grid = len(settings) * len(seeds) * trial_iters
    states = [r.state for r in records if r.trained]
    return dict(
        iters=used, trial_iters=trial_iters,
        trial_equivalents=round(used / trial_iters, 3),
        trainings=len(states),
        **{state.lower(): states.count(state)
           for state in ('COMPLETE', 'PRUNED', 'FAIL', 'RUNNING')},
        grid_settings=len(settings), grid_iters=grid,
        fraction_of_grid=round(used / grid, 4) if grid else None)


def search_report(space: Mapping[str, Row], seeds: Sequence[int],
                  records: Sequence[TrialRecord], todo: Plan,
                  outcomes: Mapping[TrialKey, Outcome], *, study: str,
                  storage: str, settings: dict, trial_iters: int) -> dict:
    """The result of a search.

    Keys: ``study``, ``storage``, ``search`` (what it searches:
    ``settings``), ``done`` (the protocol is through; False while trials
    run or after the budget stopped it), ``chosen`` (the setting with the
    best mean over all seeds, None before one is complete on all),
    ``candidates`` (every setting complete on all seeds, best first),
    ``trials`` (every trial, by number), ``cost`` (:func:`cost`) and
    ``early_ranking`` (:func:`early_ranking`).
    """
    ranked: List[Choice] = candidates(space, seeds, outcomes)
    return dict(
        study=study, storage=storage, search=settings, done=todo.done,
        chosen=choice_dict(ranked[0] if ranked else None),
        candidates=[choice_dict(c) for c in ranked],
        trials=[trial_dict(r) for r in records],
        cost=cost(records, todo, seeds, trial_iters),
        early_ranking=early_ranking(records, trial_iters))
