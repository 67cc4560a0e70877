# Copyright (c) sekd-mm contributors. All rights reserved.
"""The fair tuning protocol of the accuracy study (``--split tune
--search``): every tuned row is offered the same choices, searched the same
way, on the same tuning seeds.

1. The loss-weight factor grid :data:`FACTOR_GRID` at all five FPN levels
   and no warm-up (MMRazor's published setting, the same starting point
   for every row), extended one step along :data:`FACTOR_LADDER` while the
   best mean AP sits at an edge of the grid (:func:`next_factor`).
2. At the best factor, the other levels and warm-up choices
   (``sekd_mm.search.methods``: ``LEVEL_CHOICES``, ``WARMUP_CHOICES``),
   all combinations.

The setting with the best mean AP over the tuning seeds is chosen
(:func:`choose`). Each setting is a run key of its own
(:func:`setting_key`), so the study's cache and record reuse every run
that was already made.
"""
from typing import Dict, Iterable, List, NamedTuple, Optional

from sekd_mm.search.methods import LEVEL_CHOICES, WARMUP_CHOICES
from sekd_mm.search.space import FACTOR_GRID  # noqa: F401 (tests, study)
from sekd_mm.search.space import FACTOR_LADDER

#: Where every row's search starts: all levels, no warm-up.
START = dict(levels='all', warmup=0)


class Setting(NamedTuple):
    """One point of a row's search."""
    factor: float
    levels: str = START['levels']
    warmup: int = START['warmup']

    def as_dict(self) -> dict:
        return dict(factor=self.factor, levels=self.levels,
                    warmup=self.warmup)


def setting_key(name: str, setting: Setting) -> str:
    """The run key of ``setting`` of method ``name``, e.g. ``pkd@x3`` or
    ``sekd@x1+no_small+wu100`` (the start's levels and warm-up are not
    written)."""
    key = f'{name}@x{setting.factor:g}'
    if setting.levels != START['levels']:
        key += f'+{setting.levels}'
    if setting.warmup != START['warmup']:
        key += f'+wu{setting.warmup}'
    return key


def next_factor(aps: Dict[float, float]) -> Optional[float]:
    """The factor to add while the best mean AP of ``aps`` (factor -> AP,
    at the start's levels and warm-up) lies at an edge of the grid: the
    next one along :data:`FACTOR_LADDER`; None once it lies inside (or at
    the end of the ladder)."""
    if len(aps) < 2:
        return None
    factors = sorted(aps)
    best = max(factors, key=lambda f: (aps[f], -abs(f - 1)))
    if factors[0] < best < factors[-1]:
        return None
    ladder = list(FACTOR_LADDER)
    index = min(range(len(ladder)), key=lambda i: abs(ladder[i] - best))
    step = -1 if best == factors[0] else 1
    if not 0 <= index + step < len(ladder):
        return None
    return ladder[index + step]


def choice_settings(factor: float) -> List[Setting]:
    """Stage 2: every levels and warm-up choice at ``factor`` but the
    start's (which stage 1 ran)."""
    return [
        Setting(factor, levels, warmup) for levels in LEVEL_CHOICES
        for warmup in WARMUP_CHOICES
        if (levels, warmup) != (START['levels'], START['warmup'])
    ]


def next_settings(aps: Dict[Setting, Optional[float]],
                  levels: bool = True) -> List[Setting]:
    """What a row's search runs next, given the mean AP of every setting it
    ran (None while one has not finished: then nothing): the next factor
    while the best of the grid at the start's levels and warm-up lies at an
    edge (:func:`next_factor`), then the choices at its best factor
    (:func:`choice_settings`; only the warm-up for a row without a level
    choice, ``levels=False``); nothing once both are done."""
    if any(ap is None for ap in aps.values()):
        return []
    start = {s.factor: ap for s, ap in aps.items()
             if (s.levels, s.warmup) == (START['levels'], START['warmup'])}
    factor = next_factor(start)
    if factor is not None:
        return [Setting(factor)]
    best = choose({Setting(f): ap for f, ap in start.items()})
    return [s for s in choice_settings(best.factor)
            if s not in aps and (levels or s.levels == START['levels'])]


def choose(aps: Dict[Setting, float]) -> Setting:
    """The setting with the best mean AP (ties: the one closer to the
    start, then to factor 1)."""
    return max(aps, key=lambda s: (aps[s], s.levels == START['levels'],
                                   s.warmup == START['warmup'],
                                   -abs(s.factor - 1)))


def tuning_record(aps: Dict[Setting, float], seeds: Iterable[int]) -> dict:
    """A row's ``tuning`` entry: the seeds, the grid searched and the
    choice, with the mean AP of every setting run."""
    factors = sorted({s.factor for s in aps})
    return dict(
        seeds=list(seeds),
        grid=dict(
            factor=factors,
            levels=sorted({s.levels for s in aps}),
            warmup=sorted({s.warmup for s in aps})),
        chosen=choose(aps).as_dict(),
        ap={setting_key('', s)[2:]: round(ap, 2)
            for s, ap in sorted(aps.items())})
