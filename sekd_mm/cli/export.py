# Copyright (c) sekd-mm contributors. All rights reserved.
"""Export the student of a distillation checkpoint as a plain mmdet one.

    sekd-mm export DISTILL_CKPT OUT_CKPT [--config CFG]

(also ``python -m sekd_mm.cli.export`` and ``python
tools/export_student.py``). Keeps the student's weights (``architecture.*``
keys, prefix removed) and ``meta`` (``dataset_meta`` included, so
``init_detector`` knows the classes); drops the teacher, the distiller's
connectors, the optimizer and the message hub. With ``--config`` (the plain
student config, a file or the name of a shipped one) the result is loaded
into that model with ``strict=True`` before it is written.
"""
import argparse
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from sekd_mm.cli.args import command_main
from sekd_mm.utils import find_config

PREFIX = 'architecture.'


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('checkpoint', help='distillation checkpoint')
    parser.add_argument('out', help='output student checkpoint')
    parser.add_argument(
        '--config', help='plain student config to verify the export with')


def run(args: argparse.Namespace) -> None:
    summary = export_student(args.checkpoint, args.out, args.config)
    print(f'Wrote {args.out}: {summary["num_tensors"]} student tensors; '
          f'dropped {summary["dropped"]}')


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    main()
