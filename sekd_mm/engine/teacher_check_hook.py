# Copyright (c) sekd-mm contributors. All rights reserved.
"""Refuse to distill from a teacher that is not the one the config names."""
from typing import Dict, Optional, Sequence

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

    - the config gives no ``teacher_ckpt``;
    - the checkpoint's weights do not match the teacher exactly (missing or
      unexpected keys, other shapes), or the teacher does not hold them;
    - the checkpoint records ``meta['dataset_meta']['classes']`` that differ
      from the training dataset's classes.

    It is registered in MMEngine's root ``HOOKS``, so it builds whatever the
    default scope. Add it with
    ``custom_hooks = [dict(type='TeacherCheckHook')]``.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        teacher = getattr(model, 'teacher', None)
        if teacher is None:
            raise TypeError('TeacherCheckHook needs a distillation algorithm '
                            f'with a teacher, got {type(model).__name__}')
        ckpt_path = runner.cfg.model.get('teacher_ckpt')
        if not ckpt_path:
            raise ValueError(
                'The config gives no model.teacher_ckpt: the student would '
                'distill from a random teacher. Train the teacher first and '
                'pass --cfg-options model.teacher_ckpt=PATH.')
        ckpt = CheckpointLoader.load_checkpoint(ckpt_path, map_location='cpu')
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        state = check_teacher_checkpoint(
            teacher, ckpt, ckpt_path,
            classes=getattr(dataset, 'metainfo', {}).get('classes'),
            loaded=True)
        runner.logger.info(f'TeacherCheckHook: teacher weights match '
                           f'{ckpt_path} ({len(state)} tensors).')


class TeacherCheckpointError(ValueError):
    """A teacher checkpoint that does not fit the configured teacher."""


def check_teacher_checkpoint(
        teacher: torch.nn.Module,
        checkpoint: Dict,
        ckpt_path: Optional[str] = None,
        *,
        classes: Optional[Sequence[str]] = None,
        loaded: bool = False,
        what: str = 'the teacher model',
        fix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """The project's one check of a teacher checkpoint against a teacher.

    Used by :class:`TeacherCheckHook` (before training),
    ``tools/distill_dataset.py`` (``--teacher-ckpt``, before anything is
    trained) and ``tools/visualize_crg.py`` (before loading it). In order:

    1. the classes the checkpoint records
       (``meta['dataset_meta']['classes']``) are ``classes`` (when both are
       known; same names, same order);
    2. its weights have exactly the teacher's names (the message points out
       a distillation checkpoint: ``architecture.*`` keys);
    3. and the teacher's shapes (a classifier, ``*_cls*``, of another shape
       is a teacher of another class count);
    4. with ``loaded``: the teacher holds these values (it was initialised
       from the checkpoint).

    Args:
        teacher (nn.Module): The configured teacher.
        checkpoint (dict): The loaded checkpoint (with ``state_dict`` and
            ``meta``) or a bare state dict; ``module.`` prefixes (a wrapped
            model's) are ignored.
        ckpt_path (str, optional): Its path, for the messages.
        classes (Sequence[str], optional): The dataset's classes.
        loaded (bool): Also check the values. Defaults to False.
        what (str): The teacher in the messages, e.g. ``'the teacher.py
            teacher'``. Defaults to ``'the teacher model'``.
        fix (str, optional): What the caller's user should do, replacing
            the default advice at the end of each message.

    Returns:
        dict: The checkpoint's weights (without ``module.`` prefixes).

    Raises:
        TeacherCheckpointError: The first check that fails, and its fix.
    """
    name = f'Teacher checkpoint {ckpt_path or ""}'.rstrip()
    state = checkpoint.get('state_dict', checkpoint)
    state = {(k[7:] if k.startswith('module.') else k): v
             for k, v in state.items()}
    recorded = ((checkpoint.get('meta') or {}).get('dataset_meta')
                or {}).get('classes')
    if recorded is not None and classes is not None and tuple(
            recorded) != tuple(classes):
        raise TeacherCheckpointError(
            f'{name} was trained on classes {tuple(recorded)}, but the '
            f'dataset has {tuple(classes)}. ' +
            (fix or 'Use a teacher trained on this dataset (same classes, '
             'same order).'))
    own = teacher.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    advice = fix or ('Check that model.teacher is the architecture the '
                     'checkpoint was trained with.')
    if missing or unexpected:
        hint = ''
        if any(k.startswith('architecture.') for k in unexpected):
            hint = (' It looks like a distillation checkpoint: export its '
                    'student first (tools/export_student.py).')
        raise TeacherCheckpointError(
            f'{name} does not hold the weights of {what}: {len(missing)} '
            f'missing keys (e.g. {missing[:3]}), {len(unexpected)} '
            f'unexpected keys (e.g. {unexpected[:3]}). {advice}{hint}')
    shapes = [k for k, v in state.items() if own[k].shape != v.shape]
    classifier = [k for k in shapes if '_cls' in k]
    if classifier:
        key = classifier[0]
        raise TeacherCheckpointError(
            f'{name} was trained for another class count: its classifier '
            f'{key!r} has shape {tuple(state[key].shape)}, {what} '
            f'{tuple(own[key].shape)}. ' +
            (fix or 'Use a teacher trained on this dataset, or set the '
             'class count of both models to the dataset\'s '
             '(model.num_classes with DetFpnTeacherDistill).'))
    if shapes:
        key = shapes[0]
        raise TeacherCheckpointError(
            f'{name} does not hold the weights of {what}: {len(shapes)} '
            f'of another shape, e.g. {key!r}: {tuple(state[key].shape)} in '
            f'the checkpoint, {tuple(own[key].shape)} in the teacher. '
            f'{advice}')
    if loaded:
        for key, value in state.items():
            if not torch.equal(own[key].cpu(),
                               value.to(own[key].dtype).cpu()):
                raise TeacherCheckpointError(
                    f'Teacher weight {key!r} differs from {name}: the '
                    'teacher was not initialised from teacher_ckpt.')
    return state
