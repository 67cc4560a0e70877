# Copyright (c) sekd-mm contributors. All rights reserved.
from .relative_multistep_lr import RelativeMultiStepLR
from .rng_state_hook import RNGStateHook
from .schedule import iter_schedule_options
from .teacher_check_hook import (TeacherCheckHook, check_teacher_shapes,
                                 check_teacher_weights)

__all__ = [
    'RelativeMultiStepLR', 'RNGStateHook', 'TeacherCheckHook',
    'check_teacher_shapes', 'check_teacher_weights', 'iter_schedule_options'
]
