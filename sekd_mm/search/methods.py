# Copyright (c) sekd-mm contributors. All rights reserved.
"""The distillation methods a search compares, and how a setting of the
fair protocol (:mod:`.space`) becomes cfg-options of a method's config.

One :class:`Recipe` per method: its shipped config for the embedded
RetinaNet R-34 -> R-18 w32 pair (named relative to the package's
``configs``, :func:`sekd_mm.utils.config_path`; the Faster R-CNN pair
replaces ``retinanet``, :func:`recipe_config`), its own cfg-options, the
loss weights a factor scales and how its distilled FPN levels are chosen.
``sekd-mm distill --search`` and the accuracy study
(``benchmarks/methods.py``) read the same rows.

- :func:`weight_options`: the cfg-options that set every loss weight of a
  method to a factor times its unit;
- :func:`setting_options`: those of a levels choice
  (:func:`level_choices` of the pair's FPN outputs, :data:`LEVEL_CHOICES`
  for the embedded models) and a warm-up (:data:`SEARCH_WARMUPS`); a
  search offers them in the order :data:`SEARCH_LEVELS` and
  :data:`SEARCH_WARMUPS` (the start first).
"""
import argparse
from typing import (Dict, Hashable, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Union)

from mmengine.config import Config, DictAction

from .space import FACTOR_GRID, FACTOR_LADDER, Row

#: The weights a loss-weight factor scales, per kind of method: dotted
#: config keys, ``*`` standing for every key of that dict (e.g. every
#: level's loss).
SEKD_WEIGHTS = ('model.distiller.sekd.alpha', 'model.distiller.sekd.beta',
                'model.distiller.sekd.gamma')
PEER_WEIGHTS = ('model.distiller.distill_losses.*.loss_weight', )
MGD_WEIGHTS = ('model.distiller.distill_losses.*.alpha_mgd', )

#: The FPN outputs of the embedded models (P2-P6, strides 4-64).
EMBEDDED_LEVELS = ('p2', 'p3', 'p4', 'p5', 'p6')


def level_choices(
        names: Sequence[str] = EMBEDDED_LEVELS) -> Dict[str, Tuple[str, ...]]:
    """The distilled FPN levels every tuned row is offered, for FPN
    outputs ``names`` (the i-th name is output i): ``all`` of them, or
    ``no_small``, the first three (without the two smallest maps, 2 x 2
    and 1 x 1 at 96 px on the embedded models)."""
    return dict(all=tuple(names), no_small=tuple(names[:3]))


#: The level choices of the embedded models.
LEVEL_CHOICES = level_choices()
#: The levels and warm-up choices of a search's rows (a warm-up: none, or
#: the embedded schedule's LR warm-up), the start first (a
#: :class:`~sekd_mm.search.Row` searches its factor grid at its first
#: choices, then tries the others at the best factor): the first three
#: levels with the warm-up. On the four pairs' committed grids (first
#: tuning seed) that is the best setting of 19 of the 24 rows; the start
#: until 2026-12-07 was all levels without warm-up (``docs/design_log.md``:
#: the searches chose the same rows from both starts, for fewer
#: iterations from this one).
SEARCH_LEVELS = ('no_small', 'all')
SEARCH_WARMUPS = (100, 0)



def same_choices(rows: Mapping[str, bool],
                 factors: Sequence[float] = FACTOR_GRID,
                 levels: Sequence[Hashable] = SEARCH_LEVELS,
                 warmups: Sequence[Hashable] = SEARCH_WARMUPS,
                 ladder: Sequence[float] = FACTOR_LADDER) -> Dict[str, Row]:
    """The fair protocol's space: every row of ``rows`` (name -> whether
    its method has a level choice) offered the same factor grid, levels
    and warm-up choices (the first of each the start); a row without a
    level choice gets none. The ladder is extended by ``factors``."""
    ladder = tuple(sorted(set(ladder) | set(factors)))
    return {
        name: Row(factors=tuple(factors),
                  levels=tuple(levels) if has_levels else (None, ),
                  warmups=tuple(warmups), ladder=ladder)
        for name, has_levels in rows.items()
    }


