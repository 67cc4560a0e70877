# Copyright (c) sekd-mm contributors. All rights reserved.
"""``python tools/distill_dataset.py --data-root DIR ...``:
:mod:`sekd_mm.cli.distill` (``sekd-mm distill``)."""
from sekd_mm.cli.distill import main

if __name__ == '__main__':
    main()
