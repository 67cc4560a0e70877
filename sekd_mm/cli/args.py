# Copyright (c) sekd-mm contributors. All rights reserved.
"""Argument helpers shared by the commands."""
import argparse
import os


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
