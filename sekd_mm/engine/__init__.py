# Copyright (c) sekd-mm contributors. All rights reserved.
from .relative_multistep_lr import RelativeMultiStepLR
from .rng_state_hook import RNGStateHook
from .schedule import iter_schedule_options
from .teacher_check_hook import (TeacherCheckHook, TeacherCheckpointError,
                                 check_teacher_checkpoint)

__all__ = [
    'RelativeMultiStepLR', 'RNGStateHook', 'TeacherCheckHook',
    'TeacherCheckpointError', 'check_teacher_checkpoint',
    'iter_schedule_options'
]
