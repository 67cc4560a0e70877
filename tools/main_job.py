# Copyright (c) sekd-mm contributors. All rights reserved.
"""``python tools/main_job.py ...``: :mod:`sekd_mm.cli.main_job`
(``sekd-mm main-job``; ``bash tools/run_main.sh`` sets up .venv first)."""
from sekd_mm.cli.main_job import main

if __name__ == '__main__':
    main()
