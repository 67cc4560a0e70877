# Copyright (c) sekd-mm contributors. All rights reserved.
"""The distillation methods compared by the accuracy study and the cost
benchmark: one config per method (plus cfg-options for SEKD's vertex term
alone and the peers' level choice), for the embedded RetinaNet R-34 -> R-18
w32 pair (and the same pair of Faster R-CNNs, :meth:`Method.config`) and
for the COCO RetinaNet R-101 -> R-50 pair. Every entry is an ordinary config
that ``tools/train.py`` runs as is.

The rows themselves (configs, options, loss-weight and level keys), the
level and warm-up choices and the weight scaling live in the package
(``sekd_mm.search.methods``, which ``sekd-mm distill --search`` uses);
this module adds the study's COCO configs, students and ablations.
"""
import os.path as osp
from typing import List, NamedTuple, Optional, Tuple

# the generic part lives in the package; its names stay importable here
from sekd_mm.search.methods import (LEVEL_CHOICES, MGD_WEIGHTS,  # noqa: F401
                                    PEER_WEIGHTS, RECIPES, SEARCH_WARMUPS,
                                    SEKD_WEIGHTS, parse_cfg_options,
                                    pinned_unit, setting_options)
from sekd_mm.search.methods import weight_options as _weight_options

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
        options = list(self.options) + setting_options(
            self.label, self.level_key, levels, warmup)
        return self._replace(options=tuple(options))


_COCO = dict(sekd='configs/sekd/sekd_retinanet_{}.py',
             ega='configs/ega/{}_retinanet_{}.py',
             peer='configs/peers/{}_retinanet_{}.py')
COCO = 'r101_retinanet_r50_2x_coco'


def _row(name: str, coco: str, tuned_as: str = '') -> Method:
    """The package's recipe ``name`` (``sekd_mm.search.methods``) as a
    study row, with its COCO config."""
    rec = RECIPES[name]
    return Method(rec.label, 'configs/' + rec.config, coco, rec.options,
                  rec.weights, tuned_as, rec.level_key)


def _no_small(method: Method, tuned_as: str) -> Method:
    """``method`` without the two smallest FPN levels, tuned as
    ``tuned_as``."""
    return method.setting(levels='no_small')._replace(
        label=f'{method.label} without the two smallest FPN levels',
        tuned_as=tuned_as)


_PEERS = {peer: _row(peer, _COCO['peer'].format(peer, COCO))
          for peer in ('fitnet', 'pkd', 'cwd', 'mgd')}

METHODS = dict(
    alone=_row('alone', 'mmdet::retinanet/retinanet_r50_fpn_2x_coco.py'),
    sekd=_row('sekd', _COCO['sekd'].format(COCO)),
    sekd_v=_row('sekd_v', _COCO['sekd'].format(COCO), 'sekd'),
    ega=_row('ega', _COCO['ega'].format('ega', COCO)),
    sekd_ega=_row('sekd_ega', _COCO['ega'].format('sekd-ega', COCO)),
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


def weight_options(method: Method, config: str, factor: float) -> List[str]:
    """``method.options`` plus the cfg-options that set every loss weight
    of ``method`` to ``factor`` times its unit, read from ``config``
    (relative to the repository; ``sekd_mm.search.methods.weight_options``).
    """
    return _weight_options(method.label, method.weights, method.options,
                           osp.join(REPO, config), factor)


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
