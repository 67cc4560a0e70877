# Copyright (c) sekd-mm contributors. All rights reserved.
"""``python tools/test.py CONFIG CHECKPOINT ...``: :mod:`sekd_mm.cli.test`
(``sekd-mm test``). ``tools/dist_test.sh`` and ``mim test sekd_mm`` run it."""
from sekd_mm.cli.test import main

if __name__ == '__main__':
    main()
