# Copyright (c) sekd-mm contributors. All rights reserved.
from .rng_state_hook import RNGStateHook
from .schedule import iter_schedule_options
from .teacher_check_hook import TeacherCheckHook, check_teacher_weights

__all__ = [
    'RNGStateHook', 'TeacherCheckHook', 'check_teacher_weights',
    'iter_schedule_options'
]
