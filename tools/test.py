# Copyright (c) sekd-mm contributors. All rights reserved.
"""Test a detector or the student of a distillation checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PKL]
        [--metrics-out JSON] [--threads N] [--cfg-options k=v ...]
        [--launcher pytorch]

With a distillation config (``DetFpnTeacherDistill``), the student is
evaluated (MMRazor's predict mode runs the architecture).
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import sekd_mm  # noqa: F401  (compat fixes before mmrazor; registration)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--metrics-out', help='write the evaluation metrics to a JSON file')
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


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # The teacher is not needed to test the student.
    if cfg.model.get('teacher_ckpt'):
        cfg.model.teacher_ckpt = None
    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), \
            '--out must be a .pkl file'
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(
            cfg.test_evaluator, dict) else list(cfg.test_evaluator)
        cfg.test_evaluator.append(
            dict(type='DumpDetResults', out_file_path=args.out))

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    metrics = runner.test()
    if args.metrics_out and runner.rank == 0:
        with open(args.metrics_out, 'w', encoding='utf-8') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    main()
