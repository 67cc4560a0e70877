# Copyright (c) sekd-mm contributors. All rights reserved.
"""The models of ``sekd-mm distill --teacher CFG --student CFG``: any
MMDetection detector pair with FPN necks, given as config files or
``mmdet::`` model-zoo names.

- :func:`load_pair` resolves both configs and checks, before anything
  trains, that each has an FPN-style neck (``neck`` with ``out_channels``
  and ``num_outs``), that both FPNs output the same levels
  (:func:`fpn_level_names`: output ``i`` of an FPN with ``start_level``
  ``s`` is ``p{s + 2 + i}``, RetinaNet P3-P7, Faster R-CNN P2-P6) and that
  each backbone initialisation the run needs can be loaded offline
  (:func:`check_init`).
- :meth:`Pair.model` gives each role's model config: the teacher, the
  student alone, or a ``DetFpnTeacherDistill`` of a method (SEKD, its
  vertex term, PKD, CWD, MGD, FitNet) whose distiller is built for the
  pair's levels and channels (:func:`sekd_distiller`,
  :func:`peer_distiller`: connectors exactly when the channels differ).

The unit weights are the shipped ones, so that a search's factor means
the same on every pair: SEKD's shipped design (``sekd_spec`` of
``configs/_base_/distill/sekd_fpn256.py``, read from there) and the
peers' published weights and distillers (:data:`PEERS_BASE`, the base
config of ``configs/peers/``, read from there).
"""
import copy
import os.path as osp
import runpy
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple
from urllib.parse import urlparse

from mmengine.config import Config

from sekd_mm.utils import config_path

#: The peers' FPN distillers, MMRazor's losses with their published
#: weights: this shipped base config, which the configs of
#: ``configs/peers/`` inherit, holds them once. MMEngine's ``Config`` drops
#: a config's functions, so its builder is read by running the file.
PEERS_BASE = '_base_/distill/peers.py'
_PEERS = runpy.run_path(config_path(PEERS_BASE))
#: MMRazor's FPN feature-distillation losses, one per FPN level
#: (``loss_<method>_<level>``), with their (student, teacher) arguments:
#: ``_LOSSES`` of :data:`PEERS_BASE`.
PEER_LOSSES: Dict[str, Tuple[dict, Tuple[str, str]]] = _PEERS['_LOSSES']
#: The FPN outputs every distiller reads (MMRazor's recorder of the neck).
FPN_RECORDERS: dict = _PEERS['_RECORDERS']
#: The methods a pair is distilled with (``sekd_v`` is SEKD's distiller;
#: its recipe sets beta = gamma = 0).
PAIR_METHODS = ('sekd', 'sekd_v') + tuple(PEER_LOSSES)
#: The SEKD spec of every SEKD config, read from this shipped base.
SEKD_BASE = '_base_/distill/sekd_fpn256.py'


class PairError(ValueError):
    """A teacher or student config the command cannot distil; the message
    names the fix."""


def linear_connector(student_channels: int, teacher_channels: int) -> dict:
    """A 1x1 ``ConvModuleConnector`` from the student's FPN width to the
    teacher's, linear (``act_cfg=None``): MMRazor's default ReLU would clip
    the student's maps to >= 0 while FPN maps are signed. The one of
    :data:`PEERS_BASE` (``_linear_connector``), which the peers use."""
    return _PEERS['_linear_connector'](student_channels, teacher_channels)


def peer_distiller(method: str, levels: Sequence[str],
                   student_channels: int, teacher_channels: int) -> dict:
    """MMRazor's ``ConfigurableDistiller`` of the peer ``method`` (a key of
    :data:`PEER_LOSSES`) on the FPN outputs ``levels`` (the i-th name is
    output i), built by :data:`PEERS_BASE`'s ``_peer_distiller``: one loss
    per level, ``loss_<method>_<level>``; MGD gets its ``MGDConnector`` per
    level, the others a linear 1x1 ``ConvModuleConnector`` per level when
    the channel counts differ."""
    return copy.deepcopy(_PEERS['_peer_distiller'](
        method, tuple(levels), student_channels, teacher_channels))


def sekd_distiller(levels: Sequence[str], student_channels: int,
                   teacher_channels: int) -> dict:
    """SEKD's ``SEKDDistiller`` on the FPN outputs ``levels`` with the
    shipped design (:data:`SEKD_BASE`), and a :func:`linear_connector`
    when the channel counts differ."""
    spec = Config.fromfile(config_path(SEKD_BASE)).sekd_spec.to_dict()
    sekd = dict(levels=tuple(levels), **spec)
    if student_channels != teacher_channels:
        sekd['student_connectors'] = linear_connector(student_channels,
                                                      teacher_channels)
    return dict(type='SEKDDistiller', student_recorders=FPN_RECORDERS,
                teacher_recorders=FPN_RECORDERS, sekd=sekd)


