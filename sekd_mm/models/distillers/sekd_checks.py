# Copyright (c) sekd-mm contributors. All rights reserved.
"""The checks of :class:`~sekd_mm.models.SEKDDistiller`: its ``sekd`` spec
and connectors when it is built, the recorded models when the algorithm
prepares them, and the losses of every step.

Each error names the fix. What MMRazor checks itself is not repeated here:
a recorder whose ``source`` is not a submodule of its model stops
``RecorderManager.initialize`` (``'"nek" is not in the model.'``), and
``ConfigurableDistiller`` checks ``loss_forward_mappings``.
"""
import dataclasses
import math
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Union

import torch
from mmrazor.models.task_modules import RecorderManager
from mmrazor.registry import MODELS
from torch import Tensor, nn

from ..losses import CRGSpectralLoss
from ..utils import SHIPPED, SEKDDesign

Levels = Dict[str, Optional[int]]
#: The keys of ``sekd`` besides the design's (:class:`SEKDDesign`).
RECORDER_KEYS = ('student_recorder', 'teacher_recorder')
WEIGHTS = ('alpha', 'beta', 'gamma')


class SEKDSpec(NamedTuple):
    """The ``sekd`` dict of a distiller config, checked."""
    student_recorder: str
    teacher_recorder: str
    levels: Levels
    design: SEKDDesign
    connectors: Optional[dict]


def parse_spec(sekd: Mapping, student_recorders: RecorderManager,
               teacher_recorders: RecorderManager) -> SEKDSpec:
    """Check the ``sekd`` dict; the design keys default to :data:`SHIPPED`.

    Raises:
        ValueError: an unknown key, a recorder missing from its manager,
            bad ``levels``, or a weight that is negative or not finite.
    """
    spec = dict(sekd)
    recorders = [spec.pop(key, 'fpn') for key in RECORDER_KEYS]
    levels = parse_levels(spec.pop('levels', None))
    connectors = spec.pop('student_connectors', None)
    fields = [f.name for f in dataclasses.fields(SEKDDesign)]
    design = dataclasses.replace(
        SHIPPED, **{key: spec.pop(key) for key in fields if key in spec})
    if spec:
        raise ValueError(f'Unknown SEKD option(s) {sorted(spec)}; see the '
                         'SEKDDistiller docstring for the keys.')
    for name, manager, side in zip(recorders,
                                   (student_recorders, teacher_recorders),
                                   ('student', 'teacher')):
        check_recorder(name, manager, side)
    for name in WEIGHTS:
        weight = getattr(design, name)
        if not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise ValueError(f'SEKD weight {name} must be a number >= 0, '
                             f'finite, got {weight!r}')
    return SEKDSpec(*recorders, levels, design, connectors)


def parse_levels(
        levels: Union[None, Sequence[str], Mapping[str, Optional[int]]]
) -> Levels:
    """``levels`` as ``{name: output index}``: a sequence maps the i-th name
    to index ``i``, a dict gives the index (``None``: a single tensor)."""
    if not levels:
        raise ValueError("SEKD needs `levels`, e.g. levels=('p3', 'p4', "
                         "'p5', 'p6', 'p7') for the 5 FPN outputs")
    if isinstance(levels, str):
        raise TypeError('levels must be a sequence or dict of level names, '
                        f'got the string {levels!r}')
    if isinstance(levels, Mapping):
        parsed = dict(levels)
    else:
        parsed = {name: i for i, name in enumerate(levels)}
        if len(parsed) != len(levels):
            raise ValueError(f'duplicate level names in {list(levels)}')
    for name, idx in parsed.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f'level names must be identifiers (they appear '
                             f'in loss names), got {name!r}')
        if idx is not None and not isinstance(idx, int):
            raise TypeError(f'level {name!r} index must be an int or None, '
                            f'got {idx!r}')
    return parsed


def check_recorder(name: str, manager: RecorderManager, side: str) -> None:
    """Raise unless the recorder ``name`` is in ``manager`` (MMRazor would
    only raise a bare ``KeyError`` at the first step)."""
    if name not in manager.recorders:
        raise ValueError(
            f'SEKD {side}_recorder {name!r} is not in {side}_recorders '
            f'{sorted(manager.recorders)}. Add it, e.g. '
            f"{side}_recorders=dict({name}=dict(type='ModuleOutputs', "
            f"source='neck')).")


