# Copyright (c) sekd-mm contributors. All rights reserved.
"""The user commands, as ``sekd-mm <command>`` (:mod:`.main`, the console
script) and as ``python -m sekd_mm.cli.<module>``:

    train     :mod:`.train`      train a config (mmdet's train.py)
    test      :mod:`.test`       test a checkpoint (mmdet's test.py)
    export    :mod:`.export`     the student of a distillation checkpoint
    distill   :mod:`.distill`    teacher -> students -> table on a dataset
    main-job  :mod:`.main_job`   the same on the embedded synthetic dataset

The repository's ``tools/*.py`` call them, so that ``python tools/train.py``,
``tools/dist_train.sh`` and ``mim train sekd_mm`` keep working. Each module
has ``add_arguments(parser)``, ``run(args)`` and ``main(argv)``: its options
are defined once, for both entry points.
"""