def fpn_level_names(neck: dict) -> Tuple[str, ...]:
    """The names of an FPN's outputs: output ``i`` of a neck with
    ``start_level`` ``s`` (default 0) is ``p{s + 2 + i}``, for its
    ``num_outs`` outputs (RetinaNet's FPN: P3-P7)."""
    start = int(neck.get('start_level', 0))
    return tuple(f'p{start + 2 + i}' for i in range(int(neck['num_outs'])))


# --- the backbone initialisation --------------------------------------------
def _init_url(checkpoint: str) -> Optional[str]:
    """The download URL behind an MMEngine checkpoint name, None for a
    local path."""
    from mmengine.runner.checkpoint import (get_deprecated_model_names,
                                            get_external_models,
                                            get_mmcls_models)
    if checkpoint.startswith(('http://', 'https://')):
        return checkpoint
    if checkpoint.startswith('torchvision://'):
        try:
            from mmengine.runner.checkpoint import get_torchvision_models
            urls = get_torchvision_models()
        except ImportError:
            raise PairError('torchvision is not installed') from None
        return urls.get(checkpoint[len('torchvision://'):], checkpoint)
    for prefix, table in (('open-mmlab://', get_external_models),
                          ('openmmlab://', get_external_models),
                          ('mmcls://', get_mmcls_models)):
        if checkpoint.startswith(prefix):
            name = checkpoint[len(prefix):]
            name = get_deprecated_model_names().get(name, name)
            return table().get(name, checkpoint)
    if '://' in checkpoint:
        return checkpoint
    return None


def check_init(model: dict, role: str, flag: str) -> None:
    """Raise :class:`PairError` unless the backbone initialisation of
    ``model`` (``backbone.init_cfg``, e.g. ``Pretrained`` from
    ``torchvision://resnet50``) can be loaded offline: a local file that
    exists, or a download already in the torch hub cache
    (``torch.hub.get_dir()/checkpoints``, where MMEngine looks). ``flag``
    is the command's option that replaces it."""
    import torch
    init = (model.get('backbone') or {}).get('init_cfg')
    if not init or init.get('type') != 'Pretrained':
        return
    checkpoint = init['checkpoint']
    fix = (f'give {flag} PATH (a local checkpoint of the backbone) or '
           f'{flag} none (train the backbone from scratch)')
    try:
        url = _init_url(checkpoint)
    except PairError as err:
        raise PairError(
            f'the {role} backbone is initialised from {checkpoint} and '
            f'{err}: {fix}.') from None
    if url is None:
        if not osp.isfile(checkpoint):
            raise PairError(
                f'the {role} backbone is initialised from {checkpoint}, '
                f'which does not exist ({osp.abspath(checkpoint)}): {fix}.')
        return
    if '://' in url and not url.startswith(('http://', 'https://')):
        raise PairError(f'the {role} backbone is initialised from '
                        f'{checkpoint}, which cannot be checked offline: '
                        f'{fix}.')
    cache = osp.join(torch.hub.get_dir(), 'checkpoints',
                     osp.basename(urlparse(url).path))
    if not osp.isfile(cache):
        raise PairError(
            f'the {role} backbone is initialised from {checkpoint} ({url}), '
            f'which is not in the torch hub cache ({cache}): download it '
            f'there once (python -c "import torch; torch.hub.'
            f'load_state_dict_from_url(\'{url}\')"), or {fix}.')


def set_init(model: dict, init: Optional[str]) -> dict:
    """A copy of ``model`` whose backbone is initialised from ``init``:
    None keeps the config's, ``'none'`` trains it from scratch, anything
    else is a checkpoint (``Pretrained``)."""
    model = copy.deepcopy(model)
    if init is None or 'backbone' not in model:
        return model
    model['backbone']['init_cfg'] = None if init.lower() == 'none' else \
        dict(type='Pretrained', checkpoint=init)
    return model


# --- the pair ---------------------------------------------------------------
@dataclass
class Detector:
    """One side of the pair.

    Attributes:
        name: the config as given (a file or an ``mmdet::`` name).
        model: its ``model`` config dict (``_scope_`` set to its default
            scope, so that it builds inside an MMRazor algorithm).
        levels: its FPN outputs' names (:func:`fpn_level_names`).
        channels: its FPN's ``out_channels``.
    """
    name: str
    model: dict
    levels: Tuple[str, ...]
    channels: int


