# Copyright (c) sekd-mm contributors. All rights reserved.
"""Test a detector or the student of a distillation checkpoint.

CONFIG is a config file or the name of a shipped config (as for
``sekd-mm train``). With a distillation config (``DetFpnTeacherDistill``),
the student is evaluated (MMRazor's predict mode runs the architecture).

    sekd-mm test CONFIG CHECKPOINT [--work-dir DIR] [--out PKL]
        [--metrics-out JSON] [--threads N] [--cfg-options k=v ...]
        [--launcher pytorch]

(also ``python -m sekd_mm.cli.test`` and ``python tools/test.py``).
"""
import argparse
import json

from mmengine.config import Config

from sekd_mm.cli.args import (add_cfg_options, add_launcher, add_threads,
                              build_runner, command_main, load_config)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='test config file path or name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--metrics-out', help='write the evaluation metrics to a JSON file')
    add_cfg_options(parser)
    add_launcher(parser)
    add_threads(parser, 'this process')


def build_cfg(args: argparse.Namespace) -> Config:
    """The test config of ``args`` (the student's, for a distillation
    config: its teacher is not loaded)."""
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    # The teacher is not needed to test the student.
    if cfg.model.get('teacher_ckpt'):
        cfg.model.teacher_ckpt = None
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--out must be a .pkl file, got {args.out}')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(
            cfg.test_evaluator, dict) else list(cfg.test_evaluator)
        cfg.test_evaluator.append(
            dict(type='DumpDetResults', out_file_path=args.out))
    return cfg


def run(args: argparse.Namespace) -> None:
    runner = build_runner(args, build_cfg)
    metrics = runner.test()
    if args.metrics_out and runner.rank == 0:
        with open(args.metrics_out, 'w', encoding='utf-8') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    main()
