# Copyright (c) sekd-mm contributors. All rights reserved.
"""The distillation methods compared by the accuracy study and the cost
benchmark: one config per method (plus cfg-options for the SEKD
ablations), for the embedded RetinaNet R-34 -> R-18 w32 pair and for the
COCO RetinaNet R-101 -> R-50 pair. Every entry is an ordinary config that
``tools/train.py`` runs as is.
"""
from typing import List, NamedTuple, Optional, Tuple


class Method(NamedTuple):
    """A row of the study.

    Attributes:
        label: the name shown in tables and plots.
        embedded: config for the embedded dataset.
        coco: config (or ``mmdet::`` config) for COCO RetinaNet R-101->R-50.
        options: cfg-options applied on top of either config.
    """
    label: str
    embedded: str
    coco: str
    options: Tuple[str, ...] = ()

    @property
    def distills(self) -> bool:
        return self.coco.startswith('configs/')


_SEKD = 'configs/sekd/sekd_retinanet_{}.py'
_EGA = 'configs/ega/{}_retinanet_{}.py'
_PEER = 'configs/peers/{}_retinanet_{}.py'
EMBEDDED = 'r34_retinanet_r18-w32_synthetic'
COCO = 'r101_retinanet_r50_2x_coco'


def _sekd(beta: float, gamma: float) -> Tuple[str, ...]:
    return (f'model.distiller.sekd.beta={beta}',
            f'model.distiller.sekd.gamma={gamma}')


METHODS = dict(
    alone=Method('Student alone', 'configs/embedded/retinanet_r18-w32_'
                 'synthetic.py', 'mmdet::retinanet/retinanet_r50_fpn_2x_'
                 'coco.py'),
    sekd=Method('SEKD (V+E+S)', _SEKD.format(EMBEDDED), _SEKD.format(COCO)),
    sekd_v=Method('SEKD V only', _SEKD.format(EMBEDDED), _SEKD.format(COCO),
                  _sekd(0, 0)),
    sekd_ve=Method('SEKD V+E', _SEKD.format(EMBEDDED), _SEKD.format(COCO),
                   _sekd(1.0, 0)),
    # not one of the ablations: added once V alone was seen to hurt
    sekd_es=Method('SEKD E+S (no V)', _SEKD.format(EMBEDDED),
                   _SEKD.format(COCO), ('model.distiller.sekd.alpha=0', )),
    ega=Method('EGA', _EGA.format('ega', EMBEDDED), _EGA.format('ega', COCO)),
    sekd_ega=Method('SEKD + EGA', _EGA.format('sekd-ega', EMBEDDED),
                    _EGA.format('sekd-ega', COCO)),
    fitnet=Method('FitNet (MSE)', _PEER.format('fitnet', EMBEDDED),
                  _PEER.format('fitnet', COCO)),
    pkd=Method('PKD', _PEER.format('pkd', EMBEDDED),
               _PEER.format('pkd', COCO)),
    cwd=Method('CWD', _PEER.format('cwd', EMBEDDED),
               _PEER.format('cwd', COCO)),
    mgd=Method('MGD', _PEER.format('mgd', EMBEDDED),
               _PEER.format('mgd', COCO)),
    # MGD's alpha at COCO's per-element scale (see the config); on COCO it
    # is the published MGD.
    mgd_alpha1e3=Method('MGD (alpha 1e-3)',
                        _PEER.format('mgd-alpha1e-3', EMBEDDED),
                        _PEER.format('mgd', COCO)),
)

#: The teacher of every embedded distillation config above.
EMBEDDED_TEACHER = 'configs/embedded/retinanet_r34_synthetic.py'


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


def select(names: Optional[List[str]]) -> dict:
    """The methods named (all when ``names`` is empty), in table order;
    an unknown name raises ``ValueError`` listing the valid ones."""
    if not names:
        return dict(METHODS)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f'unknown method(s) {unknown}; valid: '
                         f'{", ".join(METHODS)}')
    return {n: m for n, m in METHODS.items() if n in names}
