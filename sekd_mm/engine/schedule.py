# Copyright (c) sekd-mm contributors. All rights reserved.
"""cfg-options that stretch the embedded schedule to another length."""
from typing import List


def iter_schedule_options(iters: int) -> List[str]:
    """``--cfg-options`` that stretch the embedded schedule
    (``configs/_base_/schedules/sekd_embedded.py``) to ``iters``: lr steps
    at 75% and 90%, one evaluation and one checkpoint at the end.

    The base derives all of this from ``train_cfg.max_iters`` alone
    (:class:`RelativeMultiStepLR`); the options still spell every value
    out because the accuracy study's cached runs record them (a run is
    reused only when its command is unchanged).

    Args:
        iters (int): Training iterations (>= 1).

    Returns:
        list[str]: ``key=value`` strings for ``tools/train.py``.
    """
    if iters < 1:
        raise ValueError(f'iters must be >= 1, got {iters}')
    return [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'param_scheduler.1.end={iters}',
        f'param_scheduler.1.milestones=[{int(iters * 0.75)},'
        f'{int(iters * 0.9)}]', f'default_hooks.checkpoint.interval={iters}'
    ]
