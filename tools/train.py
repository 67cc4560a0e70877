# Copyright (c) sekd-mm contributors. All rights reserved.
"""Train a detector or a distillation algorithm (mmdet's train.py + sekd_mm).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--seed N] [--threads N] [--cfg-options k=v ...]
        [--launcher pytorch]

``sekd_mm`` is imported before anything imports mmrazor, so its
compatibility fixes (see ``sekd_mm/compat.py``) are always in place.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import sekd_mm  # noqa: F401  (compat fixes before mmrazor; registration)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
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
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch CPU threads of this process (default: OMP_NUM_THREADS, '
        'else torch\'s default, all cores); with other jobs on the machine '
        'give each at most cores / jobs')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f'--threads must be >= 1, got {args.threads}')
        torch.set_num_threads(args.threads)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
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


def main():
    args = parse_args()
    cfg = build_cfg(args)
    check_teacher_ckpt(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