def load_detector(name: str, role: str) -> Detector:
    """The detector config ``name`` (a file, or ``<package>::<path>`` of
    a model zoo, e.g. ``mmdet::retinanet/retinanet_r18_fpn_1x_coco.py``)
    as the pair's ``role`` (``'teacher'`` or ``'student'``).

    Raises:
        PairError: no such file or zoo name, no model, or no FPN neck.
    """
    flag = f'--{role}'
    if '::' in name:
        from mmengine.hub import get_config
        try:
            cfg = get_config(name)
        except (FileNotFoundError, ModuleNotFoundError, KeyError,
                AssertionError) as err:  # mmengine asserts a known package
            package, path = name.split('::', 1)
            raise PairError(
                f'{flag} {name}: no such config in the {package} model zoo '
                f'({err}). Give a zoo config path as in the {package} '
                f'configs folder (list them with `mim search {package} '
                f'--model {path.split("/")[0]}`), or a config file.'
            ) from None
    else:
        if not osp.isfile(name):
            raise PairError(f'{flag} {name}: no such config file (looked '
                            f'for {osp.abspath(name)}); give a config file '
                            'or an mmdet:: model-zoo name such as '
                            'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py.')
        cfg = Config.fromfile(name)
    model = cfg.get('model')
    if not isinstance(model, dict) or 'type' not in model:
        raise PairError(f'{flag} {name} has no detector `model`.')
    model = model.to_dict() if hasattr(model, 'to_dict') else dict(model)
    model.setdefault('_scope_', cfg.get('default_scope') or 'mmdet')
    neck = model.get('neck')
    if not isinstance(neck, dict) or not {'out_channels', 'num_outs'} <= \
            set(neck):
        raise PairError(
            f'the {role} {name} has no FPN-style neck (model.neck with '
            f'out_channels and num_outs; it has {neck!r}): every method '
            'distils FPN outputs. Give a detector with an FPN neck '
            '(RetinaNet, Faster R-CNN, FCOS, ...).')
    return Detector(name, model, fpn_level_names(neck),
                    int(neck['out_channels']))


@dataclass
class Pair:
    """A teacher and a student of the same FPN levels.

    Attributes:
        teacher: the teacher (:class:`Detector`).
        student: the student.
    """
    teacher: Detector
    student: Detector

    @property
    def levels(self) -> Tuple[str, ...]:
        """The distilled FPN outputs' names."""
        return self.student.levels

    def distiller(self, method: str) -> dict:
        """The distiller of ``method`` (one of :data:`PAIR_METHODS`) for
        this pair's levels and channels."""
        s, t = self.student.channels, self.teacher.channels
        if method in ('sekd', 'sekd_v'):
            return sekd_distiller(self.levels, s, t)
        if method in PEER_LOSSES:
            return peer_distiller(method, self.levels, s, t)
        raise PairError(f'method {method!r} is not offered for a '
                        f'--teacher/--student pair; choose of '
                        f'{", ".join(PAIR_METHODS)}.')

    def model(self, role: str, template: dict) -> dict:
        """The model config of ``role``: ``'teacher'``, ``'alone'`` (the
        student) or a method of :data:`PAIR_METHODS`, whose
        ``DetFpnTeacherDistill`` keeps the ``template``'s other keys (the
        embedded config's ``distill_warmup_iters``, ``teacher_ckpt``, ...)
        with this pair's student, teacher (its weights come from
        ``teacher_ckpt``: no backbone initialisation) and distiller."""
        if role == 'teacher':
            return copy.deepcopy(self.teacher.model)
        if role == 'alone':
            return copy.deepcopy(self.student.model)
        model = copy.deepcopy(dict(template))
        model.update(architecture=copy.deepcopy(self.student.model),
                     teacher=set_init(self.teacher.model, 'none'),
                     distiller=self.distiller(role))
        return model

    def labels(self) -> Dict[str, str]:
        """Table row names of the command's stages for this pair."""
        teacher, student = (osp.basename(d.name).rsplit('.py', 1)[0]
                            for d in (self.teacher, self.student))
        return dict(teacher=f'Teacher {teacher}',
                    student_alone=f'Student {student} alone',
                    sekd_student=f'Student {student} + SEKD',
                    pkd_student=f'Student {student} + PKD (MMRazor)')


def load_pair(teacher: str, student: str) -> Pair:
    """Resolve both configs (:func:`load_detector`) and check that their
    FPNs output the same levels.

    Raises:
        PairError: a config the command cannot distil, naming the fix.
    """
    pair = Pair(load_detector(teacher, 'teacher'),
                load_detector(student, 'student'))
    if pair.teacher.levels != pair.student.levels:
        raise PairError(
            f'the teacher {teacher} outputs FPN levels '
            f'{"-".join(pair.teacher.levels)}, the student {student} '
            f'{"-".join(pair.student.levels)}: give models whose FPNs have '
            'the same start_level and num_outs.')
    return pair
