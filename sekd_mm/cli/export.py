# Copyright (c) sekd-mm contributors. All rights reserved.
"""Export the student of a distillation checkpoint as a plain mmdet one.

    sekd-mm export DISTILL_CKPT OUT_CKPT [--config CFG]
    sekd-mm export DISTILL_CKPT OUT_DIR --distill-config DISTILL_CFG

(also ``python -m sekd_mm.cli.export`` and ``python
tools/export_student.py``). Keeps the student's weights (``architecture.*``
keys, prefix removed) and ``meta`` (``dataset_meta`` included, so
``init_detector`` knows the classes); drops the teacher, the distiller's
connectors, the optimizer and the message hub. With ``--config`` (the plain
student config, a file or the name of a shipped one) the result is loaded
into that model with ``strict=True`` before it is written.

With ``--distill-config`` (the distillation config of the checkpoint) the
plain student config is made from it too: ``OUT_DIR/student.py`` (the
student as ``model``, the data loaders, evaluators and schedule kept, no
teacher, no MMRazor) and ``OUT_DIR/student.pth``, verified against it;
mmdet's own ``tools/test.py`` tests them
(:func:`export_plain_student`).
"""
import argparse
import copy
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from sekd_mm.cli.args import command_main
from sekd_mm.utils import find_config

PREFIX = 'architecture.'
#: The top-level keys of a distillation config that its plain student
#: config keeps (an MMDetection config's, less the model).
PLAIN_KEYS = ('dataset_type', 'data_root', 'backend_args', 'train_pipeline',
              'test_pipeline', 'train_dataloader', 'val_dataloader',
              'test_dataloader', 'val_evaluator', 'test_evaluator',
              'train_cfg', 'val_cfg', 'test_cfg', 'optim_wrapper',
              'param_scheduler', 'auto_scale_lr', 'default_hooks',
              'custom_hooks', 'env_cfg', 'vis_backends', 'visualizer',
              'log_processor', 'log_level', 'randomness')
#: MMEngine's loops that stand for MMRazor's in a plain config.
PLAIN_LOOPS = dict(val_cfg='ValLoop', test_cfg='TestLoop')
#: The files of :func:`export_plain_student` in its folder.
PLAIN_CONFIG, PLAIN_CKPT = 'student.py', 'student.pth'


def export_student(src: str, dst: str, config: Optional[str] = None) -> dict:
    """Write the student checkpoint; returns a summary of what was kept."""
    ckpt = torch.load(src, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    student = OrderedDict((k[len(PREFIX):], v) for k, v in state.items()
                          if k.startswith(PREFIX))
    if not student:
        raise ValueError(
            f'{src} has no {PREFIX!r} weights: it is not a checkpoint of an '
            'MMRazor distillation algorithm (FpnTeacherDistill, ...)')
    dropped = sorted({k.split('.')[0] for k in state
                      if not k.startswith(PREFIX)})
    meta = dict(ckpt.get('meta', {}))
    meta['sekd_mm_export'] = dict(source=osp.basename(src), dropped=dropped)
    if config is not None:
        from mmdet.registry import MODELS
        cfg = Config.fromfile(find_config(config))
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(cfg.model)
        model.load_state_dict(student, strict=True)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(meta=meta, state_dict=student), dst)
    return dict(num_tensors=len(student), dropped=dropped)


def _registered_in(type_name: str) -> Optional[str]:
    """The package whose class the registries of mmdet (and, through
    their parents, MMEngine) resolve ``type_name`` to; None if none."""
    import mmdet.registry
    from mmengine.registry import Registry
    with DefaultScope.overwrite_default_scope('mmdet'):
        for registry in vars(mmdet.registry).values():
            if not isinstance(registry, Registry):
                continue
            try:
                obj = registry.get(type_name)
            except Exception:  # a scope prefix of a package not installed
                obj = None
            if obj is not None:
                return getattr(obj, '__module__', '').split('.')[0]
    return None


def _sekd_hook(hook) -> bool:
    """Whether a hook config is one of sekd_mm's hooks."""
    return isinstance(hook, dict) and isinstance(hook.get('type'), str) \
        and _registered_in(hook['type']) == 'sekd_mm'


