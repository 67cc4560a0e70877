# Copyright (c) sekd-mm contributors. All rights reserved.
"""Refuse to distill from a teacher that is not the one the config names."""
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import CheckpointLoader


@HOOKS.register_module()
class TeacherCheckHook(Hook):
    """Check the teacher of a distillation run before the first step.

    MMRazor's ``SingleTeacherDistill`` loads ``teacher_ckpt`` with
    ``strict=False``: a checkpoint of another architecture only logs missing
    keys, and training silently goes on from a (partly) random teacher.
    Before training, this hook raises with the fix when:

    - the config gives no ``teacher_ckpt`` (unless ``allow_random_teacher``);
    - the checkpoint's weights do not match the teacher exactly (missing or
      unexpected keys, other shapes), or the teacher does not hold them;
    - the checkpoint records ``meta['dataset_meta']['classes']`` that differ
      from the training dataset's classes.

    It is registered in MMEngine's root ``HOOKS``, so it builds whatever the
    default scope. Add it with
    ``custom_hooks = [dict(type='TeacherCheckHook')]``.

    Args:
        allow_random_teacher (bool): Accept a distillation without
            ``teacher_ckpt`` (e.g. for smoke tests). Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_random_teacher: bool = False) -> None:
        self.allow_random_teacher = allow_random_teacher

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        teacher = getattr(model, 'teacher', None)
        if teacher is None:
            raise TypeError('TeacherCheckHook needs a distillation algorithm '
                            f'with a teacher, got {type(model).__name__}')
        ckpt_path = runner.cfg.model.get('teacher_ckpt')
        if not ckpt_path:
            if self.allow_random_teacher:
                runner.logger.warning('Distilling from a RANDOM teacher '
                                      '(no teacher_ckpt).')
                return
            raise ValueError(
                'The config gives no model.teacher_ckpt: the student would '
                'distill from a random teacher. Train the teacher first and '
                'pass --cfg-options model.teacher_ckpt=PATH.')
        ckpt = CheckpointLoader.load_checkpoint(ckpt_path, map_location='cpu')
        state = _strip_module(ckpt.get('state_dict', ckpt))
        check_teacher_weights(teacher, state, ckpt_path)
        classes = (ckpt.get('meta') or {}).get('dataset_meta',
                                                {}).get('classes')
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        data_classes = getattr(dataset, 'metainfo', {}).get('classes')
        if classes is not None and data_classes is not None and tuple(
                classes) != tuple(data_classes):
            raise ValueError(
                f'The teacher {osp.basename(ckpt_path)} was trained on '
                f'classes {tuple(classes)}, but the training dataset has '
                f'{tuple(data_classes)}. Use a teacher trained on this '
                'dataset (same classes, same order).')
        runner.logger.info(f'TeacherCheckHook: teacher weights match '
                           f'{ckpt_path} ({len(state)} tensors).')


def _strip_module(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {(k[7:] if k.startswith('module.') else k): v
            for k, v in state.items()}


def check_teacher_weights(teacher: torch.nn.Module,
                          state: Dict[str, torch.Tensor],
                          ckpt_path: Optional[str] = None) -> None:
    """Raise unless ``teacher`` holds exactly the weights in ``state``."""
    own = teacher.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    name = ckpt_path or 'the checkpoint'
    if missing or unexpected:
        hint = ''
        if any(k.startswith('architecture.') for k in unexpected):
            hint = (' It looks like a distillation checkpoint: export its '
                    'student first (tools/export_student.py).')
        raise ValueError(
            f'Teacher checkpoint {name} does not match the teacher model: '
            f'{len(missing)} missing keys (e.g. {missing[:3]}), '
            f'{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}). '
            'Check that model.teacher is the architecture the checkpoint was '
            f'trained with.{hint}')
    check_teacher_shapes(teacher, state, ckpt_path)
    for key, value in state.items():
        if not torch.equal(own[key].cpu(), value.to(own[key].dtype).cpu()):
            raise ValueError(
                f'Teacher weight {key!r} differs from {name}: the teacher '
                'was not initialised from teacher_ckpt.')


def check_teacher_shapes(teacher: torch.nn.Module,
                         state: Dict[str, torch.Tensor],
                         ckpt_path: Optional[str] = None) -> None:
    """Raise when a weight in ``state`` has another shape than the same
    weight of ``teacher``; a classifier (``*_cls*``) of another shape means
    a teacher trained for another class count, and the message says so.
    Keys that only one side has are not checked here."""
    own = teacher.state_dict()
    name = ckpt_path or 'the checkpoint'
    for key, value in state.items():
        if key not in own or own[key].shape == value.shape:
            continue
        if '_cls' in key:
            raise ValueError(
                f'Teacher checkpoint {name} was trained for another class '
                f'count: its classifier {key!r} has shape '
                f'{tuple(value.shape)}, the configured teacher '
                f'{tuple(own[key].shape)}. Use a teacher trained on this '
                'dataset, or set the class count of both models to the '
                'dataset\'s (model.num_classes with DetFpnTeacherDistill).')
        raise ValueError(
            f'Teacher weight {key!r} of {name} has shape '
            f'{tuple(value.shape)}, the configured teacher '
            f'{tuple(own[key].shape)}: check that model.teacher is the '
            'architecture the checkpoint was trained with.')
