# Copyright (c) sekd-mm contributors. All rights reserved.
"""Builders of real mmdet detectors / MMRazor algorithms for the tests."""
import copy
from typing import Optional

import torch
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

#: Size of the synthetic dataset the tool tests train on.
SMALL = dict(num_train=16, num_val=8)
_BASE = {}


def detector_cfg(arch: str = 'retinanet', depth: int = 50,
                 fpn_channels: int = 256, num_classes: int = 5) -> dict:
    """Official mmdet model config, random init, resized for tests."""
    name = {
        'retinanet': 'retinanet/retinanet_r50_fpn_1x_coco.py',
        'faster_rcnn': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    }[arch]
    if name not in _BASE:
        _BASE[name] = get_config(f'mmdet::{name}').model.to_dict()
    cfg = copy.deepcopy(_BASE[name])
    cfg['backbone'].update(depth=depth, init_cfg=None)
    cfg['neck']['out_channels'] = fpn_channels
    if depth in (18, 34):  # basic blocks
        cfg['neck']['in_channels'] = [64, 128, 256, 512]
    if arch == 'retinanet':
        cfg['bbox_head'].update(
            num_classes=num_classes, in_channels=fpn_channels,
            feat_channels=fpn_channels)
    else:
        cfg['rpn_head']['in_channels'] = fpn_channels
        cfg['roi_head']['bbox_roi_extractor']['out_channels'] = fpn_channels
        cfg['roi_head']['bbox_head'].update(
            num_classes=num_classes, in_channels=fpn_channels)
    cfg['_scope_'] = 'mmdet'
    return cfg


def fpn_recorders() -> dict:
    return dict(fpn=dict(type='ModuleOutputs', source='neck'))


def sekd_algorithm(student: dict, teacher: dict, sekd: Optional[dict] = None,
                   algorithm: str = 'FpnTeacherDistill',
                   algorithm_kwargs: Optional[dict] = None,
                   **distiller_kwargs):
    """``algorithm`` (MMRazor's ``FpnTeacherDistill`` or our
    ``DetFpnTeacherDistill``, with ``algorithm_kwargs``) with
    ``SEKDDistiller`` on all 5 FPN levels."""
    spec = dict(levels=('p3', 'p4', 'p5', 'p6', 'p7'), k=4)
    spec.update(sekd or {})
    distiller = dict(
        type='SEKDDistiller',
        student_recorders=fpn_recorders(),
        teacher_recorders=fpn_recorders(),
        sekd=spec)
    distiller.update(distiller_kwargs)
    return build_model(
        dict(
            type=algorithm,
            architecture=student,
            teacher=teacher,
            distiller=distiller,
            data_preprocessor=dict(
                type='mmdet.DetDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True,
                pad_size_divisor=32),
            **(algorithm_kwargs or {})))


def build_model(cfg: dict):
    """``MODELS.build`` in the mmrazor scope, whatever scope is current."""
    with DefaultScope.overwrite_default_scope('mmrazor'):
        return MODELS.build(cfg)


def demo_batch(algorithm, batch_size: int = 2, size: int = 64,
               num_classes: int = 5, seed: int = 0):
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(seed)
    packed = demo_mm_inputs(
        batch_size=batch_size,
        image_shapes=[(3, size, size)] * batch_size,
        num_items=[3] * batch_size,
        num_classes=num_classes)
    return algorithm.data_preprocessor(packed, True)