def _types(node, found: Optional[list] = None) -> list:
    """Every ``type`` string in a config tree."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            found.append(node['type'])
        for value in node.values():
            _types(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _types(value, found)
    return found


def _student_model(distill: Config) -> dict:
    """The distillation config's ``model.architecture`` as a model config
    (an MMRazor ``cfg_path`` one read from its config, as MMRazor builds
    it)."""
    model = distill.model
    arch = model.get('architecture')
    if arch is None:
        raise ValueError(
            'the config has no model.architecture: it is not a config of an '
            'MMRazor distillation algorithm. Give the distillation config '
            'the checkpoint was trained with.')
    arch = copy.deepcopy(arch.to_dict() if isinstance(arch, ConfigDict) else
                         dict(arch))
    if arch.get('cfg_path') and not arch.get('type'):
        from mmengine.hub import get_config
        cfg_path = arch.pop('cfg_path')
        arch.pop('pretrained', None)
        base = get_config(cfg_path)
        student = base.model.to_dict()
        if 'data_preprocessor' in base:
            student['data_preprocessor'] = base.data_preprocessor.to_dict()
        for key, value in arch.items():  # defaults, as mmengine's get_model
            student.setdefault(key, value)
        student.setdefault('_scope_', cfg_path.split('::')[0])
        arch = student
    if model.get('data_preprocessor') and 'data_preprocessor' not in arch:
        arch['data_preprocessor'] = copy.deepcopy(
            dict(model.data_preprocessor))
    return arch


def plain_student_config(distill_config: str) -> Config:
    """The plain MMDetection config of the student of ``distill_config``
    (a file or the name of a shipped config): its ``model.architecture``
    as ``model``, ``default_scope='mmdet'``, its data loaders, pipelines,
    evaluators, loops (MMRazor's distillation val loop as MMEngine's
    ``ValLoop``), schedule and hooks; without the teacher, the distiller,
    ``load_from`` and sekd_mm's hooks (teacher check, RNG state, the
    search's pruning: they serve distillation runs). ``custom_imports``
    keeps ``sekd_mm`` only when a type of the config is registered by it
    (the embedded dataset, its lr schedule).

    Raises:
        ValueError: not a distillation config, or the student config
            would still need MMRazor.
    """
    distill = Config.fromfile(find_config(distill_config))
    plain = dict(model=_student_model(distill), default_scope='mmdet')
    for key in PLAIN_KEYS:
        if key in distill:
            value = distill[key]
            plain[key] = copy.deepcopy(value.to_dict() if isinstance(
                value, ConfigDict) else value)
    if 'default_hooks' in plain:
        plain['default_hooks'] = {
            name: hook for name, hook in plain['default_hooks'].items()
            if not _sekd_hook(hook)}
    custom = [h for h in plain.pop('custom_hooks', []) if not _sekd_hook(h)]
    if custom:
        plain['custom_hooks'] = custom
    for key, loop in PLAIN_LOOPS.items():
        if key in plain and _registered_in(str(plain[key].get(
                'type'))) == 'mmrazor':
            plain[key] = dict(plain[key], type=loop)
    packages = {t: _registered_in(t) for t in set(_types(plain))}
    razor = sorted(t for t, p in packages.items() if p == 'mmrazor')
    if razor:
        raise ValueError(
            f'the student config of {distill_config} would still use '
            f'MMRazor types {razor}: make the distillation config\'s student '
            'and its data settings plain MMDetection ones')
    imports = [m for m in distill.get('custom_imports', {}).get(
        'imports', []) if m.split('.')[0] != 'sekd_mm']
    if 'sekd_mm' in packages.values():
        imports.append('sekd_mm')
    if imports:
        plain['custom_imports'] = dict(imports=imports,
                                       allow_failed_imports=False)
    return Config(plain)


def export_plain_student(distill_config: str, distill_ckpt: str,
                         out_dir: str) -> dict:
    """Write the plain MMDetection student of a distillation run:
    ``out_dir/student.py`` (:func:`plain_student_config` of
    ``distill_config``) and ``out_dir/student.pth``
    (:func:`export_student` of ``distill_ckpt``, loaded into that config's
    model with ``strict=True`` first). mmdet's ``tools/test.py`` (``mim
    test mmdet``) takes the two as they are.

    Returns:
        dict: ``config`` and ``checkpoint``, the two files' paths.

    Raises:
        ValueError: see :func:`plain_student_config`; a checkpoint without
            a student.
        RuntimeError: the student's weights do not fit the config's model.
    """
    os.makedirs(out_dir, exist_ok=True)
    config = osp.join(out_dir, PLAIN_CONFIG)
    checkpoint = osp.join(out_dir, PLAIN_CKPT)
    plain_student_config(distill_config).dump(config)
    export_student(distill_ckpt, checkpoint, config)
    return dict(config=config, checkpoint=checkpoint)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('checkpoint', help='distillation checkpoint')
    parser.add_argument(
        'out', help='output student checkpoint; with --distill-config the '
        f'folder of {PLAIN_CONFIG} and {PLAIN_CKPT}')
    verify = parser.add_mutually_exclusive_group()
    verify.add_argument(
        '--config', help='plain student config to verify the export with')
    verify.add_argument(
        '--distill-config', metavar='DISTILL_CFG',
        help=f'the distillation config of the checkpoint: write OUT/'
        f'{PLAIN_CONFIG}, the plain mmdet config of its student, and OUT/'
        f'{PLAIN_CKPT}, verified against it')


def run(args: argparse.Namespace) -> None:
    if args.distill_config is not None:
        files = export_plain_student(args.distill_config, args.checkpoint,
                                     args.out)
        print(f'Wrote {files["config"]} and {files["checkpoint"]}: test '
              f'them with mmdet\'s tools/test.py {files["config"]} '
              f'{files["checkpoint"]}')
        return
    summary = export_student(args.checkpoint, args.out, args.config)
    print(f'Wrote {args.out}: {summary["num_tensors"]} student tensors; '
          f'dropped {summary["dropped"]}')


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    main()
