# Copyright (c) sekd-mm contributors. All rights reserved.
"""Train a detector or a distillation algorithm (mmdet's train.py).

CONFIG is a config file, or the name of a config that ships with sekd_mm,
relative to its configs folder (e.g.
``sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py``).

    sekd-mm train CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--seed N] [--threads N] [--cfg-options k=v ...]
        [--launcher pytorch]

(also ``python -m sekd_mm.cli.train``, ``python tools/train.py`` and
``mim train sekd_mm CONFIG --gpus 0``). ``sekd_mm`` is imported before
mmrazor, so its compatibility fixes (``sekd_mm/compat.py``) are in place.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config

from sekd_mm.cli.args import (add_cfg_options, add_launcher, add_threads,
                              build_runner, command_main, load_config)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='train config file path or name')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--seed', type=int, help='random seed')
    add_cfg_options(parser)
    add_launcher(parser)
    add_threads(parser, 'this process')


def build_cfg(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with the command's options applied."""
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.seed is not None:
        cfg.randomness = dict(seed=args.seed)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def check_teacher_ckpt(cfg: Config) -> None:
    """Fail before building anything if a local teacher_ckpt is missing."""
    ckpt = cfg.model.get('teacher_ckpt')
    if ckpt and '://' not in ckpt and not osp.isfile(ckpt):
        where = '' if osp.isabs(ckpt) else \
            f' (relative to the current directory {os.getcwd()})'
        raise SystemExit(
            f'Teacher checkpoint {ckpt!r} not found{where}. Train the teacher '
            'first '
            '(see the comment at the top of the config) or point to it with '
            '--cfg-options model.teacher_ckpt=PATH.')


def run(args: argparse.Namespace) -> None:
    build_runner(args, build_cfg, check_teacher_ckpt).train()


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    main()
