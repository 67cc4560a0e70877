# Copyright (c) sekd-mm contributors. All rights reserved.
from .det_fpn_teacher_distill import DetFpnTeacherDistill, set_num_classes

__all__ = ['DetFpnTeacherDistill', 'set_num_classes']