def build_connectors(cfg: Optional[dict], levels: Levels,
                     connectors: nn.ModuleDict) -> Dict[str, str]:
    """Build the student connectors into ``connectors``, one per level, as
    ``sekd_student_{level}``; returns ``{level: connector name}``.

    ``cfg`` is one connector config for every level or a dict ``level ->
    config``. A ``ConvModuleConnector`` without ``act_cfg`` gets
    ``act_cfg=None``: MMRazor's default ReLU would make every student
    channel non-negative while the teacher's FPN maps are signed, so that
    the student's graph could never have negative edges.
    """
    if not cfg:
        return {}
    if 'type' in cfg:
        per_level = {name: cfg for name in levels}
    else:
        unknown = set(cfg) - set(levels)
        if unknown:
            raise ValueError(
                f'student_connectors has unknown level(s) '
                f'{sorted(unknown)}; levels are {list(levels)}')
        per_level = dict(cfg)
    names = {}
    for level, level_cfg in per_level.items():
        level_cfg = dict(level_cfg)
        if level_cfg.get('type') in ('ConvModuleConnector',
                                     'mmrazor.ConvModuleConnector'):
            level_cfg.setdefault('act_cfg', None)
        key = f'sekd_student_{level}'
        if key in connectors:
            raise ValueError(f'connector name {key!r} is reserved for SEKD; '
                             'rename your connector')
        connectors[key] = MODELS.build(level_cfg)
        names[level] = key
    return names


def level_channels(model: nn.Module, manager: RecorderManager,
                   recorder: str, levels: Levels,
                   side: str) -> Dict[str, int]:
    """Channels of each level when the recorded module exposes them
    (mmdet's FPN has ``out_channels`` and ``num_outs``); a level index
    past the module's outputs is refused here, naming ``levels`` (MMRazor
    would stop at the first step on an assertion about ``data_idx``)."""
    source = getattr(manager.recorders[recorder], 'source', None)
    module = dict(model.named_modules()).get(source)
    num_outs = getattr(module, 'num_outs', None)
    channels = getattr(module, 'out_channels', None)
    for name, idx in levels.items():
        if num_outs is not None and idx is not None and not (
                -num_outs <= idx < num_outs):
            raise ValueError(
                f'Unknown SEKD level {name!r}: it maps to output index '
                f'{idx} but the {side} {source!r} has {num_outs} outputs '
                f'(indices 0..{num_outs - 1}). Fix `levels`, e.g. '
                f"levels=('p3', 'p4', 'p5', 'p6', 'p7') for RetinaNet.")
    if not isinstance(channels, int):
        return {}
    return {name: channels for name in levels}


def cross_check(student: Dict[str, int], teacher: Dict[str, int],
                connector_names: Mapping[str, str],
                spectral: Optional[CRGSpectralLoss]) -> None:
    """Raise if a level's student and teacher channels differ without a
    connector, or if the spectral term's ``k`` (``spectral``; ``None``
    when its weight is 0) does not fit the teacher's channels."""
    for name, c_t in teacher.items():
        if spectral is not None:
            spectral.check_channels(c_t)
        c_s = student.get(name)
        if c_s is None or c_s == c_t or name in connector_names:
            continue
        raise ValueError(
            f'SEKD level {name!r}: student has {c_s} channels, teacher '
            f'{c_t}. Add a student connector, e.g. sekd=dict(..., '
            f"student_connectors=dict(type='ConvModuleConnector', "
            f'in_channel={c_s}, out_channel={c_t}, act_cfg=None)).')


def raise_if_not_finite(losses: Dict[str, Tensor]) -> None:
    """Raise ``FloatingPointError`` naming every loss that is NaN or inf,
    before the optimizer step can corrupt the weights."""
    if not losses:
        return
    values = torch.stack([v.detach().float() for v in losses.values()])
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    bad = [k for k, ok in zip(losses, finite.tolist()) if not ok]
    raise FloatingPointError(
        f'Distillation loss(es) {bad} are not finite; stopping before the '
        'optimizer step corrupts the weights. Check the teacher checkpoint, '
        'lower the learning rate or the SEKD weights, or use gradient '
        'clipping.')
