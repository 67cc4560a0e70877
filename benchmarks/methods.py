# Copyright (c) sekd-mm contributors. All rights reserved.
"""The distillation methods compared by the accuracy study and the cost
benchmark: one config per method (plus cfg-options for SEKD's vertex term
alone and the peers' level choice), for the embedded RetinaNet R-34 -> R-18
w32 pair (and the same pair of Faster R-CNNs, :meth:`Method.config`) and
for the COCO RetinaNet R-101 -> R-50 pair. Every entry is an ordinary config
that ``tools/train.py`` runs as is.
"""
import os.path as osp
from typing import List, NamedTuple, Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Detectors of the embedded study; each has every method's config with
#: ``retinanet`` replaced by its name (``configs/*/*faster-rcnn*``).
DETECTORS = ('retinanet', 'faster-rcnn')
#: Students of the embedded study (the first is the default): each has
#: every method's config with ``r18-w32`` replaced by its name (RetinaNet
#: only for the other two, ``configs/*/*retinanet*_r18-w16_*``).
STUDENTS = {'r18-w32': 'R-18 w32 (FPN 64)',
            'r18-w16': 'R-18 w16 (FPN 32)',
            'mbv2': 'MobileNetV2 (FPN 64)'}
#: The study's default student, whose run keys and tables name no student.
DEFAULT_STUDENT = next(iter(STUDENTS))


def student_suffix(student: str) -> str:
    """``_<student>`` in the names of a study of a student other than
    :data:`DEFAULT_STUDENT` (split directories, run keys, tables), else
    ''."""
    return '' if student == DEFAULT_STUDENT else f'_{student}'


#: The weights a loss-weight sweep scales, per kind of method: dotted config
#: keys, ``*`` standing for every key of that dict (e.g. every level's loss).
SEKD_WEIGHTS = ('model.distiller.sekd.alpha', 'model.distiller.sekd.beta',
                'model.distiller.sekd.gamma')
PEER_WEIGHTS = ('model.distiller.distill_losses.*.loss_weight', )
MGD_WEIGHTS = ('model.distiller.distill_losses.*.alpha_mgd', )


class Method(NamedTuple):
    """A row of the study.

    Attributes:
        label: the name shown in tables and plots.
        embedded: config for the embedded dataset.
        coco: config (or ``mmdet::`` config) for COCO RetinaNet R-101->R-50.
        options: cfg-options applied on top of either config.
        weights: the config keys a loss-weight sweep multiplies (see
            :func:`weight_options`); empty for the student alone.
        tuned_as: an ablation takes the weight factor tuned for this
            method (e.g. ``'sekd'``: remove terms, keep the other weights).
        level_key: how the distilled FPN levels are chosen
            (:meth:`setting`): ``'sekd'`` (SEKD's ``levels``), a cfg key
            with ``{}`` for the level whose weight 0 leaves a peer's level
            out, or empty (no level choice: EGA pools every level).
    """
    label: str
    embedded: str
    coco: str
    options: Tuple[str, ...] = ()
    weights: Tuple[str, ...] = ()
    tuned_as: str = ''
    level_key: str = ''

    @property
    def distills(self) -> bool:
        return self.coco.startswith('configs/')

    def config(self, detector: str = 'retinanet',
               student: str = 'r18-w32') -> str:
        """The embedded config of this method for ``detector`` (one of
        :data:`DETECTORS`) and ``student`` (one of :data:`STUDENTS`);
        ``ValueError`` if that config does not exist."""
        if detector not in DETECTORS:
            raise ValueError(f'unknown detector {detector!r}; valid: '
                             f'{", ".join(DETECTORS)}')
        if student not in STUDENTS:
            raise ValueError(f'unknown student {student!r}; valid: '
                             f'{", ".join(STUDENTS)}')
        path = self.embedded.replace('retinanet', detector).replace(
            'r18-w32', student)
        if not osp.exists(osp.join(REPO, path)):
            raise ValueError(f'{self.label} has no {detector} config for '
                             f'the student {student} ({path} does not '
                             f'exist)')
        return path

    def setting(self, levels: Optional[str] = None,
                warmup: Optional[int] = None) -> 'Method':
        """This method with the fair protocol's choices applied (None keeps
        the config's): ``levels`` one of :data:`LEVEL_CHOICES` (the embedded
        models' FPN levels), ``warmup`` the iterations over which every
        distillation loss ramps up (``model.distill_warmup_iters``)."""
        options = list(self.options)
        if levels is not None:
            if levels not in LEVEL_CHOICES:
                raise ValueError(f'levels must be one of '
                                 f'{sorted(LEVEL_CHOICES)}, got {levels!r}')
            if not self.level_key:
                raise ValueError(f'{self.label} has no level choice')
            kept = LEVEL_CHOICES[levels]
            if self.level_key == 'sekd':
                options.append(_levels_option(kept))
            else:
                options += [self.level_key.format(level) + '=0'
                            for level in LEVEL_CHOICES['all']
                            if level not in kept]
        if warmup is not None:
            options.append(f'model.distill_warmup_iters={int(warmup)}')
        return self._replace(options=tuple(options))


