# Copyright (c) sekd-mm contributors. All rights reserved.
"""``sekd-mm``, the console script: ``sekd-mm <command> [options]``.

    sekd-mm distill --data-root DIR [--check-only] ...
    sekd-mm train CONFIG [--work-dir DIR] [--cfg-options k=v ...] ...
    sekd-mm test CONFIG CHECKPOINT [--metrics-out JSON] ...
    sekd-mm export DISTILL_CKPT OUT_CKPT [--config CFG]
    sekd-mm export DISTILL_CKPT OUT_DIR --distill-config DISTILL_CFG
    sekd-mm dataset {hela,craters} --out DIR
    sekd-mm main-job [--work-dir DIR] ...

``sekd-mm <command> -h`` lists a command's options. A CONFIG is a file or
the name of a config that ships with the package, relative to its configs
folder (``sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py``).
"""
import argparse
import importlib
import sys
from typing import Optional, Sequence

#: The subcommands and their modules in :mod:`sekd_mm.cli`.
COMMANDS = dict(
    distill='distill', train='train', test='test', export='export',
    dataset='dataset', **{'main-job': 'main_job'})


def build_parser() -> argparse.ArgumentParser:
    """``sekd-mm`` with one subparser per command, each filled by its
    module's ``add_arguments`` and run by its ``run``."""
    parser = argparse.ArgumentParser(
        prog='sekd-mm',
        description='SEKD knowledge distillation for MMDetection: the '
        'commands (sekd-mm COMMAND -h lists the options of one).',
        epilog='A CONFIG is a config file or the name of a config that '
        'ships with the package, relative to its configs folder (e.g. '
        'sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py).')
    commands = parser.add_subparsers(
        title='commands', dest='command', metavar='COMMAND', required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f'sekd_mm.cli.{module_name}')
        description = module.__doc__.split('\n\n')[0]
        sub = commands.add_parser(
            name, help=' '.join(description.split()),
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Optional[int]:
    """Run one command; its return value is the exit status (None: 0)."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == '__main__':
    sys.exit(main())
