# Copyright (c) sekd-mm contributors. All rights reserved.
"""A step schedule that follows the length of the run."""
from typing import Optional, Sequence

from mmengine.optim.scheduler import MultiStepLR
from mmengine.optim.scheduler.param_scheduler import INF
from mmengine.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class RelativeMultiStepLR(MultiStepLR):
    """MMEngine's ``MultiStepLR`` with milestones given as fractions of the
    scheduler's span, so that changing ``train_cfg.max_iters`` alone moves
    the learning-rate steps with it.

    Leave ``end`` out of the config: MMEngine's runner sets a scheduler's
    missing ``end`` to ``max_iters`` (``max_epochs`` when ``by_epoch``)
    before building it, and the milestones are then
    ``begin + int((end - begin) * ratio)``. Absolute ``milestones``, when
    given (e.g. by ``--cfg-options`` written for ``MultiStepLR``), are used
    as they are instead.

    Registered in MMEngine's root ``PARAM_SCHEDULERS``, so it builds under
    any default scope (mmdet, mmrazor).

    Args:
        optimizer: Wrapped optimizer (given by the runner).
        milestone_ratios (Sequence[float]): Increasing fractions in (0, 1)
            of the span at which the rate is multiplied by ``gamma``.
            Defaults to (0.75, 0.9), the embedded schedule's steps.
        milestones (Sequence[int], optional): Absolute milestones; when
            given, ``milestone_ratios`` is not used. Defaults to None.
        gamma (float): Multiplicative factor. Defaults to 0.1.
        begin (int): First step of the span. Defaults to 0.
        end (int): Step after the span; must be finite (the runner's
            default). Defaults to INF (an error: leave it to the runner).
        **kwargs: Other arguments of ``MultiStepLR`` (``by_epoch``, ...).

    Example:
        >>> param_scheduler = [dict(type='RelativeMultiStepLR',
        ...                         by_epoch=False, begin=0,
        ...                         milestone_ratios=(0.75, 0.9))]
        >>> # max_iters 300 -> steps at 225 and 270; 600 -> 450 and 540
    """

    def __init__(self,
                 optimizer,
                 milestone_ratios: Sequence[float] = (0.75, 0.9),
                 milestones: Optional[Sequence[int]] = None,
                 gamma: float = 0.1,
                 begin: int = 0,
                 end: int = INF,
                 **kwargs) -> None:
        ratios = [float(r) for r in milestone_ratios]
        if not ratios or any(not 0 < r < 1 for r in ratios) or any(
                a >= b for a, b in zip(ratios, ratios[1:])):
            raise ValueError('milestone_ratios must be increasing fractions '
                             f'in (0, 1), got {milestone_ratios}')
        if milestones is None and end == INF:
            raise ValueError(
                'RelativeMultiStepLR needs a finite end: leave `end` out of '
                'the param_scheduler entry so that the runner sets it to '
                'train_cfg.max_iters (or max_epochs), or give it.')
        self.milestone_ratios = ratios
        if milestones is None:
            milestones = [begin + int((end - begin) * r) for r in ratios]
        super().__init__(optimizer, milestones=milestones, gamma=gamma,
                         begin=begin, end=end, **kwargs)