#: The distilled FPN levels every tuned row is offered (embedded models):
#: all five, or without the two smallest (2 x 2 and 1 x 1 at 96 px).
LEVEL_CHOICES = dict(all=('p2', 'p3', 'p4', 'p5', 'p6'),
                     no_small=('p2', 'p3', 'p4'))
#: The warm-up choices: none, or the embedded schedule's LR warm-up.
WARMUP_CHOICES = (0, 100)

_SEKD = 'configs/sekd/sekd_retinanet_{}.py'
_EGA = 'configs/ega/{}_retinanet_{}.py'
_PEER = 'configs/peers/{}_retinanet_{}.py'
EMBEDDED = 'r34_retinanet_r18-w32_synthetic'
COCO = 'r101_retinanet_r50_2x_coco'


def _levels_option(levels: Tuple[str, ...]) -> str:
    """The cfg-option setting SEKD's ``levels`` to the tuple ``levels``."""
    return 'model.distiller.sekd.levels=(' + ','.join(levels) + ')'


def _sekd(**options) -> Tuple[str, ...]:
    """cfg-options that change keys of the SEKD config's ``sekd`` dict."""
    return tuple(f'model.distiller.sekd.{key}={value}'
                 for key, value in options.items())


def _peer(peer: str, label: str, weight_key: str,
          weights: Tuple[str, ...]) -> Method:
    """MMRazor's ``peer`` loss on every FPN level (``loss_<peer>_<level>``),
    its levels chosen through the weight ``weight_key`` of each."""
    return Method(
        label, _PEER.format(peer, EMBEDDED), _PEER.format(peer, COCO),
        weights=weights, level_key='model.distiller.distill_losses.'
        f'loss_{peer}_{{}}.{weight_key}')


def _no_small(method: Method, tuned_as: str) -> Method:
    """``method`` without the two smallest FPN levels, tuned as
    ``tuned_as``."""
    return method.setting(levels='no_small')._replace(
        label=f'{method.label} without the two smallest FPN levels',
        tuned_as=tuned_as)


_PEERS = dict(
    fitnet=_peer('fitnet', 'FitNet (MSE)', 'loss_weight', PEER_WEIGHTS),
    pkd=_peer('pkd', 'PKD', 'loss_weight', PEER_WEIGHTS),
    cwd=_peer('cwd', 'CWD', 'loss_weight', PEER_WEIGHTS),
    mgd=_peer('mgd', 'MGD', 'alpha_mgd', MGD_WEIGHTS),
)

