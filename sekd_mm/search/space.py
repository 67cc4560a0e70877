# Copyright (c) sekd-mm contributors. All rights reserved.
"""The search space: one row of choices per distillation method.

Every row is offered the same kinds of choices (the fair protocol of the
accuracy study): a loss-weight factor grid that may grow along a ladder,
the distilled FPN levels, and the distillation loss warm-up. A point
of a row is a :class:`Setting`; a training is a :class:`TrialKey` (a
method's setting on one seed).

The values are the caller's: the engine only compares and passes them back
to the caller's ``configure(method, setting) -> (config, cfg_options)``
(e.g. ``levels='no_small'``, ``warmup=100`` iterations). The first entry of
:attr:`Row.levels` and :attr:`Row.warmups` is the *start* (where the factor
grid is searched); a row without such a choice has one entry, ``None``:
"as configured" (the default). Optuna stores them as categorical
parameters: each value is None, a bool, an int, a float or a str.
"""
import re
from dataclasses import dataclass
from typing import Any, Dict, Hashable, Mapping, NamedTuple, Tuple

#: The types of Optuna's categorical choices.
CHOICE_TYPES = (type(None), bool, int, float, str)

#: The first grid of every row's loss-weight factor. x10 is reached by the
#: ladder where x3 is best: replayed on the four pairs' full grids (which
#: started at x0.3 to x10, ``docs/results/protocol_replay.md``), the grid
#: without x10 chose the same setting on all four, for 2 to 6 points of the
#: grid's iterations less.
FACTOR_GRID: Tuple[float, ...] = (0.3, 1.0, 3.0)
#: The values a factor grid is extended along, one step at a time.
FACTOR_LADDER: Tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0,
                                    3.0, 10.0, 30.0, 100.0, 300.0)


class Setting(NamedTuple):
    """One point of a row: the loss-weight factor, the levels choice and
    the warm-up choice (values of the row's :class:`Row` fields)."""
    factor: float
    levels: Hashable = None
    warmup: Hashable = None

    def as_dict(self) -> Dict[str, Any]:
        return dict(factor=self.factor, levels=self.levels,
                    warmup=self.warmup)

    def key(self) -> str:
        """A short name, e.g. ``x3+no_small+wu100`` (None parts left
        out)."""
        key = f'x{self.factor:g}'
        if self.levels is not None:
            key += f'+{self.levels}'
        if self.warmup is not None:
            key += f'+wu{self.warmup}'
        return key


class TrialKey(NamedTuple):
    """One training of the search: ``method`` at ``setting`` on
    ``seed``."""
    method: str
    setting: Setting
    seed: int

    def name(self) -> str:
        """E.g. ``cwd_x3+no_small+wu100_seed0`` (file-name safe)."""
        name = f'{self.method}_{self.setting.key()}_seed{self.seed}'
        return re.sub(r'[^\w.+=-]', '_', name)


@dataclass(frozen=True)
class Row:
    """The choices one method is offered.

    Attributes:
        factors: the first factor grid (multiples of the method's loss
            weights), searched at the start levels and warm-up.
        levels: the levels choices; the first is the start.
        warmups: the warm-up choices; the first is the start.
        ladder: the values the factor grid is extended along while its best
            value sits at an edge (it must hold every value of
            ``factors``).
    """
    factors: Tuple[float, ...] = FACTOR_GRID
    levels: Tuple[Hashable, ...] = (None, )
    warmups: Tuple[Hashable, ...] = (None, )
    ladder: Tuple[float, ...] = FACTOR_LADDER

    def __post_init__(self) -> None:
        if not (self.factors and self.levels and self.warmups):
            raise ValueError(f'a row needs at least one factor, levels and '
                             f'warm-up choice, got {self}')
        odd = [v for v in (*self.levels, *self.warmups, *self.ladder)
               if not isinstance(v, CHOICE_TYPES)]
        if odd:
            raise ValueError(f'choices {odd} are not None, bool, int, float '
                             'or str (Optuna\'s categorical values): name '
                             'them, e.g. levels=\'no_small\'')
        missing = [f for f in self.factors if f not in self.ladder]
        if missing:
            raise ValueError(f'factors {missing} are not on the ladder '
                             f'{self.ladder}: add them to it')
        if list(self.ladder) != sorted(set(self.ladder)):
            raise ValueError(f'the ladder must increase, got {self.ladder}')

    @property
    def start(self) -> Tuple[Hashable, Hashable]:
        """(levels, warm-up) where the factor grid is searched."""
        return self.levels[0], self.warmups[0]

    def at_start(self, factor: float) -> Setting:
        return Setting(factor, *self.start)

    def as_dict(self) -> Dict[str, list]:
        return dict(factors=list(self.factors), levels=list(self.levels),
                    warmups=list(self.warmups), ladder=list(self.ladder))


def preference(setting: Setting, row: Row) -> tuple:
    """How a setting ranks among settings of equal value (greater first):
    the start's levels, then its warm-up, then a factor closer to 1 (the
    rule of the accuracy study's exhaustive grids)."""
    levels, warmup = row.start
    return (setting.levels == levels, setting.warmup == warmup,
            -abs(setting.factor - 1))


def check_space(space: Mapping[str, Row]) -> None:
    """Raise ``ValueError`` for an empty space or a row that is no
    :class:`Row`."""
    if not space:
        raise ValueError('the search space has no row: give at least one '
                         'method and its choices')
    for name, row in space.items():
        if not isinstance(row, Row):
            raise ValueError(f'row {name!r} is a {type(row).__name__}, '
                             'not a sekd_mm.search.Row')
        if not name or '/' in name:
            raise ValueError(f'method name {name!r} must be a non-empty '
                             'name without "/"')
