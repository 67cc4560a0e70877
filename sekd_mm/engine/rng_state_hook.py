# Copyright (c) sekd-mm contributors. All rights reserved.
"""Save torch's random generators in checkpoints, restore them on resume."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` continue the exact loss trajectory.

    MMEngine reseeds at start-up but does not save generator states. On
    resume, ``IterBasedTrainLoop`` replays the data loader up to the resumed
    iteration, so the data pipeline's random draws (NumPy / Python, in the
    main process or in reseeded workers) come out the same as in the
    uninterrupted run. What is lost is the torch generator state consumed by
    the *model* (e.g. Faster R-CNN's proposal sampling). This hook stores
    the torch CPU (and CUDA) states under ``checkpoint['rng_state']`` and
    restores them right before the first resumed iteration, after the
    replay. The rank that writes the checkpoint (rank 0) restores its state;
    other ranks keep their fresh seeds. Tensors only: the checkpoint still
    loads under ``torch.load(weights_only=True)``.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = dict(
            torch=torch.get_rng_state(),
            cuda=torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() else [])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if checkpoint.get('rng_state') and runner.rank == 0:
            self._pending = checkpoint['rng_state']

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        torch.set_rng_state(self._pending['torch'])
        if self._pending['cuda'] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._pending['cuda'])
        self._pending = None