METHODS = dict(
    alone=Method('Student alone', 'configs/embedded/retinanet_r18-w32_'
                 'synthetic.py', 'mmdet::retinanet/retinanet_r50_fpn_2x_'
                 'coco.py'),
    sekd=Method('SEKD (V+E+S)', _SEKD.format(EMBEDDED), _SEKD.format(COCO),
                weights=SEKD_WEIGHTS, level_key='sekd'),
    # SEKD's vertex term alone (PKD's normalised loss on SEKD's levels, with
    # SEKD's warm-up): what the graph terms are measured against
    sekd_v=Method('SEKD V only (beta = gamma = 0)', _SEKD.format(EMBEDDED),
                  _SEKD.format(COCO), _sekd(beta=0, gamma=0), SEKD_WEIGHTS,
                  'sekd', 'sekd'),
    ega=Method('EGA', _EGA.format('ega', EMBEDDED), _EGA.format('ega', COCO),
               weights=PEER_WEIGHTS),
    sekd_ega=Method('SEKD + EGA', _EGA.format('sekd-ega', EMBEDDED),
                    _EGA.format('sekd-ega', COCO),
                    weights=SEKD_WEIGHTS + PEER_WEIGHTS),
    **_PEERS,
    # the peers without the two smallest levels (the choice SEKD's
    # embedded configs make, given to them too)
    **{f'{peer}_no_small': _no_small(_PEERS[peer], peer)
       for peer in ('pkd', 'cwd', 'mgd')},
)

#: The commit that still builds the graph candidates of 2026-12-03 to
#: 2026-12-05 (docs/design_log.md), whose runs the committed records hold.
REMOVED_TAG = 'graph-candidates-2026-12-05'

#: The teacher of every embedded distillation config above (for Faster
#: R-CNN: ``retinanet`` replaced, as in :meth:`Method.config`).
EMBEDDED_TEACHER = 'configs/embedded/retinanet_r34_synthetic.py'


def teacher_config(detector: str = 'retinanet') -> str:
    """The embedded teacher config of ``detector``."""
    return Method('Teacher', EMBEDDED_TEACHER, '').config(detector)


def parse_cfg_options(options) -> dict:
    """``key=value`` strings (a method's ``options``) parsed exactly as
    ``--cfg-options`` is by ``tools/train.py`` (mmengine's ``DictAction``),
    ready for ``Config.merge_from_dict``."""
    import argparse

    from mmengine.config import DictAction
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
    weights in every recorded SEKD run; None for a peer's weight, whose
    unit is its config's value (MMRazor's published one)."""
    if key not in SEKD_WEIGHTS:
        return None
    from sekd_mm.models.utils import SHIPPED
    return float(getattr(SHIPPED, key.rsplit('.', 1)[-1]))


def weight_options(method: Method, config: str, factor: float) -> List[str]:
    """``method.options`` plus cfg-options that set every loss weight of
    ``method`` (its ``weights`` keys, read from ``config`` after the
    options) to ``factor`` times its unit (:func:`pinned_unit`, else the
    config's value); a weight of 0 (an ablated term) stays 0, and a weight
    already at its value gets no option unless it is pinned.

    Raises ``ValueError`` when a weight key matches nothing in the config,
    so that a sweep cannot silently run the default.
    """
    options = list(method.options)
    if not method.weights:
        return options
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(parse_cfg_options(options))
    found = []
    for pattern in method.weights:
        found += _expand(cfg, pattern.split('.'), [])
    if len(found) < len(method.weights):
        raise ValueError(f'{method.label}: weight keys {method.weights} '
                         f'not all found in {config}')
    for key, value in found:
        unit = pinned_unit(key)
        weight = (value if unit is None else unit) * factor
        # a pinned weight is always written, so that the run does not
        # depend on what the config ships
        if value and (unit is not None or weight != value):
            options.append(f'{key}={weight:g}')
    return options


def _expand(node, parts, prefix):
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


def select(names: Optional[List[str]]) -> dict:
    """The methods named (all when ``names`` is empty), in table order;
    an unknown name raises ``ValueError`` listing the valid ones."""
    if not names:
        return dict(METHODS)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f'unknown method(s) {unknown}; valid: '
                         f'{", ".join(METHODS)} (the graph candidates were '
                         f'removed on 2026-12-07; the tag {REMOVED_TAG} '
                         f'runs them)')
    return {n: m for n, m in METHODS.items() if n in names}