#: The embedded pair in the configs' names.
EMBEDDED = 'r34_retinanet_r18-w32_synthetic'


class Recipe(NamedTuple):
    """One distillation method (or the student alone).

    Attributes:
        label: the name shown in tables.
        config: its config for the embedded RetinaNet pair, relative to
            the package's ``configs`` folder.
        options: cfg-options applied on top of the config.
        weights: the config keys a loss-weight factor multiplies (see
            :func:`weight_options`); empty for the student alone.
        level_key: how the distilled FPN levels are chosen
            (:func:`setting_options`): ``'sekd'`` (SEKD's ``levels``), a
            cfg key with ``{}`` for the level whose weight 0 leaves a
            peer's level out, or empty (no level choice).
    """
    label: str
    config: str
    options: Tuple[str, ...] = ()
    weights: Tuple[str, ...] = ()
    level_key: str = ''


def _sekd_config() -> str:
    return f'sekd/sekd_retinanet_{EMBEDDED}.py'


def _peer(peer: str, label: str, weight_key: str,
          weights: Tuple[str, ...]) -> Recipe:
    """MMRazor's ``peer`` loss on every FPN level (``loss_<peer>_<level>``),
    its levels chosen through the weight ``weight_key`` of each."""
    return Recipe(label, f'peers/{peer}_retinanet_{EMBEDDED}.py',
                  weights=weights,
                  level_key='model.distiller.distill_losses.'
                  f'loss_{peer}_{{}}.{weight_key}')


#: The methods, by name.
RECIPES: Dict[str, Recipe] = dict(
    alone=Recipe('Student alone', 'embedded/retinanet_r18-w32_synthetic.py'),
    sekd=Recipe('SEKD (V+E+S)', _sekd_config(), weights=SEKD_WEIGHTS,
                level_key='sekd'),
    # SEKD's vertex term alone (PKD's normalised loss on SEKD's levels,
    # with SEKD's warm-up)
    sekd_v=Recipe('SEKD V only (beta = gamma = 0)', _sekd_config(),
                  ('model.distiller.sekd.beta=0',
                   'model.distiller.sekd.gamma=0'), SEKD_WEIGHTS, 'sekd'),
    ega=Recipe('EGA', f'ega/ega_retinanet_{EMBEDDED}.py',
               weights=PEER_WEIGHTS),
    sekd_ega=Recipe('SEKD + EGA', f'ega/sekd-ega_retinanet_{EMBEDDED}.py',
                    weights=SEKD_WEIGHTS + PEER_WEIGHTS),
    fitnet=_peer('fitnet', 'FitNet (MSE)', 'loss_weight', PEER_WEIGHTS),
    pkd=_peer('pkd', 'PKD', 'loss_weight', PEER_WEIGHTS),
    cwd=_peer('cwd', 'CWD', 'loss_weight', PEER_WEIGHTS),
    mgd=_peer('mgd', 'MGD', 'alpha_mgd', MGD_WEIGHTS),
)
#: The rows ``sekd-mm distill --search`` compares by default: every method
#: with a level choice.
SEARCH_METHODS = ('sekd', 'sekd_v', 'pkd', 'cwd', 'mgd', 'fitnet')


def recipe(name: str) -> Recipe:
    """The recipe ``name``; ``ValueError`` naming the valid ones."""
    if name not in RECIPES:
        raise ValueError(f'unknown method {name!r}; valid: '
                         f'{", ".join(RECIPES)}')
    return RECIPES[name]


def recipe_config(name: str, detector: str = 'retinanet') -> str:
    """The config of method ``name`` for the embedded pair of
    ``detector`` (``'retinanet'`` or ``'faster-rcnn'``), relative to the
    package's ``configs``."""
    return recipe(name).config.replace('retinanet', detector)


