# Copyright (c) sekd-mm contributors. All rights reserved.
"""Argument helpers shared by the commands."""
import argparse
import os
import os.path as osp
from typing import TYPE_CHECKING, Callable, Optional, Sequence

if TYPE_CHECKING:
    from mmengine.config import Config
    from mmengine.runner import Runner


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def add_threads(parser: argparse.ArgumentParser, what: str) -> None:
    """``--threads N``: torch CPU threads of ``what``."""
    parser.add_argument(
        '--threads', type=positive_int,
        help=f'torch CPU threads of {what} (default: OMP_NUM_THREADS, else '
        'torch\'s default, all cores); with other jobs on the machine give '
        'each at most cores / jobs')


def add_launcher(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` and ``--local-rank``, as mmdet's tools have them (for
    ``tools/dist_train.sh``, ``tools/dist_test.sh`` and ``mim``)."""
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def apply_process_args(args: argparse.Namespace) -> None:
    """Set this process's torch threads (``--threads``) and ``LOCAL_RANK``
    (``--local-rank``, unless the launcher set it)."""
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def command_parser(module_doc: str) -> argparse.ArgumentParser:
    """The parser of ``python -m sekd_mm.cli.<command>``: its description
    is the first paragraph of the module's docstring."""
    return argparse.ArgumentParser(
        description=module_doc.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)


def command_main(module_doc: str,
                 add_arguments: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], Optional[int]]
                 ) -> Callable[[Optional[Sequence[str]]], Optional[int]]:
    """The ``main(argv)`` of a command module (``python -m
    sekd_mm.cli.<command>``, ``tools/*.py``): the module's own parser
    (:func:`command_parser`, filled by ``add_arguments``), then ``run``."""

    def main(argv: Optional[Sequence[str]] = None) -> Optional[int]:
        parser = command_parser(module_doc)
        add_arguments(parser)
        return run(parser.parse_args(argv))

    return main


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options key=value ...``, as mmdet's tools have it."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')


def load_config(args: argparse.Namespace):
    """The config ``args.config`` (a file or the name of a shipped one)
    with ``--launcher``, ``--cfg-options`` and ``--work-dir`` applied (the
    work dir defaults to ``./work_dirs/<config name>``)."""
    from mmengine.config import Config

    from sekd_mm.utils import find_config
    cfg = Config.fromfile(find_config(args.config))
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(args: argparse.Namespace,
                 build_cfg: Callable[[argparse.Namespace], 'Config'],
                 check: Optional[Callable[['Config'], None]] = None
                 ) -> 'Runner':
    """The MMEngine runner of a command (``sekd-mm train``, ``sekd-mm
    test``): this process's arguments applied (:func:`apply_process_args`),
    the config made by ``build_cfg(args)`` (a config that is not found
    ends the command with its message), ``check(cfg)`` run on it, then the
    runner built (the config's ``runner_type``, else MMEngine's
    ``Runner``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    apply_process_args(args)
    try:
        cfg = build_cfg(args)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    if check is not None:
        check(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
