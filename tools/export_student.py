# Copyright (c) sekd-mm contributors. All rights reserved.
"""``python tools/export_student.py DISTILL_CKPT OUT_CKPT ...``:
:mod:`sekd_mm.cli.export` (``sekd-mm export``)."""
from sekd_mm.cli.export import main

if __name__ == '__main__':
    main()