def level_options(label: str, level_key: str, levels: Optional[str],
                  names: Sequence[str] = EMBEDDED_LEVELS) -> List[str]:
    """cfg-options that keep only the FPN levels of the ``levels`` choice
    (a key of :func:`level_choices`; None: the config's) of the method
    ``label`` whose levels are chosen through ``level_key``
    (:class:`Recipe`), on a pair whose FPN outputs are ``names``."""
    if levels is None:
        return []
    choices = level_choices(names)
    if levels not in choices:
        raise ValueError(f'levels must be one of {sorted(choices)}, '
                         f'got {levels!r}')
    if not level_key:
        raise ValueError(f'{label} has no level choice')
    kept = choices[levels]
    if level_key == 'sekd':
        return ['model.distiller.sekd.levels=(' + ','.join(kept) + ')']
    return [level_key.format(level) + '=0'
            for level in choices['all'] if level not in kept]


def setting_options(label: str, level_key: str, levels: Optional[str] = None,
                    warmup: Optional[int] = None,
                    names: Sequence[str] = EMBEDDED_LEVELS) -> List[str]:
    """cfg-options of the fair protocol's choices (None keeps the
    config's): ``levels`` (:func:`level_options` on the FPN outputs
    ``names``) and ``warmup``, the iterations over which every
    distillation loss ramps up (``model.distill_warmup_iters``)."""
    options = level_options(label, level_key, levels, names)
    if warmup is not None:
        options.append(f'model.distill_warmup_iters={int(warmup)}')
    return options


def parse_cfg_options(options: Sequence[str]) -> dict:
    """``key=value`` strings parsed exactly as ``--cfg-options`` is by
    ``sekd-mm train`` (mmengine's ``DictAction``), ready for
    ``Config.merge_from_dict``."""
    if not options:
        return {}
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def pinned_unit(key: str) -> Optional[float]:
    """What factor 1 sets SEKD's weight ``key`` (one of
    :data:`SEKD_WEIGHTS`) to: the shipped design's weight
    (``sekd_mm.models.utils.SHIPPED``, alpha / beta / gamma = 1.5 / 2.25 /
    2.25), whatever a config ships, so that a factor names the same
    weights in every SEKD run; None for a peer's weight, whose unit is its
    config's value (MMRazor's published one)."""
    if key not in SEKD_WEIGHTS:
        return None
    from sekd_mm.models.utils import SHIPPED
    return float(getattr(SHIPPED, key.rsplit('.', 1)[-1]))


def weight_options(label: str, weights: Sequence[str],
                   options: Sequence[str], config: Union[str, Config],
                   factor: float) -> List[str]:
    """``options`` plus cfg-options that set every loss weight ``weights``
    (dotted keys, ``*`` for every key of a dict) of the method ``label``,
    read from ``config`` (a file or a Config) after the options, to
    ``factor`` times its unit (:func:`pinned_unit`, else the config's
    value); a weight of 0 (an ablated term) stays 0, and a weight already
    at its value gets no option unless it is pinned.

    Raises ``ValueError`` when a weight key matches nothing in the config,
    so that a sweep cannot silently run the default.
    """
    options = list(options)
    if not weights:
        return options
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        config.copy()
    cfg.merge_from_dict(parse_cfg_options(options))
    found: List[Tuple[str, float]] = []
    for pattern in weights:
        found += _expand(cfg, pattern.split('.'), [])
    if len(found) < len(weights):
        where = config if isinstance(config, str) else 'the config'
        raise ValueError(f'{label}: weight keys {tuple(weights)} not all '
                         f'found in {where}')
    for key, value in found:
        unit = pinned_unit(key)
        weight = (value if unit is None else unit) * factor
        # a pinned weight is always written, so that the run does not
        # depend on what the config ships
        if value and (unit is not None or weight != value):
            options.append(f'{key}={weight:g}')
    return options


def _expand(node, parts: List[str],
            prefix: List[str]) -> List[Tuple[str, float]]:
    """(dotted key, value) of every leaf matching ``parts`` (``*`` matches
    every key of a dict)."""
    if not parts:
        return [('.'.join(prefix), float(node))]
    head, rest = parts[0], parts[1:]
    keys = sorted(node) if head == '*' else [head] if head in node else []
    out = []
    for key in keys:
        out += _expand(node[key], rest, prefix + [key])
    return out

