# Copyright (c) sekd-mm contributors. All rights reserved.
"""``python tools/train.py CONFIG ...``: :mod:`sekd_mm.cli.train`
(``sekd-mm train``); ``tools/dist_train.sh`` and ``mim train sekd_mm`` run
it."""
from sekd_mm.cli.train import main

if __name__ == '__main__':
    main()
