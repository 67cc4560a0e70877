# Copyright (c) sekd-mm contributors. All rights reserved.
from .teacher_check_hook import TeacherCheckHook, check_teacher_weights

__all__ = ['TeacherCheckHook', 'check_teacher_weights']
